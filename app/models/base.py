"""Shared column helpers. Times are naive UTC everywhere, so SQLite and PostgreSQL behave alike."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (how every timestamp column stores time)."""
    return datetime.now(UTC).replace(tzinfo=None)
