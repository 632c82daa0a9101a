"""Retention by crypto-shredding: a case closed longer ago than RETENTION_DAYS loses its data key and every
ciphertext, so nothing of what the reporter or staff wrote can ever be read again, by anyone, from any backup
taken afterwards. The metadata the quarterly analysis needs (school, times, category, urgency, outcome, alerts)
stays, so past quarters' figures do not change. Open tips are never purged, however old, and neither is a case
on legal hold (app/legal_hold.py): the purge names those it kept.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, delete, event, func, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import audit
from app.extensions import db
from app.logs import log_event
from app.models import Attachment, Message, Note, ReporterSession, Tip, TipStatus, utcnow

log = logging.getLogger("tipline.retention")
DEFAULT_BATCH = 200


@dataclass
class PurgeResult:
    refs: list[str] = field(default_factory=list)  # references of the tips shredded (or, dry run, to shred)
    held: list[str] = field(default_factory=list)  # past retention but on legal hold: kept
    dry_run: bool = False
    more: bool = False  # a `limit` stopped it before every expired tip was done

    @property
    def count(self) -> int:
        return len(self.refs)


PAUSED = ("RETENTION_PAUSED is set: no closed case is shredded until it is removed from the configuration "
          "(README, Backups, Restoring)")


class RetentionPaused(RuntimeError):
    """A purge asked for while RETENTION_PAUSED is set: nothing was shredded."""


def retention_paused() -> bool:
    """Whether the operator has paused the purge: after restoring a backup, whose legal holds end where it was
    taken, until the holds set since are set again (a hold is not in a backup taken before it)."""
    return bool(current_app.config["RETENTION_PAUSED"])


def retention_cutoff(now: datetime | None = None) -> datetime:
    """Tips closed before this instant (naive UTC) are past retention."""
    return (now or utcnow()) - timedelta(days=int(current_app.config["RETENTION_DAYS"]))


def _past_retention(cutoff: datetime) -> ColumnElement[bool]:
    still_holds_content = or_(Tip.wrapped_dek.isnot(None), Tip.text_ct.isnot(None), Tip.contact_ct.isnot(None),
                              Tip.assessment_ct.isnot(None), Tip.shredded_at.is_(None))
    return (Tip.status == TipStatus.CLOSED.value) & Tip.closed_at.isnot(None) & (Tip.closed_at < cutoff) \
        & still_holds_content


def _expired(cutoff: datetime) -> ColumnElement[bool]:
    # The hold is read from the tip's own row: on PostgreSQL a hold committed while the purge waits on the row's
    # lock is seen when the condition is checked again on the row as it is then (app/legal_hold.py).
    return _past_retention(cutoff) & ~Tip.on_legal_hold


def held_past_retention(now: datetime | None = None) -> list[str]:
    """References of the closed cases past retention that a legal hold keeps (references are not content)."""
    return list(db.session.scalars(select(Tip.ref).where(_past_retention(retention_cutoff(now)), Tip.on_legal_hold)
                                   .order_by(Tip.closed_at, Tip.id)))


def is_past_retention(tip: Tip, now: datetime | None = None) -> bool:
    """Closed longer ago than RETENTION_DAYS: without a hold, the next purge shreds it."""
    return tip.status == TipStatus.CLOSED.value and tip.closed_at is not None \
        and tip.closed_at < retention_cutoff(now) and tip.shredded_at is None


def count_unclosed_past_retention(now: datetime | None = None) -> int:
    """Cases not closed that nothing has changed for longer than the retention period. Only closing starts the
    clock, so these are kept for ever (a case left at "resolved", say): the purge names how many, for someone
    to close them."""
    return db.session.scalar(select(func.count(Tip.id)).where(
        Tip.status != TipStatus.CLOSED.value, Tip.shredded_at.is_(None),
        Tip.updated_at < retention_cutoff(now))) or 0


def db_shred_tips(tips: list[Tip], now: datetime) -> None:
    """Destroy the data key and every ciphertext of these tips (in the caller's transaction)."""
    held = [tip.ref for tip in tips if tip.on_legal_hold]
    if held:  # the purge's query leaves them out; anything else calling this must not shred them either
        raise ValueError(f"cases on legal hold are never shredded: {', '.join(held)}")
    ids = [tip.id for tip in tips]
    for tip in tips:
        tip.wrapped_dek = None
        tip.text_ct = None
        tip.contact_ct = None
        tip.assessment_ct = None
        tip.language_ct = None
        tip.legal_hold_reason_ct = None  # a hold released: its reasons were sealed under the key that goes
        tip.legal_hold_release_reason_ct = None
        tip.shredded_at = now
        # The receipt code opens nothing any more: a reporter coming back finds "no such receipt" rather
        # than an empty case. A random value no HMAC of a code will ever equal (and unique, as the column is).
        tip.receipt_hash = secrets.token_hex(32)
    for model in (Message, Note):
        db.session.execute(update(model).where(model.tip_id.in_(ids)).values(body_ct=None))
    db.session.execute(update(Attachment).where(Attachment.tip_id.in_(ids)).values(data_ct=None))
    # A reporter's follow-up session has nothing left to show; its sealed receipt code goes too.
    db.session.execute(delete(ReporterSession).where(ReporterSession.tip_id.in_(ids)))


def db_purge_expired_tips(now: datetime | None = None, dry_run: bool = False,
                          limit: int | None = None, actor_label: str = "retention") -> PurgeResult:
    """Shred closed tips past retention, in the caller's transaction (the caller commits).

    With `limit`, at most that many (oldest closed first) and `more` says whether others remain; the alert
    worker's daily call may leave it out. The audit event names how many and which references, never content,
    and who: "retention" for the worker's daily run, the operator for `flask tips purge`.
    """
    now = now or utcnow()
    query = select(Tip).where(_expired(retention_cutoff(now))).order_by(Tip.closed_at, Tip.id)
    if limit is not None:
        query = query.limit(limit + 1)
    if not dry_run:
        # PostgreSQL: lock the rows so a case reopened at this moment waits (and is re-checked) rather than
        # being shredded under staff's hands. SQLite already holds the write lock (BEGIN IMMEDIATE).
        query = query.with_for_update(of=Tip)
    tips = list(db.session.scalars(query))
    more = limit is not None and len(tips) > limit
    tips = tips[:limit] if limit is not None else tips
    result = PurgeResult([tip.ref for tip in tips], held_past_retention(now), dry_run=dry_run, more=more)
    if dry_run:
        return result
    if db.session.get_bind().dialect.name == "sqlite":
        # Zero what the shredding frees, even on a connection opened without it (app/database.py sets it on
        # every connection; a build of SQLite or a connection made otherwise may not have it), and once the
        # caller commits, move the WAL into the database file and empty it: until then the WAL and the main
        # file's old pages still hold the wrapped key and the ciphertexts. With nothing to shred too: a
        # checkpoint a long read held back after an earlier purge is finished by the next daily run, not only
        # once another tip reaches retention (weeks later, in a small district).
        db.session.execute(text("PRAGMA secure_delete=ON"))
        _checkpoint_after_commit(db.session())
    if not tips:
        return result
    db_shred_tips(tips, now)
    # The held ones by reference too: filtering the audit record by a held case finds the purges that kept it.
    audit.record("tips.purged", actor_label=actor_label, count=result.count, refs=result.refs,
                 retention_days=int(current_app.config["RETENTION_DAYS"]), held=result.held)
    log_event(log, "tips crypto-shredded after retention", count=result.count, held=len(result.held))
    return result


_CHECKPOINT_PENDING = "tipline_checkpoint_after_commit"


def _checkpoint_after_commit(session: Session) -> None:
    if not session.info.get(_CHECKPOINT_PENDING):
        session.info[_CHECKPOINT_PENDING] = True
        event.listen(session, "after_commit", _checkpoint_wal, once=True)


def _checkpoint_wal(session: Session) -> None:
    """PRAGMA wal_checkpoint(TRUNCATE) on a connection of its own (the session's transaction has ended).

    With no busy wait: a TRUNCATE checkpoint holds the write lock while it waits for older readers, and a tip
    being stored must never wait behind it. If a reader is there, the checkpoint gives up at once (busy) and
    the next purge completes it.
    """
    session.info.pop(_CHECKPOINT_PENDING, None)
    try:
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA busy_timeout=0")
            try:
                busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:  # the connection goes back to the pool: with the app's busy timeout again
                cursor.execute(f"PRAGMA busy_timeout={int(current_app.config['SQLITE_BUSY_TIMEOUT_S'] * 1000)}")
        finally:
            raw.close()
    except (sqlite3.Error, SQLAlchemyError) as exc:
        log_event(log, "WAL checkpoint after purge failed; shredded content stays in the WAL until the next one",
                  logging.WARNING, error=type(exc).__name__)
        return
    if busy:
        # A reader held an older snapshot; the next purge (or checkpoint) completes it.
        log_event(log, "WAL checkpoint after purge incomplete; shredded content stays in the WAL until the next one",
                  logging.WARNING)


def purge_expired_tips(now: datetime | None = None, batch: int = DEFAULT_BATCH,
                       progress: Callable[[PurgeResult], None] | None = None,
                       actor_label: str = "retention") -> PurgeResult:
    """Shred everything past retention in batches, one transaction each, so no lock is held for long. Refused with
    RetentionPaused while RETENTION_PAUSED is set, whoever calls it (the worker and `flask tips purge` say so
    before calling: this is the last guard)."""
    if retention_paused():
        raise RetentionPaused(PAUSED)
    total = PurgeResult()
    while True:
        step = db_purge_expired_tips(now, limit=batch, actor_label=actor_label)
        db.session.commit()
        total.refs.extend(step.refs)
        total.held = step.held  # the same cases each batch: the last batch's count is the one that holds
        if progress is not None and step.count:
            progress(step)
        if not step.more:
            return total
