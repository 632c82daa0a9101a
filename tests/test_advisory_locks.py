"""PostgreSQL's advisory locks belong to the whole database: the turns Tipline takes on a name (the audit chain, an
SMS's SID) are keyed within its schema, so another schema's Tipline in the same database (a second district, the
suite's other process) neither waits on them nor is waited on."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from app.extensions import ADVISORY_KEY_SQL, db, db_take_turns_on
from tests.conftest import PG_URL, on_postgres

pytestmark = pytest.mark.skipif(not on_postgres(), reason="advisory locks are PostgreSQL's")


def _try_lock_from(schema: str, name: str) -> bool:
    engine = create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            return bool(conn.scalar(text(f"SELECT pg_try_advisory_xact_lock({ADVISORY_KEY_SQL})"), {"name": name}))
    finally:
        engine.dispose()


def test_turns_on_a_name_are_taken_within_the_schema(app) -> None:
    other = f"t_other_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{other}"'))
    try:
        with app.app_context():
            schema = db.session.scalar(text("SELECT current_schema()"))
            db_take_turns_on("audit chain")  # held until this transaction ends
            assert not _try_lock_from(schema, "audit chain")  # the same Tipline waits its turn
            assert _try_lock_from(other, "audit chain")  # another schema's does not
            assert _try_lock_from(schema, "another name")
            db.session.rollback()
            assert _try_lock_from(schema, "audit chain")  # released with the transaction
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{other}" CASCADE'))
        admin.dispose()
