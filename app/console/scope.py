"""Which tips a person may see: the ONE place every tip query of the console starts from.

District admins see every school; everyone else sees the schools they are assigned to. A tip outside that
answers 404 (not 403), so the console does not even confirm that a reference exists.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from sqlalchemy import Select, select

from app.crypto.receipts import normalize_ref
from app.extensions import db
from app.models import Assignment, Role, Staff, Tip


def sees_all_schools(staff: Staff) -> bool:
    """A district admin: every school, and the admin pages (app/console/access.py)."""
    return staff.role == Role.DISTRICT_ADMIN


def visible_school_ids(staff: Staff) -> Select[Any]:
    return select(Assignment.school_id).where(Assignment.staff_id == staff.id)


def visible_tips(staff: Staff) -> Select[Any]:
    """SELECT of the tips this person may see; callers add filters, order and limits."""
    query = select(Tip)
    if not sees_all_schools(staff):
        query = query.where(Tip.school_id.in_(visible_school_ids(staff)))
    return query


def get_visible_tip(staff: Staff, ref: str, *, for_update: bool = False) -> Tip | None:
    """The tip `ref` if this person may see it. `for_update` locks its row until the transaction ends and reads it
    afresh: a change that checks what the page showed (the status, the labels, the counselor) against the row then
    compares with the row as it is, and a second person's change made meanwhile waits for this one, then finds
    it (PostgreSQL; SQLite's BEGIN IMMEDIATE already lets one writer in at a time)."""
    query = visible_tips(staff).where(Tip.ref == normalize_ref(ref))  # O as 0, I and L as 1, as an SMS ACK
    if for_update:
        query = query.with_for_update(of=Tip).execution_options(populate_existing=True)
    tip: Tip | None = db.session.scalar(query)
    return tip


def get_visible_tip_or_404(staff: Staff, ref: str, *, for_update: bool = False) -> Tip:
    tip = get_visible_tip(staff, ref, for_update=for_update)
    if tip is None:
        abort(404)
    return tip
