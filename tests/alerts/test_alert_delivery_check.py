"""A delivery report that never came (our site down when Twilio posted it; Twilio does not post it again): the
worker asks Twilio where the SMS is, a bounded number of times, and takes the answer as the report would have been
taken. Without it a medium tip's SMS that never reached the phone stayed "sent", and nobody else was told."""

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

import app.alerts.delivery_checks as delivery_checks
import app.alerts.planning as planning
from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import Alert, AlertStatus, utcnow
from notifications.twilio_transport import TwilioTransport
from tests.alerts.conftest import alerts_of, chain_phones, make_tip, post_status
from tests.fakes.fake_twilio import Fault

IN_HOURS = datetime(2026, 11, 23, 17, 0)  # a Monday, 10:00 in Casper: medium tips are due at once
AFTER_S = 600  # ALERT_DELIVERY_CHECK_AFTER_S's default


@pytest.fixture(autouse=True)
def _in_school_hours(monkeypatch):
    monkeypatch.setattr(planning, "utcnow", lambda: IN_HOURS)


def _medium_sms(alert_app, fake_twilio, final, code=None, *, school="KWHS"):
    """A medium tip's SMS to the first person of the chain, which ends as `final` at Twilio, its delivery reports
    lost. The tip, and the alert's id and SID once Twilio has it at `final`."""
    with alert_app.app_context():
        tip = make_tip(school, "medium", "bullying")
        fake_twilio.set_outcome(chain_phones(school)[0], final, code, callback=False)
        assert run_once("w").get("sent") == 1
        (alert,) = alerts_of(tip.ref)
        alert_id, sid = alert.id, alert.twilio_sid
    fake_twilio.wait_for_status(sid, "sent" if final == "none" else final)
    return tip, alert_id, sid


def _sent_ago(app, alert_id, seconds):
    with app.app_context():
        sent_at = utcnow() - timedelta(seconds=seconds)
        db.session.execute(update(Alert).where(Alert.id == alert_id).values(sent_at=sent_at))
        db.session.commit()


def _rows(tip):
    return [(a.chain_position, a.status, a.twilio_status, a.error_code) for a in alerts_of(tip.ref)]


@pytest.mark.parametrize(("final", "code"), [("undelivered", 30003), ("failed", 30008), ("delivered", None),
                                             ("undelivered", 30034)])
def test_a_lost_report_is_looked_up_and_taken_as_the_report_would_have_been(alert_app, fake_twilio, final, code):
    """The same medium tip's SMS, twice: once its report posted as Twilio does, once lost and looked up ten minutes
    on. The alert rows end the same, two worker rounds after the report or the lookup: undelivered or failed, the
    next person of the chain is told (sent in school hours, waiting for the school day outside them); delivered, it
    is recorded delivered; our sender refused (30034), the SMS goes again to the same person.

    Two rounds, not one: a posted report is escalated at the start of the next round and its SMS sent in it, a
    lookup comes after the round's SMS and its escalation goes in the round after. Compared after one round, the
    test passed outside school hours only (both waiting for the school day) and failed in them."""
    reported_tip, reported_id, reported_sid = _medium_sms(alert_app, fake_twilio, final, code)
    assert post_status(alert_app, fake_twilio.auth_token, reported_id, reported_sid, final, code or 0) == 204
    with alert_app.app_context():
        run_once("w")
        run_once("w")
        reported = _rows(reported_tip)

    tip, alert_id, sid = _medium_sms(alert_app, fake_twilio, final, code, school="NCHS")
    _sent_ago(alert_app, alert_id, AFTER_S + 1)
    with alert_app.app_context():
        counts = run_once("w")
        assert counts.get("delivery_checks") == 1 and fake_twilio.fetches_seen == 1
        looked_up = _rows(tip)
        row = db.session.get(Alert, alert_id)
        assert row.status != AlertStatus.SENT.value
        assert (row.delivered_at is not None) == (final == "delivered")
        run_once("w")
        looked_up = _rows(tip)
    assert looked_up == reported
    if code in (30003, 30008):
        assert [(position, status) for position, status, *_ in looked_up][0] == (1, "failed")
        assert looked_up[1][0] == 2  # the next person is told


def test_no_lookup_before_the_delay_and_none_with_the_setting_at_zero(alert_app, fake_twilio):
    tip, alert_id, sid = _medium_sms(alert_app, fake_twilio, "undelivered", 30003)
    _sent_ago(alert_app, alert_id, AFTER_S - 5)
    with alert_app.app_context():
        run_once("w")
        assert fake_twilio.fetches_seen == 0 and db.session.get(Alert, alert_id).status == AlertStatus.SENT.value
    _sent_ago(alert_app, alert_id, 10 * AFTER_S)
    alert_app.config["ALERT_DELIVERY_CHECK_AFTER_S"] = 0
    with alert_app.app_context():
        run_once("w")
        assert fake_twilio.fetches_seen == 0 and db.session.get(Alert, alert_id).status == AlertStatus.SENT.value
    alert_app.config["ALERT_DELIVERY_CHECK_AFTER_S"] = AFTER_S
    with alert_app.app_context():
        run_once("w")
        assert fake_twilio.fetches_seen == 1 and db.session.get(Alert, alert_id).status == AlertStatus.FAILED.value


def test_a_message_never_reported_on_is_looked_up_a_few_times_backing_off_then_no_more(alert_app, fake_twilio,
                                                                                       monkeypatch):
    """The carrier never reports: Twilio keeps saying "sent". Looked up at 10, 30, 70, 150 and 310 minutes after the
    send (each wait twice the one before), then never again; the alert stays sent."""
    tip, alert_id, sid = _medium_sms(alert_app, fake_twilio, "none")
    start = utcnow()
    clock = {"now": start}
    monkeypatch.setattr(delivery_checks, "utcnow", lambda: clock["now"])
    looked_up_at = []
    with alert_app.app_context():
        for minute in range(0, 24 * 60, 5):
            clock["now"] = start + timedelta(minutes=minute, seconds=1)
            seen = fake_twilio.fetches_seen
            run_once("w")
            if fake_twilio.fetches_seen > seen:
                looked_up_at.append(minute)
        row = db.session.get(Alert, alert_id)
        assert (row.status, row.twilio_status) == (AlertStatus.SENT.value, "sent")
    assert looked_up_at == [10, 30, 70, 150, 310]


def test_a_round_looks_up_a_few_alerts_at_most(alert_app, fake_twilio):
    ids = []
    for school in ("KWHS", "NCHS", "RHS", "PIC"):
        ids.append(_medium_sms(alert_app, fake_twilio, "delivered", school=school)[1])
    for alert_id in ids:
        _sent_ago(alert_app, alert_id, AFTER_S + 1)
    with alert_app.app_context():
        assert run_once("w").get("delivery_checks") == delivery_checks.PER_ROUND == 3
        assert run_once("w").get("delivery_checks") == 1
        assert {db.session.get(Alert, i).status for i in ids} == {AlertStatus.DELIVERED.value}
    assert fake_twilio.fetches_seen == 4


@pytest.mark.parametrize("fault", [Fault.server_error(503), Fault.drop_connection(), Fault.delay(3)])
def test_a_lookup_that_fails_leaves_the_alert_for_later_and_the_round_goes_on(alert_app, fake_twilio, monkeypatch,
                                                                             caplog, fault):
    tip, alert_id, sid = _medium_sms(alert_app, fake_twilio, "undelivered", 30003)
    _sent_ago(alert_app, alert_id, AFTER_S + 1)
    fake_twilio.script_fetches(fault)
    caplog.set_level(logging.INFO)
    with alert_app.app_context():
        critical = make_tip("NCHS", "critical")
        counts = run_once("w")
        assert counts.get("sent") == 1 and counts.get("delivery_checks") == 1
        assert db.session.get(Alert, alert_id).status == AlertStatus.SENT.value
        assert [a.status for a in alerts_of(critical.ref)] == [AlertStatus.SENT.value]
        phones = chain_phones("KWHS")
    (failed,) = [r for r in caplog.records if "delivery report lookup failed" in r.getMessage()]
    assert failed.levelno == logging.WARNING and failed.fields["alert"] == alert_id
    said = f"{failed.getMessage()} {failed.fields}"
    assert not any(phone in said for phone in phones) and "TIPLINE" not in said and sid not in said
    # Looked up again at its next step, twenty minutes on: now the answer comes, and the next person is told.
    monkeypatch.setattr(delivery_checks, "utcnow", lambda: utcnow() + timedelta(seconds=2 * AFTER_S + 1))
    with alert_app.app_context():
        run_once("w")
        assert [(a.chain_position, a.status) for a in alerts_of(tip.ref)][:2] == [(1, "failed"), (2, "pending")]


def test_an_unknown_sid_is_logged_and_left_for_later(alert_app, fake_twilio, caplog):
    tip, alert_id, sid = _medium_sms(alert_app, fake_twilio, "undelivered", 30003)
    _sent_ago(alert_app, alert_id, AFTER_S + 1)
    with alert_app.app_context():
        db.session.execute(update(Alert).where(Alert.id == alert_id).values(twilio_sid="SM" + "0" * 32))
        db.session.commit()
        assert run_once("w").get("delivery_checks") == 1
        row = db.session.get(Alert, alert_id)
        assert (row.status, row.delivery_checks) == (AlertStatus.SENT.value, 1)
    assert any("delivery report lookup failed" in r.getMessage() for r in caplog.records)


def test_lookups_come_after_the_rounds_sms(alert_app, fake_twilio, monkeypatch):
    tip, alert_id, sid = _medium_sms(alert_app, fake_twilio, "undelivered", 30003)
    _sent_ago(alert_app, alert_id, AFTER_S + 1)
    sms_before_lookup = []
    real = TwilioTransport.fetch_status

    def fetch_status(transport, message_sid):
        sms_before_lookup.append(len(fake_twilio.messages))
        return real(transport, message_sid)

    monkeypatch.setattr(TwilioTransport, "fetch_status", fetch_status)
    with alert_app.app_context():
        make_tip("NCHS", "critical")
        make_tip("RHS", "high")
        assert run_once("w").get("sent") == 2
    assert sms_before_lookup == [3]


def test_no_lookup_while_twilio_fails_the_rounds_sms(alert_app, fake_twilio):
    tip, alert_id, sid = _medium_sms(alert_app, fake_twilio, "undelivered", 30003)
    _sent_ago(alert_app, alert_id, AFTER_S + 1)
    fake_twilio.script(Fault.server_error(503))
    with alert_app.app_context():
        make_tip("NCHS", "critical")
        counts = run_once("w")
        assert counts.get("retry") == 1 and "delivery_checks" not in counts
        row = db.session.get(Alert, alert_id)
        assert (row.status, row.delivery_checks) == (AlertStatus.SENT.value, 0)
    assert fake_twilio.fetches_seen == 0


def test_the_console_transport_has_nothing_to_look_up(make_app):
    from app.demo_data import seed_demo

    app = make_app(SMS_TRANSPORT="console")
    with app.app_context():
        seed_demo()
        tip = make_tip("KWHS", "critical")
        assert run_once("w").get("sent") == 1
        (alert,) = alerts_of(tip.ref)
        alert_id = alert.id
    _sent_ago(app, alert_id, 10 * AFTER_S)
    with app.app_context():
        assert "delivery_checks" not in run_once("w")
        row = db.session.get(Alert, alert_id)
        assert (row.delivery_checks, row.twilio_status) == (0, "sent")


def test_a_lookup_that_breaks_unexpectedly_never_stops_the_worker(alert_app, fake_twilio, monkeypatch, caplog):
    """Anything but a SendError out of a lookup (the Twilio client's AttributeError on a 2xx answer that is not a
    JSON object, from something in between; a bug) went up out of the round, and the worker, which survives only a
    database error, died after each round's SMS (the in-process dispatcher for good). Now it is one ERROR line with
    the error's type, lookups wait a while, and the rounds and their SMS go on."""
    tip, alert_id, sid = _medium_sms(alert_app, fake_twilio, "undelivered", 30003)
    _sent_ago(alert_app, alert_id, AFTER_S + 1)
    looked_up = []

    def broken(transport, message_sid):
        looked_up.append(message_sid)
        raise AttributeError("'list' object has no attribute 'get'")

    monkeypatch.setattr(TwilioTransport, "fetch_status", broken)
    caplog.set_level(logging.INFO)
    with alert_app.app_context():
        critical = make_tip("NCHS", "critical")
        counts = run_once("w")
        assert counts.get("sent") == 1 and looked_up == [sid]
        assert [a.status for a in alerts_of(critical.ref)] == [AlertStatus.SENT.value]
        assert db.session.get(Alert, alert_id).status == AlertStatus.SENT.value  # looked up again at its next step
        high = make_tip("RHS", "high")
        assert run_once("w").get("sent") == 1  # the next round goes on, and looks nothing up for now
        assert [a.status for a in alerts_of(high.ref)] == [AlertStatus.SENT.value] and looked_up == [sid]
        phones = chain_phones("KWHS") + chain_phones("NCHS")
    (broke,) = [r for r in caplog.records if "delivery report lookups" in r.getMessage()]
    said = f"{broke.getMessage()} {broke.fields}"
    assert broke.levelno == logging.ERROR and "AttributeError" in said
    assert sid not in said and not any(phone in said for phone in phones)


def test_an_sms_sent_again_after_our_sender_was_refused_is_looked_up_as_a_new_one(alert_app, fake_twilio):
    """Lookups are counted per SMS: a row whose SMS Twilio refused for our sender (30034) goes out again, and that new
    SMS is looked up from its own send, five times at most. They were counted per row: a refusal found at the last
    lookup left the SMS sent again never looked up, its report lost as well, and the next person never told."""
    tip, alert_id, sid = _medium_sms(alert_app, fake_twilio, "undelivered", 30034)
    with alert_app.app_context():
        long_ago = utcnow() - timedelta(seconds=32 * AFTER_S)
        db.session.execute(update(Alert).where(Alert.id == alert_id)
                           .values(delivery_checks=len(delivery_checks.CHECK_WAITS) - 1, delivery_checked_at=long_ago))
        db.session.commit()
        assert run_once("w").get("delivery_checks") == 1
        row = db.session.get(Alert, alert_id)
        assert (row.status, row.twilio_sid) == (AlertStatus.PENDING.value, None)  # our sender refused: again
        fake_twilio.set_outcome(chain_phones("KWHS")[0], "undelivered", 30003, callback=False)
        db.session.execute(update(Alert).where(Alert.id == alert_id).values(due_at=utcnow()))
        db.session.commit()
        assert run_once("w").get("sent") == 1
        again = db.session.get(Alert, alert_id).twilio_sid
    assert again not in (None, sid)
    fake_twilio.wait_for_status(again, "undelivered")
    _sent_ago(alert_app, alert_id, AFTER_S + 1)
    with alert_app.app_context():
        assert run_once("w").get("delivery_checks") == 1
        assert [(a.chain_position, a.status) for a in alerts_of(tip.ref)][:2] == [(1, "failed"), (2, "pending")]
