"""Who is told of a tip, and when: the first alert of a new tip and the school-hours rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import exists, func, select, update

from app.extensions import db
from app.models import REPLY_KIND, UNRANKED_MODEL, Alert, AlertStatus, Assignment, Incident, School, Staff, Tip, utcnow

SMS_URGENCIES = frozenset({"critical", "high", "medium"})
# Paged at once, day or night, and escalated when nobody acknowledges in time.
IMMEDIATE_URGENCIES = frozenset({"critical", "high"})


def ack_timeout_for(urgency: str) -> timedelta:
    """How long the current person has to acknowledge before the next one in the chain is told."""
    if urgency == "critical":
        return timedelta(seconds=current_app.config["ALERT_ACK_TIMEOUT_CRITICAL_S"])
    return timedelta(seconds=current_app.config["ALERT_ACK_TIMEOUT_HIGH_S"])


def chain_of(school_id: int) -> list[tuple[int, Staff]]:
    """The school's escalation chain in order: (position, person), people who can receive an SMS only."""
    rows = db.session.execute(
        select(Assignment.chain_position, Staff)
        .join(Staff, Staff.id == Assignment.staff_id)
        .where(Assignment.school_id == school_id, Assignment.chain_position.isnot(None))
        .order_by(Assignment.chain_position)
    ).all()
    return [(int(pos or 0), staff) for pos, staff in rows if staff.can_get_sms]


def next_in_chain(school_id: int, after_position: int) -> tuple[int, Staff] | None:
    for position, staff in chain_of(school_id):
        if position > after_position:
            return position, staff
    return None


class SchoolHours(Protocol):
    @property
    def timezone(self) -> str: ...
    @property
    def day_start(self) -> time: ...
    @property
    def day_end(self) -> time: ...


@dataclass(frozen=True)
class SchoolDay:
    """A school's hours and time zone, as plain values."""

    timezone: str
    day_start: time
    day_end: time


@dataclass(frozen=True)
class AlertRoute:
    """Where a new tip of a school is alerted, read before its write transaction (plain values). A new tip's
    school-day start is read again in its write (db_school_day_start)."""

    short_name: str
    timezone: str
    day_start: time
    day_end: time
    first: tuple[int, int] | None  # (chain position, staff id) of the first person who can get an SMS


def db_alert_route(school_id: int) -> AlertRoute:
    school = db.session.get(School, school_id)
    assert school is not None
    first = next_in_chain(school_id, 0)
    return AlertRoute(school.short_name, school.timezone, school.day_start, school.day_end,
                      None if first is None else (first[0], first[1].id))


def next_school_day_start(school: SchoolHours, now: datetime) -> datetime:
    """`now` (naive UTC) if the school is in session, else the start of its next school day, in naive UTC."""
    zone = ZoneInfo(school.timezone)
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    for day in range(8):
        date = (local + timedelta(days=day)).date()
        if date.weekday() >= 5:
            continue
        start = datetime.combine(date, school.day_start, tzinfo=zone)
        end = datetime.combine(date, school.day_end, tzinfo=zone)
        if day == 0 and start <= local < end:
            return now
        if start > local:
            return start.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    return now  # unreachable with a sane week; sending now is the safe side


def db_school_day_start(school_id: int, now: datetime) -> datetime:
    """`now` if the school is in session, else the start of its next school day, from its hours as they are in
    this writing transaction. Read here, not before it: an admin's save of new hours between the two re-planned
    the alerts written (db_replan_school_day_alerts), not this one, which kept the start the old hours said.

    The save and this write take turns: on SQLite the write lock, taken at BEGIN; on PostgreSQL the school's
    row, read here FOR SHARE, which the save holds FOR NO KEY UPDATE. So either the save is committed and its
    hours read here, or it waits for this transaction and re-plans its alert. Every alert that waits for the school
    day is planned here: a new tip's (intake), a tip's relabelled to medium (db_alert_after_relabel) and the next
    person's after a failure for good (escalation.db_next_alert). Critical and high page at once and never come here
    to wait for a save. A caller holds no lock the save takes after the school's row: not the audit chain's (the
    relabel comes here before it records), nor a row the save re-plans (the escalation holds rows that failed or
    page at once; the relabel, its tip's row, which the save only reads).
    """
    row = db.session.execute(select(School.timezone, School.day_start, School.day_end)
                             .where(School.id == school_id).with_for_update(read=True)).one()
    return next_school_day_start(SchoolDay(row.timezone, row.day_start, row.day_end), now)


# Rows of a tip that does not page at once which wait for the school day: its first SMS, or the next person's after
# a failure for good (escalation.db_next_alert). Not a row retrying after a failed send (its backoff), nor one
# postponed to be folded into a "+N related tips" SMS (due a minute after the last), nor a notice of a reporter's
# message (written only while the tip pages, due at once).
SCHOOL_DAY_KINDS = ("initial", "escalation")


def db_replan_school_day_alerts(school: School, now: datetime) -> int:
    """The school's hours or time zone changed (set on `school`, not committed): give its alerts that wait for the
    school day the start the new hours say, in the caller's transaction. Returns how many changed.

    Only rows still waiting in the outbox (pending, never failed to send) of tips not taken, whose urgency does not
    page at once; critical and high rows are due at once and stay so. A row the worker claimed meanwhile (sending),
    or sent, keeps what it has: each row is updated only while it is still as it was read.
    """
    urgency = func.coalesce(Tip.label_urgency, Tip.urgency)
    rows = db.session.execute(
        select(Alert.id, Alert.due_at).join(Tip, Tip.id == Alert.tip_id)
        .where(Tip.school_id == school.id, Tip.acknowledged_at.is_(None), urgency.notin_(sorted(IMMEDIATE_URGENCIES)),
               Alert.status == AlertStatus.PENDING.value, Alert.send_failures == 0,
               Alert.kind.in_(SCHOOL_DAY_KINDS), Alert.escalated_at.is_(None))
        .order_by(Alert.id)
    ).all()
    start = next_school_day_start(school, now)
    replanned = 0
    for alert_id, due_at in rows:
        # In session now: what waits goes now; what is already due stays due as it was (the worker is on it).
        due = min(due_at, now) if start == now else start
        if due == due_at:
            continue
        result = db.session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.status == AlertStatus.PENDING.value, Alert.send_failures == 0,
                   Alert.due_at == due_at, Alert.kind.in_(SCHOOL_DAY_KINDS))
            .values(due_at=due)
            .execution_options(synchronize_session=False)
        )
        replanned += int(getattr(result, "rowcount", 0) or 0)
    return replanned


def db_attach_incident(tip: Tip, now: datetime) -> Incident:
    """Join the open incident of the same school and category within the window, or open one."""
    window = timedelta(seconds=current_app.config["ALERT_FOLD_WINDOW_S"])
    # A tip triage could not rank has the category "other" whatever it is about: not a report of the same event as
    # another tip, whose SMS it would join as "+1 related". It opens an incident of its own, and no tip ranked
    # "other" later joins that one (staff link them if they are one event).
    unranked_in_it = exists().where(Tip.incident_id == Incident.id, Tip.model_version == UNRANKED_MODEL,
                                    Tip.label_category.is_(None))
    incident = None if tip.model_version == UNRANKED_MODEL else db.session.scalar(
        select(Incident)
        .where(Incident.school_id == tip.school_id, Incident.category == tip.category,
               Incident.last_tip_at >= now - window, ~unranked_in_it)
        .order_by(Incident.last_tip_at.desc())
        .limit(1)
    )
    if incident is None:
        incident = Incident(school_id=tip.school_id, category=tip.category, opened_at=now, last_tip_at=now)
        db.session.add(incident)
    else:
        incident.last_tip_at = now
    tip.incident = incident
    return incident


def db_plan_alerts_for_new_tip(tip: Tip, route: AlertRoute | None = None) -> list[Alert]:
    """Write the first alert row(s) of a new tip into the outbox. Runs inside the intake transaction.

    The tip must have its school, category and urgency set. `route` may have been read before the
    transaction began (intake does, to keep its write short); else it is read here. Nothing is committed.
    """
    now = utcnow()
    if route is None:
        route = db_alert_route(tip.school_id)
    db_attach_incident(tip, now)
    if tip.effective_urgency not in SMS_URGENCIES:
        return []
    due = now if tip.effective_urgency in IMMEDIATE_URGENCIES else db_school_day_start(tip.school_id, now)
    if route.first is None:
        return [db_nobody_reachable(tip, route, due)]
    position, staff_id = route.first
    alert = Alert(tip=tip, staff_id=staff_id, chain_position=position, kind="initial",
                  status=AlertStatus.PENDING.value, due_at=due)
    db.session.add(alert)
    return [alert]


NO_RECIPIENT = "no_recipient"


def db_nobody_reachable(tip: Tip, route: AlertRoute, due: datetime) -> Alert:
    """Nobody of the chain can get an SMS: still record the alert, failed, so that the failure is visible and the
    tip counts as reaching no one (health) until someone takes it."""
    alert = Alert(tip=tip, staff_id=None, chain_position=0, kind="initial", status=AlertStatus.FAILED.value,
                  due_at=due, error_code=NO_RECIPIENT)
    db.session.add(alert)
    current_app.logger.error("no reachable person in the escalation chain of school %s", route.short_name)
    return alert


_OPEN_ALERT = (AlertStatus.PENDING.value, AlertStatus.SENDING.value, AlertStatus.SENT.value,
               AlertStatus.DELIVERED.value, AlertStatus.FOLDED.value)


def db_alert_after_relabel(tip: Tip, before: str | None = None) -> Alert | None:
    """After staff correct a tip's urgency (`before`: the urgency it had): page its chain if it now calls for an SMS
    and nobody has it yet.

    A tip raised from low to critical must wake someone exactly as if the model had said critical; so must one
    raised from medium whose SMS already went out, since that SMS asked for no answer at once. Call it before
    audit.record: a medium tip's SMS reads the school's hours as intake does (db_school_day_start), which may wait
    for a save of new hours that takes the audit chain's lock after the school's row.
    """
    if tip.acknowledged_at is not None or tip.effective_urgency not in SMS_URGENCIES:
        return None
    now = utcnow()
    if tip.effective_urgency in IMMEDIATE_URGENCIES:
        # Raised from medium: a row waiting for the school day (or to be folded, which critical never is)
        # goes now, and its acknowledgement timeout counts from now, as for a row written now. Rows backing
        # off after a failed send keep their backoff.
        waiting = db.session.scalar(
            select(Alert).where(Alert.tip_id == tip.id, Alert.status == AlertStatus.PENDING.value,
                                Alert.due_at > now, Alert.send_failures == 0, Alert.kind != REPLY_KIND)
            .order_by(Alert.id.desc()).limit(1)
        )
        if waiting is not None:
            waiting.due_at = waiting.created_at = now
            if waiting.kind == "folded":  # back to what it was before it was postponed
                earlier = db.session.scalar(select(Alert.id).where(Alert.tip_id == tip.id, Alert.id < waiting.id,
                                                                   Alert.kind != REPLY_KIND))
                waiting.kind = "initial" if earlier is None else "escalation"
            return waiting
    # A notice of a reporter's message is no page: the chain has not been told of the tip by it.
    on_its_way = select(Alert.id).where(Alert.tip_id == tip.id, Alert.status.in_(_OPEN_ALERT),
                                        Alert.kind != REPLY_KIND)
    if tip.effective_urgency in IMMEDIATE_URGENCIES and before is not None and before not in IMMEDIATE_URGENCIES:
        # Raised to a page: an SMS sent at the lower urgency does not stand for it (nor would its answer be
        # overdue); one not sent yet (retrying after a failure) goes out with the new urgency.
        on_its_way = on_its_way.where(Alert.sent_at.is_(None))
    pending = db.session.scalar(on_its_way.limit(1))
    if pending is not None:
        return None  # already on its way; escalation follows the corrected urgency from now on
    route = db_alert_route(tip.school_id)
    due = now if tip.effective_urgency in IMMEDIATE_URGENCIES else db_school_day_start(tip.school_id, now)
    if route.first is None:
        newest = db.session.scalar(select(Alert.error_code).where(Alert.tip_id == tip.id, Alert.kind != REPLY_KIND)
                                   .order_by(Alert.id.desc()).limit(1))
        if newest != NO_RECIPIENT:  # recorded once, not again at each relabel while nobody can be reached
            db_nobody_reachable(tip, route, due)  # as for a new tip; nobody is paged
        return None
    position, staff_id = route.first
    alert = Alert(tip_id=tip.id, staff_id=staff_id, chain_position=position, kind="initial",
                  status=AlertStatus.PENDING.value, due_at=due)
    db.session.add(alert)
    return alert
