"""How many alert SMS went out in the last hour, against ALERT_SMS_HOURLY_WARN: a prank flood (hundreds of tips
from rotating addresses) costs up to chain x repeats SMS per unanswered critical tip, pages a dispatch desk dozens
of times an hour and runs up the Twilio bill. The operator is told (a log line, /healthz, /metrics); nothing here
ever holds an SMS back."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.logs import log_event
from app.models import Alert, utcnow

log = logging.getLogger("tipline.alerts")
WINDOW = timedelta(hours=1)
WARN_EVERY_S = 15 * 60  # a flood lasts hours: one line a quarter of an hour, not one a round


def sms_sent_last_hour(now: datetime | None = None) -> int:
    """Alert SMS Twilio took in the hour before `now`. A row folded into another's "+N related tips" SMS carries
    that SMS's time but no SID of its own: it is not counted again."""
    since = (now or utcnow()) - WINDOW
    return int(db.session.scalar(
        select(func.count(Alert.id)).where(Alert.sent_at >= since, Alert.twilio_sid.isnot(None))) or 0)


def hourly_warn_threshold() -> int:
    return int(current_app.config["ALERT_SMS_HOURLY_WARN"])


def sms_volume_too_high() -> bool:
    """More alert SMS in the last hour than ALERT_SMS_HOURLY_WARN (never with 0: switched off)."""
    threshold = hourly_warn_threshold()
    return threshold > 0 and sms_sent_last_hour() > threshold


def warn_if_sms_volume_high(last_warned: float | None, now: float | None = None) -> float | None:
    """The worker's warning, at most once per WARN_EVERY_S (time.monotonic()); returns when it last warned.
    The line has the count and the threshold only: nothing of any tip."""
    now = time.monotonic() if now is None else now
    if last_warned is not None and now - last_warned < WARN_EVERY_S:
        return last_warned
    threshold = hourly_warn_threshold()
    if threshold <= 0:
        return last_warned
    count = sms_sent_last_hour()
    if count <= threshold:
        return last_warned
    log_event(log, "OPERATOR: more alert SMS were sent in the last hour than ALERT_SMS_HOURLY_WARN (a flood of "
              "tips?); every SMS is still sent", logging.WARNING, count=count, threshold=threshold)
    return now
