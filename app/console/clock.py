"""The console's clock, in one function so tests can freeze or advance time (session expiry, lockout)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.models.base import utcnow


def now() -> datetime:
    """Naive UTC, like every timestamp column."""
    return utcnow()


def seconds(at: datetime) -> float:
    """A naive UTC time as seconds since the epoch, for the session cookie. Not `at.timestamp()`: that reads a
    naive time as the server's local time, and a server kept in local time lost or gained an hour of session
    across each change of summer time."""
    return at.replace(tzinfo=UTC).timestamp()
