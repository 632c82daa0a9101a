"""A medium tip raised to critical or high outside school hours pages its chain at once, as if the model had
said so: the primary first, with the acknowledgement timeout counted from the relabel."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.alerts import db_alert_after_relabel
from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import School, Tip
from tests.alerts.conftest import alerts_of, chain_phones, make_tip


def _close_the_school_now(short_name: str) -> None:
    """School hours that exclude this very moment, whatever the clock says when the test runs."""
    school = db.session.scalar(select(School).where(School.short_name == short_name))
    local = datetime.now(UTC).astimezone(ZoneInfo(school.timezone))
    start, end = local + timedelta(hours=2), local + timedelta(hours=3)
    if end.date() != local.date():
        start, end = local - timedelta(hours=3), local - timedelta(hours=2)
    school.day_start, school.day_end = start.time().replace(microsecond=0), end.time().replace(microsecond=0)
    db.session.commit()


@pytest.mark.parametrize("urgency", ["critical", "high"])
def test_a_medium_tip_raised_out_of_hours_pages_the_primary_at_once(alert_app, fake_twilio, urgency):
    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=300, ALERT_ACK_TIMEOUT_HIGH_S=1800)
    with alert_app.app_context():
        _close_the_school_now("KWHS")
        info = make_tip("KWHS", "medium", "bullying")
        run_once("w")
        assert fake_twilio.messages == []  # medium waits for the school day
        (row,) = alerts_of(info.ref)
        row.created_at -= timedelta(hours=8)  # written last evening
        db.session.commit()
        tip = db.session.get(Tip, info.id)
        tip.label_urgency = urgency
        assert db_alert_after_relabel(tip) is not None
        db.session.commit()
        assert db_alert_after_relabel(tip) is None  # once
        run_once("w")
        run_once("w")
        primary = chain_phones("KWHS")[0]
        assert [a.chain_position for a in alerts_of(info.ref)] == [1]  # the timeout runs from the relabel
    (sms,) = fake_twilio.messages
    assert sms.to == primary and urgency.upper() in sms.body and "ESCALATED" not in sms.body


def test_a_medium_tip_lowered_to_low_out_of_hours_sends_no_sms_at_the_school_day(alert_app, fake_twilio):
    """README: low tips are for the console queue only. A counselor who reads a medium tip at night and lowers it
    to low must not have the SRO paged about it when the school day starts."""
    with alert_app.app_context():
        _close_the_school_now("KWHS")
        info = make_tip("KWHS", "medium", "bullying")
        run_once("w")
        tip = db.session.get(Tip, info.id)
        tip.label_urgency = "low"
        assert db_alert_after_relabel(tip) is None
        (row,) = alerts_of(info.ref)
        row.due_at = datetime(2000, 1, 1)  # the school day has come
        db.session.commit()
        run_once("w")
        run_once("w")
        assert fake_twilio.messages == []
        tip.label_urgency = "high"  # raised again: paged as a high tip is
        assert db_alert_after_relabel(tip) is not None
        db.session.commit()
        run_once("w")
    (sms,) = fake_twilio.wait_for(1)
    assert "HIGH bullying" in sms.body
