"""Twilio's Retry-After (HTTP 429 or 503): the outbox waits at least that long, but never past the escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from app.alerts.dispatcher import MAX_BACKOFF_S, run_once
from app.extensions import db
from app.models import AlertStatus, utcnow
from tests.alerts.conftest import alerts_of, make_tip
from tests.fakes.fake_twilio import FakeTwilio, Fault


@pytest.mark.parametrize(("fault", "urgency", "wait_s"), [
    (Fault.too_many_requests("30"), "critical", 30),  # honoured: not the 2-4 s of the first backoff
    (Fault.server_error(503, "45"), "high", 45),
    (Fault.too_many_requests("3600"), "critical", 300),  # never past the critical timeout: the next person's SMS
    (Fault.too_many_requests("3600"), "high", MAX_BACKOFF_S),  # nor past the longest backoff
], ids=["429", "503", "capped-by-escalation", "capped-by-backoff"])
def test_twilio_asking_to_wait_is_honoured_within_the_escalation(alert_app: Flask, fake_twilio: FakeTwilio,
                                                                  fault: Fault, urgency: str, wait_s: int) -> None:
    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=300, ALERT_ACK_TIMEOUT_HIGH_S=1800)
    fake_twilio.script(fault)
    with alert_app.app_context():
        info = make_tip("KWHS", urgency)
        (row,) = alerts_of(info.ref)
        written = row.created_at
        assert run_once("w").get("retry") == 1
        db.session.expire_all()
        (row,) = alerts_of(info.ref)
        assert row.status == AlertStatus.PENDING.value and row.send_failures == 1
        waits = (row.due_at - utcnow()).total_seconds()
        assert wait_s - 5 <= waits <= wait_s + 1, waits
        if urgency == "critical":
            assert row.due_at <= written + timedelta(seconds=300)


def test_retry_after_past_the_escalation_waits_for_nobody_but_the_backoff(alert_app: Flask,
                                                                         fake_twilio: FakeTwilio) -> None:
    """The acknowledgement timeout all but over: Twilio's wait is cut to it (the next person is told then), and the
    row is sent again no later than the chain moves on."""
    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=300)
    fake_twilio.script(Fault.too_many_requests("120"))
    with alert_app.app_context():
        info = make_tip("KWHS", "critical")
        (row,) = alerts_of(info.ref)
        row.created_at = utcnow() - timedelta(seconds=290)  # 10 s left before the next person is told
        db.session.commit()
        run_once("w")
        db.session.expire_all()
        (row,) = alerts_of(info.ref)
        assert row.status == AlertStatus.PENDING.value
        assert (row.due_at - utcnow()).total_seconds() <= 11
