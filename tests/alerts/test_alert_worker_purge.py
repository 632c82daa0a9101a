"""The alert worker also runs the daily retention purge."""

import threading
from datetime import timedelta

from app.alerts.worker import run_worker
from app.extensions import db
from app.models import Tip, utcnow
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
