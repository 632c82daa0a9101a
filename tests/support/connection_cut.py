"""Cut the database connection in the middle of a request, as a PostgreSQL failover, a restarted pgbouncer or
`pg_terminate_backend` does: the next statement of the request that reads `table` fails on a dead connection.

On PostgreSQL the backend is really terminated (from another connection, and waited for); on SQLite, where no
server can drop the connection, the statement fails with the disk's I/O error, the nearest thing that exists
there. Either way the request meets a real OperationalError from the driver, not one raised by the view.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event, text

from app.extensions import db


@contextmanager
def connection_cut_on(app: Flask, table: str, times: int = 1) -> Iterator[list[str]]:
    """While the block runs, the first `times` statements that read `table` run on a connection cut just before.
    Yields the list of statements cut (to assert the cut happened)."""
    cut: list[str] = []
    with app.app_context():
        engine = db.engine
    postgres = engine.dialect.name == "postgresql"

    def before(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if len(cut) >= times or f"FROM {table}" not in statement:
            return
        cut.append(statement)
        if postgres:
            pid = conn.connection.dbapi_connection.info.backend_pid
            with engine.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                deadline = time.monotonic() + 5
                while admin.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first() \
                        and time.monotonic() < deadline:
                    time.sleep(0.02)
                admin.rollback()
        else:
            raise sqlite3.OperationalError("disk I/O error")

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield cut
    finally:
        event.remove(engine, "before_cursor_execute", before)
