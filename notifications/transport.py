"""What every SMS transport offers: send one message, get back the provider's id or a classified error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message. `sid` is its id (Twilio's "SM..."), stored to match status
    callbacks."""

    sid: str
    status: str


@runtime_checkable
class SmsTransport(Protocol):
    def send(
        self,
        to: str,
        body: str,
        *,
        status_callback: str | None,
        validity_period_s: int | None = None,
    ) -> SendResult:
        """Hand one SMS to the provider.

        `status_callback`: URL the provider posts delivery reports to (None: no reports). It is a required
        keyword so that a caller forgetting it is a type error, not a silently unmonitored alert.
        `validity_period_s`: drop the message if the provider cannot send it within this many seconds, so a
        stale "CRITICAL" alert does not arrive an hour late.

        Raises TransientSendError (retry later) or PermanentSendError (escalate now); nothing else.
        """
        ...


@dataclass(frozen=True)
class DeliveryReport:
    """Where a message the provider took is now, in the words of a status callback: its status (Twilio's
    MessageStatus: queued, sent, delivered, undelivered, failed ...) and, for one that was not delivered, its error
    code (the callback's ErrorCode, as text)."""

    status: str
    error_code: str | None


@runtime_checkable
class DeliveryLookup(Protocol):
    def fetch_status(self, sid: str) -> DeliveryReport:
        """Ask the provider where the message `sid` is: for a status callback that never came.

        Raises TransientSendError or PermanentSendError (an unknown SID: code 20404); nothing else. The messages
        name the failure only, never the number or the body.
        """
        ...
