"""Legal hold: a case that must be preserved (a subpoena, a lawsuit, a criminal investigation) is never
crypto-shredded, however long ago it was closed, until a district admin releases the hold.

The hold is columns of the tip's own row (when, by whom, the reason sealed under the tip's key like a note), so the
retention purge's condition sees it where it locks: on PostgreSQL a hold and a purge of the same case take turns
on that row, as a reporter's reply and the purge do (app/intake/reporter_sessions.py). Either the purge waits,
checks the row again and keeps the case, or it shredded the case first and the hold is refused, nothing changed.
SQLite has one writer at a time: the request holds the write lock from its first statement.
"""

from __future__ import annotations

import os
from typing import Any

from app import audit
from app.crypto.service import seal_for_tip
from app.extensions import db
from app.models import Staff, Tip, utcnow
from app.retention import is_past_retention

# The migration that added the hold: a downgrade past it drops every hold (see refuse_to_drop_holds).
HOLD_MIGRATION = "4c7e2b9a1f58"
# Set to 1 in the environment of one `flask db downgrade` to drop the holds anyway (README, Upgrading).
DROP_HOLDS_ENV = "TIPLINE_DOWNGRADE_DROPS_LEGAL_HOLDS"


def refuse_to_drop_holds(connection: Any) -> None:
    """Raise alembic's CommandError while any case is on hold, unless the operator set DROP_HOLDS_ENV: the release
    before the hold's migration has no hold, and its daily purge would shred a held case past retention.

    Checked by migrations/env.py before a downgrade past HOLD_MIGRATION runs anything (on SQLite each migration
    commits on its own: one refused half-way would leave the database where neither release runs), and by that
    migration itself. Plain SQL on the table as it is, whatever the models say."""
    from alembic.util import CommandError
    from sqlalchemy import column, func, select, table

    tip = table("tip", column("legal_hold_at"), column("legal_hold_released_at"))
    held = connection.execute(select(func.count()).select_from(tip).where(
        tip.c.legal_hold_at.isnot(None), tip.c.legal_hold_released_at.is_(None))).scalar() or 0
    if held and os.environ.get(DROP_HOLDS_ENV) != "1":
        raise CommandError(
            f"{held} case(s) on legal hold: the release before {HOLD_MIGRATION} has no legal hold and its purge would "
            f"shred them once past retention, so nothing was changed. Release the holds in the console first (flask "
            f"tips holds lists them), or run this downgrade again with {DROP_HOLDS_ENV}=1 to drop them knowingly.")


# FOR NO KEY UPDATE, as a reporter's reply: the purge's FOR UPDATE on the row waits for it, or is waited for.
TIP_ROW_LOCK = {"key_share": True}
NOT_HELD = "none"


class HoldRefused(Exception):
    """A hold that cannot be set or released as asked; the message says why, to staff (it holds no content)."""


class HoldChangedMeanwhile(HoldRefused):
    """Asked from a page someone else's hold or release has outdated."""


def hold_marker(tip: Tip) -> str:
    """What a case page's hold forms carry: the hold the page showed ("none", or when it was set)."""
    if not tip.on_legal_hold or tip.legal_hold_at is None:
        return NOT_HELD
    return tip.legal_hold_at.isoformat(timespec="microseconds")


def _db_lock(tip: Tip, marker: str | None) -> None:
    """Lock the tip's row and read it again, then check it can still be held or released as the page showed it.
    Nothing is flushed before the lock (it would wait on the purge's lock with the row's old values)."""
    with db.session.no_autoflush:
        db.session.refresh(tip, with_for_update=TIP_ROW_LOCK)
    if tip.shredded_at is not None or tip.wrapped_dek is None:
        raise HoldRefused("This case was crypto-shredded after retention: there is nothing left to hold.")
    # None: no page (a command, a test). A form without the hold its page showed (the busy page once gave the reason
    # back without it) could release a hold set since, which nobody releasing saw: refused like a stale page.
    if marker is not None and marker != hold_marker(tip):
        raise HoldChangedMeanwhile("The legal hold of this case changed while you had it open: nothing was changed. "
                                   "The case shows its hold now; check it and choose again.")


def db_set_legal_hold(tip: Tip, staff: Staff, reason: str, marker: str | None) -> None:
    """Put the case on hold with `reason`, sealed (in the caller's transaction; the caller commits). Raises
    HoldRefused, or KeyringUnavailable when nothing can be sealed now."""
    _db_lock(tip, marker)
    if tip.on_legal_hold:
        raise HoldRefused("This case is on legal hold already.")
    tip.legal_hold_reason_ct = seal_for_tip(tip, "legal_hold", reason.encode("utf-8"))
    tip.legal_hold_at, tip.legal_hold_by_id = utcnow(), staff.id
    tip.legal_hold_released_at = tip.legal_hold_released_by_id = tip.legal_hold_release_reason_ct = None
    audit.record("tip.hold_set", actor=staff, tip=tip)


def db_release_legal_hold(tip: Tip, staff: Staff, reason: str, marker: str | None) -> bool:
    """End the hold with `reason`, sealed (the caller commits). Returns whether the case is past retention, so
    that the next purge shreds it. Raises as db_set_legal_hold."""
    _db_lock(tip, marker)
    if not tip.on_legal_hold:
        raise HoldRefused("This case is not on legal hold.")
    tip.legal_hold_release_reason_ct = seal_for_tip(tip, "legal_hold_release", reason.encode("utf-8"))
    tip.legal_hold_released_at, tip.legal_hold_released_by_id = utcnow(), staff.id
    past = is_past_retention(tip)
    audit.record("tip.hold_released", actor=staff, tip=tip, past_retention=past)
    return past

