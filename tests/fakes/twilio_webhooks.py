"""Inbound-SMS webhooks as Twilio sends them, signed (or deliberately not), for the app's webhook tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

import requests

from tests.fakes.twilio_api import FAKE_ACCOUNT_SID
from tests.fakes.twilio_callbacks import sign

SignatureMode = Literal["valid", "missing", "wrong_token", "tampered"]


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    text: str


def inbound_sms_params(
    from_: str, body: str, *, to: str, account_sid: str, message_sid: str | None = None
) -> dict[str, str]:
    """The POST parameters of Twilio's incoming-message webhook (the ones an app reads, plus a few)."""
    sid = message_sid or "SM" + secrets.token_hex(16)
    return {
        "ToCountry": "US", "ToState": "WY", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "CASPER",
        "FromZip": "", "SmsSid": sid, "FromState": "WY", "SmsStatus": "received", "FromCity": "CASPER",
        "Body": body, "FromCountry": "US", "To": to, "ToZip": "", "NumSegments": "1", "MessageSid": sid,
        "AccountSid": account_sid, "From": from_, "ApiVersion": "2010-04-01",
    }


def signed_headers(
    url: str, params: dict[str, str], auth_token: str, mode: SignatureMode = "valid"
) -> dict[str, str]:
    """The X-Twilio-Signature header for posting `params` to `url` (none for mode="missing").

    "wrong_token": signed with another account's token (a forger who guessed the format).
    "tampered": a valid signature of other parameters (Body changed in transit). Both must be refused.
    """
    if mode == "missing":
        return {}
    if mode == "wrong_token":
        return {"X-Twilio-Signature": sign(url, params, auth_token + "-not")}
    if mode == "tampered":
        return {"X-Twilio-Signature": sign(url, {**params, "Body": params.get("Body", "") + " "}, auth_token)}
    return {"X-Twilio-Signature": sign(url, params, auth_token)}


def send_inbound_sms(
    url: str,
    from_: str,
    body: str,
    auth_token: str,
    to: str = "+13075550000",
    *,
    account_sid: str = FAKE_ACCOUNT_SID,
    signature: SignatureMode = "valid",
    timeout: float = 5.0,
) -> WebhookResponse:
    """POST an incoming-SMS webhook to a running server, as Twilio would, and return its answer.

    For a Flask test client, build the request with inbound_sms_params() and signed_headers() instead.
    """
    params = inbound_sms_params(from_, body, to=to, account_sid=account_sid)
    response = requests.post(url, data=params, headers=signed_headers(url, params, auth_token, signature),
                             timeout=timeout)
    return WebhookResponse(response.status_code, response.text)
