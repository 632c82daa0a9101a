"""The console's clock, in one function so tests can freeze or advance time (session expiry, lockout)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.models.base import utcnow
from app.models.directory import DISTRICT_TIMEZONE


def now() -> datetime:
    """Naive UTC, like every timestamp column."""
    return utcnow()


def seconds(at: datetime) -> float:
    """A naive UTC time as seconds since the epoch, for the session cookie. Not `at.timestamp()`: that reads a
    naive time as the server's local time, and a server kept in local time lost or gained an hour of session
    across each change of summer time."""
    return at.replace(tzinfo=UTC).timestamp()


def on_the_wall(at: datetime | None, zone: str | None = None, pattern: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A stored time (naive UTC) as staff read a clock: in the school's time zone (`zone`, for a case), or the
    district's for district-wide pages, with its abbreviation (MST, MDT). Staff in Casper read UTC as seven hours
    off, and the reporter's page already dates messages in the school's zone."""
    if at is None:
        return "—"
    return at.replace(tzinfo=UTC).astimezone(ZoneInfo(zone or DISTRICT_TIMEZONE)).strftime(pattern)
