"""The alert worker on a database behind this release's migration: it warns, and keeps sending (README, Installing)."""

import threading

from sqlalchemy import select, text

from app.alerts.worker import run_worker
from app.backup import older_revisions
from app.extensions import db
from app.models import Alert
from tests.console.helpers import build_world
from tests.support.tips import make_tip


def test_a_worker_on_a_database_without_the_test_sms_table_keeps_sending_alerts(app, caplog):
    """New code restarted before `flask db upgrade` (a reboot, a crash, the steps in the wrong order): the round
    looked for test SMS in `sms_check`, which the release's migration adds, and the worker died with a
    ProgrammingError traceback after every round's alerts, restarted by systemd every two seconds. Test SMS are
    an extra: the alerts go on, and the operator reads one line a minute saying what to run."""
    world = build_world(app)
    with app.app_context():
        tip = make_tip(world.school_a, "he has a gun in his locker right now", urgency="critical", plan_alerts=True)
        (alert_id,) = db.session.scalars(select(Alert.id).where(Alert.tip_id == tip.id))
        # As the release before left it: at an older migration, without the table a later one adds.
        db.session.execute(text("DROP TABLE sms_check"))
        db.session.execute(text("UPDATE alembic_version SET version_num = :old"),
                           {"old": sorted(older_revisions())[0]})
        db.session.commit()
    assert run_worker(app, stop=threading.Event(), poll_s=0.01, max_rounds=3, purge=False) == 3
    with app.app_context():
        assert db.session.get(Alert, alert_id).status == "sent"
    lines = [r.getMessage() for r in caplog.records if "test SMS" in r.getMessage()]
    assert len(lines) == 1, lines  # not one a round
    assert lines[0].startswith("OPERATOR:") and "flask db upgrade" in lines[0]
    assert caplog.records[-1].getMessage() == "alert worker stopped"
