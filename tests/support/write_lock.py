"""Does a page render while its request still holds SQLite's write lock?

Every transaction begins IMMEDIATE (app/database.py), so a GET that kept its transaction open while rendering
would queue every writer behind its template. Each time a template finishes rendering, this tries to take the
write lock from another connection, without waiting: "database is locked" means the request holds it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask, template_rendered

from app.extensions import db


def sqlite_path(app: Flask) -> str:
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if not url.startswith("sqlite:///"):
        pytest.skip("the write lock of BEGIN IMMEDIATE is SQLite's")
    return url.removeprefix("sqlite:///")


def write_lock_is_free(path: str) -> bool:
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return False
    finally:
        probe.close()


@contextmanager
def rendering_holding_the_lock(app: Flask) -> Iterator[list[str]]:
    """Yields a list that collects the names of templates rendered while the write lock was held."""
    path = sqlite_path(app)
    with app.app_context():
        db.engine.dispose()  # nothing left over from the fixtures' own sessions
    held: list[str] = []
    rendered: list[str] = []

    def check(_sender: Flask, template: Any, context: Any, **_extra: Any) -> None:
        rendered.append(str(template.name))
        if not write_lock_is_free(path):
            held.append(str(template.name))

    template_rendered.connect(check, app)
    try:
        yield held
    finally:
        template_rendered.disconnect(check, app)
    assert rendered, "no template was rendered: the check saw nothing"


@contextmanager
def holding_the_write_lock(app: Flask, *, readers_too: bool = False) -> Iterator[None]:
    """Another process holds SQLite's write lock for the block (the alert worker or a purge that does not
    finish): the app's writers wait SQLITE_BUSY_TIMEOUT_S for it and then fail with "database is locked".
    `readers_too`: it holds the database exclusively (locking_mode=EXCLUSIVE, as a `sqlite3` shell can), so
    the app's reads, which WAL otherwise lets through, fail the same way."""
    path = sqlite_path(app)
    with app.app_context():
        db.engine.dispose()  # nothing left over from the fixtures' own sessions
    holder = sqlite3.connect(path, isolation_level=None)
    if readers_too:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE" if readers_too else "BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
