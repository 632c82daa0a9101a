"""The console's clock, in one function so tests can freeze or advance time (session expiry, lockout)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


def describe_age(delta: timedelta) -> str:
    """How long, as the queue's Age column says it: "just now", "12 min", "3 h 5 min", "30 h", "4 days"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min" if hours < 6 else f"{hours} h"
    return f"{hours // 24} days"


def ago(at: datetime | None) -> str:
    """A stored time (naive UTC) as how long ago it was ("17 min ago"), beside its clock time on a case: woken at
    2 a.m., nobody should have to work out the time now to know whether a tip or an answer is fresh."""
    if at is None:
        return ""
    age = describe_age(now() - at)
    return age if age == "just now" else f"{age} ago"
