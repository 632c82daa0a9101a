"""Delivery reports delivered again, out of order, or late from an earlier send: none may move an alert backwards
or speak for a send it is not about."""

import time
from datetime import timedelta

import pytest

import app.alerts.dispatcher as dispatcher
from app.alerts.claims import db_claim_due_alerts
from app.alerts.dispatcher import run_once, send_one
from app.extensions import db
from app.models import Alert, AlertStatus
from tests.alerts.conftest import alerts_of, chain_phones, make_tip, post_status
from tests.conftest import on_postgres


def _a_critical_sms_sent_with_no_report_yet(alert_app, fake_twilio):
    """A critical tip's first SMS, sent and with no delivery report: the reports are posted by the test. Only a
    failure could escalate it during the test (an hour to acknowledge). The tip, the fake's auth token, the alert's
    id and SID, and the SMS as the fake received it."""
    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=3600)
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        fake_twilio.set_outcome(chain_phones("KWHS")[0], "none")
        run_once("w")
        (alert,) = alerts_of(tip.ref)
        alert_id, sid = alert.id, alert.twilio_sid
    (sms,) = fake_twilio.wait_for(1)
    return tip, fake_twilio.auth_token, alert_id, sid, sms


def test_a_delivery_report_never_moves_an_alert_backwards(alert_app, fake_twilio):
    """A replayed 'undelivered' (or Twilio's own retry of an older report) after 'delivered' turned a delivered
    alert into failed and woke the next person of the chain for an SMS the SRO had read."""
    tip, token, alert_id, sid, sms = _a_critical_sms_sent_with_no_report_yet(alert_app, fake_twilio)
    url = sms.status_callback
    assert post_status(alert_app, token, alert_id, sid, "delivered", 0, callback_url=url) == 204
    with alert_app.app_context():
        delivered = db.session.get(Alert, alert_id)
        before = (delivered.status, delivered.twilio_status, delivered.error_code, delivered.delivered_at)
    assert before[:3] == (AlertStatus.DELIVERED.value, "delivered", None)
    for status, code in (("undelivered", 30003), ("failed", 30005), ("sent", 0), ("queued", 0)):
        assert post_status(alert_app, token, alert_id, sid, status, code, callback_url=url) == 204
        assert post_status(alert_app, token, alert_id, sid, status, code) == 204  # without the send's number
    other_sid = "SM" + "e" * 32
    assert post_status(alert_app, token, alert_id, other_sid, "undelivered", 30003, callback_url=url) == 204
    with alert_app.app_context():
        row = db.session.get(Alert, alert_id)
        assert (row.status, row.twilio_status, row.error_code, row.delivered_at) == before
        run_once("w")
        assert len(alerts_of(tip.ref)) == 1  # nobody else was woken


def test_an_older_report_after_a_newer_one_changes_nothing(alert_app, fake_twilio):
    """Twilio does not promise its reports in order: 'sent' after 'undelivered' must not make a failed alert sent."""
    tip, token, alert_id, sid, sms = _a_critical_sms_sent_with_no_report_yet(alert_app, fake_twilio)
    assert post_status(alert_app, token, alert_id, sid, "undelivered", 30003, callback_url=sms.status_callback) == 204
    assert post_status(alert_app, token, alert_id, sid, "sent", 0, callback_url=sms.status_callback) == 204
    assert post_status(alert_app, token, alert_id, sid, "delivered", 0, callback_url=sms.status_callback) == 204
    with alert_app.app_context():
        row = db.session.get(Alert, alert_id)
        assert (row.status, row.twilio_status, row.error_code) == (AlertStatus.FAILED.value, "undelivered", "30003")


@pytest.mark.parametrize("late", [("delivered", 0), ("sent", 0), ("undelivered", 30003)])
@pytest.mark.parametrize("when", ["waiting", "claimed"])
def test_a_late_report_of_a_refused_send_changes_nothing_for_the_send_after_it(alert_app, fake_twilio, monkeypatch,
                                                                              late, when):
    """Twilio refused our sender after taking the SMS (30034): nobody got it, and the alert waits to go again. A
    late report of that refused SMS (Twilio retrying it, or one more status of it) was taken for the send after it,
    since any SID was accepted while none was recorded: 'delivered' or 'sent' marked the alert told and its worker
    gave it up, so it never went out again; 'undelivered' failed it and skipped the person."""
    monkeypatch.setattr(dispatcher, "backoff_for", lambda failures: timedelta(0))
    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=3600)
    token = fake_twilio.auth_token
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        primary = chain_phones("KWHS")[0]
        fake_twilio.set_outcome(primary, "none")
        run_once("w")
        (alert,) = alerts_of(tip.ref)
        alert_id, refused_sid = alert.id, alert.twilio_sid
    (refused,) = fake_twilio.wait_for(1)
    url = refused.status_callback
    assert post_status(alert_app, token, alert_id, refused_sid, "undelivered", 30034, callback_url=url) == 204
    with alert_app.app_context():
        row = db.session.get(Alert, alert_id)
        before = (row.status, row.twilio_sid, row.twilio_status, row.error_code, row.sent_at)
        assert before[:2] == (AlertStatus.PENDING.value, None)
        if when == "claimed":  # the worker has claimed it again and is about to send it
            claimed_until = time.monotonic() + alert_app.config["ALERT_CLAIM_LEASE_S"]
            (claimed,) = db_claim_due_alerts("w2", 5)
            db.session.commit()
            before = (AlertStatus.SENDING.value, *before[1:])
    status, code = late
    assert post_status(alert_app, token, alert_id, refused_sid, status, code, callback_url=url) == 204
    with alert_app.app_context():
        row = db.session.get(Alert, alert_id)
        assert (row.status, row.twilio_sid, row.twilio_status, row.error_code, row.sent_at) == before
        if when == "claimed":
            assert send_one(alert_id, "w2", claimed_until) == AlertStatus.SENT.value
        else:
            assert run_once("w2").get("sent") == 1
        assert len(alerts_of(tip.ref)) == 1  # the same person, again; nobody else
    assert [m.to for m in fake_twilio.wait_for(2)] == [primary, primary]


@pytest.mark.skipif(not on_postgres(), reason="on SQLite the callback takes the write lock at BEGIN, before it reads")
def test_two_reports_of_one_sms_at_once_take_turns(alert_app, fake_twilio, monkeypatch):
    """PostgreSQL: 'delivered' and a replayed 'undelivered' posted at the same moment both read the alert as sent,
    and the second failed it (and woke the next person) though the first had recorded it delivered. The second now
    waits for the first and changes nothing."""
    import threading

    from app.alerts import delivery_reports

    tip, token, alert_id, sid, sms = _a_critical_sms_sent_with_no_report_yet(alert_app, fake_twilio)
    replays: list[threading.Thread] = []
    now = delivery_reports.utcnow

    def delivered_at_while_a_replay_comes():  # the first report has read the row and not yet committed
        if not replays:
            replay = threading.Thread(target=post_status, args=(alert_app, token, alert_id, sid, "undelivered", 30003),
                                      kwargs={"callback_url": sms.status_callback})
            replays.append(replay)
            replay.start()
            replay.join(1.0)
            assert replay.is_alive()  # waiting for the first report's row lock
        return now()

    monkeypatch.setattr(delivery_reports, "utcnow", delivered_at_while_a_replay_comes)
    assert post_status(alert_app, token, alert_id, sid, "delivered", 0, callback_url=sms.status_callback) == 204
    replays[0].join(10)
    with alert_app.app_context():
        row = db.session.get(Alert, alert_id)
        assert (row.status, row.twilio_status, row.error_code) == (AlertStatus.DELIVERED.value, "delivered", None)
