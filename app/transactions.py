"""Ending a request's transaction before its page is rendered, or before its answer is made."""

from __future__ import annotations

from app.extensions import db


def commit_keeping_loaded() -> None:
    """Commit now (what was written, or an empty read), keeping the loaded objects readable without the database.

    A plain commit expires every loaded object, and the next attribute read begins a new transaction: when another
    writer takes SQLite's write lock in that instant (or PostgreSQL is gone), a request that had saved answered the
    503 "nothing was saved", and the person did it again. Attributes and relationships not loaded before the
    commit still load on first use: load what the answer reads first.
    """
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def commit_before_rendering() -> None:
    """Commit now, keeping the loaded objects readable (commit_keeping_loaded), before a page is rendered.

    On SQLite every transaction begins IMMEDIATE and holds the write lock until it ends (app/database.py),
    so a page view that kept it open while rendering would queue every writer, a tip being stored or an
    alert being claimed, behind its template; and the template's first attribute after a plain commit would
    open a new transaction. The view loads everything the template reads before calling this.
    """
    commit_keeping_loaded()
