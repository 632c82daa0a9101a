"""Delivery reports that never came: the worker asks Twilio.

Twilio posts a status callback once and does not post it again when our site did not take it (a 503 during an
outage, a restart, nginx down). A critical or high alert still escalates at its acknowledgement timeout, but a
medium one that never reached the phone would stay "sent" and nobody else be told. So an SMS Twilio took that has
had no final report ALERT_DELIVERY_CHECK_AFTER_S after it went out is looked up (`messages(sid).fetch()`, through
the alert transport) and the answer taken exactly as the report would have been (`db_apply_delivery_report`).

Bounded: each SMS at most len(CHECK_WAITS) times, each wait twice the one before (10, 30, 70, 150 and 310 minutes
after the send with the default), then never again; at most PER_ROUND lookups a round, after the round's SMS and
in what is left of its time, and none in a round whose sends Twilio failed. A lookup that fails is logged (the
alert's id, never a number or the SMS) and the SMS looked up again at its next step.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import OperationalError

from app.alerts.aside import Aside
from app.alerts.delivery_reports import db_apply_delivery_report
from app.alerts.sms import sms_transport
from app.database import reading
from app.extensions import db
from app.logs import log_event
from app.models import Alert, AlertStatus, utcnow
from notifications import SendError, delivery_outcome
from notifications.transport import DeliveryLookup

log = logging.getLogger("tipline.alerts")

CHECK_WAITS = (1, 2, 4, 8, 16)  # before each lookup, in ALERT_DELIVERY_CHECK_AFTER_S: from the send, then the last
PER_ROUND = 3
FIRST_CHECK_WITHIN = timedelta(days=1)  # an SMS older than this when first due (before an upgrade) is left alone
AWAITING = ("accepted", "scheduled", "queued", "sending", "sent")  # Twilio's statuses before a final one
_ASIDE = Aside("delivery_checks", log)


def _due(now: datetime, after_s: int) -> ColumnElement[bool]:
    """Sent alerts whose next lookup is due: the first `after_s` after the send, each next one twice as long after
    the one before."""
    steps = [and_(Alert.delivery_checks == 0, Alert.sent_at <= now - timedelta(seconds=after_s),
                  Alert.sent_at > now - FIRST_CHECK_WITHIN)]
    steps += [and_(Alert.delivery_checks == step, Alert.delivery_checked_at <= now - timedelta(seconds=after_s * wait))
              for step, wait in enumerate(CHECK_WAITS) if step]
    return and_(Alert.status == AlertStatus.SENT.value, Alert.twilio_sid.isnot(None),
                Alert.twilio_status.in_(AWAITING), or_(*steps))


def check_deliveries_aside(deadline: float) -> dict[str, int]:
    """`check_deliveries` for the worker's round, where lookups are an extra that must never stop the alerts.

    Anything but a SendError out of a lookup (the Twilio client's AttributeError on a 2xx answer that is not a JSON
    object, from something in between; a bug here) used to go up out of the round, and the worker, which survives
    only a database error, died after each round's SMS. Now lookups wait a minute and the operator reads one line
    with the error's type (never its text: it could quote an answer). A database down or locked is the round's to
    handle, as before."""
    if _ASIDE.paused():
        return {}
    try:
        return check_deliveries(deadline)
    except OperationalError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever it is, it must not stop the SMS of tips
        _ASIDE.broke(exc, "OPERATOR: delivery report lookups failed unexpectedly (tried again in a minute); alerts "
                          "go on")
        return {}


def check_deliveries(deadline: float) -> dict[str, int]:
    """Look up the sent alerts whose report is overdue, at most PER_ROUND, until `deadline` (time.monotonic()).
    Returns how many were looked up ("delivery_checks") and found failed ("undelivered": the caller escalates)."""
    after_s = int(current_app.config["ALERT_DELIVERY_CHECK_AFTER_S"])
    transport = sms_transport()
    if after_s <= 0 or not isinstance(transport, DeliveryLookup):  # the console transport has nothing to look up
        return {}
    now = utcnow()
    with reading():
        due = db.session.execute(select(Alert.id, Alert.twilio_sid, Alert.delivery_checks)
                                 .where(_due(now, after_s)).order_by(Alert.sent_at, Alert.id).limit(PER_ROUND)).all()
    counts: dict[str, int] = {}
    for alert_id, sid, checks in due:
        if time.monotonic() >= deadline:
            break
        assert sid is not None  # as the query asks
        # The step is taken before Twilio is asked: a lookup that fails, or a worker that dies during it, moves
        # the alert on to its next step like one that answered; another worker that read the same step skips it.
        taken = db.session.execute(
            update(Alert).where(Alert.id == alert_id, Alert.delivery_checks == checks,
                                Alert.status == AlertStatus.SENT.value)
            .values(delivery_checks=checks + 1, delivery_checked_at=now))
        db.session.commit()  # no transaction open while Twilio is asked
        if not getattr(taken, "rowcount", 0):
            continue
        counts["delivery_checks"] = counts.get("delivery_checks", 0) + 1
        try:
            report = transport.fetch_status(sid)
        except SendError as exc:
            log_event(log, "delivery report lookup failed; looked up again later", logging.WARNING, alert=alert_id,
                      code=str(exc.code or exc.status or "network"), lookup=checks + 1)
            break  # Twilio is not answering: the other alerts wait for the next round
        alert = db.session.scalar(select(Alert).where(Alert.id == alert_id, Alert.twilio_sid == sid)
                                  .with_for_update(key_share=True))
        failed = alert is not None and db_apply_delivery_report(alert, sid, report.status, report.error_code)
        db.session.commit()
        if failed:
            counts["undelivered"] = counts.get("undelivered", 0) + 1
        final = delivery_outcome(report.status, report.error_code) != "pending"
        if final or checks + 1 == len(CHECK_WAITS):
            log_event(log, "delivery report looked up" if final else "no delivery report after the last lookup",
                      alert=alert_id, status=report.status, code=report.error_code, lookup=checks + 1)
    return counts
