"""Every migration, down and up again, on a database holding a live district's rows: nothing is lost or changed
but what the step itself removes, the schema after each step is the one a fresh upgrade makes (a SQLite batch
rebuild keeps its foreign keys, indexes and defaults), and the audit record still verifies."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from app import audit, create_app
from app.accounts.totp import current_code, db_check_totp
from app.backup import MIGRATIONS_DIR, migration_head
from app.crypto.receipts import db_record_receipt_key
from app.crypto.service import db_add_sealed, open_for_tip, seal_for_tip
from app.crypto.staff_secrets import open_totp_secret
from app.demo_data import seed_demo
from app.extensions import db
from app.intake.submit import db_add_reporter_message
from app.legal_hold import db_release_legal_hold, db_set_legal_hold
from app.models import (
    Alert,
    AlertStatus,
    EndedSession,
    Note,
    ReporterSession,
    SignInFailure,
    SmsCheck,
    Staff,
    Tip,
    WorkerLease,
    utcnow,
)
from tests.conftest import base_config
from tests.support.tips import make_tip

# What a downgrade step may drop, by the revision it goes down from: the columns and tables that step removes.
# A new migration adds its entry here (an empty set when its downgrade drops nothing).
DROPPED_BY = {
    "7c2e4a9d1b30": {("alert", "send_failures")},
    "5e8a1c3f9b27": {("signin_failure", None)},
    "b7d41c2e9a05": {("receipt_key_check", None)},
    "d3a9f0c2b6e1": {("ended_session", None)},
    "4c7e2b9a1f58": {("tip", column) for column in ("legal_hold_at", "legal_hold_by_id", "legal_hold_reason_ct",
                                                    "legal_hold_released_at", "legal_hold_released_by_id",
                                                    "legal_hold_release_reason_ct")},
    "e8c4b2a7f190": {("staff", "totp_secret_sealed"), ("staff", "totp_kek_version")},
    "a4f2c8e1d937": {("signin_failure", "account")},  # and the rows of emails of no account (none here)
    "c5d8e2f4a619": {("sms_check", None)},
    "d002b2aee936": {("tip", "language_ct")},
    "f4b1d7c93a2e": {("alert", "delivery_checks"), ("alert", "delivery_checked_at")},
}
# What a downgrade step writes back in another form, by the revision it goes down from: compared by value below.
RESTORED_BY = {
    "e8c4b2a7f190": {("staff", "totp_secret")},  # NULL at the head; the sealed secrets, opened again in plaintext
}


def _revisions() -> list[tuple[str, str]]:
    """(revision, its predecessor), from the oldest to the head; the first one's predecessor is "base"."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    steps = [(rev.revision, rev.down_revision or "base") for rev in script.walk_revisions()]
    steps.reverse()
    assert steps[-1][0] == migration_head()
    return steps  # type: ignore[return-value]


def _schema(conn: Connection) -> dict[str, Any]:
    inspector = inspect(conn)
    tables: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        tables[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], _default(c["default"]))
                        for c in inspector.get_columns(table)],
            "pk": sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
            "fks": sorted((tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]),
                           (fk.get("options") or {}).get("ondelete")) for fk in inspector.get_foreign_keys(table)),
            "indexes": sorted((ix["name"], tuple(str(c) for c in ix["column_names"]), bool(ix["unique"]))
                              for ix in inspector.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
    return tables


def _default(value: str | None) -> str | None:
    return None if value is None else value.strip("'()").split("::")[0].strip("'")


def _rows(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    inspector = inspect(conn)
    rows = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        key = ", ".join(inspector.get_pk_constraint(table)["constrained_columns"])
        rows[table] = [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY {key}'))]
    return rows


def _without(rows: dict[str, list[dict[str, Any]]], dropped: set[tuple[str, str | None]]) -> dict[str, Any]:
    kept = {}
    for table, table_rows in rows.items():
        if (table, None) in dropped:
            continue
        columns = {c for t, c in dropped if t == table}
        kept[table] = [{k: v for k, v in row.items() if k not in columns} for row in table_rows]
    return kept


def _live_district(app: Flask) -> None:
    """Rows of every kind a district has after some weeks: sealed tips with photos, replies and notes, alerts
    in every status, reporter sessions, audit events, staff sign-in failures, the receipt key check."""
    with app.app_context():
        seed_demo()
        staff = db.session.query(Staff).order_by(Staff.id).all()
        tips = [make_tip(1 + i % 3, f"tip number {i}: a fight planned behind the gym", contact="555-0100",
                         photo=b"\x89PNG fake photo %d" % i, plan_alerts=True) for i in range(4)]
        for tip in tips:
            tip.language_ct = seal_for_tip(tip, "language", b"es")
            db_add_reporter_message(tip, "they said it is friday", [])
            note = Note(tip_id=tip.id, staff_id=staff[0].id)
            db_add_sealed(tip, note, "note", b"called the parents")
            db.session.add(ReporterSession(token_hash=f"{tip.id:064d}", purpose="followup", tip_id=tip.id,
                                           expires_at=utcnow() + timedelta(hours=1), sealed=b"sealed-bytes"))
            audit.record("tip.opened", actor=staff[0], tip=tip)
        tips[3].status, tips[3].closed_at, tips[3].outcome = "closed", utcnow(), "resolved"
        db_set_legal_hold(tips[3], staff[0], "Casper PD case 26-01234", None)
        db_release_legal_hold(tips[3], staff[0], "case dismissed", None)
        db_set_legal_hold(tips[2], staff[0], "subpoena", None)
        for n, status in enumerate(AlertStatus):
            db.session.add(Alert(tip_id=tips[n % 4].id, staff_id=staff[n % len(staff)].id, chain_position=n,
                                 repeat=n % 2, kind="escalation", status=status.value, attempts=n,
                                 send_failures=n, twilio_sid=f"SM{n:032d}", twilio_status="queued",
                                 error_code="30003" if status == AlertStatus.FAILED else None,
                                 sent_at=utcnow(), lease_owner="worker-1", lease_until=utcnow()))
        db.session.add(SignInFailure(staff_id=staff[1].id, client="k" * 64, failed_at=utcnow()))
        db.session.add(WorkerLease(name="alerts", owner="worker-1", expires_at=utcnow()))
        db.session.add(EndedSession(sid_hash="e" * 64, ends_at=utcnow() + timedelta(hours=12)))
        db.session.add(SmsCheck(staff_id=staff[0].id, school_id=1, requested_by_id=staff[0].id, status="delivered",
                                to_phone=staff[0].phone, attempts=1, twilio_sid="SM" + "c" * 32,
                                twilio_status="delivered", sent_at=utcnow(), delivered_at=utcnow()))
        db.session.commit()
        db_record_receipt_key()
        db.session.commit()


def _totp_secrets(app: Flask) -> dict[int, str | None]:
    with app.app_context():
        return {person.id: open_totp_secret(person) for person in db.session.query(Staff)}


def _reads_back(app: Flask, secrets: dict[int, str | None]) -> None:
    with app.app_context():
        assert audit.verify_chain().ok
        tip = db.session.query(Tip).order_by(Tip.id).first()
        assert open_for_tip(tip, "text", tip.text_ct) == b"tip number 0: a fight planned behind the gym"
        # Sealed again on the way up: every person's authenticator still gives codes that sign them in.
        for person in db.session.query(Staff):
            secret = secrets[person.id]
            assert secret and person.totp_secret_sealed and secret.encode() not in person.totp_secret_sealed
            assert db_check_totp(person, current_code(secret, utcnow()), utcnow())


def test_every_migration_goes_down_and_up_with_a_districts_rows(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    # The district has a case on legal hold: the hold's downgrade refuses without this (test_purge_legal_hold).
    monkeypatch.setenv("TIPLINE_DOWNGRADE_DROPS_LEGAL_HOLDS", "1")
    steps = _revisions()
    fresh: dict[str, Any] = {}  # the schema of each revision as a fresh upgrade from base makes it
    with app.app_context():
        downgrade(revision="base")
        for revision, _previous in steps:
            upgrade(revision=revision)
            with db.engine.connect() as conn:
                fresh[revision] = _schema(conn)
    _live_district(app)
    secrets = _totp_secrets(app)
    assert secrets and all(secrets.values())  # the demo's people have authenticators, sealed
    with app.app_context():
        with db.engine.connect() as conn:
            at_head = _rows(conn)
        assert all(row["totp_secret"] is None for row in at_head["staff"])  # no plaintext at the head
        assert len(at_head["tip"]) == 4 and len(at_head["alert"]) > len(AlertStatus)
        db.session.remove()

        dropped: set[tuple[str, str | None]] = set()
        restored: set[tuple[str, str | None]] = set()
        for revision, previous in reversed(steps[1:]):
            downgrade(revision=previous)
            dropped |= DROPPED_BY[revision]
            restored |= RESTORED_BY.get(revision, set())
            with db.engine.connect() as conn:
                assert _schema(conn) == fresh[previous], f"going down from {revision} left another schema"
                rows = _rows(conn)
                assert _without(rows, restored) == _without(at_head, dropped | restored), \
                    f"going down from {revision} changed rows"
                if ("staff", "totp_secret") in restored:  # the release before reads them in plaintext
                    assert {row["id"]: row["totp_secret"] for row in rows["staff"]} == secrets, revision
        for revision, _previous in steps[1:]:
            upgrade(revision=revision)
            with db.engine.connect() as conn:
                assert _schema(conn) == fresh[revision], f"going up to {revision} after a downgrade differs"
        with db.engine.connect() as conn:
            after = _rows(conn)
    # What the downgrades removed comes back empty: failures not counted, the receipt key recorded again later.
    assert after["signin_failure"] == [] and after["receipt_key_check"] == [] and after["ended_session"] == []
    assert all(row["send_failures"] == 0 for row in after["alert"])
    assert _without(after, dropped | {("alert", "send_failures")}) == _without(at_head, dropped)
    _reads_back(app, secrets)


SCRATCH_MIGRATION = '''
from alembic import op
import sqlalchemy as sa

revision = "f0f0f0f0f0f0"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
    pass
'''
REBUILD_TIP = """    with op.batch_alter_table("tip") as batch_op:
        batch_op.alter_column("outcome", existing_type=sa.String(40), type_=sa.String(60))"""


def _with_scratch_migration(tmp_path: Path, upgrade_body: str) -> tuple[Flask, Path]:
    """An app on a SQLite database at this release's head holding a district's tips, and a copy of the
    migrations with one more revision after the head."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "f0f0f0f0f0f0_scratch.py").write_text(
        SCRATCH_MIGRATION.format(head=migration_head(), upgrade=upgrade_body))
    (tmp_path / "instance").mkdir()
    app = create_app(base_config(tmp_path / "instance", f"sqlite:///{tmp_path / 'scratch.db'}", tmp_path / "none"))
    with app.app_context():
        upgrade()
        seed_demo()
        for _ in range(2):
            tip = make_tip(1, photo=b"photo", plan_alerts=True)
            db_add_reporter_message(tip, "more", [])
        db.session.commit()
        db.engine.dispose()
    return app, migrations


def test_a_sqlite_batch_rebuild_of_a_referenced_table_keeps_the_rows_that_refer_to_it(tmp_path: Path) -> None:
    """SQLite rebuilds a table to alter it (copy, DROP, rename). With foreign keys on, as the app's connections
    have them, DROP TABLE tip first deleted every alert, message, note, photo and session of every tip (ON DELETE
    CASCADE): the next migration to touch `tip`, `staff` or `school` would have emptied the outbox and the cases."""
    app, migrations = _with_scratch_migration(tmp_path, REBUILD_TIP)
    with app.app_context():
        with db.engine.connect() as conn:
            before = _rows(conn)

        upgrade(directory=str(migrations))
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "f0f0f0f0f0f0"
            after = _rows(conn)
            # The app's connections have their foreign keys back on, and they still point at the rebuilt table.
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert ("tip_id",) in {tuple(fk["constrained_columns"]) for fk in inspect(conn).get_foreign_keys("alert")}
        for table in ("alert", "attachment", "message", "incident", "tip", "audit_event"):
            assert after[table] == before[table], table
        assert before["alert"] and before["attachment"] and before["message"]
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(text("DELETE FROM school WHERE id = 1"))  # its tips still refer to it


def test_a_migration_that_leaves_rows_referring_to_rows_gone_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Foreign keys are off while migrating on SQLite: what they would have refused is looked for afterwards."""
    app, migrations = _with_scratch_migration(tmp_path, '    op.execute("DELETE FROM tip")')
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade", "--directory", str(migrations)])
    assert result.exit_code == 1 and result.exc_info is not None and result.exc_info[0] is SystemExit
    message = " ".join(r.getMessage() for r in caplog.records if r.name == "flask_migrate")
    assert "after migrating, rows of alert, attachment, message refer to rows that are gone" in message, message
