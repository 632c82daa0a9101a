"""A flood of prank tips (a group chat's dare, a script at 2 a.m.) must never hold back a real critical tip's SMS."""

from sqlalchemy import select

from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import School
from tests.alerts.conftest import make_tip

CATEGORIES = ("threat_of_violence", "bullying", "self_harm", "drugs", "weapon")


def test_a_critical_tip_behind_a_backlog_of_prank_alerts_goes_out_in_the_first_round(alert_app, fake_twilio):
    with alert_app.app_context():
        schools = list(db.session.scalars(select(School.short_name).where(School.active.is_(True))))
        for i in range(60):  # due before the real tip, more than one round's batch
            make_tip(schools[i % len(schools)], "high", CATEGORIES[i % len(CATEGORIES)])
        real = make_tip("KWHS", "critical", "weapon")
        run_once("test-worker", batch=50)
    assert any(f"#{real.ref}" in sms.body for sms in fake_twilio.messages), "the critical tip waited behind pranks"
