"""The audit record: who did what to which tip, and when. Never the content of a tip.

Append-only and tamper-evident: every event carries the hash of the event before it, and its own hash is a
SHA-256 over a canonical JSON of its fields and that previous hash. Editing or deleting any event breaks the
chain at that point, which `verify_chain()` (and `flask audit verify`) finds and names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.extensions import db, db_take_turns_on
from app.models import AuditEvent, Staff, Tip, utcnow

GENESIS_HASH = "0" * 64
# Keys that would smuggle tip content into the record are refused outright, so a careless caller fails in tests.
_FORBIDDEN_DETAIL = frozenset({"text", "body", "contact", "content", "plaintext"})


class AuditDetailRefused(ValueError):
    """A caller tried to put something that looks like tip content into the audit record."""


def canonical(event: Any) -> bytes:
    """The bytes an event's hash covers: every field but the id (assigned later) and the hash itself."""
    fields = {
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "tip_ref": event.tip_ref,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(event: Any) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


def _lock_chain() -> None:
    """Serialise chain writers so two transactions never hang events on the same predecessor.

    PostgreSQL: a transaction-level advisory lock, released at commit or rollback. SQLite: the connection
    already began with BEGIN IMMEDIATE (app/database.py), which holds the write lock for the transaction.
    """
    db_take_turns_on("audit chain")


def _last_hash() -> str:
    # Autoflush sends events added earlier in this transaction first, so they are seen here.
    last = db.session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return last or GENESIS_HASH


def record(
    action: str,
    *,
    actor: Staff | None = None,
    tip: Tip | None = None,
    actor_label: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add one event to the current session (the caller commits). `detail` is metadata only, JSON-able."""
    refused = _FORBIDDEN_DETAIL.intersection(detail)
    if refused:
        raise AuditDetailRefused(f"audit detail may not carry {sorted(refused)}: the record never holds content")
    _lock_chain()
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_label=actor_label if actor_label is not None else (actor.email if actor is not None else None),
        action=action,
        tip_ref=tip.ref if tip is not None else None,
        detail=json.dumps(detail, sort_keys=True, default=str, separators=(",", ":")),
        prev_hash=_last_hash(),
    )
    event.hash = event_hash(event)
    db.session.add(event)
    db.session.flush()  # the next record() in this transaction must see this one as the last
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_broken_id: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


def _events_in_order(batch: int = 2000) -> Iterator[Any]:
    """Rows (not ORM objects), so a long record neither fills the session nor detaches the caller's objects."""
    columns = (AuditEvent.id, AuditEvent.at, AuditEvent.actor_id, AuditEvent.actor_label, AuditEvent.action,
               AuditEvent.tip_ref, AuditEvent.detail, AuditEvent.prev_hash, AuditEvent.hash)
    last_id = 0
    while True:
        rows = db.session.execute(
            select(*columns).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def verify_chain() -> ChainReport:
    """Walk the whole record in id order; report the first event whose hash or link does not hold."""
    expected_prev = GENESIS_HASH
    checked = 0
    for event in _events_in_order():
        if event.prev_hash != expected_prev:
            return ChainReport(checked, event.id, "its link to the previous event is broken (an event "
                               "before it was removed or changed)")
        if event_hash(event) != event.hash:
            return ChainReport(checked, event.id, "its content does not match its hash (it was edited)")
        expected_prev = event.hash
        checked += 1
    return ChainReport(checked, None, None)


def parse_detail(event: AuditEvent) -> dict[str, Any]:
    return parse_detail_text(event.detail)


def parse_detail_text(detail: str | None) -> dict[str, Any]:
    try:
        value = json.loads(detail or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

