"""What a delivery report does to an alert: Twilio's status callback (app/hooks/views.py), or the worker's lookup
of a report that never came (app/alerts/delivery_checks.py). Both go through `db_apply_delivery_report`."""

from __future__ import annotations

import logging

from sqlalchemy import func

from app.alerts.dispatcher import db_retry_refused_delivery
from app.alerts.escalation import db_fail_folded_into
from app.logs import log_event
from app.models import Alert, AlertStatus, utcnow
from notifications import delivery_outcome
from notifications.errors import account_refusal, is_later_status

log = logging.getLogger("tipline.hooks")


def db_apply_delivery_report(alert: Alert, sid: str, status: str, error_code: str | None) -> bool:
    """Record what a report on the SMS `sid` of `alert` says (the caller found the row, locked, and commits).

    A report older than or contrary to what is recorded changes nothing: an alert never moves backwards. Delivered:
    recorded so. Undelivered or failed at the carrier: the alert fails, with the tips folded into its SMS, and the
    worker's next round tells the next person. Our account or sender refused: the SMS goes again after a backoff.
    Returns whether the alert is failed (the caller wakes the worker); read before the commit, which expires it."""
    if alert.twilio_sid is not None and not is_later_status(status, alert.twilio_status):
        # Not news: a replayed 'undelivered' after 'delivered', a retried 'sent'.
        return False
    outcome = delivery_outcome(status, error_code)
    alert.twilio_status = status
    if alert.status == AlertStatus.SENDING.value and alert.twilio_sid is None and sid:
        # Twilio took this SMS before its worker recorded so: the callback was quicker, or the worker died (or
        # lost the database) in between. The person has it, so "1" must find it, and it is not sent again when
        # the claim's lease ends; the dispatcher, if alive, records the same SID and time. Both are set in SQL, from
        # the row as it is when written: on PostgreSQL the dispatcher may be recording this send right now (this read
        # came first, the write waits for its row lock), and its send time ties the tips folded into the SMS to it.
        alert.twilio_sid = func.coalesce(Alert.twilio_sid, sid)
        alert.sent_at = func.coalesce(Alert.sent_at, utcnow())
        if outcome == "pending":
            alert.status, alert.lease_owner, alert.lease_until = AlertStatus.SENT.value, None, None
    # SENDING too: the callback may beat the dispatcher's commit of the SID.
    if outcome == "delivered" and alert.status in (AlertStatus.SENDING.value, AlertStatus.SENT.value):
        alert.status = AlertStatus.DELIVERED.value
        alert.delivered_at = utcnow()
    elif outcome == "transient" and (refused := account_refusal(error_code)) is not None and alert.status in (
        AlertStatus.SENDING.value, AlertStatus.SENT.value
    ):
        # Our account or sender refused, not this number: the next person would fail alike.
        db_retry_refused_delivery(alert, refused)
    elif outcome in ("permanent", "transient") and alert.status in (AlertStatus.SENDING.value, AlertStatus.SENT.value):
        # Undelivered or failed at the carrier: the next person is told on the dispatcher's next round.
        alert.status = AlertStatus.FAILED.value
        alert.error_code = error_code or status
        alert.due_at = utcnow()  # its escalation is due from now: health counts an unwritten one from here
        # The tips folded into a "+N related tips" SMS were not told either: they escalate with it.
        folded = db_fail_folded_into(alert.id, alert.error_code)
        log_event(log, "alert undelivered, escalating", logging.WARNING, alert=alert.id, code=alert.error_code,
                  folded=folded)
    return alert.status == AlertStatus.FAILED.value
