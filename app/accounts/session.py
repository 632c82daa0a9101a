"""Flask-Login glue: the session holds "<staff id>:<generation>", so bumping the generation signs a person
out everywhere (sign-out everywhere, deactivation, password change)."""

from __future__ import annotations

from app.extensions import db, login_manager
from app.models import Staff


@login_manager.user_loader
def load_staff(session_id: str) -> Staff | None:
    try:
        staff_id, generation = (int(part) for part in session_id.split(":", 1))
    except ValueError:
        return None
    staff = db.session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.session_generation != generation:
        return None
    return staff
