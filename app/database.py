"""Engine settings per database. SQLite gets WAL, a busy timeout, foreign keys, and transactions that take
the write lock up front (BEGIN IMMEDIATE): a transaction that reads and then writes would otherwise fail at
once with "database is locked" when another writer got there first, instead of waiting its turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

F = TypeVar("F", bound=Callable[..., Any])


def reads_only(view: F) -> F:
    """Mark a view that never writes: on SQLite its transaction begins DEFERRED and takes no write lock.

    For the pages anyone can load without limit (the reporter's form), so that a flood of page views never
    queues the writers that store tips and send alerts. A view marked so must not write: a deferred
    transaction that reads and then writes can fail at once with "database is locked".
    """
    view.reads_only = True  # type: ignore[attr-defined]
    return view


def begin_statement() -> str:
    if has_request_context():
        view = current_app.view_functions.get(request.endpoint or "")
        if getattr(view, "reads_only", False):
            return "BEGIN"
    return "BEGIN IMMEDIATE"


def engine_options(database_uri: str, busy_timeout_s: int) -> dict[str, Any]:
    # hide_parameters: SQL errors must never carry values into a log line or an error report.
    options: dict[str, Any] = {"hide_parameters": True}
    if database_uri.startswith("sqlite"):
        options["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
    else:
        options.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    return options


def configure_sqlite(engine: Engine, busy_timeout_s: int) -> None:
    """Install the pragmas and the BEGIN IMMEDIATE behaviour on a SQLite engine (no-op otherwise)."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (the driver would otherwise BEGIN lazily and deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin_statement())
