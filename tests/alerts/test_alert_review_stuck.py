"""Review of alerts and escalation: what /healthz sees of a failed SMS whose escalation nobody wrote."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import Flask

import app.alerts.delivery_reports as delivery_reports
import app.alerts.dispatcher as dispatcher
from app.alerts.claims import db_claim_due_alerts, db_take_worker_lease
from app.alerts.dispatcher import run_once, send_one
from app.extensions import db
from app.models import AlertStatus, utcnow
from tests.alerts.conftest import alerts_of, chain_phones, make_tip, post_status
from tests.fakes.fake_twilio import FakeTwilio

FAILED_AGO = timedelta(minutes=3)  # past HEALTH_MAX_ALERT_LAG_S (2 minutes), within the critical timeout (5)


@pytest.mark.parametrize("how", ["number_refused", "undelivered"])
def test_a_failed_sms_whose_escalation_nobody_wrote_makes_health_degraded(alert_app: Flask, fake_twilio: FakeTwilio,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          how: str) -> None:
    """A critical tip's SMS failed for good (Twilio refused the number, or the carrier reported it undelivered), and
    the worker died or stuck before it wrote the next person's SMS: nobody is told. The failure makes the escalation
    due at once, so for /healthz it is an SMS due and unsent from that moment, as an overdue one is; it only counted
    once the acknowledgement timeout had passed since the send, and a failed medium tip's never."""
    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=300)
    failed_at = utcnow() - FAILED_AGO
    with alert_app.app_context():
        assert db_take_worker_lease("w")  # a worker holds the lease (stuck), so only the outbox can tell
        db.session.commit()
        primary = chain_phones("KWHS")[0]
        if how == "number_refused":
            fake_twilio.reject_number(primary, 21211)
            monkeypatch.setattr(dispatcher, "utcnow", lambda: failed_at)
        else:
            fake_twilio.set_outcome(primary, "none")
        info = make_tip("KWHS", "critical")
        claimed_until = time.monotonic() + alert_app.config["ALERT_CLAIM_LEASE_S"]
        (claimed,) = db_claim_due_alerts("w", 10)
        db.session.commit()
        send_one(claimed.id, "w", claimed_until)  # ... and the worker dies before its round escalates
        monkeypatch.undo()
        (row,) = alerts_of(info.ref)
        row_id, sid = row.id, row.twilio_sid
    if how == "undelivered":
        monkeypatch.setattr(delivery_reports, "utcnow", lambda: failed_at)
        assert post_status(alert_app, fake_twilio.auth_token, row_id, sid, "undelivered", 30003) == 204
        monkeypatch.undo()
    with alert_app.app_context():
        assert [a.status for a in alerts_of(info.ref)] == [AlertStatus.FAILED.value]
    alerts = alert_app.test_client().get("/healthz").get_json()["checks"]["alerts"]
    assert alerts["status"] == "degraded" and alerts["reason"] == "outbox_stale", alerts
    assert 170 <= alerts["oldest_due_s"] <= 200, alerts
    with alert_app.app_context():  # a worker again: the next person is told, and all is well
        run_once("w")
        assert [a.status for a in alerts_of(info.ref)][1:] == [AlertStatus.SENT.value]
    assert alert_app.test_client().get("/healthz").get_json()["checks"]["alerts"]["status"] == "ok"


def test_a_failure_the_worker_escalates_at_once_is_not_reported(alert_app: Flask, fake_twilio: FakeTwilio) -> None:
    """A failure reported long after the send (a carrier's late 'undelivered') is due from when it came, not from
    the send: with a worker running, /healthz stays ok between the report and the worker's next round."""
    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=3600)
    with alert_app.app_context():
        assert db_take_worker_lease("w")
        db.session.commit()
        fake_twilio.set_outcome(chain_phones("KWHS")[0], "none")
        info = make_tip("KWHS", "critical")
        run_once("w")
        (row,) = alerts_of(info.ref)
        row.sent_at = row.created_at = utcnow() - timedelta(minutes=20)  # sent 20 minutes ago
        db.session.commit()
        row_id, sid = row.id, row.twilio_sid
    assert post_status(alert_app, fake_twilio.auth_token, row_id, sid, "undelivered", 30003) == 204
    alerts = alert_app.test_client().get("/healthz").get_json()["checks"]["alerts"]
    assert alerts["status"] == "ok", alerts
