"""Waking the dispatcher the moment a tip is committed.

In one process (the dev server's dispatcher thread, tests) a threading.Event is enough. Across processes
(gunicorn workers and `flask alerts run`) PostgreSQL's NOTIFY carries the wake-up; on SQLite the separate
worker polls once a second, which is the single-machine set-up where that costs little.
"""

from __future__ import annotations

import threading

from flask import current_app
from sqlalchemy import text

from app.extensions import db

WAKE_CHANNEL = "tipline_alerts"
_local_wake = threading.Event()


def local_wake_event() -> threading.Event:
    return _local_wake


def wake_dispatcher() -> None:
    """Call after committing new alert rows. Never raises: the worker's poll is the safety net."""
    _local_wake.set()
    if db.engine.dialect.name == "postgresql":
        try:
            with db.engine.connect() as conn:
                conn.execute(text(f"NOTIFY {WAKE_CHANNEL}"))
                conn.commit()
        except Exception as exc:  # noqa: BLE001 - a lost wake-up only costs the poll interval
            current_app.logger.warning("alert wake-up not sent: %s", type(exc).__name__)
