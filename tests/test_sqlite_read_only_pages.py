"""The reporter's form never waits for SQLite's write lock: a flood of page views cannot queue the writers."""

import sqlite3
import threading
import time

import pytest

from tests.conftest import on_postgres
from tests.intake.helpers import seed_schools

pytestmark = pytest.mark.skipif(on_postgres(), reason="the write lock of BEGIN IMMEDIATE is SQLite's")


def test_report_form_renders_while_another_process_holds_the_write_lock(make_app):
    app = make_app(SQLITE_BUSY_TIMEOUT_S=2)
    with app.app_context():
        seed_schools()
    client = app.test_client()
    assert client.get("/report").status_code == 200  # loads the triage model first, so timing is the lock's
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer in the middle of a long transaction
    try:
        started = time.monotonic()
        response = client.get("/report")
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 200 and b"Kelly Walsh" in response.data
    assert elapsed < 1.5  # it did not wait out the busy timeout


def test_a_page_that_writes_still_takes_the_lock_up_front(make_app):
    from flask import request

    from app.database import begin_statement

    app = make_app()
    adapter = app.url_map.bind("localhost")
    for method, expected in (("POST", "BEGIN IMMEDIATE"), ("GET", "BEGIN")):
        with app.test_request_context("/report", method=method):
            request.url_rule = adapter.match("/report", method=method, return_rule=True)[0]
            assert begin_statement() == expected, method


def test_the_worker_wakes_on_a_datagram_from_another_process(make_app):
    import socket

    from app.alerts.signals import send_wake_datagram
    from app.alerts.worker import Waiter

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(ALERT_WAKE_PORT=port)
    waiter = Waiter(app, poll_s=5.0)
    try:
        threading.Timer(0.2, send_wake_datagram, args=(port,)).start()
        started = time.monotonic()
        waiter.wait()
        assert time.monotonic() - started < 2.0  # woken, not the 5-second poll
    finally:
        waiter.close()


def test_healthz_never_takes_the_write_lock(make_app):
    """/healthz is public and not rate limited: a flood of probes must not queue the writers that store tips,
    and a writer busy for a while (a purge, a key rotation batch) must not make the node look dead."""
    from datetime import timedelta

    from app.alerts.claims import db_take_worker_lease
    from app.extensions import db
    from app.models import utcnow

    app = make_app(SQLITE_BUSY_TIMEOUT_S=2)
    with app.app_context():
        db_take_worker_lease("test-worker", utcnow() + timedelta(days=1))
        db.session.commit()
    client = app.test_client()
    assert client.get("/healthz").status_code == 200  # loads the model first, so timing is the lock's
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 200 and response.get_json()["status"] == "ok", response.get_json()
    assert elapsed < 1.5
