"""Claiming due alert rows so that each is sent by exactly one worker.

PostgreSQL: `FOR UPDATE SKIP LOCKED`, so any number of workers on any number of machines share the work.
SQLite: one worker at a time, holding a lease row it renews; a second worker waits for the lease to expire.
A claimed row carries a lease of its own: if its worker dies, the row is due again when the lease ends; the
worker itself takes its own claims again at its next round (a database error broke off the round before).
The dispatcher claims one row at a time, just before sending it, the most urgent first: a worker that dies holds
back only the SMS it was sending, not the rest of a batch for a lease.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from app.extensions import db
from app.models import Alert, AlertStatus, Tip, WorkerLease, utcnow


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=current_app.config[name])


def db_take_worker_lease(owner: str, now: datetime | None = None) -> bool:
    """SQLite only: take or renew the single-worker lease. True when this worker may work."""
    now = now or utcnow()
    lease = db.session.get(WorkerLease, "alerts")
    if lease is None:
        db.session.add(WorkerLease(name="alerts", owner=owner, expires_at=now + _seconds("ALERT_WORKER_LEASE_S")))
        return True
    if lease.owner == owner or lease.expires_at <= now:
        lease.owner = owner
        lease.expires_at = now + _seconds("ALERT_WORKER_LEASE_S")
        return True
    return False


def db_release_worker_lease(owner: str, now: datetime | None = None) -> None:
    """End the lease now (a standby takes it at once). The row stays: when it ended tells health how long no
    worker has run."""
    lease = db.session.get(WorkerLease, "alerts")
    if lease is not None and lease.owner == owner:
        lease.expires_at = now or utcnow()


def seconds_without_worker(now: datetime | None = None) -> float | None:
    """SQLite: how long the single worker's lease has been over (inf when no worker ever ran); None while
    a worker holds it."""
    lease = db.session.get(WorkerLease, "alerts")
    if lease is None:
        return float("inf")
    idle = ((now or utcnow()) - lease.expires_at).total_seconds()
    return idle if idle > 0 else None


def db_give_back_own_claims(owner: str) -> int:
    """Put this worker's claims back in the outbox, due as they were (commit follows). Only between rounds, when none
    of them is on its way to Twilio (an SMS sent and not recorded is recorded first: dispatcher.db_record_unrecorded):
    a SQLite worker that lost the single worker's lease hands a claim a database error left (the round broke off
    before its send) to the worker holding it now, instead of leaving it to the claim's lease (a minute). Returns the
    rows."""
    result = db.session.execute(
        update(Alert).where(Alert.lease_owner == owner, Alert.status == AlertStatus.SENDING.value)
        .values(status=AlertStatus.PENDING.value, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def db_claim_due_alerts(owner: str, limit: int, now: datetime | None = None, skip: Collection[int] = ()) -> list[Alert]:
    """Mark up to `limit` due rows as being sent by `owner` and return them (commit follows): the most urgent tips'
    first (as relabelled in the console), then the longest due. `skip`: rows not to claim (tried this round)."""
    now = now or utcnow()
    due = or_(
        (Alert.status == AlertStatus.PENDING.value) & (Alert.due_at <= now),
        (Alert.status == AlertStatus.SENDING.value) & (Alert.lease_until < now),  # a dead worker's row
        # This worker's own claims: a round runs after the one before has ended, so none of them is on its way to
        # Twilio. They are the rest of a batch a database error broke off (a lock past the busy timeout, a cut
        # connection): sent now, not a lease (a minute) after the database came back. An SMS of such a claim that
        # went out but whose "sent" could not be written is recorded first (dispatcher.db_record_unrecorded).
        (Alert.status == AlertStatus.SENDING.value) & (Alert.lease_owner == owner),
    )
    # Most urgent first (the urgency as relabelled: urgency_rank follows it): a backlog (a flood of prank tips, the
    # night's medium tips all due when school opens) must not put a critical tip's SMS behind others. The rank is a
    # subquery, not a join, so that FOR UPDATE locks alert rows only and a case being edited in the console (its
    # tip row locked) is not skipped.
    rank = select(Tip.urgency_rank).where(Tip.id == Alert.tip_id).scalar_subquery()
    if skip:
        due = due & Alert.id.notin_(sorted(skip))
    query = select(Alert).where(due).order_by(rank.desc(), Alert.due_at, Alert.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        # Only the alert rows: a tip row locked by the console or a webhook must not make its alert skipped.
        query = query.with_for_update(skip_locked=True, of=Alert)
    alerts = list(db.session.scalars(query))
    for alert in alerts:
        alert.status = AlertStatus.SENDING.value
        alert.lease_owner = owner
        alert.lease_until = now + _seconds("ALERT_CLAIM_LEASE_S")
        alert.attempts += 1
    return alerts
