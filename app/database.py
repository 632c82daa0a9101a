"""Engine settings per database. SQLite gets WAL, a busy timeout, foreign keys, and transactions that take
the write lock up front (BEGIN IMMEDIATE): a transaction that reads and then writes would otherwise fail at
once with "database is locked" when another writer got there first, instead of waiting its turn.

Writers also queue on a lock file beside the database (`WriterQueueConnection`) before they ask SQLite for
its write lock. SQLite's own busy handler waits by sleeping 1, 2, 5, 10 ... up to 100 ms between tries, so
under load a writer often sleeps long after the lock came free; measured at 8 concurrent reporters, that
sleeping, not work, was most of a tip's latency (README, Performance). A writer blocked on the lock file
tries again within a millisecond of the holder's commit.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import current_app, g, has_app_context, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

F = TypeVar("F", bound=Callable[..., Any])


def reads_only(view: F) -> F:
    """Mark a view that never writes: on SQLite its transaction begins DEFERRED and takes no write lock.

    For the pages anyone can load without limit (the reporter's form), so that a flood of page views never
    queues the writers that store tips and send alerts. A view marked so must not write: a deferred
    transaction that reads and then writes can fail at once with "database is locked".
    """
    view.reads_only = True  # type: ignore[attr-defined]
    return view


@contextmanager
def reading() -> Iterator[None]:
    """Run the block in a transaction that only reads, and end it: on SQLite it begins DEFERRED and takes no
    write lock, so a writer never waits for it. The block must not write, and its loaded objects expire
    when it ends (return plain values from it)."""
    from app.extensions import db

    db.session.rollback()  # what follows begins a new transaction, marked below
    g.tipline_reading = True
    try:
        yield
    finally:
        g.tipline_reading = False
        db.session.rollback()


def begin_statement() -> str:
    if has_app_context() and g.get("tipline_reading"):
        return "BEGIN"
    if has_request_context():
        view = current_app.view_functions.get(request.endpoint or "")
        if getattr(view, "reads_only", False):
            return "BEGIN"
    return "BEGIN IMMEDIATE"


WRITER_QUEUE_SUFFIX = "-writers"
_FIRST_WAIT_S = 0.0001
_LONGEST_WAIT_S = 0.001


class WriterQueueConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions take turns on `<database>-writers` (an flock).

    Every process that writes through `engine_options` (web workers, the alert worker, the CLI) queues
    there, so SQLite's write lock is asked for only when it is about to be free. The lock file holds no
    data; the kernel drops a dead process's turn with its file descriptor. In-memory databases and URI
    filenames have no queue and rely on the busy timeout alone.
    """

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self.queue_timeout_s = float(kwargs.get("timeout", 5.0))
        self._queue_fd: int | None = None
        self._in_turn = False
        name = os.fsdecode(database) if isinstance(database, str | bytes | os.PathLike) else ""
        if name and name != ":memory:" and not name.startswith("file:") and not kwargs.get("uri"):
            self._queue_fd = os.open(name + WRITER_QUEUE_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def wait_for_turn(self) -> bool:
        """Take this connection's turn to write; False when the queue did not move within the timeout."""
        if self._queue_fd is None or self._in_turn:
            return True
        deadline = time.monotonic() + self.queue_timeout_s
        pause = _FIRST_WAIT_S
        while True:
            try:
                fcntl.flock(self._queue_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_WAIT_S)
                continue
            self._in_turn = True
            return True

    def end_turn(self) -> None:
        if self._in_turn and self._queue_fd is not None:
            self._in_turn = False
            fcntl.flock(self._queue_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()
            if self._queue_fd is not None:
                os.close(self._queue_fd)
                self._queue_fd = None


PG_CONNECT_TIMEOUT_S = 10


def db_error_reason(exc: BaseException) -> str:
    """What a database error was, for the operator's log line, by its code only (a message can hold values):
    SQLite's error name (SQLITE_BUSY: locked; SQLITE_FULL: the disk is full; SQLITE_IOERR_...: the disk failed),
    PostgreSQL's error class and SQLSTATE (LockNotAvailable 55P03, DiskFull 53100, ...), else the class."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, sqlite3.Error) and getattr(orig, "sqlite_errorname", None):
        return str(orig.sqlite_errorname)
    sqlstate = getattr(orig, "sqlstate", None)
    return f"{type(orig).__name__} {sqlstate}" if sqlstate else type(orig).__name__


def engine_options(database_uri: str, busy_timeout_s: int, writer_queue: bool = True) -> dict[str, Any]:
    # hide_parameters: SQL errors must never carry values into a log line or an error report.
    options: dict[str, Any] = {"hide_parameters": True}
    if database_uri.startswith("sqlite"):
        options["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
        if writer_queue:
            options["connect_args"]["factory"] = WriterQueueConnection
    else:
        # connect_timeout: a database whose network drops packets fails the request in time for the 503 page
        # (with the form as typed) instead of hanging past nginx's 60 s; lock waits are bounded by
        # configure_postgresql.
        options.update(pool_pre_ping=True, pool_size=10, max_overflow=10,
                       connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
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
        # Deleted content is overwritten with zeros, not left in free space: crypto-shredding (app/retention.py)
        # must leave no wrapped key behind. Set here because SQLite's own default is off unless built otherwise.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        statement = begin_statement()
        dbapi_connection = connection.connection.dbapi_connection
        queued = statement == "BEGIN IMMEDIATE" and isinstance(dbapi_connection, WriterQueueConnection)
        if queued and not dbapi_connection.wait_for_turn():
            locked = sqlite3.OperationalError(f"database is locked (no turn to write within {busy_timeout_s} s)")
            locked.sqlite_errorname = "SQLITE_BUSY"  # as SQLite's own busy timeout names it
            raise OperationalError(statement, None, locked)
        try:
            connection.exec_driver_sql(statement)
        except BaseException:
            if isinstance(dbapi_connection, WriterQueueConnection):
                dbapi_connection.end_turn()
            raise


def configure_postgresql(engine: Engine, lock_timeout_s: int) -> None:
    """Give every PostgreSQL connection a lock_timeout (no-op on other databases).

    PostgreSQL otherwise waits for a lock without end: a tip blocked by a migration's CREATE INDEX or ALTER
    TABLE, or by a psql session left open on a row, waited until nginx gave up (504, the text lost). A lock not
    granted in time fails the statement (LockNotAvailable, an OperationalError), which intake answers with the
    503 page and the form as typed, as it does for a busy SQLite, and the alert worker retries after a pause.
    """
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {int(lock_timeout_s * 1000)}")
        dbapi_connection.commit()  # a session setting, kept for the connection's life
