"""A prank flood costs SMS (chain x repeats per unanswered critical tip): the operator is told when the alert SMS
of the last hour pass ALERT_SMS_HOURLY_WARN, by a log line and /healthz. A warning only: every SMS still goes out."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.alerts.claims import db_take_worker_lease
from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import School, utcnow
from tests.alerts.conftest import make_tip

CATEGORIES = ("threat_of_violence", "self_harm", "weapon", "bullying", "drugs")


def _flood(count: int) -> list[str]:
    """`count` critical tips over the district's schools (critical: never folded, one SMS each at first)."""
    schools = list(db.session.scalars(select(School.short_name).where(School.active.is_(True))))
    return [make_tip(schools[i % len(schools)], "critical", CATEGORIES[i % len(CATEGORIES)]).ref
            for i in range(count)]


def _worker_holds_its_lease() -> None:
    """SQLite: a worker alive, so /healthz names the SMS volume and not a missing worker."""
    if db.engine.dialect.name == "sqlite":
        db_take_worker_lease("test-worker", utcnow() + timedelta(days=1))
        db.session.commit()


def _volume_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and r.getMessage().startswith("OPERATOR:")
            and "ALERT_SMS_HOURLY_WARN" in r.getMessage()]


def test_the_alert_sms_of_the_last_hour_are_counted(alert_app, fake_twilio):
    from app.alerts.sms_volume import sms_sent_last_hour

    with alert_app.app_context():
        _flood(4)
        run_once("test-worker")
        assert len(fake_twilio.messages) >= 4
        assert sms_sent_last_hour() == len(fake_twilio.messages)
        assert sms_sent_last_hour(now=utcnow() + timedelta(hours=1, seconds=1)) == 0  # an hour later: gone


@pytest.mark.parametrize(("threshold", "reason"), [(3, "sms_volume"), (1000, None), (0, None)],
                         ids=["passed", "below", "off"])
def test_healthz_says_degraded_sms_volume_past_the_threshold(alert_app, fake_twilio, threshold, reason):
    alert_app.config["ALERT_SMS_HOURLY_WARN"] = threshold
    with alert_app.app_context():
        _worker_holds_its_lease()
        refs = _flood(4)
        run_once("test-worker")
    response = alert_app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    alerts = body["checks"]["alerts"]
    if reason is None:
        assert alerts["status"] == "ok" and body["status"] == "ok", body
    else:
        assert body["status"] == "degraded" and alerts["status"] == "degraded" and alerts["reason"] == reason, body
    # The public endpoint names the reason only: the count (how many tips came in) is for /metrics and the log.
    assert set(alerts) <= {"status", "reason", "oldest_due_s", "unreached_tips"}
    page = response.get_data(as_text=True)
    assert not [ref for ref in refs if ref in page]


def test_the_threshold_itself_is_not_yet_a_warning(alert_app, fake_twilio):
    from app.alerts.sms_volume import sms_volume_too_high

    with alert_app.app_context():
        _flood(4)
        run_once("test-worker")
        sent = len(fake_twilio.messages)
        alert_app.config["ALERT_SMS_HOURLY_WARN"] = sent
        assert not sms_volume_too_high()
        alert_app.config["ALERT_SMS_HOURLY_WARN"] = sent - 1
        assert sms_volume_too_high()


def test_the_operator_is_told_at_most_once_per_quarter_hour(alert_app, fake_twilio, caplog):
    from app.alerts.sms_volume import WARN_EVERY_S, warn_if_sms_volume_high

    alert_app.config["ALERT_SMS_HOURLY_WARN"] = 2
    with alert_app.app_context():
        refs = _flood(3)
        run_once("test-worker")
        sent = len(fake_twilio.messages)
        warned = warn_if_sms_volume_high(None, now=1000.0)
        assert warned == 1000.0
        assert warn_if_sms_volume_high(warned, now=1000.0 + WARN_EVERY_S - 1) == warned  # not again yet
        assert WARN_EVERY_S == 15 * 60
        assert warn_if_sms_volume_high(warned, now=1000.0 + WARN_EVERY_S) == 1000.0 + WARN_EVERY_S
    lines = _volume_lines(caplog)
    assert len(lines) == 2
    for line in lines:
        assert line.fields == {"count": sent, "threshold": 2}  # type: ignore[attr-defined]
        assert not [ref for ref in refs if ref in line.getMessage()]


def test_below_the_threshold_or_switched_off_nothing_is_logged(alert_app, fake_twilio, caplog):
    from app.alerts.sms_volume import warn_if_sms_volume_high

    with alert_app.app_context():
        _flood(3)
        run_once("test-worker")
        alert_app.config["ALERT_SMS_HOURLY_WARN"] = len(fake_twilio.messages)
        assert warn_if_sms_volume_high(None, now=1000.0) is None
        alert_app.config["ALERT_SMS_HOURLY_WARN"] = 0
        assert warn_if_sms_volume_high(None, now=1000.0) is None
    assert not _volume_lines(caplog)


def test_the_worker_warns_once_and_goes_on_sending_every_sms(alert_app, fake_twilio, caplog, monkeypatch):
    """Round after round of a flood: every tip's SMS goes out, and the operator gets one line, not one a round."""
    import app.alerts.worker as worker

    alert_app.config["ALERT_SMS_HOURLY_WARN"] = 1
    refs: list[str] = []

    def round_with_new_tips(owner: str, batch: int = 50) -> dict[str, int]:
        refs.extend(_flood(2))  # the flood goes on while the worker sends
        return run_once(owner, batch)

    monkeypatch.setattr(worker, "run_once", round_with_new_tips)
    worker.run_worker(alert_app, stop=threading.Event(), poll_s=0.01, max_rounds=3, purge=False)
    assert len(refs) == 6
    sent_refs = {ref for ref in refs for sms in fake_twilio.messages if f"#{ref}" in sms.body}
    assert sent_refs == set(refs)
    assert len(_volume_lines(caplog)) == 1


def test_metrics_show_the_alert_sms_of_the_last_hour(alert_app, fake_twilio):
    alert_app.config["METRICS_TOKEN"] = "t" * 40
    with alert_app.app_context():
        _flood(2)
        run_once("test-worker")
    text = alert_app.test_client().get("/metrics", headers={"Authorization": "Bearer " + "t" * 40}).get_data(
        as_text=True)
    assert f"tipline_alert_sms_last_hour {len(fake_twilio.messages)}\n" in text
    assert "# TYPE tipline_alert_sms_last_hour gauge" in text


@pytest.mark.parametrize("value", [-1, -200])
def test_a_negative_threshold_stops_the_start(make_app, value):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="ALERT_SMS_HOURLY_WARN"):
        make_app(ALERT_SMS_HOURLY_WARN=value)
