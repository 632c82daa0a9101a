"""What the fake Twilio says: injectable faults, the record of a received message, Twilio's JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Literal

API_VERSION = "2010-04-01"
FAKE_ACCOUNT_SID = "AC" + "fa4e" * 8
FAKE_AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
FAKE_SENDER = "+15005550006"  # Twilio's "magic" test From number


@dataclass(frozen=True)
class Fault:
    """What the fake does instead of a normal answer to one create request (`script`) or fetch (`script_fetches`)."""

    kind: Literal["error", "delay", "drop", "page", "trickle"]
    status: int = 500
    code: int | None = None
    delay_s: float = 0.0
    retry_after: str | None = None  # the Retry-After header of an "error" answer (seconds, or an HTTP date)

    @classmethod
    def server_error(cls, status: int = 500, retry_after: str | None = None) -> Fault:
        return cls("error", status=status, code=20500 if status == 500 else None, retry_after=retry_after)

    @classmethod
    def too_many_requests(cls, retry_after: str | None = None) -> Fault:
        return cls("error", status=429, code=20429, retry_after=retry_after)

    @classmethod
    def rejected(cls, code: int, status: int = 400) -> Fault:
        """A Twilio 4xx for this one request, e.g. 21610 (opted out) or 21211 (invalid number)."""
        return cls("error", status=status, code=code)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally but only after `seconds`: longer than the client's timeout, the message is still
        accepted and recorded, as Twilio would; a retry then sends a duplicate."""
        return cls("delay", delay_s=seconds)

    @classmethod
    def trickle(cls, seconds: float) -> Fault:
        """Accept the message, then send the answer a byte at a time, each well within the client's read timeout,
        for `seconds` (then the rest at once): a connection that is never quiet long enough to time out, as a
        congested proxy or a half-broken link on the way can give."""
        return cls("trickle", delay_s=seconds)

    @classmethod
    def proxy_page(cls, status: int = 403) -> Fault:
        """An HTML page instead of Twilio's JSON, as a filtering or authenticating web proxy on the way answers
        (403 blocked, 407 proxy authentication required): no Twilio error code, nothing about the number."""
        return cls("page", status=status)

    @classmethod
    def drop_connection(cls) -> Fault:
        """Read the request, then close the socket without a word (the message is not accepted)."""
        return cls("drop")


@dataclass(frozen=True)
class ReceivedMessage:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    validity_period: str | None
    params: dict[str, str]
    received_monotonic: float
    received_wall: datetime


def error_json(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    # Twilio's legacy error shape: the client reads `code` and `message` from it.
    return status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}


def message_json(message: ReceivedMessage, status: str, error_code: int | None = None) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
    created = format_datetime(message.received_wall, usegmt=True)
    return {
        "account_sid": message.account_sid, "api_version": API_VERSION, "body": message.body,
        "date_created": created, "date_updated": created, "date_sent": None, "direction": "outbound-api",
        "error_code": error_code, "error_message": None, "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid, "num_media": "0",
        "num_segments": "1" if len(message.body) <= 160 else str(-(-len(message.body) // 153)),
        "price": None, "price_unit": "USD", "sid": message.sid, "status": status,
        "subresource_uris": {"media": f"{uri}/Media.json"}, "to": message.to, "uri": f"{uri}.json",
    }
