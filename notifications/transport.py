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
