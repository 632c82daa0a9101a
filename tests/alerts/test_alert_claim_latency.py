"""A worker that dies mid-batch: how long the urgent alerts it had not sent yet wait for another worker.

A worker used to claim its whole batch (up to 50 rows) under the claim's lease (ALERT_CLAIM_LEASE_S, a minute in
production) and then send them one by one: killed after the first, every other row waited for that lease, though
no SMS of theirs was on its way to Twilio. A worker now claims each row just before sending it, the most urgent
first, so a dead worker holds back at most the one SMS in flight.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
from flask import Flask

import app.alerts.dispatcher as dispatcher
from app.alerts.claims import db_take_worker_lease
from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import AlertStatus
from tests.alerts.conftest import alerts_of, make_tip
from tests.fakes.fake_twilio import FakeTwilio

REF = re.compile(r"#([0-9A-Z]{6})\b")


class Killed(BaseException):
    """SIGKILL, as far as the round can tell: nothing after it runs (no `except Exception` catches it)."""


def _die_after_first_sms(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker is killed right after its first SMS of the round was sent and recorded."""
    real = dispatcher.send_one

    def send_then_die(*args: object) -> str:
        real(*args)  # type: ignore[arg-type]
        raise Killed

    monkeypatch.setattr(dispatcher, "send_one", send_then_die)


def _refs_sent(fake_twilio: FakeTwilio) -> list[str]:
    return [match.group(1) for m in fake_twilio.messages if (match := REF.search(m.body))]


def test_a_worker_killed_mid_batch_holds_back_no_critical_alert_it_had_not_begun(
        alert_app: Flask, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three critical tips at once; the worker dies after the first SMS. The other worker's very next round sends the
    other two: they were never claimed. (They used to wait for the dead worker's claim lease, a minute.)"""
    alert_app.config.update(ALERT_CLAIM_LEASE_S=60, ALERT_ACK_TIMEOUT_CRITICAL_S=60)
    with alert_app.app_context():
        tips = [make_tip(school, "critical") for school in ("KWHS", "NCHS", "RHS")]
    _die_after_first_sms(monkeypatch)
    with alert_app.app_context(), pytest.raises(Killed):
        run_once("killed")
    assert len(fake_twilio.wait_for(1)) == 1
    monkeypatch.undo()
    with alert_app.app_context():
        assert run_once("survivor").get("sent") == 2
        assert all(row.status == AlertStatus.SENT.value for tip in tips for row in alerts_of(tip.ref))
    assert sorted(_refs_sent(fake_twilio)) == sorted(tip.ref for tip in tips)  # each once


def test_the_most_urgent_alert_is_claimed_first(alert_app: Flask, fake_twilio: FakeTwilio,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A high tip due a moment before a critical one: the critical SMS goes first, so a worker that dies after one
    SMS (or a Twilio slow enough to end the round after one) has sent the critical one."""
    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=60, ALERT_ACK_TIMEOUT_HIGH_S=60)
    with alert_app.app_context():
        high = make_tip("KWHS", "high")
        critical = make_tip("NCHS", "critical")
    _die_after_first_sms(monkeypatch)
    with alert_app.app_context(), pytest.raises(Killed):
        run_once("killed")
    assert _refs_sent(fake_twilio) == [critical.ref]
    monkeypatch.undo()
    with alert_app.app_context():
        assert run_once("survivor").get("sent") == 1
    assert _refs_sent(fake_twilio) == [critical.ref, high.ref]


def test_a_sqlite_standby_sends_a_dead_workers_critical_alerts_once_its_worker_lease_ends(
        alert_app: Flask, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: the worker holding the single worker's lease dies after the first of three critical SMS. The standby
    takes the lease when it runs out (ALERT_WORKER_LEASE_S, 1 s here) and sends the other two then, not when the claim's
    lease (30 s here) would have ended."""
    from tests.conftest import on_postgres

    if on_postgres():
        pytest.skip("the single worker's lease is SQLite's; PostgreSQL workers share the outbox")
    import app.alerts.worker as worker

    # No escalation meanwhile: the SMS counted are the tips' first ones.
    alert_app.config.update(ALERT_WORKER_LEASE_S=1, ALERT_CLAIM_LEASE_S=30, ALERT_WAKE_PORT=0,
                            ALERT_ACK_TIMEOUT_CRITICAL_S=60)
    with alert_app.app_context():
        tips = [make_tip(school, "critical") for school in ("KWHS", "NCHS", "RHS")]
        assert db_take_worker_lease("killed")
        db.session.commit()
    _die_after_first_sms(monkeypatch)
    with alert_app.app_context(), pytest.raises(Killed):
        run_once("killed")
    died = time.monotonic()
    monkeypatch.undo()
    stop = threading.Event()
    standby = threading.Thread(target=worker.run_worker, args=(alert_app,),
                               kwargs={"stop": stop, "poll_s": 0.05, "purge": False})
    standby.start()
    try:
        messages = fake_twilio.wait_for(3, timeout=4.0)
    finally:
        stop.set()
        standby.join(10)
    waited = messages[-1].received_monotonic - died
    assert waited < 1.0 + 1.0, waited  # the worker lease, the standby's poll and two sends
    assert sorted(_refs_sent(fake_twilio)) == sorted(tip.ref for tip in tips)  # each once
