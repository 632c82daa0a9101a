"""Flask-Login glue: the session holds "<staff id>:<generation>", so bumping the generation signs a person
out everywhere (sign-out everywhere, deactivation, password change), and a random session id, so that "Sign
out" ends this one session on the server too (the cookie is signed, not stored: a copy of it taken before
sign-out would otherwise keep working until it timed out)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import session
from sqlalchemy import delete

from app.extensions import db, login_manager
from app.models import EndedSession, Staff

SESSION_ID = "sid"


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def start_session_id() -> None:
    """A new random id for a session being signed in (after the session was cleared)."""
    session[SESSION_ID] = secrets.token_urlsafe(32)


def db_end_session(now: datetime, lifetime: timedelta) -> None:
    """Record this session as ended, until it would have timed out anyway; forget those past that."""
    db.session.execute(delete(EndedSession).where(EndedSession.ends_at < now))
    sid = session.get(SESSION_ID)
    if isinstance(sid, str) and db.session.get(EndedSession, _sid_hash(sid)) is None:
        db.session.add(EndedSession(sid_hash=_sid_hash(sid), ends_at=now + lifetime))


@login_manager.user_loader
def load_staff(session_id: str) -> Staff | None:
    try:
        staff_id, generation = (int(part) for part in session_id.split(":", 1))
    except ValueError:
        return None
    sid = session.get(SESSION_ID)
    # A session from before session ids (signed in before an upgrade) signs in again, once.
    if not isinstance(sid, str) or db.session.get(EndedSession, _sid_hash(sid)) is not None:
        return None
    staff = db.session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.session_generation != generation:
        return None
    return staff
