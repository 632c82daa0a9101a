"""Retention: closed tips past RETENTION_DAYS are crypto-shredded; open tips never; the figures stay."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, select, text, update

from app.backup import create_backup
from app.crypto.errors import TipShredded
from app.crypto.service import open_for_tip, open_tip_text, seal_for_tip
from app.extensions import db
from app.models import Attachment, AuditEvent, Message, Note, ReporterSession, Tip, utcnow
from app.retention import RetentionPaused, db_purge_expired_tips, purge_expired_tips
from tests.ops.conftest import District, add_tip, build_district, denver, html_tables, sign_in_as
from tests.support.tips import make_tip, tip_by_ref


def _with_thread(tip: Tip, staff_id: int) -> None:
    """A message, a note and a photo on the tip, all sealed under its key, and a reporter's session."""
    session = ReporterSession(token_hash="f" * 64, purpose="followup", tip_id=tip.id, expires_at=utcnow(),
                              sealed=b"sealed receipt")
    message = Message(tip=tip, from_reporter=True)
    note = Note(tip=tip, staff_id=staff_id)
    photo = Attachment(tip=tip, content_type="image/png", size=3)
    db.session.add_all([message, note, photo, session])
    db.session.flush()
    message.body_ct = seal_for_tip(tip, f"message:{message.id}", b"he has it in his locker")
    note.body_ct = seal_for_tip(tip, f"note:{note.id}", b"spoke to the family")
    photo.data_ct = seal_for_tip(tip, f"attachment:{photo.id}", b"PNG")
    db.session.commit()


@pytest.fixture
def aged(app: Flask, district: District) -> dict[str, str]:
    """Three tips of last year: closed long ago, open long ago, and one closed recently."""
    with app.app_context():
        school = district.schools["KWHS"]
        now = utcnow()
        old_closed = add_tip(school, denver(2025, 4, 7), category="weapon", urgency="critical",
                             acknowledged_at=denver(2025, 4, 7, 12, 3), closed_at=now - timedelta(days=400),
                             outcome="referred_to_law_enforcement", text="a gun in the blue locker")
        _with_thread(old_closed, district.staff["counselor_kw"])
        old_open = add_tip(school, denver(2025, 4, 8), category="bullying", text="they corner her every lunch")
        recent = add_tip(school, denver(2025, 4, 9), closed_at=now - timedelta(days=30), outcome="duplicate",
                         text="same as the other one")
        return {"old_closed": old_closed.ref, "old_open": old_open.ref, "recent": recent.ref}


def test_purge_shreds_old_closed_tips_and_keeps_open_ones(app: Flask, aged: dict[str, str]) -> None:
    with app.app_context():
        assert open_tip_text(tip_by_ref(aged["old_closed"])) == "a gun in the blue locker"
        receipt_before = tip_by_ref(aged["old_closed"]).receipt_hash
        result = db_purge_expired_tips()
        db.session.commit()
        assert result.refs == [aged["old_closed"]] and result.count == 1

        gone = tip_by_ref(aged["old_closed"])
        assert gone.wrapped_dek is None and gone.shredded_at is not None
        assert gone.receipt_hash != receipt_before  # the reporter's receipt code opens nothing any more
        assert (gone.text_ct, gone.contact_ct, gone.assessment_ct) == (None, None, None)
        assert all(m.body_ct is None for m in gone.messages) and all(n.body_ct is None for n in gone.notes)
        assert all(a.data_ct is None for a in gone.attachments)
        assert db.session.scalar(select(ReporterSession).where(ReporterSession.tip_id == gone.id)) is None
        with pytest.raises(TipShredded):
            open_tip_text(gone)
        with pytest.raises(TipShredded):
            open_for_tip(gone, "text", b"\x01" + b"\x00" * 40)
        # What the reports need is still there.
        assert (gone.category, gone.urgency, gone.outcome) == ("weapon", "critical", "referred_to_law_enforcement")
        assert gone.acknowledged_at is not None and gone.closed_at is not None

        assert open_tip_text(tip_by_ref(aged["old_open"])) == "they corner her every lunch"
        assert open_tip_text(tip_by_ref(aged["recent"])) == "same as the other one"
        # Nothing left to do the second time.
        assert db_purge_expired_tips().count == 0


def test_purge_is_audited_by_reference_never_content(app: Flask, aged: dict[str, str]) -> None:
    with app.app_context():
        db_purge_expired_tips()
        db.session.commit()
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "tips.purged"))
        assert event is not None
        detail = json.loads(event.detail)
        assert detail["count"] == 1 and detail["refs"] == [aged["old_closed"]]
        assert "locker" not in event.detail


def test_quarter_figures_do_not_change_after_purge(app: Flask, district: District, aged: dict[str, str]) -> None:
    client = sign_in_as(app, district.staff["admin"])
    before = html_tables(client.get("/console/reports/?quarter=2025Q2").get_data(as_text=True))
    with app.app_context():
        db_purge_expired_tips()
        db.session.commit()
        assert tip_by_ref(aged["old_closed"]).shredded_at is not None
    after = html_tables(client.get("/console/reports/?quarter=2025Q2").get_data(as_text=True))
    assert after == before and before["categories"][-1][4] == "<5"


def test_dry_run_lists_and_changes_nothing(app: Flask, aged: dict[str, str]) -> None:
    result = app.test_cli_runner().invoke(args=["tips", "purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert aged["old_closed"] in result.output and "1 closed tips" in result.output and "dry run" in result.output
    with app.app_context():
        assert tip_by_ref(aged["old_closed"]).wrapped_dek is not None
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "tips.purged")) is None


def test_purge_names_cases_kept_because_nobody_closed_them(app: Flask, aged: dict[str, str]) -> None:
    """Only closing starts the retention clock: a case left open or "resolved" for years is never shredded. The
    purge says how many such cases there are, so that someone closes them, rather than keeping them unseen."""
    with app.app_context():
        tip_by_ref(aged["old_open"]).status = "resolved"
        db.session.commit()
        # After the commit: the row's own onupdate would set it to now.
        db.session.execute(update(Tip).where(Tip.ref == aged["old_open"]).values(
            updated_at=utcnow() - timedelta(days=400)))
        db.session.commit()
    for args in (["tips", "purge", "--dry-run"], ["tips", "purge"]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 0, result.output
        assert "1 cases not closed have not changed in more than 365 days" in result.output
    with app.app_context():
        assert tip_by_ref(aged["old_open"]).wrapped_dek is not None  # named, not shredded
        tip_by_ref(aged["old_open"]).status = "closed"  # closed today: its retention starts now
        db.session.commit()
    assert "cases not closed" not in app.test_cli_runner().invoke(args=["tips", "purge"]).output


def test_purge_command_works_in_batches(app: Flask, district: District) -> None:
    with app.app_context():
        long_ago = utcnow() - timedelta(days=366)
        refs = {add_tip(district.schools["NCHS"], long_ago - timedelta(days=30), closed_at=long_ago,
                        outcome="unfounded", text=f"tip {i}").ref for i in range(5)}
    result = app.test_cli_runner().invoke(args=["tips", "purge", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.count("shredded 2 tips") == 2 and "shredded 1 tips" in result.output
    assert "5 closed tips older than 365 days shredded" in result.output
    with app.app_context():
        assert {t.ref for t in db.session.scalars(select(Tip).where(Tip.shredded_at.isnot(None)))} == refs
        assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "tips.purged")).all()) == 3


def test_a_paused_retention_refuses_the_purge_by_hand_and_its_dry_run_says_so(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(RETENTION_PAUSED=True)
    district = build_district(app)
    with app.app_context():
        long_ago = utcnow() - timedelta(days=366)
        ref = add_tip(district.schools["NCHS"], long_ago - timedelta(days=30), closed_at=long_ago,
                      outcome="unfounded", text="closed long ago").ref
    dry = app.test_cli_runner().invoke(args=["tips", "purge", "--dry-run"])
    assert dry.exit_code == 0 and ref in dry.output and "RETENTION_PAUSED is set" in dry.output, dry.output
    result = app.test_cli_runner().invoke(args=["tips", "purge"])
    assert result.exit_code != 0 and "nothing shredded" in result.output and "RETENTION_PAUSED" in result.output
    with app.app_context():
        assert tip_by_ref(ref).shredded_at is None
        with pytest.raises(RetentionPaused):  # any other caller too: the pause is checked where shredding is done
            purge_expired_tips()
        assert tip_by_ref(ref).shredded_at is None


def test_purge_by_hand_names_the_operator_the_daily_run_the_retention(app: Flask, district: District,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`flask tips purge` shreds tips by someone's hand (perhaps with RETENTION_DAYS lowered for the run): the record
    must say whose, as for every other `flask` command; the alert worker's daily purge stays "retention"."""
    with app.app_context():
        long_ago = utcnow() - timedelta(days=366)
        by_hand = add_tip(district.schools["NCHS"], long_ago - timedelta(days=30), closed_at=long_ago,
                          outcome="unfounded", text="tip by hand").ref
    monkeypatch.setenv("SUDO_USER", "opsdesk")
    assert app.test_cli_runner().invoke(args=["tips", "purge"]).exit_code == 0
    with app.app_context():
        daily = add_tip(district.schools["NCHS"], long_ago - timedelta(days=30), closed_at=long_ago,
                        outcome="unfounded", text="tip of the day").ref
        purge_expired_tips()
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "tips.purged")
                                    .order_by(AuditEvent.id)).all()
        assert [(e.actor_label, json.loads(e.detail)["refs"]) for e in events] == [
            ("cli:opsdesk", [by_hand]), ("retention", [daily])]


def test_retention_days_is_configurable(make_app) -> None:  # type: ignore[no-untyped-def]
    from tests.ops.conftest import build_district

    app = make_app(RETENTION_DAYS=10)
    d = build_district(app)
    with app.app_context():
        tip = add_tip(d.schools["KWHS"], utcnow() - timedelta(days=20), closed_at=utcnow() - timedelta(days=11),
                      outcome="unfounded", text="x")
        assert purge_expired_tips().refs == [tip.ref]


def _old_closed_tip_on_disk(app: Flask) -> tuple[bytes, bytes]:
    """A tip closed 400 days ago, its pages long since checkpointed into the database file (WAL empty).
    Returns its wrapped data key and sealed text, as the files hold them."""
    d = build_district(app)
    with app.app_context():
        tip = make_tip(d.schools["KWHS"], "the blue locker on the second floor")
        tip.status, tip.outcome, tip.closed_at = "closed", "unfounded", utcnow() - timedelta(days=400)
        db.session.commit()
        assert tip.wrapped_dek is not None and tip.text_ct is not None
        sealed = (bytes(tip.wrapped_dek), bytes(tip.text_ct))
        db.session.remove()
        db.engine.dispose()
    conn = sqlite3.connect(Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sealed


def _database_files(app: Flask) -> bytes:
    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))  # -wal and -shm too


def test_shredded_tip_leaves_nothing_in_the_sqlite_files(sqlite_app: Flask) -> None:
    wrapped, text_ct = _old_closed_tip_on_disk(sqlite_app)
    assert wrapped in _database_files(sqlite_app)
    with sqlite_app.app_context():
        assert db_purge_expired_tips().count == 1
        db.session.commit()  # the WAL is checkpointed and emptied as the purge commits
        on_disk = _database_files(sqlite_app)
    assert wrapped not in on_disk and text_ct not in on_disk


def test_purge_zeroes_what_it_frees_even_where_secure_delete_is_off(sqlite_app: Flask, tmp_path: Path) -> None:
    """A SQLite built without SECURE_DELETE (upstream's default), simulated: the shredding turns it on itself, so
    neither the database file nor a backup taken afterwards holds the key."""
    with sqlite_app.app_context():

        @event.listens_for(db.engine, "connect")
        def _off(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.execute("PRAGMA secure_delete=OFF")

    wrapped, text_ct = _old_closed_tip_on_disk(sqlite_app)
    with sqlite_app.app_context():
        assert db.session.execute(text("PRAGMA secure_delete")).scalar() == 0
        db_purge_expired_tips()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
        backup = create_backup(sqlite_app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "after-purge.db")
    for data in (_database_files(sqlite_app), backup.read_bytes()):
        assert wrapped not in data and text_ct not in data


def test_every_sqlite_connection_has_secure_delete_on(sqlite_app: Flask) -> None:
    with sqlite_app.app_context():
        assert db.session.execute(text("PRAGMA secure_delete")).scalar() == 1


def test_the_checkpoint_after_a_purge_never_holds_up_writers(make_app, app: Flask, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A TRUNCATE checkpoint takes the write lock while it waits for older readers: with a reader open it must
    give up at once (the next purge completes it), not keep a tip being stored waiting for the busy timeout."""
    (tmp_path / "sqlite").mkdir()
    live = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'sqlite' / 'live.db'}", SQLITE_BUSY_TIMEOUT_S=5)
    with live.app_context():
        upgrade()
    _old_closed_tip_on_disk(live)
    reader = sqlite3.connect(Path(live.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM tip").fetchone()  # a snapshot older than the purge's commit
    try:
        with live.app_context():
            assert db_purge_expired_tips().count == 1
            started = time.monotonic()
            db.session.commit()  # then the checkpoint, which finds the reader
            # A writer's turn (every transaction here begins with BEGIN IMMEDIATE) comes at once, and the pooled
            # connection has the app's busy timeout back.
            assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 5000
            db.session.rollback()
            assert time.monotonic() - started < 1.0
    finally:
        reader.close()


def test_a_checkpoint_a_reader_held_back_is_finished_by_the_next_purge_with_nothing_to_shred(
        make_app, app: Flask, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """README: a checkpoint a long read held back is finished by the next purge. But the purge checkpointed only
    when it had tips to shred: in a district where none reached retention for weeks, the shredded data key stayed in
    the database file (the WAL held only its zeroed page) for all that time."""
    (tmp_path / "sqlite").mkdir()
    live = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'sqlite' / 'live.db'}")
    with live.app_context():
        upgrade()
    wrapped, text_ct = _old_closed_tip_on_disk(live)
    reader = sqlite3.connect(Path(live.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM tip").fetchone()  # the nightly backup, say, reading as the purge commits
    try:
        with live.app_context():
            assert purge_expired_tips().count == 1
    finally:
        reader.close()
    assert wrapped in _database_files(live)  # the checkpoint gave up: the old page is still in the database file
    with live.app_context():
        assert purge_expired_tips().count == 0  # the next day's run: nothing to shred
    on_disk = _database_files(live)
    assert wrapped not in on_disk and text_ct not in on_disk
