"""Backups: taken while the app runs, verified read-only, restored elsewhere and read with the keyring."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.backup import BackupError, create_backup, verify_backup
from app.crypto.service import open_tip_text
from app.extensions import db
from app.models import Tip, utcnow
from tests.ops.conftest import add_tip, build_district


def _restored(backup: Path, directory: Path, make_app: Callable[..., Flask], **settings: str) -> Flask:
    """The backup as the database of a new instance in `directory` (README, Restoring, step 2)."""
    directory.mkdir()
    shutil.copyfile(backup, directory / "tipline.db")
    return make_app(DATABASE_URL=f"sqlite:///{directory / 'tipline.db'}", INSTANCE_PATH=str(directory), **settings)


def test_backup_restores_and_opens_with_the_keyring(sqlite_app: Flask, tmp_path: Path,
                                                    make_app: Callable[..., Flask]) -> None:
    d = build_district(sqlite_app)
    with sqlite_app.app_context():
        ref = add_tip(d.schools["KWHS"], utcnow(), text="the back door is propped open at night").ref
    backup = tmp_path / "backups" / "tipline.db"
    result = sqlite_app.test_cli_runner().invoke(args=["backup", "create", str(backup)])
    assert result.exit_code == 0, result.output
    assert "NOT in this backup" in result.output
    assert backup.stat().st_mode & 0o077 == 0  # owner-only
    assert b"back door" not in backup.read_bytes()  # the backup alone holds no readable tip

    verified = sqlite_app.test_cli_runner().invoke(args=["backup", "verify", str(backup)])
    assert verified.exit_code == 0, verified.output
    assert "integrity: ok" in verified.output and "tips:      1" in verified.output

    # Restore: the backup becomes the database of a new instance that has the same keyring.
    restored = _restored(backup, tmp_path / "restored", make_app, KEYRING_PATH=sqlite_app.config["KEYRING_PATH"])
    with restored.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert tip is not None and open_tip_text(tip) == "the back door is propped open at night"


def test_a_backup_in_a_folder_named_with_uri_characters_verifies_and_creates_nothing(sqlite_app: Flask,
                                                                                     tmp_path: Path) -> None:
    """create checked its copy by opening 'file:<path>?mode=ro' as a URI with the path as typed: in a folder named
    'offsite?2026' that opened (creating it, read-write) a file named 'offsite', so the copy 'did not check out'
    and was deleted, and verify said the same of it."""
    build_district(sqlite_app)
    folder = tmp_path / "offsite?2026 #1 %41"
    backup = folder / "tipline-2026-11-24.db"
    created = sqlite_app.test_cli_runner().invoke(args=["backup", "create", str(backup)])
    assert created.exit_code == 0, created.output
    verified = sqlite_app.test_cli_runner().invoke(args=["backup", "verify", str(backup)])
    assert verified.exit_code == 0, verified.output
    assert "integrity: ok" in verified.output
    assert not (tmp_path / "offsite").exists()


def test_backup_never_overwrites(sqlite_app: Flask, tmp_path: Path) -> None:
    target = tmp_path / "exists.db"
    target.write_bytes(b"keep me")
    result = sqlite_app.test_cli_runner().invoke(args=["backup", "create", str(target)])
    assert result.exit_code != 0 and "already exists" in result.output
    assert target.read_bytes() == b"keep me"


def test_verify_refuses_a_damaged_or_foreign_file(sqlite_app: Flask, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError):
        verify_backup(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    result = sqlite_app.test_cli_runner().invoke(args=["backup", "verify", str(other)])
    assert result.exit_code != 0 and "not a Tipline database" in result.output

    backup = tmp_path / "old.db"
    assert sqlite_app.test_cli_runner().invoke(args=["backup", "create", str(backup)]).exit_code == 0
    with sqlite3.connect(backup) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'deadbeef'")
    conn.close()
    result = sqlite_app.test_cli_runner().invoke(args=["backup", "verify", str(backup)])
    assert result.exit_code == 1 and "BACKUP NOT USABLE" in result.output


def test_backup_create_of_a_database_that_does_not_check_out_fails(sqlite_app: Flask, tmp_path: Path,
                                                                   make_app: Callable[..., Flask]) -> None:
    """The nightly unit must fail, not report success: a foreign database (DATABASE_URL pointing elsewhere) was a
    BackupError traceback that left a copy named as a backup; one whose check fails printed it and exited 0."""
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    other = make_app(DATABASE_URL=f"sqlite:///{foreign}")
    target = tmp_path / "b1.db"
    result = other.test_cli_runner().invoke(args=["backup", "create", str(target)])
    assert result.exit_code == 1 and result.exc_info is not None and result.exc_info[0] is SystemExit, result.output
    assert "not a Tipline database" in result.output and not target.exists()

    with sqlite3.connect(sqlite_app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'deadbeef'")  # a schema this code does not know
    conn.close()
    target = tmp_path / "b2.db"
    result = sqlite_app.test_cli_runner().invoke(args=["backup", "create", str(target)])
    assert result.exit_code == 1 and "BACKUP NOT USABLE" in result.output, result.output
    assert target.exists()  # kept: it may be the best copy there is


def test_postgres_backup_explains_pg_dump_without_the_password(app: Flask, make_app: Callable[..., Flask],
                                                               tmp_path: Path) -> None:
    pg_app = make_app(DATABASE_URL="postgresql://tipline:s3cretpw@db.invalid:5432/tipline")
    result = pg_app.test_cli_runner().invoke(args=["backup", "create", str(tmp_path / "x.db")])
    assert result.exit_code != 0
    assert "pg_dump" in result.output and "s3cretpw" not in result.output
    assert not (tmp_path / "x.db").exists()
    # The commands must work as printed: a password of '***' in the URL wins over ~/.pgpass and fails to sign
    # in, and a restore as another role (postgres, --no-owner) leaves tables tipline may not read.
    url = "'postgresql://tipline@db.invalid:5432/tipline'"
    assert f"pg_dump --format=custom --no-owner --file=tipline-$(date +%Y%m%d).dump {url}" in result.output
    # Owner-only, as the command is copied: under the usual umask pg_dump makes the dump 0644, readable by every
    # account on the machine, with the staff's emails, phones and password hashes in it.
    assert (f"(umask 077; pg_dump --format=custom --no-owner --file=tipline-$(date +%Y%m%d).dump {url})"
            in result.output)
    # Into a database made again, empty: `--clean` over the live one failed once a later migration had added a
    # foreign key to a table of the dump, and left a later migration's tables for `flask db upgrade` to fail on.
    assert "dropdb tipline && createdb --owner tipline tipline" in result.output
    assert (f"pg_restore --no-owner --exit-on-error --single-transaction --dbname={url} tipline-YYYYMMDD.dump"
            in result.output)
    assert "pg_restore --clean" not in result.output
    assert "***" not in result.output


def test_backup_is_consistent_while_tips_are_written(sqlite_app: Flask, tmp_path: Path) -> None:
    d = build_district(sqlite_app)
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        with sqlite_app.app_context():
            while not stop.is_set():
                written.append(add_tip(d.schools["KWHS"], utcnow()).ref)
            db.session.remove()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            time.sleep(0.01)
        create_backup(sqlite_app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "during.db")
    finally:
        stop.set()
        thread.join(timeout=30)
    result = verify_backup(tmp_path / "during.db")
    assert result.ok and 20 <= result.tips <= len(written)
    with sqlite3.connect(tmp_path / "during.db") as conn:  # every tip in the copy has its alert: no torn write
        orphans = conn.execute("SELECT count(*) FROM tip WHERE id NOT IN (SELECT tip_id FROM alert)").fetchone()[0]
    conn.close()
    assert orphans == 0


def test_backup_of_an_older_release_verifies_and_restores_with_db_upgrade(
        sqlite_app: Flask, tmp_path: Path, make_app: Callable[..., Flask]) -> None:
    """README, Restoring: verify, copy, put the keyring back, `flask db upgrade` for a backup of an older
    release. A backup one migration behind is usable, and verify must say so rather than "NOT USABLE"."""
    from flask_migrate import upgrade

    from app.backup import migration_head

    old_dir = tmp_path / "old-release"
    old_dir.mkdir()
    old_app = make_app(DATABASE_URL=f"sqlite:///{old_dir / 'tipline.db'}")
    with old_app.app_context():
        upgrade(revision="7c2e4a9d1b30")  # the release before signin_failure
    backup = tmp_path / "backups" / "older.db"
    create_backup(old_app.config["SQLALCHEMY_DATABASE_URI"], backup)
    result = sqlite_app.test_cli_runner().invoke(args=["backup", "verify", str(backup)])
    assert result.exit_code == 0, result.output
    assert "older release" in result.output and "flask db upgrade" in result.output

    restored_dir = tmp_path / "restored"
    restored = _restored(backup, restored_dir, make_app)
    with restored.app_context():
        upgrade()
    assert verify_backup(restored_dir / "tipline.db").schema_version == migration_head()


def test_backup_to_a_place_it_cannot_write_says_so(sqlite_app: Flask, tmp_path: Path) -> None:
    """A mistyped or unwritable target (under a file, a missing or foreign backup directory): a message naming
    it and exit 1, not a traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = sqlite_app.test_cli_runner().invoke(args=["backup", "create", str(blocker / "tipline.db")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "cannot write" in result.output and str(blocker) in result.output


def _aged(path: Path, days: float) -> Path:
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))
    return path


def test_prune_deletes_old_nightly_backups_and_keeps_the_newest_usable(sqlite_app: Flask, tmp_path: Path) -> None:
    """A backup kept for ever keeps every tip shredded since readable with the keyring: retention needs old
    copies gone. Only the nightly copies' names are touched, and the newest copy that verifies is never deleted."""
    build_district(sqlite_app)
    runner = sqlite_app.test_cli_runner()
    directory = tmp_path / "backups"
    for name in ("tipline-old.db", "tipline-recent.db"):
        assert runner.invoke(args=["backup", "create", str(directory / name)]).exit_code == 0
    old, recent = _aged(directory / "tipline-old.db", 40), _aged(directory / "tipline-recent.db", 3)
    other = directory / "district-keepsake.db"
    other.write_bytes(b"not ours to delete")
    _aged(other, 400)

    dry = runner.invoke(args=["backup", "prune", str(directory), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would delete {old}" in dry.output and old.exists()

    result = runner.invoke(args=["backup", "prune", str(directory)])
    assert result.exit_code == 0, result.output
    assert not old.exists() and recent.exists() and other.exists()
    assert "deleted 1 backups older than 35 days" in result.output
    assert "newest usable: tipline-recent.db" in result.output

    # The only usable copy is old (the timer stopped a month ago): kept, one old copy is better than none.
    _aged(recent, 90)
    assert runner.invoke(args=["backup", "prune", str(directory), "--keep-days", "7"]).exit_code == 0
    assert recent.exists()


def test_prune_deletes_nothing_when_no_backup_verifies(sqlite_app: Flask, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    broken = directory / "tipline-broken.db"
    broken.write_bytes(b"torn" * 1000)
    _aged(broken, 100)
    result = sqlite_app.test_cli_runner().invoke(args=["backup", "prune", str(directory), "--keep-days", "1"])
    assert result.exit_code == 1 and "nothing deleted" in result.output
    assert broken.exists()
    missing = sqlite_app.test_cli_runner().invoke(args=["backup", "prune", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "is not a directory" in missing.output
    zero = sqlite_app.test_cli_runner().invoke(args=["backup", "prune", str(directory), "--keep-days", "0"])
    assert zero.exit_code == 2 and "--keep-days" in zero.output


def test_a_restore_with_another_receipt_key_is_caught(sqlite_app: Flask, tmp_path: Path,
                                                      make_app: Callable[..., Flask], caplog) -> None:
    """Receipt codes are kept as keyed hashes under RECEIPT_HMAC_KEY, which is in neither the database nor the
    keyring: restored with another key, no reporter's code opens their report. The worker records the key's
    check when it starts; health, the worker and setup then say when the key in use is not that one."""
    import logging

    from app.alerts.worker import _check_receipt_key
    from app.crypto.receipts import KEY_OK, receipt_key_state

    build_district(sqlite_app)
    _check_receipt_key(sqlite_app)  # as the worker does at start
    with sqlite_app.app_context():
        assert receipt_key_state() == KEY_OK
    backup = tmp_path / "tipline-1.db"
    assert sqlite_app.test_cli_runner().invoke(args=["backup", "create", str(backup)]).exit_code == 0

    keyring_path = sqlite_app.config["KEYRING_PATH"]
    wrong = _restored(backup, tmp_path / "restored-wrong", make_app, KEYRING_PATH=keyring_path,
                      RECEIPT_HMAC_KEY="another-receipt-key-" + "x" * 40)
    keyring = wrong.test_client().get("/healthz").get_json()["checks"]["keyring"]
    assert keyring == {"status": "degraded", "reason": "receipt_key_changed"}
    with caplog.at_level(logging.CRITICAL):
        _check_receipt_key(wrong)
    assert any("OPERATOR: RECEIPT_HMAC_KEY is not the key" in r.getMessage() for r in caplog.records)
    setup = wrong.test_cli_runner().invoke(args=["setup"])
    assert setup.exit_code == 0 and "WARNING: RECEIPT_HMAC_KEY is not the key" in setup.output
    with wrong.app_context():  # never overwritten by the wrong key: putting the right one back is the cure
        assert receipt_key_state() != KEY_OK

    right = _restored(backup, tmp_path / "restored-right", make_app, KEYRING_PATH=keyring_path,
                      RECEIPT_HMAC_KEY=sqlite_app.config["RECEIPT_HMAC_KEY"])
    assert right.test_client().get("/healthz").get_json()["checks"]["keyring"] == {"status": "ok"}


def test_a_relative_sqlite_url_is_the_instance_folders_database_for_backup_and_setup(
        sqlite_app: Flask, make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DATABASE_URL=sqlite:///tipline.db is, for the app (Flask-SQLAlchemy), the file in the instance folder; but
    `flask backup create` looked for it in the working directory ("the database file does not exist", or a stale
    file of that name copied as the backup), and `flask setup` left the real one readable by others."""
    d = build_district(sqlite_app)
    with sqlite_app.app_context():
        add_tip(d.schools["KWHS"], utcnow(), text="kept in the instance folder")
    instance = Path(sqlite_app.instance_path)
    create_backup(sqlite_app.config["SQLALCHEMY_DATABASE_URI"], instance / "relative.db")
    (instance / "relative.db").chmod(0o644)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    app = make_app(DATABASE_URL="sqlite:///relative.db")
    runner = app.test_cli_runner()
    setup = runner.invoke(args=["setup"])
    assert setup.exit_code == 0, setup.output
    assert (instance / "relative.db").stat().st_mode & 0o077 == 0
    result = runner.invoke(args=["backup", "create", str(tmp_path / "tipline-relative.db")])
    assert result.exit_code == 0, result.output
    assert verify_backup(tmp_path / "tipline-relative.db").tips == 1
    assert not (elsewhere / "relative.db").exists()
