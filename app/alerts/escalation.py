"""Escalation: when nobody acknowledges in time, or a delivery fails for good, the next person is told.

The state of a tip's alerting is its newest alert row. It is "open" while escalated_at is empty; escalating
writes the next row (the next person of the chain, or a repeat to the last one) and closes the open row.
A notice of a reporter's message (kind REPLY_KIND) is no step of the chain: it is never "the newest row" here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from app.alerts.planning import (
    IMMEDIATE_URGENCIES,
    SMS_URGENCIES,
    ack_timeout_for,
    chain_of,
    db_school_day_start,
    next_in_chain,
)
from app.extensions import db
from app.models import REPLY_KIND, Alert, AlertStatus, SmsCheck, SmsCheckStatus, Tip, TipStatus, utcnow
from notifications.errors import delivery_outcome, describe_twilio_error

# Why the dispatcher failed a row without sending it (app/alerts/dispatcher.py): its person cannot be told.
NO_PHONE, OPTED_OUT, NOT_ASSIGNED = "no_phone", "opted_out", "not_assigned"
UNSENDABLE_CODES = frozenset({NO_PHONE, OPTED_OUT, NOT_ASSIGNED})

# Rows whose tip may still need someone: not acknowledged, not cancelled.
_OPEN = (AlertStatus.PENDING, AlertStatus.SENDING, AlertStatus.SENT, AlertStatus.DELIVERED, AlertStatus.FOLDED,
         AlertStatus.FAILED)


def db_next_alert(alert: Alert, tip: Tip, now: datetime) -> Alert | None:
    """The row that follows `alert` in the chain, or None when the chain is exhausted."""
    urgency = tip.effective_urgency
    if urgency not in SMS_URGENCIES:
        return None  # relabelled to low since: the queue is enough
    # A repeat comes after the last person: it leads to the next repeat, never back down the chain (a repeat that
    # went to an earlier person, the last one's number failing for good, would lead back to that number).
    following = None if alert.kind == "repeat" else next_in_chain(tip.school_id, alert.chain_position)
    # A row that could not go out to its person (no phone, opted out, deactivated, taken off the school) told
    # nobody: whoever holds that place of the chain now is next, before the places after it.
    if alert.error_code in UNSENDABLE_CODES:
        holder = next_in_chain(tip.school_id, alert.chain_position - 1)
        if holder is not None and holder[0] == alert.chain_position and holder[1].id != alert.staff_id:
            following = holder
    if following is not None:
        position, staff = following
        # A medium tip whose SMS failed waits for the school day like its first SMS did, its hours read as intake
        # reads them: a save of new hours under way is waited for, or waits for this row to re-plan it.
        due = now if urgency in IMMEDIATE_URGENCIES else db_school_day_start(tip.school_id, now)
        return Alert(tip_id=tip.id, staff_id=staff.id, chain_position=position, kind="escalation",
                     status=AlertStatus.PENDING.value, due_at=due)
    chain = chain_of(tip.school_id)
    if not chain or urgency not in IMMEDIATE_URGENCIES:
        return None
    due = now
    # The repeats go to the last person of the chain whose number works: one that failed for good (a landline, a
    # mistyped number; shown as unreachable on the Schools page) would only burn them, and ending them there left
    # a critical tip with nobody paged again after one SMS to each person before it.
    failing = numbers_failing_for_good(staff.id for _, staff in chain)
    if alert.status == AlertStatus.PENDING.value and alert.sent_at is None:
        # This row has not gone out yet (put off to fold with its incident's SMS, or retrying): its SMS is a new
        # try of its person's number, as any chain row is, written before that number failed for another tip. The
        # chain ended here while the row still went out afterwards, to no effect: delivered and unanswered, it was
        # never repeated. Its person counts as reachable, and the repeat below stands for it.
        failing.pop(alert.staff_id or 0, None)
    reachable = [(position, staff) for position, staff in chain if staff.id not in failing]
    if not reachable:
        if alert.status == AlertStatus.FAILED.value:
            return None  # its own SMS failed too: nobody is left to try (count_unreached_tips counts it)
        # Every number failed for good, but for other tips: this tip's own newest SMS went out and was not
        # refused. Ending here on their verdict left it unpaged and uncounted on /healthz. The repeat to the last
        # person tries the number for this tip; failed for good too, it ends the chain above, counted unreached.
        reachable = chain[-1:]
    position, staff = reachable[-1]
    if alert.status == AlertStatus.FAILED.value and alert.staff_id == staff.id:
        # Only the carrier's passing trouble (a transient code such as 30500, or a failure reported with no
        # code) is worth a new try, after a timeout; a number that failed for good, or a row that could not be
        # sent at all (no phone, opted out), would only burn the repeats. A row that failed for someone who is no
        # longer last (deactivated, taken off the school or the chain since) goes on to who is last now.
        code = alert.error_code or ""
        passing = code in ("failed", "undelivered") or (
            code.isdigit() and delivery_outcome("failed", code) == "transient")
        if not passing:
            return None
        due = now + ack_timeout_for(urgency)
    # After the last person: re-send to the last one who can be reached every timeout, a bounded number of times.
    if alert.repeat >= current_app.config["ALERT_MAX_REPEATS"]:
        return None
    repeat = alert.repeat + 1 if alert.chain_position >= position else 1
    if alert.staff_id == staff.id and alert.status == AlertStatus.PENDING.value:
        # The last person's SMS has not gone out yet (Twilio down for longer than a timeout): the repeat stands for
        # it, so an outage of hours ends in one SMS to that person, not one per timeout in the same minute.
        alert.status = AlertStatus.CANCELLED.value
    # created_at = due: a repeat put off after a passing failure counts its acknowledgement timeout from then.
    return Alert(tip_id=tip.id, staff_id=staff.id, chain_position=position, kind="repeat", repeat=repeat,
                 status=AlertStatus.PENDING.value, due_at=due, created_at=due)


def db_fail_folded_into(carrier_id: int, error_code: str) -> int:
    """The "+N related tips" SMS of `carrier_id` failed: the tips folded into it were told to no one either, so
    they fail with it and escalate at once like the carrier's own tip. Returns the rows failed."""
    return _db_update_folded_into(carrier_id, status=AlertStatus.FAILED.value, error_code=error_code, due_at=utcnow())


def db_requeue_folded_into(carrier_id: int, due_at: datetime) -> int:
    """The "+N related tips" SMS of `carrier_id` goes out again: the tips folded into it wait for it again, to be
    folded into the new SMS (call before the carrier's sent_at changes). Returns the rows requeued."""
    return _db_update_folded_into(carrier_id, status=AlertStatus.PENDING.value, due_at=due_at, sent_at=None)


def _db_update_folded_into(carrier_id: int, **values: object) -> int:
    """Update the rows folded into the SMS of `carrier_id`.

    A folded row is tied to its carrier by the send: the same person and the same sent_at (one UPDATE wrote both,
    db_record_sent), of a tip of the same school. Not by the incident: a tip taken out of it since (the case page's
    "Take this tip out of the incident"), the carrier's or a companion's, was told by this SMS all the same, and a
    report that it failed was lost for it (a medium tip was never sent again). Two SMS to one person with the very
    same send time (to the microsecond) from two workers is all a tie could take along, and it would only fail or
    requeue a row one SMS too many: an SMS more, never one fewer. The carrier's sent_at is read in SQL, so a callback
    racing the dispatcher's commit still finds them.
    """
    carrier = select(Alert.staff_id, Alert.sent_at, Tip.school_id).join(Tip, Tip.id == Alert.tip_id).where(
        Alert.id == carrier_id).subquery()
    result = db.session.execute(
        update(Alert)
        .where(Alert.id != carrier_id, Alert.status == AlertStatus.FOLDED.value,
               Alert.staff_id == select(carrier.c.staff_id).scalar_subquery(),
               Alert.sent_at == select(carrier.c.sent_at).scalar_subquery(),
               Alert.tip_id.in_(select(Tip.id).where(Tip.school_id == select(carrier.c.school_id)
                                                     .scalar_subquery())))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _overdue_in_sql(now: datetime) -> ColumnElement[bool]:
    """The rows due for escalation: failed for good (no point waiting for an acknowledgement), or a critical
    or high alert unacknowledged past its timeout, counted from its send (from when it was written while it
    is still retrying).

    A condition, not a filter after reading: reading every open row would let a backlog of open rows that
    are not yet due (a day of medium tips, say) fill the batch and hide an overdue critical one behind it.
    """
    urgency = func.coalesce(Tip.label_urgency, Tip.urgency)
    started = func.coalesce(Alert.sent_at, Alert.created_at)
    return or_(
        Alert.status == AlertStatus.FAILED.value,
        *(and_(urgency == level, started <= now - ack_timeout_for(level)) for level in sorted(IMMEDIATE_URGENCIES)),
    )


def _newest_chain_row() -> ScalarSelect[int]:
    """The id of a tip's newest row of its chain (correlated to Tip): a notice of a reporter's message is not one."""
    return (select(func.max(Alert.id)).where(Alert.tip_id == Tip.id, Alert.kind != REPLY_KIND).correlate(Tip)
            .scalar_subquery())


def db_escalate_overdue(now: datetime | None = None, limit: int = 200) -> int:
    """Escalate every open newest alert that has waited too long or failed (at most `limit` a call, the
    oldest first). Returns rows written."""
    now = now or utcnow()
    newest = _newest_chain_row()
    query = (
        select(Alert, Tip)
        .join(Tip, Tip.id == Alert.tip_id)
        .where(
            Alert.escalated_at.is_(None),
            Alert.status.in_([s.value for s in _OPEN]),
            _overdue_in_sql(now),
            Alert.id == newest,
            Tip.status == TipStatus.NEW.value,
        )
        .order_by(Alert.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        # The tip's row too, FOR KEY SHARE: the next person's row references it, and PostgreSQL takes that lock to
        # check the reference. Taken later, it waited for a status change or a close in the console, which locks the
        # tip FOR UPDATE, then marks this failed row acknowledged: each waited for the other (a deadlock, one of
        # the two rolled back). Taken here, a tip someone is acting on is skipped until the next round.
        query = query.with_for_update(of=Alert, skip_locked=True).suffix_with(
            f"FOR KEY SHARE OF {Tip.__tablename__} SKIP LOCKED", dialect="postgresql")
    written = 0
    for alert, tip in db.session.execute(query).all():
        alert.escalated_at = now
        following = db_next_alert(alert, tip, now)
        if following is None:
            current_app.logger.error(
                "escalation exhausted", extra={"fields": {"tip": tip.ref, "urgency": tip.effective_urgency}}
            )
            continue
        db.session.add(following)
        written += 1
    return written


def oldest_overdue_escalation_s(now: datetime | None = None) -> float | None:
    """How long the most overdue escalation has waited to be written: a critical or high tip nobody took, whose
    newest SMS is past its acknowledgement timeout and whose next SMS does not exist yet. A running worker writes
    it within a round, so for health it is an SMS due and unsent, as a row waiting in the outbox is; without this,
    a worker dead or stuck after a tip's first SMS left the outbox empty and /healthz ok. None when none is.

    A row that failed for good is due for escalation at once, whatever the urgency (db_escalate_overdue takes it in
    its next round): its failure wrote its due_at, so it counts from then, not only once its timeout has passed."""
    now = now or utcnow()
    urgency = func.coalesce(Tip.label_urgency, Tip.urgency)
    started = func.coalesce(Alert.sent_at, Alert.created_at)
    ages = []
    failed_at = db.session.scalar(
        select(func.min(Alert.due_at)).join(Tip, Tip.id == Alert.tip_id)
        .where(Alert.escalated_at.is_(None), Alert.status == AlertStatus.FAILED.value,
               Alert.id == _newest_chain_row(), Tip.status == TipStatus.NEW.value, Alert.due_at <= now)
    )
    if failed_at is not None:
        ages.append((now - failed_at).total_seconds())
    for level in sorted(IMMEDIATE_URGENCIES):
        timeout = ack_timeout_for(level)
        oldest = db.session.scalar(
            select(func.min(started)).join(Tip, Tip.id == Alert.tip_id)
            .where(Alert.escalated_at.is_(None), Alert.status.in_([s.value for s in _OPEN]),
                   Alert.id == _newest_chain_row(), Tip.status == TipStatus.NEW.value, urgency == level,
                   started <= now - timeout)
        )
        if oldest is not None:
            ages.append((now - oldest - timeout).total_seconds())
    return max(ages, default=None)


def count_unreached_tips() -> int:
    """Urgent tips that reach no one: nobody has taken them, their newest SMS failed, and escalation found nobody
    left to try (every number failed for good, or the school has nobody). For health: only a person can help."""
    newest = _newest_chain_row()
    urgency = func.coalesce(Tip.label_urgency, Tip.urgency)
    count = db.session.scalar(
        select(func.count()).select_from(Alert).join(Tip, Tip.id == Alert.tip_id)
        .where(Alert.id == newest, Alert.status == AlertStatus.FAILED.value, Alert.escalated_at.isnot(None),
               Tip.acknowledged_at.is_(None), Tip.status == TipStatus.NEW.value,
               urgency.in_(sorted(IMMEDIATE_URGENCIES)))
    )
    return int(count or 0)


def numbers_failing_for_good(staff_ids: Iterable[int]) -> dict[int, str]:
    """The people whose newest SMS that went to Twilio failed for good (a mistyped number, a landline): each alert
    skips them for the next of the chain, so the admins must hear of it. Their id -> the failure in words; a later
    SMS that got through clears it. Rows that were never sent (no phone, opted out) are not counted: those show."""
    ids = list(staff_ids)
    if not ids:
        return {}
    # A failed SMS stays failed for this purpose when someone then took its tip: acknowledging marks the tip's
    # sent rows acknowledged, failed ones too, keeping their error code (app/alerts/acknowledge.py).
    failed = or_(Alert.status == AlertStatus.FAILED.value,
                 and_(Alert.status == AlertStatus.ACKNOWLEDGED.value, Alert.delivered_at.is_(None),
                      Alert.error_code.isnot(None)))
    tried = or_(Alert.sent_at.isnot(None), and_(failed,
                                                Alert.error_code.notin_(sorted(UNSENDABLE_CODES | {"internal"}))))
    newest = select(func.max(Alert.id)).where(Alert.staff_id.in_(ids), tried).group_by(Alert.staff_id)
    # Per person, the newest SMS that went to Twilio: (when, the error code when it failed, else None).
    last: dict[int, tuple[datetime, str | None]] = {}
    for staff_id, status, code, delivered_at, sent_at, due_at in db.session.execute(
        select(Alert.staff_id, Alert.status, Alert.error_code, Alert.delivered_at, Alert.sent_at, Alert.due_at)
        .where(Alert.id.in_(newest))
    ):
        failed_here = status == AlertStatus.FAILED.value or (
            status == AlertStatus.ACKNOWLEDGED.value and delivered_at is None and code is not None)
        if staff_id is not None:  # a failed row's due_at is when it failed (its escalation is due from then)
            when = due_at if status == AlertStatus.FAILED.value else sent_at or due_at
            last[staff_id] = (when, code if failed_here else None)
    # A district admin's test SMS that Twilio delivered or refused for good is such an SMS too: a number corrected
    # and tested is reachable again without waiting for a tip (app/alerts/sms_checks.py).
    for staff_id, status, code, at in db.session.execute(
        select(SmsCheck.staff_id, SmsCheck.status, SmsCheck.error_code,
               func.coalesce(SmsCheck.delivered_at, SmsCheck.sent_at, SmsCheck.created_at))
        .where(SmsCheck.staff_id.in_(ids), or_(
            SmsCheck.status == SmsCheckStatus.DELIVERED.value,
            and_(SmsCheck.status == SmsCheckStatus.FAILED.value, SmsCheck.twilio_sid.isnot(None)
                 | SmsCheck.to_phone.isnot(None))))
        .order_by(SmsCheck.id)
    ):
        if staff_id not in last or last[staff_id][0] <= at:
            last[staff_id] = (at, code if status == SmsCheckStatus.FAILED.value else None)
    failing: dict[int, str] = {}
    for staff_id, (_, code) in last.items():
        if staff_id is not None and code and code.isdigit() and delivery_outcome("failed", code) == "permanent":
            failing[staff_id] = describe_twilio_error(int(code))
    return failing
