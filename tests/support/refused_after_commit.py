"""The database refuses every transaction begun after a request's commit.

What a request meets when another writer takes SQLite's write lock in the instant after its commit (it waits
SQLITE_BUSY_TIMEOUT_S, then "database is locked"), or PostgreSQL goes away then: an OperationalError on the
next transaction. A request that reads the database after saving (an attribute the commit expired: `tip.ref`
for the redirect) then answered the 503 "nothing was saved, try again" page about a change that was saved, and
the person did it twice or believed it lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.extensions import db


@dataclass
class AfterCommit:
    commits: int = 0
    refused: list[str] = field(default_factory=list)


@contextmanager
def database_refusing_after_commit(app: Flask) -> Iterator[AfterCommit]:
    """Within the block, once a session has committed, every new transaction fails as a database locked past the
    busy timeout does (the app's own error: app/database.py). Yields what happened: `commits` (0 means the block
    saved nothing, and the test proves nothing) and `refused`, the transactions refused (on PostgreSQL the alert
    worker's wake-up, NOTIFY on a connection of its own, is one: it never raises, the worker's poll stands in)."""
    seen = AfterCommit()
    with app.app_context():
        engine = db.engine

    def committed(_session: Session) -> None:
        seen.commits += 1

    def refuse(_connection: Any) -> None:
        if seen.commits:
            seen.refused.append("BEGIN")
            locked = sqlite3.OperationalError("database is locked (refused after the commit, by the test)")
            locked.sqlite_errorname = "SQLITE_BUSY"  # type: ignore[attr-defined]
            raise OperationalError("BEGIN", None, locked)

    event.listen(Session, "after_commit", committed)
    event.listen(engine, "begin", refuse, insert=True)  # before the writer queue takes a turn
    try:
        yield seen
    finally:
        event.remove(engine, "begin", refuse)
        event.remove(Session, "after_commit", committed)
