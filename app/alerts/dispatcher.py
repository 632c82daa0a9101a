"""The dispatcher: claims due alerts, sends them, records the result, and escalates what is overdue.

Delivery guarantee: at least once. A row is committed as "sending" with a lease before the SMS goes out and
as "sent" with Twilio's SID right after; a worker killed between the two leaves a row that is sent again
when its lease expires. So a duplicate SMS is possible only for a message that was in flight when its worker
died: at most one extra SMS per such crash, and never for a row whose "sent" was committed. A database error while
writing "sent" is retried until the lease ends, and after that at the worker's next round before it claims anything,
so it does not make a duplicate of its own.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from app.alerts.claims import db_claim_due_alerts
from app.alerts.escalation import (
    NO_PHONE,
    NOT_ASSIGNED,
    OPTED_OUT,
    db_escalate_overdue,
    db_fail_folded_into,
    db_requeue_folded_into,
    oldest_overdue_escalation_s,
)
from app.alerts.planning import IMMEDIATE_URGENCIES, SMS_URGENCIES, ack_timeout_for
from app.alerts.sms import body_for, sms_transport, status_callback_url
from app.alerts.sms_checks import send_due_checks_aside
from app.database import db_error_reason, reading
from app.extensions import db
from app.logs import log_event
from app.models import REPLY_KIND, Alert, AlertStatus, Assignment, School, Staff, Tip, utcnow
from notifications import PermanentSendError, TransientSendError
from notifications.errors import account_refusal, describe_twilio_error
from triage import max_urgency

log = logging.getLogger("tipline.alerts")

FOLD_INTERVAL = timedelta(seconds=60)  # at most one SMS a minute per person about one incident
MAX_BACKOFF_S = 300
RECORD_RETRY_PAUSE_S = 1.0  # between tries to record an SMS Twilio took

# Invariant, for an SMS Twilio took whose "sent" the database refuses: from Twilio's answer to the end of the row's
# lease, its worker tries to write it at least every RECORD_RETRY_PAUSE_S (plus one try's time). Within the round
# while more than RECORD_GIVE_UP_PAUSES such pauses of the lease are left; then at the start of each round, the worker
# pausing only RECORD_RETRY_PAUSE_S after a round that left one unrecorded (worker.py, `record_pause_s`). Giving up
# with three pauses left puts the next round's try inside the lease: it used to give up with one left and pause five
# seconds, and a database back in that gap let another worker claim the row when the lease ended and send it again.
# So another worker sends it again only when the database refused this one the whole lease through (at least
# ALERT_CLAIM_LEASE_S less twice TWILIO_TIMEOUT_S) and lets the other in first as it ends: it cannot tell this worker
# from a dead one then, and at least once means it must send (a duplicate, never a loss).
RECORD_GIVE_UP_PAUSES = 3


def backoff_for(failures: int) -> timedelta:
    """Exponential backoff with jitter after the n-th failed send: 2, 4, 8 ... seconds, at most five minutes.

    Counted in failed sends, not claims: a row whose worker was killed before sending was not refused by
    anyone, and waiting longer for it would only delay the SMS.
    """
    ceiling = min(MAX_BACKOFF_S, 2 ** max(1, failures))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not a secret


def retry_delay(failures: int, retry_after_s: float | None, escalates_at: datetime | None,
                now: datetime) -> timedelta:
    """How long a row waits after its n-th failed send: the backoff, or longer when Twilio's answer asked for it
    (Retry-After on a 429 or 503), but never more than MAX_BACKOFF_S, nor past the moment the chain moves on to the
    next person (`escalates_at`): a rate limit must not keep the person whose turn it is from their SMS for longer
    than their turn lasts."""
    delay = backoff_for(failures)
    if retry_after_s:
        asked = timedelta(seconds=min(retry_after_s, MAX_BACKOFF_S))
        if escalates_at is not None and escalates_at > now:
            asked = min(asked, escalates_at - now)
        delay = max(delay, asked)
    return delay


def log_account_refused(alert_id: int, code: int, failures: int) -> None:
    log_event(log, f"OPERATOR: Twilio refused our account or sender ({describe_twilio_error(code)}); "
              "alerts are kept and retried until it is fixed", logging.ERROR, alert=alert_id, code=str(code),
              failures=failures)


def db_retry_refused_delivery(alert: Alert, code: int) -> None:
    """A delivery report that Twilio refused our account or sender (ACCOUNT_CODES: an unregistered or unverified
    sender, a suspended account) after taking the message. Every number fails alike, so, as when the REST API
    refuses it, the row is sent again to the same person after a backoff instead of failing through the chain;
    the chain still moves on at the acknowledgement timeout, counted from when the row was written."""
    alert.send_failures += 1
    due_at = utcnow() + backoff_for(alert.send_failures)
    db_requeue_folded_into(alert.id, due_at)
    alert.status, alert.error_code, alert.due_at = AlertStatus.PENDING.value, str(code), due_at
    alert.twilio_sid = alert.sent_at = alert.lease_owner = alert.lease_until = None
    # The SMS sent again is looked up from its own send if its report is lost too (app/alerts/delivery_checks.py).
    alert.delivery_checks, alert.delivery_checked_at = 0, None
    log_account_refused(alert.id, code, alert.send_failures)


def _last_incident_sms(alert: Alert, tip: Tip) -> datetime | None:
    """When this person last got an SMS about the same incident (another tip of it)."""
    if tip.incident_id is None or alert.staff_id is None:
        return None
    return db.session.scalar(
        select(Alert.sent_at).join(Tip, Tip.id == Alert.tip_id)
        .where(Alert.staff_id == alert.staff_id, Tip.incident_id == tip.incident_id, Alert.id != alert.id,
               Alert.sent_at.isnot(None), Alert.kind != REPLY_KIND)  # a reporter's message is not a new tip
        .order_by(Alert.sent_at.desc()).limit(1)
    )


def _folded_companions(alert: Alert, tip: Tip) -> list[Alert]:
    """Other postponed rows for the same person and incident that this SMS can stand for: still waiting, or
    claimed by this same worker in this batch (never rows another worker holds)."""
    waiting = (Alert.status == AlertStatus.PENDING.value) | (
        (Alert.status == AlertStatus.SENDING.value) & (Alert.lease_owner == alert.lease_owner)
    )
    return list(db.session.scalars(
        select(Alert).join(Tip, Tip.id == Alert.tip_id)
        .where(Alert.staff_id == alert.staff_id, Tip.incident_id == tip.incident_id, Alert.id != alert.id,
               Alert.kind == "folded", waiting)
    ))


def _should_fold(alert: Alert, tip: Tip, now: datetime) -> datetime | None:
    """For a non-critical alert close behind another SMS of its incident: when to send the folded SMS."""
    if tip.effective_urgency == "critical" or alert.repeat or alert.kind == REPLY_KIND:
        return None  # critical tips are never delayed by folding
    last = _last_incident_sms(alert, tip)
    if last is not None and last + FOLD_INTERVAL > now:
        return last + FOLD_INTERVAL
    return None


def _highest_urgency(tips: list[Tip | None]) -> str:
    """The most urgent of the tips one "+N related tips" SMS stands for (the carrier's alone may be the least)."""
    return max_urgency(*(t.effective_urgency for t in tips if t is not None))


def _still_assigned(staff: Staff, school_id: int) -> bool:
    return db.session.scalar(
        select(Assignment.id).where(Assignment.staff_id == staff.id, Assignment.school_id == school_id)
    ) is not None


@dataclass(frozen=True)
class _Plan:
    """What to do with one claimed row, decided from a read-only look at it (plain values only)."""

    action: str  # "gone", "finish" (end without an SMS) or "send"
    status: str = ""
    error_code: str | None = None
    fold_at: datetime | None = None
    staff_id: int | None = None
    phone: str = ""
    body: str = ""
    ref: str = ""
    urgency: str = ""
    validity_s: int | None = None
    attempts: int = 0
    send_failures: int = 0
    companion_ids: tuple[int, ...] = ()
    escalates_at: datetime | None = None  # when the chain moves on from this row (its acknowledgement timeout)


def _plan(alert_id: int, owner: str, now: datetime) -> _Plan:
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.status != AlertStatus.SENDING.value or alert.lease_owner != owner:
        return _Plan("gone")
    tip = db.session.get(Tip, alert.tip_id)
    staff = db.session.get(Staff, alert.staff_id) if alert.staff_id else None
    assert tip is not None
    taken = tip.acknowledged_at is not None and alert.kind != REPLY_KIND  # a reporter's message is for the taker
    if taken or tip.effective_urgency not in SMS_URGENCIES:
        # Taken, or lowered to low in the console while the row waited (for the school day, or a retry): low
        # tips are for the queue only. Raised again, db_alert_after_relabel writes a new row.
        return _Plan("finish", AlertStatus.CANCELLED.value)
    if staff is None or not staff.phone or staff.sms_opted_out or not staff.active:
        code = OPTED_OUT if staff is not None and staff.sms_opted_out else NO_PHONE
        return _Plan("finish", AlertStatus.FAILED.value, code)
    if not _still_assigned(staff, tip.school_id):
        # Taken off the school since the row was written: they can no longer open the case; tell the next.
        return _Plan("finish", AlertStatus.FAILED.value, NOT_ASSIGNED)
    fold_at = _should_fold(alert, tip, now) if alert.kind != "folded" else None
    if fold_at is not None:
        return _Plan("finish", AlertStatus.PENDING.value, fold_at=fold_at)
    companions = _folded_companions(alert, tip) if alert.kind == "folded" else []
    school = db.session.get(School, tip.school_id)
    assert school is not None
    urgency = tip.effective_urgency
    escalates_at = None
    if alert.kind != REPLY_KIND and urgency in IMMEDIATE_URGENCIES and alert.escalated_at is None:
        escalates_at = (alert.sent_at or alert.created_at) + ack_timeout_for(urgency)  # as _overdue_in_sql counts
    return _Plan(
        "send", staff_id=staff.id, phone=staff.phone, ref=tip.ref, urgency=urgency, attempts=alert.attempts,
        send_failures=alert.send_failures, escalates_at=escalates_at,
        body=body_for(alert, tip, school, folded_count=1 + len(companions) if companions else 0,
                      folded_urgency=_highest_urgency([tip, *(db.session.get(Tip, c.tip_id) for c in companions)])),
        validity_s=int(ack_timeout_for(urgency).total_seconds()) if urgency == "critical" else None,
        companion_ids=tuple(c.id for c in companions),
    )


def _db_end_claim(alert_id: int, owner: str, status: str, **values: object) -> bool:
    """Set a row this worker still holds to `status` and give up the claim; False if it is no longer ours."""
    result = db.session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.lease_owner == owner, Alert.status == AlertStatus.SENDING.value)
        .values(status=status, lease_owner=None, lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def send_one(alert_id: int, owner: str, claimed_until: float) -> str:
    """Send one alert claimed by `owner` and commit the outcome. Returns the new status.

    On SQLite every writing transaction is a turn at the one write lock that the intake needs too, so the
    row is looked at in a read-only transaction and each write is one short guarded UPDATE. `claimed_until`: the
    caller has just claimed the row (run_once claims each row just before its send), and its lease ends no sooner
    than this `time.monotonic()`, taken before the claim.
    """
    now = utcnow()
    with reading():
        plan = _plan(alert_id, owner, now)
    if plan.action == "gone":
        return "gone"
    if plan.action == "finish":
        if plan.fold_at is not None:
            # Postponed to fold, not failing: an earlier failed send no longer says anything about this row.
            ended = _db_end_claim(alert_id, owner, plan.status, kind="folded", due_at=plan.fold_at, error_code=None,
                                  send_failures=0)
        elif plan.error_code is not None:  # failed: its escalation is due from now (health counts from due_at)
            ended = _db_end_claim(alert_id, owner, plan.status, error_code=plan.error_code, due_at=utcnow())
        else:
            ended = _db_end_claim(alert_id, owner, plan.status)
        db.session.commit()
        if not ended:
            return "gone"
        return "postponed" if plan.fold_at is not None else plan.status
    lease_ends = claimed_until
    try:
        result = sms_transport().send(plan.phone, plan.body,
                                      status_callback=status_callback_url(alert_id, plan.attempts),
                                      validity_period_s=plan.validity_s)
    except TransientSendError as exc:
        code = str(exc.code or exc.status or "network")
        failures = plan.send_failures + 1
        failed_at = utcnow()
        wait = retry_delay(failures, exc.retry_after_s, plan.escalates_at, failed_at)
        _db_end_claim(alert_id, owner, AlertStatus.PENDING.value, error_code=code, send_failures=failures,
                      due_at=failed_at + wait)
        db.session.commit()
        if (refused := account_refusal(exc.code)) is not None:  # every alert fails alike until the settings are fixed
            log_account_refused(alert_id, refused, failures)
        else:
            log_event(log, "alert send failed, will retry", logging.WARNING, alert=alert_id, tip=plan.ref,
                      code=code, failures=failures, attempts=plan.attempts, retry_in_s=round(wait.total_seconds(), 1),
                      retry_after_s=exc.retry_after_s)
        return "retry"
    except PermanentSendError as exc:
        code = str(exc.code or exc.status or "permanent")
        if exc.code == 21610:  # the person replied STOP at Twilio: skip them from now on, tell the admins
            db.session.execute(update(Staff).where(Staff.id == plan.staff_id)
                               .values(sms_opted_out=True, sms_opted_out_at=utcnow()))
        _db_end_claim(alert_id, owner, AlertStatus.FAILED.value, error_code=code, due_at=utcnow())
        db.session.commit()
        log_event(log, "alert send failed for good, escalating", logging.ERROR, alert=alert_id, tip=plan.ref,
                  code=code)
        return AlertStatus.FAILED.value
    # Twilio has the SMS now: recording that must not fail for a moment's lock, or the row would stay "sending"
    # and go out again when its lease ends (a second SMS though no worker died). Tried again within the lease; a
    # database still failing then is left to the worker's next round, which records it before claiming anything
    # (see RECORD_GIVE_UP_PAUSES).
    # When Twilio took it: the acknowledgement timeout (the next person's page) counts from then, however late the
    # database lets it be written.
    sent_at = utcnow()
    sent = _Sent(alert_id, plan.attempts, plan.body, plan.companion_ids, result.sid, result.status, sent_at,
                 lease_ends)
    while True:
        try:
            db_record_sent(alert_id, owner, plan.body, plan.companion_ids, result.sid, result.status, sent_at=sent_at)
            db.session.commit()
            break
        except OperationalError as exc:
            db.session.rollback()
            if time.monotonic() + RECORD_GIVE_UP_PAUSES * RECORD_RETRY_PAUSE_S >= lease_ends:
                _UNRECORDED.setdefault(_unrecorded_key(owner), {})[alert_id] = sent
                raise
            log_event(log, "alert sent but not recorded yet (database error); trying again", logging.WARNING,
                      alert=alert_id, error=db_error_reason(exc))
            time.sleep(RECORD_RETRY_PAUSE_S)
    log_event(log, "alert sent", alert=alert_id, tip=plan.ref, urgency=plan.urgency,
              folded=len(plan.companion_ids))
    return AlertStatus.SENT.value


@dataclass(frozen=True)
class _Sent:
    """An SMS Twilio took whose "sent" the database refused until its claim's lease had all but ended."""

    alert_id: int
    claim: int  # the row's `attempts` when it was claimed for this send
    body: str
    companion_ids: tuple[int, ...]
    sid: str
    twilio_status: str
    sent_at: datetime  # when Twilio took it
    lease_ends: float = 0.0  # time.monotonic() when the claim's lease ends: another worker may take the row then


# Per database and worker (its owner id, unique to a process and thread): what was sent and not yet recorded. Kept in
# memory only: a worker killed meanwhile is the crash of the delivery guarantee, its row sent again when the lease ends.
_UNRECORDED: dict[tuple[str, str], dict[int, _Sent]] = {}


def _unrecorded_key(owner: str) -> tuple[str, str]:
    return str(db.engine.url), owner


def db_record_unrecorded(owner: str) -> int:
    """Record the SMS this worker sent in an earlier round whose "sent" the database refused then (locked past the
    claim's lease, a PostgreSQL failover): otherwise the round's claim would take the row, still "sending", again
    and send it a second time. Only a row not claimed since (its `attempts` unchanged) is written: one another worker
    took when the lease ended is that worker's. The caller commits, then calls `forget_recorded(owner)`."""
    waiting = _UNRECORDED.get(_unrecorded_key(owner), {})
    for sent in waiting.values():
        db_record_sent(sent.alert_id, owner, sent.body, sent.companion_ids, sent.sid, sent.twilio_status,
                       claim=sent.claim, sent_at=sent.sent_at)
    return len(waiting)


def record_pause_s(owner: str) -> float | None:
    """How long the worker pauses after a database error while an SMS it sent is unrecorded and the row's lease
    lasts (RECORD_RETRY_PAUSE_S: see RECORD_GIVE_UP_PAUSES); None when there is none (the usual pause then)."""
    now = time.monotonic()
    waiting = _UNRECORDED.get(_unrecorded_key(owner), {})
    return RECORD_RETRY_PAUSE_S if any(sent.lease_ends > now for sent in waiting.values()) else None


def forget_recorded(owner: str) -> None:
    _UNRECORDED.pop(_unrecorded_key(owner), None)


def db_record_sent(alert_id: int, owner: str, body: str, companion_ids: tuple[int, ...], sid: str,
                   twilio_status: str, *, claim: int | None = None, sent_at: datetime | None = None) -> None:
    """Record an SMS Twilio took: its SID, the row sent (and the rows folded into it). The caller commits.
    `claim`: record it only if the row has not been claimed again since that claim (a late record). `sent_at`: when
    Twilio took it (now if not given)."""
    sent_at = sent_at or utcnow()
    # A report that Twilio refused our sender may have come first and put the row back in the outbox, to go again
    # with the tips folded into it (db_retry_refused_delivery): this SMS reached nobody, so none of it is recorded.
    ours = [Alert.attempts == claim] if claim is not None else []
    recorded = db.session.execute(
        update(Alert).where(Alert.id == alert_id, Alert.status != AlertStatus.PENDING.value, *ours)
        .values(twilio_sid=sid, body=body, sent_at=sent_at, lease_owner=None, lease_until=None))
    if not getattr(recorded, "rowcount", 0):
        return
    # A status callback may have got here first (delivered, or failed: then it escalates); keep what it said.
    db.session.execute(update(Alert).where(Alert.id == alert_id, Alert.status == AlertStatus.SENDING.value)
                       .values(status=AlertStatus.SENT.value, twilio_status=twilio_status, error_code=None))
    if companion_ids:
        waiting = (Alert.status == AlertStatus.PENDING.value) | (
            (Alert.status == AlertStatus.SENDING.value) & (Alert.lease_owner == owner))
        db.session.execute(update(Alert).where(Alert.id.in_(companion_ids), waiting)
                           .values(status=AlertStatus.FOLDED.value, sent_at=sent_at, lease_owner=None,
                                   lease_until=None))
        # A failure callback that got here first: the tips folded into this SMS were not told either.
        status, error_code = db.session.execute(
            select(Alert.status, Alert.error_code).where(Alert.id == alert_id)).one()
        if status == AlertStatus.FAILED.value:
            db_fail_folded_into(alert_id, error_code or AlertStatus.FAILED.value)


def _fail_unexpectedly(alert_id: int, exc: Exception) -> None:
    """A bug or a bad setting broke one row: mark it failed so that the next person is told, and go on."""
    db.session.rollback()
    db.session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.status.in_([AlertStatus.SENDING.value, AlertStatus.PENDING.value]))
        .values(status=AlertStatus.FAILED.value, error_code="internal", lease_owner=None, lease_until=None,
                due_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    log.error("alert %s failed unexpectedly (%s); escalating", alert_id, type(exc).__name__, exc_info=exc)


def run_once(owner: str, batch: int = 50) -> dict[str, int]:
    """One round: escalate what is overdue, then send what is due, at most `batch` SMS. Returns counts per outcome
    ("budget_spent": the round stopped on its time budget, not because nothing was left)."""
    counts: dict[str, int] = {}
    # Recording, escalating and claiming share one transaction: on SQLite each transaction is a turn at the write
    # lock, which the intake needs too. An SMS sent in an earlier round is recorded before anything is claimed (it
    # must not be claimed and sent again), and an alert written by escalation is claimed in the same round.
    recorded = db_record_unrecorded(owner)
    escalated = db_escalate_overdue()
    db.session.flush()
    if escalated:
        counts["escalated"] = escalated
    # One row is claimed at a time, just before it is sent, the most urgent first: a worker killed mid-round holds
    # back only the SMS it was sending (under its lease, ALERT_CLAIM_LEASE_S, since Twilio may have it); every other
    # due row stays in the outbox for the next round of any worker. The first claim shares this first transaction.
    lease_s = float(current_app.config["ALERT_CLAIM_LEASE_S"])
    claimed_until = time.monotonic() + lease_s  # taken before the claim: its lease ends no sooner
    claimed = _db_claim_next(owner, tried=[])
    db.session.commit()
    if recorded:
        forget_recorded(owner)
        counts["recorded_late"] = recorded
    # A Twilio that does not answer costs each send the client's timeout: a round of 50 sends would last minutes while
    # nothing escalates and no new tip is claimed. The round claims no more once it has spent one timeout on sends;
    # what is still due waits for the next round, which the worker starts at once.
    budget_s = float(current_app.config["TWILIO_TIMEOUT_S"])
    started = time.monotonic()
    tried: list[int] = []  # each row once a round, as when the round claimed them all at once
    while claimed is not None:
        tried.append(claimed)
        try:
            outcome = send_one(claimed, owner, claimed_until)
        except OperationalError:
            raise  # the database itself: the worker loop pauses and retries; its claim is taken again next round
        except Exception as exc:  # noqa: BLE001 - one broken row must never stop every other alert
            _fail_unexpectedly(claimed, exc)
            outcome = "internal_error"
        counts[outcome] = counts.get(outcome, 0) + 1
        if len(tried) >= batch:
            break
        if time.monotonic() - started >= budget_s:
            counts["budget_spent"] = 1
            break
        claimed_until = time.monotonic() + lease_s
        claimed = _db_claim_next(owner, tried)
        db.session.commit()
    if counts.get(AlertStatus.FAILED.value) or counts.get("internal_error"):
        _escalate_in_this_round(counts)  # a send that failed for good: not a poll later
    # Lookups of delivery reports that never came (app/alerts/delivery_checks.py), then test SMS (app/alerts/
    # sms_checks.py): after the round's alerts, in what is left of its time, and not while Twilio is failing
    # alerts; neither may hold back a tip's SMS.
    twilio_answers = not counts.get("retry") and not counts.get("budget_spent")
    if twilio_answers and time.monotonic() - started < budget_s:
        from app.alerts.delivery_checks import check_deliveries_aside  # here: it applies reports, which use this

        looked_up = check_deliveries_aside(started + budget_s)
        counts.update(looked_up)
        if looked_up.get("undelivered"):  # as after a failed send
            _escalate_in_this_round(counts)
    if twilio_answers and time.monotonic() - started < budget_s \
            and (tested := send_due_checks_aside(owner, started + budget_s)):
        counts["tests"] = tested
    counts["claimed"] = len(tried)
    return counts


def _escalate_in_this_round(counts: dict[str, int]) -> None:
    """Write the next person's SMS of what failed for good in this round, so it is claimed in the next at once."""
    more = db_escalate_overdue()
    db.session.commit()
    if more:
        counts["escalated"] = counts.get("escalated", 0) + more


def _db_claim_next(owner: str, tried: list[int]) -> int | None:
    """Claim the most urgent due row for `owner` not yet tried this round (commit follows); None when none is due."""
    claimed = db_claim_due_alerts(owner, 1, skip=tried)
    return claimed[0].id if claimed else None


# Failed sends in a row before an alert counts as failing for health: one or two are a blip (2 and 4 s apart).
FAILING_AFTER_SENDS = 3


def oldest_failing_age_s(now: datetime | None = None) -> float | None:
    """How long the oldest alert still retrying after failed sends has been waiting for its SMS (a Twilio outage,
    or our account refused): the outbox lag does not see it, since its next try is due later."""
    now = now or utcnow()
    oldest = db.session.scalar(
        select(Alert.created_at).where(Alert.status.in_([AlertStatus.PENDING.value, AlertStatus.SENDING.value]),
                                       Alert.send_failures >= FAILING_AFTER_SENDS)
        .order_by(Alert.created_at).limit(1)
    )
    return None if oldest is None else (now - oldest).total_seconds()


def oldest_due_age_s(now: datetime | None = None) -> float | None:
    """Age of the oldest alert that is due and not yet sent (outbox lag), for health and metrics: a row waiting in
    the outbox, or an escalation overdue and not yet written (the next person's SMS, which only the worker writes)."""
    now = now or utcnow()
    oldest = db.session.scalar(
        select(Alert.due_at).where(Alert.status.in_([AlertStatus.PENDING.value, AlertStatus.SENDING.value]),
                                   Alert.due_at <= now).order_by(Alert.due_at).limit(1)
    )
    ages = [age for age in ((now - oldest).total_seconds() if oldest is not None else None,
                            oldest_overdue_escalation_s(now)) if age is not None]
    return max(ages, default=None)
