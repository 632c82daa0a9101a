"""A what-if, for the intake benchmark only: Tipline with the reporter's school list cached per process.

The profile of the intake on SQLite (docs/performance.md) shows reporters waiting for SQLite's write lock
just to read the list of schools: every transaction begins with BEGIN IMMEDIATE (app/database.py), and both
GET /report and POST /report read the list in app/intake/views.py:schools_by_town. Serving that list from a
per-process cache (60 s) leaves one write-lock acquisition per tip instead of three. This module measures
that change without making it: `gunicorn -c gunicorn.conf.py bench.whatif_wsgi:app`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from app import create_app
from app.intake import views

_original = views.schools_by_town
_lock = threading.Lock()
_cached: dict[str, tuple[float, Any]] = {}
TTL_S = 60.0


def cached_schools_by_town() -> Any:
    now = time.monotonic()
    with _lock:
        hit = _cached.get("schools")
    if hit is not None and now - hit[0] < TTL_S:
        return hit[1]
    value = _original()
    from app.extensions import db

    db.session.rollback()  # end the read transaction (and the write lock) at once
    with _lock:
        _cached["schools"] = (now, value)
    return value


views.schools_by_town = cached_schools_by_town
app = create_app()
