"""A tip taken out of its incident after its alert went folded into a "+N related tips" SMS: the SMS's delivery
report still speaks for it. Before, the folded rows were found by the carrier's incident, so a tip taken out (the
carrier's or a companion's) was no longer found: a medium tip among them was never sent again (critical and high
still escalate at their acknowledgement timeout)."""

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

import app.alerts.dispatcher as dispatcher
import app.alerts.planning as planning
from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import Alert, AlertStatus, Incident, Tip, utcnow
from tests.alerts.conftest import TipInfo, alerts_of, make_tip, post_status

IN_HOURS = datetime(2026, 11, 23, 17, 0)  # a Monday, 10:00 in Casper: medium tips are due at once


def _fold_two_medium_tips() -> tuple[TipInfo, TipInfo]:
    """One SMS of an incident, then two more medium tips of it, due now to go as one "+2 related tips" SMS."""
    make_tip("KWHS", "medium", "bullying")
    run_once("w")
    second, third = make_tip("KWHS", "medium", "bullying"), make_tip("KWHS", "medium", "bullying")
    assert run_once("w").get("postponed") == 2
    db.session.execute(update(Alert).where(Alert.kind == "folded").values(due_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    return second, third


def _take_out_of_incident(tip_id: int) -> None:
    """What the case page's 'Take this tip out of the incident' writes (app/console/case_actions.unlink): the tip
    gets an incident of its own; its alerts stay as they are."""
    tip = db.session.get(Tip, tip_id)
    assert tip is not None
    own = Incident(school_id=tip.school_id, category=tip.effective_category, opened_at=utcnow(),
                   last_tip_at=tip.created_at)
    db.session.add(own)
    db.session.flush()
    tip.incident = own
    db.session.commit()


def _carrier_and_companion(second: TipInfo, third: TipInfo) -> tuple[Alert, TipInfo]:
    (carrier,) = [a for a in alerts_of(second.ref) + alerts_of(third.ref) if a.twilio_sid]
    assert "+2 related tips" in (carrier.body or "")
    return carrier, third if carrier.tip_id == second.id else second


def _each_escalated(*tips: TipInfo) -> None:
    for info in tips:
        rows = [(a.chain_position, a.status) for a in alerts_of(info.ref)]
        assert rows[0] == (1, AlertStatus.FAILED.value) and [r[0] for r in rows] == [1, 2], rows


@pytest.mark.parametrize("taken_out", ["carrier", "companion"])
def test_a_tip_taken_out_of_its_incident_escalates_with_the_undelivered_sms_it_was_folded_into(
        alert_app, fake_twilio, monkeypatch, taken_out):
    alert_app.config.update(ALERT_ACK_TIMEOUT_HIGH_S=3600)
    monkeypatch.setattr(planning, "utcnow", lambda: IN_HOURS)
    with alert_app.app_context():
        second, third = _fold_two_medium_tips()
        run_once("w")
        carrier, companion = _carrier_and_companion(second, third)
        carrier_id, sid = carrier.id, carrier.twilio_sid
        _take_out_of_incident(carrier.tip_id if taken_out == "carrier" else companion.id)
    assert post_status(alert_app, fake_twilio.auth_token, carrier_id, sid, "undelivered", 30003) == 204
    with alert_app.app_context():
        run_once("w")
        _each_escalated(second, third)


def test_a_tip_taken_out_before_a_failure_report_that_beat_the_record_escalates_too(alert_app, fake_twilio,
                                                                                    monkeypatch):
    """The other order: Twilio reports the "+2 related tips" SMS failed before the worker has recorded it, and the
    companion is taken out of the incident in between; the record, which folds the companion, must fail it too."""
    alert_app.config.update(ALERT_ACK_TIMEOUT_HIGH_S=3600)
    monkeypatch.setattr(planning, "utcnow", lambda: IN_HOURS)
    with alert_app.app_context():
        second, third = _fold_two_medium_tips()
        real = dispatcher.sms_transport()

    class FailsAndIsUnlinkedBeforeTheRecord:
        def send(self, to, body, *, status_callback, validity_period_s=None):
            result = real.send(to, body, status_callback=status_callback, validity_period_s=validity_period_s)
            alert_id = int(parse_qs(urlsplit(status_callback).query)["alert"][0])
            assert post_status(alert_app, fake_twilio.auth_token, alert_id, result.sid, "failed", 30005,
                               callback_url=status_callback) == 204
            with alert_app.app_context():
                carrier = db.session.get(Alert, alert_id)
                _take_out_of_incident(third.id if carrier.tip_id == second.id else second.id)
            return result

    monkeypatch.setattr(dispatcher, "sms_transport", FailsAndIsUnlinkedBeforeTheRecord)
    with alert_app.app_context():
        run_once("w")
    monkeypatch.setattr(dispatcher, "sms_transport", lambda: real)
    with alert_app.app_context():
        run_once("w")
        _each_escalated(second, third)


def test_a_tip_taken_out_goes_out_again_when_twilio_refused_our_sender_for_the_sms_it_was_folded_into(
        alert_app, fake_twilio, monkeypatch):
    """30034 (our sender refused): the "+2 related tips" SMS reached nobody and goes out again; the tip taken out
    of the incident meanwhile must go out again as well (on its own now), not stay marked told."""
    monkeypatch.setattr(planning, "utcnow", lambda: IN_HOURS)
    monkeypatch.setattr(dispatcher, "backoff_for", lambda failures: timedelta(0))
    with alert_app.app_context():
        second, third = _fold_two_medium_tips()
        run_once("w")
        carrier, companion = _carrier_and_companion(second, third)
        carrier_id, sid = carrier.id, carrier.twilio_sid
        _take_out_of_incident(companion.id)
    before = len(fake_twilio.messages)
    assert post_status(alert_app, fake_twilio.auth_token, carrier_id, sid, "undelivered", 30034) == 204
    with alert_app.app_context():
        rows = [(a.status, a.sent_at) for a in alerts_of(second.ref) + alerts_of(third.ref)]
        assert rows == [(AlertStatus.PENDING.value, None)] * 2, rows
        run_once("w")
        statuses = [a.status for a in alerts_of(second.ref) + alerts_of(third.ref)]
        assert statuses == [AlertStatus.SENT.value] * 2, statuses  # each its own SMS now: no longer related
    assert len(fake_twilio.wait_for(before + 2)) == before + 2
