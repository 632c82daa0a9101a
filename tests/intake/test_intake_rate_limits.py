"""Rate limits protect the tip line; they never cost a tip: a mistyped limit stops the start, a storage that is
down lets tips through (counted in memory) and says so to the operator, without anything about the reporter."""

from __future__ import annotations

import logging
import random
import time

import pytest
from sqlalchemy import func, select

from app.config import ConfigError
from app.extensions import db
from app.models import Tip
from tests.intake.helpers import open_followup, submit, submit_ok

TEXT = "Someone posted that they will bring a gun to school tomorrow."
REDIS_DOWN = "redis://127.0.0.1:1/0"  # nothing listens there
REPORTER = {"REMOTE_ADDR": "198.51.100.23", "HTTP_USER_AGENT": "Mozilla/5.0 (Linux; Android 14) Mobile Safari/537.36"}


@pytest.mark.parametrize("setting", ["INTAKE_RATE_LIMIT", "RECEIPT_RATE_LIMIT", "RECEIPT_GLOBAL_RATE_LIMIT",
                                     "SIGNIN_RATE_LIMIT"])
@pytest.mark.parametrize("typo", ["10 per minte", "10 per minute;", "ten per minute", ""])
def test_a_mistyped_rate_limit_stops_the_start_naming_the_setting(make_app, setting, typo):
    with pytest.raises(ConfigError, match=setting):
        make_app(**{setting: typo})


def test_every_spelling_of_a_limit_the_limiter_reads_starts(make_app):
    make_app(INTAKE_RATE_LIMIT="10/minute", RECEIPT_RATE_LIMIT="5 per 2 minutes;50 per hour",
             RECEIPT_GLOBAL_RATE_LIMIT="600 per minute")


def _reporter(app):
    client = app.test_client()
    client.environ_base.update(REPORTER)
    return client


def _no_client_data(caplog) -> None:
    for record in caplog.records:
        line = f"{record.getMessage()} {getattr(record, 'fields', '')} {record.exc_text or ''}"
        assert REPORTER["REMOTE_ADDR"] not in line and "Android" not in line and TEXT[:20] not in line, line


def test_a_tip_is_stored_while_the_rate_limit_storage_is_down(make_intake_app, caplog):
    app = make_intake_app(RATELIMIT_STORAGE_URI=REDIS_DOWN)
    app.testing = False  # production: an unhandled exception would be a bare 500 page
    response = submit(_reporter(app), app.config["TEST_SCHOOLS"]["kelly"], TEXT)
    assert response.status_code == 303 and response.location.endswith("/receipt")
    with app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 1
    assert any(r.levelno == logging.WARNING and "storage" in r.getMessage() and "unreachable" in r.getMessage()
               for r in caplog.records)  # Flask-Limiter's, and ours when the day's key secret was not known yet
    _no_client_data(caplog)


def test_client_keys_are_made_without_the_storage_that_shares_their_secret(make_intake_app):
    from app.client_keys import ROTATE_EVERY_S, current_secret

    app = make_intake_app(RATELIMIT_STORAGE_URI=REDIS_DOWN)
    some_day = (time.time() // ROTATE_EVERY_S + random.randint(1_000, 1_000_000)) * ROTATE_EVERY_S  # not cached
    with app.app_context():
        first, again = current_secret(now=some_day), current_secret(now=some_day + 60)
    assert len(first) == 32 and first == again  # one secret for the day in this process: the limits still count


def test_submissions_are_still_limited_in_memory_while_the_storage_is_down(make_intake_app):
    app = make_intake_app(RATELIMIT_STORAGE_URI=REDIS_DOWN, INTAKE_RATE_LIMIT="2 per minute")
    client = _reporter(app)
    codes = [submit(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT).status_code for _ in range(3)]
    assert codes == [303, 303, 429]


def test_a_receipt_code_opens_the_report_while_the_storage_is_down(make_intake_app, caplog):
    app = make_intake_app()
    ref, code = submit_ok(app.test_client(), app.config["TEST_SCHOOLS"]["kelly"], TEXT)
    down = make_intake_app(RATELIMIT_STORAGE_URI=REDIS_DOWN)  # the same database, the limits in a dead Redis
    down.testing = False
    page = open_followup(_reporter(down), code)  # the first request of this app touches the storage here
    assert page.status_code == 200 and ref in page.get_data(as_text=True)
    _no_client_data(caplog)


def test_a_throttled_reporter_s_client_key_is_not_written_to_the_log(make_intake_app):
    # Flask-Limiter names the key of every limit it refuses; ours is a keyed hash of the address, whose secret
    # lives on in memory and in Redis: a durable log line holding it would let the address be worked out later.
    import io

    from app import logs
    from app.client_keys import client_key

    app = make_intake_app(INTAKE_RATE_LIMIT="1 per minute")
    client = _reporter(app)
    with app.test_request_context(environ_base=REPORTER):
        key = client_key()
    handler = logs._configured_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        assert submit(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT).status_code == 303
        assert submit(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT).status_code == 429
    finally:
        handler.setStream(old)
    logged = stream.getvalue()
    assert "exceeded" in logged and "intake.report_submit" in logged  # the operator still sees the flood
    assert key not in logged


class _RedisThatSaves:
    """A Redis as installed from a distribution's package: it writes its keys to disk (RDB snapshots)."""

    def __init__(self, save: str, appendonly: str) -> None:
        self.values: dict[str, bytes] = {}
        self.config = {"save": save, "appendonly": appendonly}

    def set(self, name, value, nx=False, ex=None):
        self.values.setdefault(name, value)
        self.expires_in = ex

    def get(self, name):
        return self.values.get(name)

    def config_get(self, pattern):
        return {pattern: self.config[pattern]}


@pytest.mark.parametrize(("save", "appendonly", "warned"), [("3600 1 300 100 60 10000", "no", True),
                                                             ("", "yes", True), ("", "no", False)])
def test_a_redis_that_writes_the_day_s_key_secret_to_disk_is_named_to_the_operator(
        make_intake_app, monkeypatch, caplog, save, appendonly, warned):
    # The day's secret and every client's keyed hash sit in Redis: in its dump on disk (and in the server's
    # backups) they outlive the day, and with them each address that sent a report can be worked out.
    from app import client_keys
    from app.client_keys import ROTATE_EVERY_S, current_secret

    fake = _RedisThatSaves(save, appendonly)
    monkeypatch.setattr(client_keys, "_redis", lambda _uri: fake)
    monkeypatch.setattr(client_keys, "_retry_shared_at", 0.0)  # an earlier test's dead Redis is not waited out
    app = make_intake_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/9")
    some_day = (time.time() // ROTATE_EVERY_S + random.randint(1_000, 1_000_000)) * ROTATE_EVERY_S  # not cached
    with app.app_context():
        assert len(current_secret(now=some_day)) == 32
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "OPERATOR" in r.getMessage()]
    assert bool([line for line in lines if "disk" in line]) is warned, lines


def test_the_day_s_key_secret_leaves_redis_when_its_day_is_over(make_intake_app, monkeypatch):
    # The module's promise: once the day has passed, not even Redis in hand turns a key back into an address.
    # The secret was kept 48 hours, so a copy of Redis taken the next day still held it.
    from app import client_keys
    from app.client_keys import CLOCK_GRACE_S, ROTATE_EVERY_S, current_secret

    monkeypatch.setattr(client_keys, "_retry_shared_at", 0.0)
    app = make_intake_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/9")
    some_day = (time.time() // ROTATE_EVERY_S + random.randint(1_000, 1_000_000)) * ROTATE_EVERY_S  # not cached
    for into_the_day in (0, ROTATE_EVERY_S - 600):
        fake = _RedisThatSaves("", "no")
        monkeypatch.setattr(client_keys, "_redis", lambda _uri, fake=fake: fake)
        with app.app_context():
            current_secret(now=some_day + into_the_day)
        assert fake.expires_in == ROTATE_EVERY_S - into_the_day + CLOCK_GRACE_S
        some_day += ROTATE_EVERY_S  # the next check is on another day, not served from the cache
