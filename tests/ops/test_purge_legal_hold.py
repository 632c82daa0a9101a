"""Retention and legal hold: a held case is never crypto-shredded, the purge names the cases it kept, and a
released one goes at the next purge. On PostgreSQL a hold set while a purge runs does not race it."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from app.crypto.service import open_tip_text
from app.extensions import db
from app.legal_hold import HoldRefused, db_release_legal_hold, db_set_legal_hold
from app.models import AuditEvent, Staff, utcnow
from app.retention import db_purge_expired_tips, db_shred_tips, purge_expired_tips
from tests.conftest import on_postgres
from tests.ops.conftest import District, add_tip
from tests.support.tips import tip_by_ref

REASON = "Casper PD case 26-01234, subpoena"


def _staff(district: District, key: str) -> Staff:
    staff = db.session.get(Staff, district.staff[key])
    assert staff is not None
    return staff


@pytest.fixture
def expired(app: Flask, district: District) -> dict[str, str]:
    """Two cases closed 400 days ago: one on legal hold, one not."""
    with app.app_context():
        long_ago = utcnow() - timedelta(days=400)
        held = add_tip(district.schools["KWHS"], long_ago, closed_at=long_ago, outcome="referred_to_law_enforcement",
                       text="the gun is in the blue locker").ref
        plain = add_tip(district.schools["NCHS"], long_ago, closed_at=long_ago, outcome="unfounded",
                        text="nothing came of it").ref
        db_set_legal_hold(tip_by_ref(held), _staff(district, "sro_cpd"), REASON, None)
        db.session.commit()
        return {"held": held, "plain": plain}


def test_the_purge_never_shreds_a_case_on_hold(app: Flask, expired: dict[str, str]) -> None:
    with app.app_context():
        result = purge_expired_tips()
        assert result.refs == [expired["plain"]] and result.held == [expired["held"]]
        kept = tip_by_ref(expired["held"])
        assert kept.shredded_at is None and open_tip_text(kept) == "the gun is in the blue locker"
        assert tip_by_ref(expired["plain"]).shredded_at is not None
        # On the record by reference: filtering the audit record by the held case finds the purge that kept it.
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "tips.purged"))
        assert event is not None and json.loads(event.detail)["held"] == [expired["held"]]
        assert "26-01234" not in event.detail
        with pytest.raises(ValueError, match="legal hold"):
            db_shred_tips([kept], utcnow())  # nothing else may shred it either


def test_dry_run_and_purge_name_the_held_cases(app: Flask, expired: dict[str, str]) -> None:
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["tips", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"1 closed tips older than 365 days are on legal hold and kept: {expired['held']}" in dry.output
    assert "1 closed tips are older than 365 days and would be shredded" in dry.output
    real = runner.invoke(args=["tips", "purge"])
    assert real.exit_code == 0, real.output
    assert f"shredded 1 tips: {expired['plain']}" in real.output
    assert f"1 closed tips older than 365 days are on legal hold and kept: {expired['held']}" in real.output
    assert "26-01234" not in dry.output + real.output


def test_a_released_hold_past_retention_is_shredded_at_the_next_purge(app: Flask, district: District,
                                                                     expired: dict[str, str]) -> None:
    with app.app_context():
        purge_expired_tips()
        assert db_release_legal_hold(tip_by_ref(expired["held"]), _staff(district, "admin"), "case dismissed", None)
        db.session.commit()
        assert purge_expired_tips().refs == [expired["held"]]
        gone = tip_by_ref(expired["held"])
        assert gone.wrapped_dek is None and gone.legal_hold_reason_ct is None
        assert gone.legal_hold_release_reason_ct is None
        assert gone.legal_hold_released_by_id == district.staff["admin"]  # who and when stay: they are not content


def test_flask_tips_holds_lists_them_without_the_reason(app: Flask, district: District,
                                                       expired: dict[str, str]) -> None:
    result = app.test_cli_runner().invoke(args=["tips", "holds"])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if expired["held"] in line]
    assert "KWHS" in line and "closed" in line and "sro_cpd@district.example" in line
    assert "26-01234" not in result.output and expired["plain"] not in result.output
    assert "1 cases on legal hold." in result.output


def test_a_hold_on_a_case_already_held_is_refused(app: Flask, district: District, expired: dict[str, str]) -> None:
    with app.app_context(), pytest.raises(HoldRefused, match="already"):
        db_set_legal_hold(tip_by_ref(expired["held"]), _staff(district, "admin"), "another subpoena", None)


@pytest.mark.skipif(not on_postgres(), reason="SQLite has one writer: the purge and the hold cannot run side by side")
def test_a_hold_set_while_the_purge_runs_is_kept(app: Flask, district: District) -> None:
    """The hold has the tip's row locked, not committed yet, when the purge reaches it: the purge waits, then
    sees the hold on the row and keeps the case (before the lock, it shredded a case just put on hold)."""
    with app.app_context():
        long_ago = utcnow() - timedelta(days=400)
        ref = add_tip(district.schools["KWHS"], long_ago, closed_at=long_ago, outcome="unfounded",
                      text="the blue locker").ref
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with app.app_context():
                db_set_legal_hold(tip_by_ref(ref), _staff(district, "sro_cpd"), REASON, None)
                locked.set()
                release.wait(30)
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001  (asserted below)
            errors.append(exc)
            locked.set()

    results: list[list[str]] = []

    def purge() -> None:
        try:
            with app.app_context():
                results.append(db_purge_expired_tips().refs)
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(30)
    purger = threading.Thread(target=purge)
    purger.start()
    time.sleep(1.0)  # the purge reaches the row and waits on the hold's lock
    assert purger.is_alive()
    release.set()
    holder.join(30)
    purger.join(30)
    assert not errors, errors
    assert results == [[]]
    with app.app_context():
        tip = tip_by_ref(ref)
        assert tip.on_legal_hold and tip.shredded_at is None and open_tip_text(tip) == "the blue locker"


@pytest.mark.skipif(not on_postgres(), reason="SQLite has one writer: the purge and the hold cannot run side by side")
def test_a_hold_asked_while_the_purge_shreds_the_case_is_refused(app: Flask, district: District) -> None:
    with app.app_context():
        long_ago = utcnow() - timedelta(days=400)
        ref = add_tip(district.schools["KWHS"], long_ago, closed_at=long_ago, outcome="unfounded", text="x").ref
    shredded, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def purge() -> None:
        try:
            with app.app_context():
                assert db_purge_expired_tips().refs == [ref]
                shredded.set()
                release.wait(30)
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            shredded.set()

    purger = threading.Thread(target=purge)
    purger.start()
    assert shredded.wait(30)
    refused: list[str] = []

    def hold() -> None:
        with app.app_context():
            tip = tip_by_ref(ref)  # read before the purge commits: still with its key
            try:
                db_set_legal_hold(tip, _staff(district, "admin"), REASON, None)
                db.session.commit()
            except HoldRefused as exc:
                db.session.rollback()
                refused.append(str(exc))

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(1.0)
    release.set()
    purger.join(30)
    holder.join(30)
    assert not errors, errors
    assert refused and "crypto-shredded" in refused[0]
    with app.app_context():
        tip = tip_by_ref(ref)
        assert tip.shredded_at is not None and not tip.on_legal_hold and tip.legal_hold_reason_ct is None


HOLD_REVISION, BEFORE_THE_HOLD = "4c7e2b9a1f58", "d3a9f0c2b6e1"


def _steps_down_past_the_hold() -> str:
    """`flask db downgrade -N` from the head to the release before the hold, N counted from the migrations there are
    now (a later migration moves it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from app.backup import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    revisions = [rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()]  # head first
    return f"-{revisions.index(BEFORE_THE_HOLD)}"


@pytest.mark.parametrize("destination", [BEFORE_THE_HOLD, "base", "steps"])
def test_a_downgrade_to_the_release_without_legal_hold_is_refused_while_a_case_is_held(
    app: Flask, expired: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    destination: str,
) -> None:
    """The release before has no legal hold: downgrading dropped the holds without a word, and its daily purge then
    shredded the held case, past retention. The downgrade is now refused with one line before any migration runs
    (on SQLite each commits on its own: refused half-way, the database would be where neither release runs), unless
    the operator sets TIPLINE_DOWNGRADE_DROPS_LEGAL_HOLDS=1 for that one command. A downgrade that keeps the hold's
    migration is not held back."""
    from flask_migrate import upgrade
    from sqlalchemy import inspect, text

    runner = app.test_cli_runner()

    def revision_and_columns() -> tuple[str, set[str]]:
        with app.app_context(), db.engine.connect() as conn:
            return (conn.execute(text("SELECT version_num FROM alembic_version")).scalar(),
                    {c["name"] for c in inspect(conn).get_columns("tip")} | {
                        c["name"] for c in inspect(conn).get_columns("staff")})

    try:
        before = revision_and_columns()
        assert runner.invoke(args=["db", "current"]).exit_code == 0  # only a downgrade is held back
        if destination == "steps":
            destination = _steps_down_past_the_hold()
        result = runner.invoke(args=["db", "downgrade", "--", destination])
        assert result.exit_code == 1 and "Traceback" not in result.output
        errors = [r.getMessage() for r in caplog.records if r.name == "flask_migrate"]
        assert len(errors) == 1 and "1 case(s) on legal hold" in errors[0], errors
        assert "nothing was changed" in errors[0]
        assert revision_and_columns() == before and "totp_secret_sealed" in before[1]
        with app.app_context():
            db.session.remove()
            assert tip_by_ref(expired["held"]).on_legal_hold
            db.session.remove()
        # down to the hold's own migration, which stays: not held back
        assert runner.invoke(args=["db", "downgrade", HOLD_REVISION]).exit_code == 0
        assert revision_and_columns()[0] == HOLD_REVISION
        monkeypatch.setenv("TIPLINE_DOWNGRADE_DROPS_LEGAL_HOLDS", "1")
        assert runner.invoke(args=["db", "downgrade", BEFORE_THE_HOLD]).exit_code == 0
        revision, columns = revision_and_columns()
        assert revision == BEFORE_THE_HOLD and "legal_hold_at" not in columns
    finally:
        with app.app_context():
            db.session.remove()
            upgrade()  # the head again: on PostgreSQL the run's tests share one schema
            db.engine.dispose()
