"""Send failures, and which of them are worth retrying.

The dispatcher does one of two things with a failed alert: retry it later with backoff (transient) or give
up on this number and escalate to the next person at once (permanent). Everything here serves that one
decision, for errors of the REST API (HTTP status + Twilio code) and for delivery reports (status callback
ErrorCode) alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

Classification = Literal["transient", "permanent"]
DeliveryOutcome = Literal["pending", "delivered", "transient", "permanent"]

# Twilio error codes that say "try again later": rate limits, queue overflow, Twilio or carrier trouble.
TRANSIENT_CODES: dict[int, str] = {
    20429: "too many requests",
    20500: "Twilio internal error",
    20503: "Twilio service unavailable",
    21611: "our sender's message queue is full",  # every number alike until the queue drains
    30001: "queue overflow",
    30022: "A2P 10DLC rate limit exceeded",
    30410: "provider timeout",
    30500: "carrier temporarily unavailable",
}

# Codes that say our own account or sender is wrong: bad credentials, a suspended account, a sender that cannot
# send or is not registered. Every number fails alike, so escalating at once would only run through the chain
# in seconds and leave nobody to tell once the settings are fixed. They are retried like an outage (backoff,
# and the chain still moves on at the acknowledgement timeout), the dispatcher logs them for the operator and
# the health check turns degraded while sends keep failing; the alerts go out as soon as the settings work.
ACCOUNT_CODES: dict[int, str] = {
    20003: "authentication failed (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)",
    21212: "invalid From number",
    21601: "From is not an SMS-capable number of this account",
    21603: "From or MessagingServiceSid required",
    21606: "From number cannot send SMS",
    21659: "From is not a Twilio number",
    21660: "From number belongs to another account",
    21705: "invalid Messaging Service",
    30002: "account suspended",
    30032: "toll-free number not verified",
    30034: "sender not registered for A2P 10DLC",
}

# Codes that say "this number will not get this message": retrying the same number is useless, escalate.
# 30003-30008 arrive in delivery reports. 30003 (handset off or out of coverage) may clear up later, but for a
# live alert the safe reaction is the same: reach someone else now.
PERMANENT_CODES: dict[int, str] = {
    20404: "resource not found",
    21211: "invalid To number",
    21408: "region not enabled for this account",
    21602: "body required",
    21604: "To required",
    21608: "unverified number on a trial account",
    21610: "recipient replied STOP (unsubscribed)",
    21612: "cannot route to this number",
    21614: "To is not a mobile number",
    21617: "body too long",
    30003: "unreachable destination handset",
    30004: "message blocked",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    30007: "filtered by carrier",
    30008: "unknown delivery error",
}


class SendError(Exception):
    """An SMS was not accepted for delivery.

    `code` is Twilio's error code when there is one (None for network failures). `retry_after_s`: the wait the
    answer asked for in its Retry-After header (a 429 or a 503), in seconds, None without one. The message never
    contains the SMS body, so these exceptions may be logged and stored as they are.
    """

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retry_after_s = retry_after_s


class TransientSendError(SendError):
    """Retry later: connection error, timeout, HTTP 429 or 5xx, Twilio queue overflow, or our account or sender
    refused (`ACCOUNT_CODES`) until an operator fixes it."""


class PermanentSendError(SendError):
    """Do not retry this number: invalid, landline, opted out, not a mobile."""


def classify_twilio_error(status: int | None, code: int | None) -> Classification:
    """Classify a failure from the HTTP status of a REST call and/or a Twilio error code.

    For delivery reports pass `status=None` and the callback's ErrorCode. With neither a known code nor an
    HTTP status (the network failed, or an error code we do not know arrived in a delivery report) the answer
    is "transient": one retry costs little, a wrongly dropped alert costs a great deal, and the chain moves on at
    the acknowledgement timeout anyway. An HTTP error without a Twilio code did not come from Twilio's API, which
    always gives one, but from something on the way (a filtering or authenticating proxy, a gateway): it says
    nothing about the number, and every number would get the same answer, so it is transient too.
    """
    if code in TRANSIENT_CODES or code in ACCOUNT_CODES:
        return "transient"
    if code in PERMANENT_CODES:
        return "permanent"
    if status is None or code is None or status == 408 or status == 429 or status >= 500:
        return "transient"
    return "permanent"


def account_refusal(error_code: int | str | None) -> int | None:
    """The code, when Twilio refused our account or sender (ACCOUNT_CODES), from the REST API or a delivery report:
    every number of the chain would get the same answer, so the same person is tried again and the operator told.
    None for any other code."""
    code = _as_code(error_code)
    return code if code in ACCOUNT_CODES else None


def describe_twilio_error(code: int | None) -> str:
    """A short English description of a Twilio error code, for logs and the console."""
    if code is None:
        return "no error code"
    known = TRANSIENT_CODES.get(code) or ACCOUNT_CODES.get(code) or PERMANENT_CODES.get(code)
    return known or f"Twilio error {code}"


def delivery_outcome(message_status: str, error_code: int | str | None = None) -> DeliveryOutcome:
    """What a status callback (MessageStatus, ErrorCode) means for the alert it reports on."""
    status = message_status.strip().lower()
    if status in ("delivered", "read"):
        return "delivered"
    if status in ("undelivered", "failed"):
        return classify_twilio_error(None, _as_code(error_code))
    if status == "canceled":
        return "permanent"
    # accepted, scheduled, queued, sending, sent, receiving, received: not final yet.
    return "pending"


# The order a message's statuses come in (Twilio: "Message status values"); the final ones share a rank, and only
# "read" (WhatsApp) comes after one of them.
_STATUS_ORDER = {
    "accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "partially_delivered": 4, "read": 5,
}


def is_later_status(reported: str, recorded: str | None) -> bool:
    """Whether a status callback tells more about a message than the status already recorded for it. Twilio does
    not promise its callbacks in order and posts one again when it got no answer, and a captured signed one can be
    replayed: 'sent' after 'delivered', or 'undelivered' after 'delivered', says nothing new and must change
    nothing. An unknown reported status is no news; an unknown recorded one is taken as the first."""
    if not recorded:
        return True
    new = _STATUS_ORDER.get(reported.strip().lower())
    return new is not None and new > _STATUS_ORDER.get(recorded.strip().lower(), -1)


def _as_code(error_code: int | str | None) -> int | None:
    if error_code is None or error_code == "":
        return None
    try:
        return int(error_code)
    except ValueError:
        return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (RFC 9110: seconds, or an HTTP date) as the seconds to wait from `now`; None when absent,
    unreadable, or not in the future."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return seconds if seconds > 0 else None
