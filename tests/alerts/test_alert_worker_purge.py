"""The alert worker also runs the daily retention purge."""

import threading
from datetime import timedelta

from sqlalchemy import select

from app.alerts.worker import run_worker
from app.extensions import db
from app.models import Alert, Tip, utcnow
from tests.console.helpers import build_world
from tests.support.tips import make_tip


def test_worker_round_shreds_closed_tips_past_retention(app):
    world = build_world(app)
    with app.app_context():
        old = make_tip(world.school_a, "closed long ago")
        old.status, old.outcome = "closed", "no_action_needed"
        old.closed_at = utcnow() - timedelta(days=app.config["RETENTION_DAYS"] + 1)
        recent = make_tip(world.school_a, "closed yesterday")
        recent.status, recent.outcome, recent.closed_at = "closed", "unfounded", utcnow() - timedelta(days=1)
        db.session.commit()
        old_id, recent_id = old.id, recent.id
    run_worker(app, stop=threading.Event(), poll_s=0.01, max_rounds=1)
    with app.app_context():
        shredded, kept = db.session.get(Tip, old_id), db.session.get(Tip, recent_id)
        assert shredded.shredded_at is not None and shredded.wrapped_dek is None and shredded.text_ct is None
        assert kept.shredded_at is None and kept.text_ct is not None


def test_a_paused_retention_shreds_nothing_and_says_so_once_a_day(make_app, caplog):
    """After a backup is restored, the holds set since it was taken are not in it: the worker's purge at start
    shredded such a case before anyone could set its hold again. RETENTION_PAUSED stops the purge, and says so."""
    app = make_app(RETENTION_PAUSED=True)
    world = build_world(app)
    with app.app_context():
        old = make_tip(world.school_a, "closed long ago, on hold since the backup")
        old.status, old.outcome = "closed", "no_action_needed"
        old.closed_at = utcnow() - timedelta(days=app.config["RETENTION_DAYS"] + 1)
        db.session.commit()
        old_id = old.id
    run_worker(app, stop=threading.Event(), poll_s=0.01, max_rounds=3)
    with app.app_context():
        kept = db.session.get(Tip, old_id)
        assert kept.shredded_at is None and kept.text_ct is not None
    said = [r.getMessage() for r in caplog.records if "purge did not run" in r.getMessage()]
    assert len(said) == 1 and "OPERATOR" in said[0] and "RETENTION_PAUSED" in said[0]  # once, not every round


def test_a_purge_that_fails_stops_no_sms_and_is_named_to_the_operator(app, monkeypatch, caplog):
    # Any error of the purge but a database one used to end the worker, and again at every restart: no SMS at all
    # for a fault in shredding old cases.
    from app import retention

    world = build_world(app)
    with app.app_context():
        tip = make_tip(world.school_a, "he has a gun in his locker right now", urgency="critical", plan_alerts=True)
        (alert_id,) = db.session.scalars(select(Alert.id).where(Alert.tip_id == tip.id))

    def broken_purge():
        raise ValueError("a damaged row")

    monkeypatch.setattr(retention, "purge_expired_tips", broken_purge)
    assert run_worker(app, stop=threading.Event(), poll_s=0.01, max_rounds=2) == 2
    with app.app_context():
        assert db.session.get(Alert, alert_id).status == "sent"
    failures = [r.getMessage() for r in caplog.records if "retention purge failed" in r.getMessage()]
    assert len(failures) == 1  # not again in the next round: in an hour
    assert "OPERATOR" in failures[0] and "damaged row" not in failures[0]


def test_a_worker_stopped_while_the_database_is_locked_logs_one_line_and_exits_cleanly(make_app, caplog):
    """Stopping the worker (SIGTERM, a deploy) while another process held SQLite past the busy timeout: ending
    its lease in the `finally` failed too and `flask alerts run` died with a "database is locked" traceback.
    It logs one line naming the error (the lease then ends by itself) and stops as usual."""
    from tests.support.write_lock import holding_the_write_lock

    app = make_app(SQLITE_BUSY_TIMEOUT_S=1)
    with holding_the_write_lock(app):
        assert run_worker(app, stop=threading.Event(), poll_s=0.01, max_rounds=1, purge=False) == 1
    lease = [r for r in caplog.records if "could not end its lease" in r.getMessage()]
    assert len(lease) == 1 and getattr(lease[0], "fields", {}).get("error") == "SQLITE_BUSY", lease
    assert lease[0].exc_info is None
    assert any(r.getMessage() == "alert worker stopped" for r in caplog.records)


def test_the_worker_deletes_reporters_visits_that_have_ended(app):
    """A reporter's visit row (its tip, when it ends, a sealed receipt code) was deleted only when another reporter
    started a visit: on a quiet site the last ones stayed in the database and in its nightly backups, saying when
    someone came back to a report. The worker deletes a visit a few minutes after it ends; live ones stay."""
    from app.intake.reporter_sessions import ENDED_KEPT
    from app.models import ReporterSession

    world = build_world(app)
    now = utcnow()
    with app.app_context():
        tip = make_tip(world.school_a, "a fight is planned behind the gym")
        for name, ends in (("ended", now - ENDED_KEPT - timedelta(seconds=5)),
                           ("just_ended", now - timedelta(seconds=5)), ("live", now + timedelta(minutes=10))):
            db.session.add(ReporterSession(token_hash=name.ljust(64, "0"), purpose="followup", tip_id=tip.id,
                                           expires_at=ends))
        db.session.commit()
    run_worker(app, stop=threading.Event(), poll_s=0.01, max_rounds=1)
    with app.app_context():
        left = {row.rstrip("0") for row in db.session.scalars(select(ReporterSession.token_hash))}
    assert left == {"just_ended", "live"}  # one that ended seconds ago may still be in a reporter's request
