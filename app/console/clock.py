"""The console's clock, in one function so tests can freeze or advance time (session expiry, lockout)."""

from __future__ import annotations

from datetime import datetime

from app.models.base import utcnow


def now() -> datetime:
    """Naive UTC, like every timestamp column."""
    return utcnow()
