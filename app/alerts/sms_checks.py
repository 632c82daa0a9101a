"""Test SMS: a district admin checks that someone of a school's escalation chain is reached by SMS, before a real
tip depends on it. The console writes a row (`SmsCheck`); the alert worker sends it through the same transport as
alerts (the official twilio client, never from a web request), after the round's alerts and never while Twilio is
failing them; Twilio's delivery report says whether it reached the phone. The text is fixed and about no tip."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, func, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from app.alerts.aside import Aside
from app.alerts.sms import sms_transport
from app.database import reading
from app.extensions import db
from app.logs import log_event
from app.models import School, SmsCheck, SmsCheckStatus, Staff, utcnow
from notifications import PermanentSendError, TransientSendError
from notifications.errors import delivery_outcome, describe_twilio_error
from notifications.messages import check_text

log = logging.getLogger(__name__)
_ASIDE = Aside("sms_checks", log)

MAX_TRIES = 5  # transient failures before a test SMS is given up (Twilio down: the page says so, try later)
PER_ROUND = 3  # a round's alerts come first; a handful of tests at most after them
VALIDITY_S = 600  # a test SMS that cannot go out within ten minutes tells nothing any more
UNREACHABLE = "unreachable"  # error_code of a check whose person could no longer be sent an SMS when it was due
ON_ITS_WAY = (SmsCheckStatus.PENDING.value, SmsCheckStatus.SENDING.value)


def refusal(person: Staff, school: School) -> str | None:
    """Why a test SMS to this person about this school cannot be asked for, in words; None when it can."""
    if school.id not in person.school_ids:
        return "This person is not assigned to this school any more."
    if not person.can_get_sms:
        return f"This person cannot be sent an SMS ({person.why_no_sms}); nothing was sent."
    waiting = db.session.scalar(select(SmsCheck.id).where(SmsCheck.staff_id == person.id,
                                                          SmsCheck.status.in_(ON_ITS_WAY)).limit(1))
    if waiting is not None:
        return "A test SMS to this person is on its way already: reload this page in a minute to see it arrive."
    return None


def db_request_check(person: Staff, school: School, requested_by: Staff) -> SmsCheck:
    """The row the worker sends (the caller checked `refusal`, records the audit event and commits)."""
    check = SmsCheck(staff_id=person.id, school_id=school.id, requested_by_id=requested_by.id,
                     status=SmsCheckStatus.PENDING.value, due_at=utcnow())
    db.session.add(check)
    db.session.flush()
    return check


def recent_checks(school_id: int, limit: int = 10) -> list[SmsCheck]:
    return list(db.session.scalars(select(SmsCheck).where(SmsCheck.school_id == school_id)
                                   .order_by(SmsCheck.id.desc()).limit(limit)))


def describe(check: SmsCheck) -> str:
    """Where a test SMS is, for the school's page."""
    if check.status == SmsCheckStatus.DELIVERED.value:
        return "delivered to the phone"
    if check.status == SmsCheckStatus.SENT.value:
        return "handed to Twilio; no delivery report yet (reload in a minute)"
    if check.status == SmsCheckStatus.FAILED.value:
        if check.error_code == UNREACHABLE:
            return "not sent: the person could no longer be sent an SMS (deactivated, no phone or opted out)"
        code = check.error_code or ""
        return f"failed: {describe_twilio_error(int(code)) if code.isdigit() else code or 'unknown error'}"
    if check.attempts:
        return f"waiting to be sent (Twilio failed {check.attempts} time{'s' if check.attempts > 1 else ''}; " \
               "trying again)"
    return "waiting for the alert worker to send it"


def _callback_url(check_id: int, send: int) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/hooks/twilio/status?check={check_id}&send={send}"


def _due(now: datetime) -> ColumnElement[bool]:
    return or_((SmsCheck.status == SmsCheckStatus.PENDING.value) & (SmsCheck.due_at <= now),
               (SmsCheck.status == SmsCheckStatus.SENDING.value) & (SmsCheck.lease_until < now))


def any_due(now: datetime) -> bool:
    """Whether a test SMS is due, in a transaction that only reads: on SQLite the worker's every round asks, and a
    claim's transaction would take a turn at the write lock (which the intake needs) though none is."""
    with reading():
        return db.session.scalar(select(SmsCheck.id).where(_due(now)).limit(1)) is not None


def db_claim_due_checks(owner: str, limit: int, now: datetime) -> list[SmsCheck]:
    query = select(SmsCheck).where(_due(now)).order_by(SmsCheck.due_at, SmsCheck.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    checks = list(db.session.scalars(query))
    for check in checks:
        check.status, check.lease_owner = SmsCheckStatus.SENDING.value, owner
        check.lease_until = now + timedelta(seconds=current_app.config["ALERT_CLAIM_LEASE_S"])
        check.attempts += 1
    return checks


def _end(check_id: int, owner: str, **values: object) -> None:
    db.session.execute(update(SmsCheck).where(SmsCheck.id == check_id, SmsCheck.lease_owner == owner,
                                              SmsCheck.status == SmsCheckStatus.SENDING.value)
                       .values(lease_owner=None, lease_until=None, **values))
    db.session.commit()


def _database_behind_release() -> bool:
    """Whether the database is at a migration before this code's (new code restarted before `flask db upgrade`)."""
    from app.backup import older_revisions

    try:
        with reading():
            current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        db.session.rollback()
        return False
    return current in older_revisions()


def send_due_checks_aside(owner: str, deadline: float) -> int:
    """`send_due_checks` for the worker's round, where test SMS are an extra that must never stop the alerts.

    On a database behind this release (its migration adds `sms_check`) or with a bug here, the worker died after
    each round's alerts; now the test SMS wait a minute and the operator reads one line saying why. A database
    down or locked is the round's to handle, as before."""
    if _ASIDE.paused():
        return 0
    try:
        return send_due_checks(owner, deadline)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it must not stop the SMS of tips
        db.session.rollback()
        behind = isinstance(exc, SQLAlchemyError) and _database_behind_release()
        if isinstance(exc, SQLAlchemyError) and not behind:
            raise
        cure = ("the database is behind this release: run `flask db upgrade`" if behind
                else "tried again in a minute")
        _ASIDE.broke(exc, f"OPERATOR: test SMS cannot be sent ({cure}); alerts go on")
        return 0


def send_due_checks(owner: str, deadline: float) -> int:
    """Send the test SMS that are due, until `deadline` (time.monotonic()); returns how many were tried."""
    db.session.commit()
    if not any_due(utcnow()):
        return 0
    claimed = [(c.id, c.staff_id, c.school_id, c.attempts) for c in db_claim_due_checks(owner, PER_ROUND, utcnow())]
    db.session.commit()
    tried = 0
    for index, (check_id, staff_id, school_id, attempts) in enumerate(claimed):
        if time.monotonic() >= deadline:
            db.session.execute(update(SmsCheck).where(SmsCheck.id.in_([c[0] for c in claimed[index:]]),
                                                      SmsCheck.lease_owner == owner)
                               .values(status=SmsCheckStatus.PENDING.value, lease_owner=None, lease_until=None))
            db.session.commit()
            break
        tried += 1
        person, school = db.session.get(Staff, staff_id), db.session.get(School, school_id)
        if person is None or school is None or not person.can_get_sms or not person.phone:
            _end(check_id, owner, status=SmsCheckStatus.FAILED.value, error_code=UNREACHABLE)
            continue
        phone, body = person.phone, check_text(school=school.short_name)
        db.session.commit()  # no transaction open while Twilio is called
        try:
            result = sms_transport().send(phone, body, status_callback=_callback_url(check_id, attempts),
                                          validity_period_s=VALIDITY_S)
        except TransientSendError as exc:
            code = str(exc.code or exc.status or "network")
            if attempts >= MAX_TRIES:
                _end(check_id, owner, status=SmsCheckStatus.FAILED.value, error_code=code, to_phone=phone)
            else:
                _end(check_id, owner, status=SmsCheckStatus.PENDING.value, error_code=code,
                     due_at=utcnow() + timedelta(seconds=min(300, 2 ** attempts * 2)))
            log_event(log, "test SMS send failed", logging.WARNING, check=check_id, code=code, attempts=attempts)
            continue
        except PermanentSendError as exc:
            code = str(exc.code or exc.status or "permanent")
            if exc.code == 21610:  # the person replied STOP at Twilio: as for an alert, skipped from now on
                db.session.execute(update(Staff).where(Staff.id == staff_id)
                                   .values(sms_opted_out=True, sms_opted_out_at=utcnow()))
            _end(check_id, owner, status=SmsCheckStatus.FAILED.value, error_code=code, to_phone=phone)
            log_event(log, "test SMS refused", logging.WARNING, check=check_id, code=code)
            continue
        # A delivery report that came first may have written the SID and its outcome: keep what it said.
        db.session.execute(update(SmsCheck).where(SmsCheck.id == check_id).values(
            twilio_sid=func.coalesce(SmsCheck.twilio_sid, result.sid), to_phone=phone,
            sent_at=func.coalesce(SmsCheck.sent_at, utcnow())))
        _end(check_id, owner, status=SmsCheckStatus.SENT.value, twilio_status=result.status, error_code=None)
        log_event(log, "test SMS sent", check=check_id)
    return tried


def db_check_report(check_id: int, send: str | None, sid: str, status: str, error_code: str | None) -> None:
    """A delivery report on a test SMS (the status webhook, signature checked). Only the send it is about: its SID,
    or, before the worker recorded one, the send under way. Never moves a delivered or failed test back."""
    check = db.session.get(SmsCheck, check_id, with_for_update={"key_share": True})
    if check is None or not sid:
        return
    if check.twilio_sid is not None and check.twilio_sid != sid:
        return
    if check.twilio_sid is None:
        if check.status != SmsCheckStatus.SENDING.value or send not in (None, str(check.attempts)):
            return
        check.twilio_sid = sid
    if check.status in (SmsCheckStatus.DELIVERED.value, SmsCheckStatus.FAILED.value):
        return
    outcome = delivery_outcome(status, error_code)
    check.twilio_status = status
    if outcome == "delivered":
        check.status, check.delivered_at = SmsCheckStatus.DELIVERED.value, utcnow()
    elif outcome in ("permanent", "transient"):
        check.status, check.error_code = SmsCheckStatus.FAILED.value, error_code or status
    else:
        return
    check.lease_owner = check.lease_until = None
