"""Which tips a person may see: the ONE place every tip query of the console starts from.

District admins see every school; everyone else sees the schools they are assigned to. A tip outside that
answers 404 (not 403), so the console does not even confirm that a reference exists.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from sqlalchemy import Select, select

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


def get_visible_tip(staff: Staff, ref: str) -> Tip | None:
    tip: Tip | None = db.session.scalar(visible_tips(staff).where(Tip.ref == ref.strip().upper()))
    return tip


def get_visible_tip_or_404(staff: Staff, ref: str) -> Tip:
    tip = get_visible_tip(staff, ref)
    if tip is None:
        abort(404)
    return tip
