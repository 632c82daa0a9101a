"""The worker as a real process: killed with SIGKILL mid-batch it loses nothing; several share the work."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Alert, AlertStatus
from tests.alerts.conftest import make_tip
from tests.conftest import REPO, on_postgres
from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FAKE_SENDER, FakeTwilio, Fault

REF_IN_BODY = re.compile(r"#([0-9A-Z]{4,12}) ")
CLAIM_LEASE_S = 3  # must exceed twice the Twilio timeout (1 s here)
SCHOOLS = ["KWHS", "NCHS", "RHS", "CYMS", "CMS", "MES", "MWS", "EVES"]


def worker_env(app: Flask, fake: FakeTwilio, **extra: str) -> dict[str, str]:
    config = app.config
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "ALERT_"))}
    env.update({
        "TIPLINE_ENV": "testing", "TIPLINE_INSTANCE_PATH": app.instance_path, "FLASK_APP": "wsgi",
        "SECRET_KEY": config["SECRET_KEY"], "RECEIPT_HMAC_KEY": config["RECEIPT_HMAC_KEY"],
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"], "KEYRING_PATH": config["KEYRING_PATH"],
        "TRIAGE_MODEL_DIR": config["TRIAGE_MODEL_DIR"], "PUBLIC_BASE_URL": config["PUBLIC_BASE_URL"],
        "TWILIO_ACCOUNT_SID": FAKE_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": FAKE_SENDER, "TWILIO_API_BASE_URL": fake.url, "TWILIO_TIMEOUT_S": "1",
        "ALERT_CLAIM_LEASE_S": str(CLAIM_LEASE_S), "ALERT_WORKER_LEASE_S": "1", "ALERT_ACK_TIMEOUT_CRITICAL_S": "3600",
        "LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "alerts", "run", "--poll", "0.2", "--batch", "10"],
            cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )


def _statuses(app: Flask) -> Counter[str]:
    with app.app_context():
        return Counter(db.session.scalars(select(Alert.status)))


def _wait_until_all_sent(app: Flask, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _statuses(app).get(AlertStatus.SENT.value, 0) == total:
            return
        time.sleep(0.2)
    raise AssertionError(f"not all alerts sent: {_statuses(app)}")


@pytest.mark.slow
def test_worker_killed_five_times_loses_nothing(alert_app, fake_twilio, tmp_path):
    with alert_app.app_context():
        refs = [make_tip(SCHOOLS[i % len(SCHOOLS)], "critical").ref for i in range(40)]
    # Every send takes a while, so that kills land in the middle of batches and of sends.
    fake_twilio.script(*[Fault.delay(0.08)] * 400)
    env = worker_env(alert_app, fake_twilio)
    rng = random.Random(5)  # noqa: S311
    for _ in range(5):
        worker = start_worker(env, tmp_path / "worker.log")
        time.sleep(rng.uniform(1.2, 2.0))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        time.sleep(CLAIM_LEASE_S + 0.1)  # leases end; the next worker takes the dead one's rows again
    final = start_worker(env, tmp_path / "worker.log")
    try:
        _wait_until_all_sent(alert_app, len(refs), timeout=60)
    finally:
        final.send_signal(signal.SIGTERM)
        assert final.wait(timeout=15) == 0, (tmp_path / "worker.log").read_text()[-2000:]
    sent = Counter(REF_IN_BODY.search(m.body).group(1) for m in fake_twilio.messages)
    assert set(sent) == set(refs)  # none lost
    duplicates = sum(n - 1 for n in sent.values())
    assert duplicates <= 5, sent  # at most the one in flight at each kill


@pytest.mark.slow
@pytest.mark.skipif(not on_postgres(), reason="SKIP LOCKED sharing between workers is a PostgreSQL feature")
def test_three_workers_on_postgres_send_each_alert_once(alert_app, fake_twilio, tmp_path):
    with alert_app.app_context():
        refs = [make_tip(SCHOOLS[i % len(SCHOOLS)], "critical").ref for i in range(500)]
    env = worker_env(alert_app, fake_twilio, ALERT_CLAIM_LEASE_S="60")
    workers = [start_worker(env, tmp_path / f"w{i}.log") for i in range(3)]
    try:
        fake_twilio.wait_for(500, timeout=120)
        _wait_until_all_sent(alert_app, 500, timeout=30)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=15)
    time.sleep(0.5)
    sent = Counter(REF_IN_BODY.search(m.body).group(1) for m in fake_twilio.messages)
    assert sent == Counter({ref: 1 for ref in refs})


@pytest.mark.skipif(not on_postgres(), reason="the LISTEN connection is PostgreSQL's")
def test_a_worker_whose_listen_connection_is_cut_goes_on_sending(alert_app, fake_twilio):
    """PostgreSQL restarting or failing over, or an idle connection cut on the way, closed the worker's LISTEN
    connection; the psycopg error escaped the wait and the worker died (every worker at once on a failover), no
    SMS going out until something restarted it. It now polls, listens again, and sends."""
    import threading

    from sqlalchemy import create_engine, text

    from app.alerts.worker import run_worker

    stop = threading.Event()
    died: list[BaseException] = []

    def work() -> None:
        try:
            run_worker(alert_app, stop=stop, poll_s=0.2, purge=False)
        except BaseException as exc:  # noqa: BLE001 - the test reports how it died
            died.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    with alert_app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    admin = create_engine(url)
    try:
        deadline = time.monotonic() + 10
        cut = 0
        while not cut and time.monotonic() < deadline:
            time.sleep(0.2)
            with admin.connect() as connection:
                cut = connection.execute(text(  # this test's database only: others may be in use
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        assert cut == 1
        with alert_app.app_context():
            make_tip("KWHS", "critical")
        fake_twilio.wait_for(1, timeout=10)
        assert worker.is_alive() and not died, died
    finally:
        stop.set()
        worker.join(timeout=10)
        admin.dispose()


def test_a_postgresql_outage_is_one_line_in_the_log_not_one_a_round(monkeypatch, caplog):
    """While PostgreSQL is down, every round's retry to listen again fails: each logged 'listener lost', a line a
    second for the whole outage. Now the loss is one line, and its end another."""
    import logging

    import psycopg

    from app.alerts.worker import Waiter

    waiter = Waiter.__new__(Waiter)  # as on PostgreSQL, without a server: only the listener's life is tested
    waiter.poll_s, waiter._pg, waiter._udp, waiter._dsn, waiter._lost = 0.01, None, None, "postgresql://x", False
    waiter.event = threading.Event()
    up = False

    def connect(*_args, **_kwargs):
        if not up:
            raise psycopg.OperationalError("connection refused")
        return _Listening()

    monkeypatch.setattr(psycopg, "connect", connect)
    with caplog.at_level(logging.INFO, logger="tipline.alerts"):
        for _ in range(5):
            waiter.wait()
        up = True
        waiter.wait()
    lines = [r.getMessage() for r in caplog.records if "listener" in r.getMessage()]
    assert [line.split(";")[0] for line in lines] == ["alert wake-up listener lost", "alert wake-up listener back"]


class _Listening:
    def execute(self, _query):
        return None

    def notifies(self, timeout, stop_after):
        return iter(())

    def close(self):
        return None
