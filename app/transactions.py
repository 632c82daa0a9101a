"""Ending a request's transaction before its page is rendered."""

from __future__ import annotations

from app.extensions import db


def commit_before_rendering() -> None:
    """Commit now (what was written, or an empty read), keeping the loaded objects readable.

    On SQLite every transaction begins IMMEDIATE and holds the write lock until it ends (app/database.py),
    so a page view that kept it open while rendering would queue every writer, a tip being stored or an
    alert being claimed, behind its template. A plain commit would expire the loaded objects and the
    template's first attribute would open a new transaction, so they are kept as loaded: the view loads
    everything the template reads before calling this.
    """
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
