"""A reporter's new message on a case that pages: an SMS to the person working it.

At 3 a.m. "he's outside the school now" on an acknowledged critical tip must wake someone, not wait in the console
queue. The row is written into the outbox in the transaction that stores the message (it cannot be lost), and the
worker sends it like any other alert. It is a notice, not a page: the chain's escalation, the acknowledgement
figures and the "+N related tips" folding leave it out (`REPLY_KIND`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from app.alerts.planning import IMMEDIATE_URGENCIES, SMS_URGENCIES, next_in_chain, next_school_day_start
from app.extensions import db
from app.logs import log_event
from app.models import REPLY_KIND, Alert, AlertStatus, Assignment, Message, Staff, Tip, TipStatus, utcnow

log = logging.getLogger(__name__)

# A newest chain row in one of these is still the chain's business: it is sent, or escalated, or both, soon.
_WAITING = (AlertStatus.PENDING.value, AlertStatus.SENDING.value, AlertStatus.FAILED.value)
_TOLD = (AlertStatus.SENT.value, AlertStatus.DELIVERED.value, AlertStatus.FOLDED.value)
# A notice in one of these is on its way or reached the phone (sending clears a row's error code: dispatcher.py).
_ON_ITS_WAY_OR_OUT = (AlertStatus.PENDING.value, AlertStatus.SENDING.value, AlertStatus.SENT.value,
                      AlertStatus.DELIVERED.value)


def pages_now(tip: Tip, now: datetime) -> bool:
    """Whether the tip's urgency pages at this moment: critical and high day and night, medium in school hours."""
    urgency = tip.effective_urgency
    if urgency in IMMEDIATE_URGENCIES:
        return True
    return urgency in SMS_URGENCIES and next_school_day_start(tip.school, now) == now


def db_chain_still_paging(tip: Tip) -> bool:
    """Whether the tip's own alerts are still running through its chain unacknowledged: its newest chain row is
    not yet escalated and the escalation (app/alerts/escalation.py) will act on it. The next person is paged
    anyway, and the message is on the case they open, so a notice would only be a second SMS."""
    if tip.acknowledged_at is not None or tip.status != TipStatus.NEW.value:
        return False  # escalation only follows new, unacknowledged tips
    newest = db.session.scalar(
        select(Alert).where(Alert.tip_id == tip.id, Alert.kind != REPLY_KIND).order_by(Alert.id.desc()).limit(1))
    if newest is None or newest.escalated_at is not None:
        return False  # none planned, or the chain ran out
    if newest.status in _WAITING:
        return True  # on its way, or failed and escalated on the worker's next round
    # Sent: a critical or high SMS escalates at its timeout; a medium one asked for no answer and never will.
    return newest.status in _TOLD and tip.effective_urgency in IMMEDIATE_URGENCIES


def _reachable(staff: Staff | None, school_id: int) -> int | None:
    """The person's place in the school's chain (0 when assigned outside it), or None when no SMS can reach them
    there: deactivated, no phone, opted out, or no longer assigned to the school."""
    if staff is None or not staff.can_get_sms:
        return None
    assignment = db.session.scalar(
        select(Assignment).where(Assignment.staff_id == staff.id, Assignment.school_id == school_id))
    if assignment is None:
        return None
    return int(assignment.chain_position or 0)


def db_recipient_for_reply(tip: Tip) -> tuple[int, int] | None:
    """(chain position, staff id) of whom to tell of the reporter's new message, or None for nobody.

    The person who acknowledged the tip is working it; when they cannot be reached (or nobody took it) and the
    chain is not already being paged for it, the first person of the chain who can be, as for a new tip.
    """
    acknowledger = db.session.get(Staff, tip.acknowledged_by_id) if tip.acknowledged_by_id else None
    position = _reachable(acknowledger, tip.school_id)
    if acknowledger is not None and position is not None:
        return position, acknowledger.id
    if db_chain_still_paging(tip):
        return None
    first = next_in_chain(tip.school_id, 0)
    return None if first is None else (first[0], first[1].id)


def db_told_of_reply_lately(tip: Tip, now: datetime, message: Message | None = None) -> bool:
    """A notice of a reporter's message on this tip was written within ALERT_REPLY_SMS_INTERVAL_S and is on its way
    or out, and what it told of is still unread: further messages in the window are seen in the console, not sent
    one SMS each. A notice that could not go out (failed, or cancelled) does not hold back the next, nor does one
    that had failed when someone then acknowledged the tip (app/alerts/acknowledge.py marks it acknowledged, its
    error code kept). Nor does one whose messages were read since (the case opened, every reporter's message but
    `message`, the new one, read): the SRO who asked "where are you now?" waits for the answer on a page that does
    not change by itself, and the answer is news."""
    others_unread = select(Message.id).where(Message.tip_id == tip.id, Message.from_reporter.is_(True),
                                             Message.read_at.is_(None))
    if message is not None and message.id is not None:
        others_unread = others_unread.where(Message.id != message.id)
    if db.session.scalar(others_unread.limit(1)) is None:
        return False
    since = now - timedelta(seconds=current_app.config["ALERT_REPLY_SMS_INTERVAL_S"])
    told = or_(Alert.status.in_(_ON_ITS_WAY_OR_OUT),
               and_(Alert.status == AlertStatus.ACKNOWLEDGED.value, Alert.error_code.is_(None)))
    return db.session.scalar(
        select(Alert.id).where(Alert.tip_id == tip.id, Alert.kind == REPLY_KIND, Alert.created_at > since, told)
        .limit(1)
    ) is not None


def db_alert_for_reporter_message(tip: Tip, message: Message | None = None) -> Alert | None:
    """Write the outbox row telling someone of a reporter's new message (`message`, stored and flushed), if the tip
    pages now. Runs in the transaction that stores the message (after it has locked the tip's row, so two replies
    take turns and the throttle holds); nothing is committed. Call after a finished case was reopened by the
    message."""
    now = utcnow()
    if not pages_now(tip, now) or db_told_of_reply_lately(tip, now, message):
        return None
    recipient = db_recipient_for_reply(tip)
    if recipient is None:
        if not db_chain_still_paging(tip):
            log_event(log, "OPERATOR: no reachable person to tell of a reporter's message: nobody in the school's "
                      "chain can get an SMS (Schools page)", logging.ERROR, tip=tip.ref)
        return None
    position, staff_id = recipient
    alert = Alert(tip_id=tip.id, staff_id=staff_id, chain_position=position, kind=REPLY_KIND,
                  status=AlertStatus.PENDING.value, due_at=now, created_at=now)
    db.session.add(alert)
    return alert
