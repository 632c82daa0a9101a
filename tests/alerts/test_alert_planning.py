"""Who is told, and when."""

from datetime import datetime

from sqlalchemy import select

from app.alerts.planning import next_school_day_start
from app.extensions import db
from app.models import AlertStatus, School
from tests.alerts.conftest import alerts_of, chain_phones, make_tip, staff_by_phone


def test_critical_tip_alerts_the_primary_sro_at_once(alert_app):
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.PENDING.value
        assert alert.chain_position == 1
        assert alert.staff.phone == chain_phones("KWHS")[0]
        assert (alert.due_at - alert.created_at).total_seconds() < 1


def test_high_tip_alerts_at_once_too(alert_app):
    with alert_app.app_context():
        (alert,) = alerts_of(make_tip("MWS", "high", "abuse_neglect").ref)
        assert alert.chain_position == 1


def test_low_tip_sends_nothing(alert_app):
    with alert_app.app_context():
        assert alerts_of(make_tip("KWHS", "low", "other").ref) == []


def test_opted_out_primary_is_skipped(alert_app):
    with alert_app.app_context():
        primary = staff_by_phone(chain_phones("EVES")[0])
        primary.sms_opted_out = True
        db.session.commit()
        (alert,) = alerts_of(make_tip("EVES", "critical").ref)
        assert alert.chain_position == 2


def _school(short):
    return db.session.scalar(select(School).where(School.short_name == short))


def test_school_hours_in_the_schools_time_zone(alert_app):
    with alert_app.app_context():
        school = _school("KWHS")  # 07:30-16:00 America/Denver (UTC-7 in November)
        # Saturday 22 Nov 2026, 03:00 UTC = Friday 20:00 in Casper: waits for Monday 07:30 local = 14:30 UTC.
        assert next_school_day_start(school, datetime(2026, 11, 21, 3, 0)) == datetime(2026, 11, 23, 14, 30)
        # Tuesday 10:00 local = 17:00 UTC: in session, send now.
        assert next_school_day_start(school, datetime(2026, 11, 24, 17, 0)) == datetime(2026, 11, 24, 17, 0)
        # Tuesday 05:00 local = 12:00 UTC: before the bell, wait until 07:30 local.
        assert next_school_day_start(school, datetime(2026, 11, 24, 12, 0)) == datetime(2026, 11, 24, 14, 30)


def test_medium_tip_at_night_waits_for_the_school_day(alert_app, monkeypatch):
    import app.alerts.planning as planning

    monkeypatch.setattr(planning, "utcnow", lambda: datetime(2026, 11, 25, 8, 0))  # Wed 01:00 in Casper
    with alert_app.app_context():
        (alert,) = alerts_of(make_tip("KWHS", "medium", "bullying").ref)
        assert alert.due_at == datetime(2026, 11, 25, 14, 30)


def test_tips_of_one_school_and_category_share_an_incident(alert_app):
    with alert_app.app_context():
        first, second = make_tip("NCHS", "high"), make_tip("NCHS", "high")
        other_school = make_tip("KWHS", "high")
        other_category = make_tip("NCHS", "high", "drugs_alcohol")
        assert first.incident_id == second.incident_id
        assert other_school.incident_id != first.incident_id
        assert other_category.incident_id != first.incident_id
