"""GET /healthz (no auth, no secrets) and GET /metrics (token or admin)."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import make_url, select, text, update

from app.alerts.claims import db_release_worker_lease, db_take_worker_lease
from app.crypto.keystore import forget_keyring
from app.extensions import db
from app.models import Alert, WorkerLease, utcnow
from tests.conftest import on_postgres
from tests.ops.conftest import District, add_tip, sign_in_as


@pytest.fixture(autouse=True)
def worker_running(app: Flask) -> None:
    """An alert worker holds its lease (SQLite), as in production; tests of a dead worker drop it."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            db_take_worker_lease("test-worker", utcnow() + timedelta(days=1))
            db.session.commit()


def test_healthz_ok(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok", "keyring": "ok", "model": "ok", "disk": "ok", "alerts": "ok"}


def test_healthz_reads_as_the_readme_shows_it(app: Flask) -> None:
    """README, Installing, step 7: `curl -s .../healthz` says `"status": "ok"`. It said `{"checks":{...},
    "status":"ok"}`: the verdict last, after every check, and a monitor that looks for the README's words never
    found them."""
    text = app.test_client().get("/healthz").get_data(as_text=True)
    assert text.startswith('{"status": "ok", "checks": {"database": {"status": "ok"}'), text
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Upgrading to a new release")]
    assert 'says `"status": "ok"`' in installing


def test_missing_keyring_is_503_and_names_no_path(app: Flask) -> None:
    Path(app.config["KEYRING_PATH"]).unlink()
    forget_keyring(app)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "fail" and body["checks"]["keyring"] == {"status": "fail", "reason": "unavailable"}
    text = response.get_data(as_text=True)
    assert "/" not in text.replace("\\/", "")  # no path, no URL
    assert app.config["SECRET_KEY"] not in text


def test_missing_model_is_503(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(TRIAGE_MODEL_DIR=str(tmp_path / "no-model-here"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["model"] == {"status": "fail", "reason": "not_loaded"}
    assert "no-model-here" not in response.get_data(as_text=True)



def test_a_damaged_model_is_503_not_a_500(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A model file cut short (a full disk, an interrupted deploy) raised BadZipFile through the check: /healthz
    answered a bare 500 instead of its JSON naming the model."""
    model_dir = tmp_path / "damaged-model"
    model_dir.mkdir()
    (model_dir / "model_card.json").write_text("{}")
    (model_dir / "model.skops").write_bytes(b"PK\x03\x04 cut short")
    app = make_app(TRIAGE_MODEL_DIR=str(model_dir))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["model"] == {"status": "fail", "reason": "not_loaded"}

def test_health_command_says_why_the_model_or_the_keyring_fails(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`flask health` said only "not_loaded" or "unavailable": the operator at the shell, who may read paths, had to
    guess which directory and why. /healthz (no authentication) still names no path."""
    missing_model = make_app(TRIAGE_MODEL_DIR=str(tmp_path / "no-model-here"))
    result = missing_model.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 1, result.output
    model = json.loads(result.output)["checks"]["model"]
    assert model["reason"] == "not_loaded"
    assert "No trained triage model in" in model["detail"] and "no-model-here" in model["detail"]
    assert "no-model-here" not in missing_model.test_client().get("/healthz").get_data(as_text=True)

    no_keyring = make_app(KEYRING_PATH=str(tmp_path / "gone" / "keyring.json"))
    result = no_keyring.test_cli_runner().invoke(args=["health"])
    keyring = json.loads(result.output)["checks"]["keyring"]
    assert keyring["reason"] == "unavailable" and "no keyring at" in keyring["detail"]
    assert str(tmp_path / "gone") in keyring["detail"]
    assert "gone" not in no_keyring.test_client().get("/healthz").get_data(as_text=True)


def test_unreachable_database_is_503(app: Flask, make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["status"] == "fail"


def test_a_database_behind_this_release_is_503_and_a_newer_one_is_not(app: Flask) -> None:
    """New code restarted before `flask db upgrade` (or an older backup restored without it): every tip fails on
    the columns the migration adds, yet SELECT 1 answered and /healthz said ok."""
    from flask_migrate import downgrade, upgrade

    from app.backup import migration_head, older_revisions

    try:
        with app.app_context():
            downgrade(revision="-1")
            db.session.remove()
            previous = db.session.scalar(text("SELECT version_num FROM alembic_version"))
            assert previous in older_revisions() and previous != migration_head()
        response = app.test_client().get("/healthz")
        assert response.status_code == 503, response.get_json()
        body = response.get_json()
        assert body["status"] == "fail"
        assert body["checks"]["database"] == {"status": "fail", "reason": "not_migrated"}
        assert app.test_cli_runner().invoke(args=["health"]).exit_code == 1
        with app.app_context():
            upgrade()
            # A revision this code does not know is a newer release's (a rolling upgrade): not this node's failure.
            db.session.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
            db.session.commit()
        response = app.test_client().get("/healthz")
        assert response.get_json()["checks"]["database"] == {"status": "ok"}
    finally:  # on PostgreSQL the schema is the run's, shared by the tests after this one: back at the head
        with app.app_context():
            db.session.rollback()
            db.session.execute(text("UPDATE alembic_version SET version_num = :head WHERE version_num = "
                                    "'f00dfeedbeef'"), {"head": migration_head()})
            db.session.commit()
            upgrade()


def test_stale_outbox_is_degraded(app: Flask, district: District) -> None:
    with app.app_context():
        tip = add_tip(district.schools["KWHS"], utcnow() - timedelta(minutes=10), urgency="critical")
        alert = db.session.scalars(select(Alert).where(Alert.tip_id == tip.id)).first()
        assert alert is not None
        alert.status, alert.sent_at, alert.due_at = "pending", None, utcnow() - timedelta(minutes=10)
        db.session.commit()
    response = app.test_client().get("/healthz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "degraded"
    assert body["checks"]["alerts"]["status"] == "degraded" and body["checks"]["alerts"]["oldest_due_s"] >= 590


def test_an_escalation_overdue_and_not_written_is_degraded(app: Flask, district: District) -> None:
    """The worker stuck or dead after a critical SMS went out: nobody answers it, and the next person of the chain is
    never told, since only the worker writes their SMS. Nothing waited in the outbox, so /healthz said ok (on
    PostgreSQL, with no worker lease, for as long as no new tip came; on SQLite too while a stuck worker renewed its
    lease). An escalation overdue for longer than HEALTH_MAX_ALERT_LAG_S is an SMS due and unsent too."""
    with app.app_context():
        sent = utcnow() - timedelta(minutes=10)  # the critical timeout is 5 minutes: overdue by five
        add_tip(district.schools["KWHS"], sent, urgency="critical")
        add_tip(district.schools["NCHS"], sent, urgency="high")  # 30 minutes: not due yet
    body = app.test_client().get("/healthz").get_json()
    assert body["status"] == "degraded", body
    assert body["checks"]["alerts"]["reason"] == "outbox_stale"
    assert 290 <= body["checks"]["alerts"]["oldest_due_s"] <= 310
    with app.app_context():  # a worker escalates it: the next person's SMS is sent, and all is well again
        from app.alerts.escalation import db_escalate_overdue

        db_escalate_overdue()
        db.session.execute(update(Alert).where(Alert.status == "pending").values(status="sent", sent_at=utcnow()))
        db.session.commit()
    assert app.test_client().get("/healthz").get_json()["status"] == "ok"


def test_metrics_hidden_without_token_or_admin(app: Flask, district: District) -> None:
    assert app.test_client().get("/metrics").status_code == 404
    assert sign_in_as(app, district.staff["counselor_kw"]).get("/metrics").status_code == 404
    assert sign_in_as(app, district.staff["admin"]).get("/metrics").status_code == 200


def test_metrics_with_bearer_token(make_app) -> None:  # type: ignore[no-untyped-def]
    from tests.ops.conftest import build_district

    token = "m" * 40
    app = make_app(METRICS_TOKEN=token)
    d = build_district(app)
    with app.app_context():
        now = utcnow()
        add_tip(d.schools["KWHS"], now - timedelta(seconds=30), urgency="critical")
        tip = add_tip(d.schools["KWHS"], now - timedelta(minutes=5), urgency="high")
        alert = db.session.scalars(select(Alert).where(Alert.tip_id == tip.id)).first()
        assert alert is not None
        alert.sent_at = tip.created_at + timedelta(seconds=4)
        db.session.commit()
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    assert 'tipline_tips{urgency="critical"} 1' in text and 'tipline_tips{urgency="high"} 1' in text
    assert 'tipline_alerts{status="sent"} 2' in text
    assert "tipline_alert_outbox_lag_seconds 0" in text
    assert 'tipline_tip_to_sms_seconds_bucket{urgency="high",le="2"} 0' in text
    assert 'tipline_tip_to_sms_seconds_bucket{urgency="high",le="5"} 1' in text
    assert 'tipline_tip_to_sms_seconds_count{urgency="critical"} 1' in text
    for line in text.splitlines():  # every sample line is "name{labels} number"
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_health_command(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "ok"


def test_health_command_while_a_writer_holds_the_database_says_what_healthz_says(app: Flask, make_app) -> None:
    """A purge or a migration holding SQLite's write lock past the busy timeout: /healthz (it only reads) said ok,
    but `flask health` from cron took the write lock to read, waited out the busy timeout and said the database
    fails ("unreachable"), exit 1: someone paged for a database that answers."""
    from tests.support.write_lock import holding_the_write_lock

    checked = make_app(SQLITE_BUSY_TIMEOUT_S=1)  # the same database as `app`, whose worker holds the lease
    with holding_the_write_lock(checked):
        assert checked.test_client().get("/healthz").status_code == 200
        result = checked.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "ok"


@pytest.mark.parametrize(("failures", "status"), [(6, "degraded"), (1, "ok")])
def test_alerts_failing_to_send_are_degraded(app: Flask, district: District, failures: int, status: str) -> None:
    """A Twilio outage or a refused account: the alert is retried later, so no row is due and unsent, but an SMS
    has not gone out for ten minutes: someone must be paged. One failed send of an old row (a medium tip held
    overnight) is a blip, not an outage."""
    with app.app_context():
        # high: its acknowledgement timeout (30 minutes) is not over, so no escalation is overdue beside it
        tip = add_tip(district.schools["KWHS"], utcnow() - timedelta(minutes=10), urgency="high")
        alert = db.session.scalars(select(Alert).where(Alert.tip_id == tip.id)).first()
        assert alert is not None
        alert.status, alert.sent_at, alert.send_failures = "pending", None, failures
        alert.created_at, alert.due_at = utcnow() - timedelta(minutes=10), utcnow() + timedelta(minutes=4)
        db.session.commit()
    body = app.test_client().get("/healthz").get_json()
    assert body["status"] == status
    if status == "degraded":
        assert body["checks"]["alerts"]["reason"] == "sends_failing"
        assert body["checks"]["alerts"]["failing_for_s"] >= 590


def test_keyring_without_a_key_that_tips_still_use_is_degraded(app: Flask, district: District) -> None:
    """A keyring restored from before the last rotation: new tips are sealed (so the node stays in rotation),
    but every tip of the rotated key is unreadable; /healthz and `flask health` must say so."""
    keyring_path = Path(app.config["KEYRING_PATH"])
    before_rotation = keyring_path.read_text()
    with app.app_context():
        add_tip(district.schools["KWHS"], utcnow(), text="there is a knife in the band room")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "rotate"]).exit_code == 0
    keyring_path.write_text(before_rotation)
    forget_keyring(app)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["keyring"] == {"status": "degraded", "reason": "keys_missing"}
    assert json.loads(runner.invoke(args=["health"]).output)["checks"]["keyring"]["reason"] == "keys_missing"


@pytest.mark.skipif(on_postgres(), reason="the single worker's lease is SQLite's")
@pytest.mark.parametrize("how", ["never_started", "stopped", "killed"])
def test_no_alert_worker_is_degraded_before_any_alert_waits(app: Flask, how: str) -> None:
    """The worker is dead and nothing is due yet: /healthz must say so now, not two minutes after the next
    critical tip has waited for its SMS."""
    with app.app_context():
        if how == "never_started":
            db.session.delete(db.session.get(WorkerLease, "alerts"))
        elif how == "stopped":
            db_release_worker_lease("test-worker", utcnow() - timedelta(minutes=5))
        else:  # killed: its lease simply ran out long ago
            lease = db.session.get(WorkerLease, "alerts")
            assert lease is not None
            lease.expires_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["alerts"]["reason"] == "no_worker"
    # `flask health` in a cron job: no SMS is going out, so it must not exit 0 as if all were well (its help
    # promised "exit 1 unless ok"); 2 tells degraded from fail (1).
    result = app.test_cli_runner().invoke(args=["health"])
    assert json.loads(result.output)["status"] == "degraded" and result.exit_code == 2


@pytest.mark.skipif(on_postgres(), reason="the single worker's lease is SQLite's")
def test_worker_restarting_is_not_yet_degraded(app: Flask) -> None:
    """A restart (systemd waits 2 s, the app loads in a few) is not an outage."""
    with app.app_context():
        db_release_worker_lease("test-worker", utcnow() - timedelta(seconds=10))
        db.session.commit()
    assert app.test_client().get("/healthz").get_json()["status"] == "ok"


def test_readme_shows_the_answer_healthz_gives(app: Flask, monkeypatch) -> None:
    """A monitoring rule written from README's example must match what /healthz answers, field for field."""
    import re

    from app.ops import health
    from tests.conftest import REPO

    free = 20480 * 2**20
    monkeypatch.setattr(health.shutil, "disk_usage", lambda _place: shutil._ntuple_diskusage(2**40, 2**40 - free, free))

    readme = (REPO / "README.md").read_text()
    health = readme[readme.index("### Health and metrics"):readme.index("### Quarterly analysis")]
    example = re.search(r"```json\n(.*?)```", health, re.DOTALL)
    assert example is not None
    assert app.test_client().get("/healthz").get_json() == json.loads(example.group(1))
    for reason in ("outbox_stale", "sends_failing", "no_worker", "unreached", "keys_missing", "receipt_key_changed",
                   "full", "low"):
        assert f"`{reason}`" in health or f'"reason": "{reason}"' in health, reason


@pytest.mark.parametrize(("free_mb", "http", "status", "reason", "exit_code"),
                         [(10, 503, "fail", "full", 1), (300, 200, "degraded", "low", 2), (900, 200, "ok", None, 0)])
def test_a_disk_short_of_space_where_tips_are_written_is_named(app: Flask, monkeypatch, free_mb, http, status, reason,
                                                               exit_code) -> None:
    # A full disk refused every tip while SELECT 1 still answered: the node looked healthy.
    from app.ops import health

    app.config["HEALTH_MIN_FREE_MB"] = 500
    seen: list[str] = []

    def disk_usage(place):
        seen.append(str(place))
        return shutil._ntuple_diskusage(10**12, 10**12 - free_mb * 2**20, free_mb * 2**20)

    monkeypatch.setattr(health.shutil, "disk_usage", disk_usage)
    response = app.test_client().get("/healthz")
    body = response.get_json()
    assert response.status_code == http and body["status"] == status
    assert body["checks"]["disk"] == ({"status": "ok", "free_mb": free_mb} if reason is None else
                                      {"status": status, "reason": reason, "free_mb": free_mb})
    database = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if database.get_backend_name() == "sqlite":
        assert str(Path(database.database).resolve().parent) in seen  # the database's own disk
    assert app.instance_path in seen
    assert app.test_cli_runner().invoke(args=["health"]).exit_code == exit_code


@pytest.mark.parametrize("fault", ["locked", "unreachable"])
def test_metrics_on_a_database_locked_or_unreachable_is_a_short_503(app: Flask, make_app, tmp_path: Path, caplog,
                                                                     fault: str) -> None:  # type: ignore[no-untyped-def]
    """Prometheus scraping /metrics while another process held SQLite past the busy timeout (or with the database
    not answering) got werkzeug's bare 500 page, HTML in a text exposition; it is a 503 with one plain line,
    Retry-After and an OPERATOR log line naming the error."""
    from contextlib import nullcontext

    from tests.ops.conftest import build_district
    from tests.support.write_lock import holding_the_write_lock

    token = "m" * 40
    with app.app_context():
        db.engine.dispose()  # the autouse worker lease's app: its pooled connection would keep the holder out
    if fault == "locked":
        scraped = make_app(METRICS_TOKEN=token, SQLITE_BUSY_TIMEOUT_S=1)
        admin = sign_in_as(scraped, build_district(scraped).staff["admin"])
        held = holding_the_write_lock(scraped, readers_too=True)
    else:
        scraped = make_app(METRICS_TOKEN=token, DATABASE_URL=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
        admin, held = None, nullcontext()
    with held:
        for client, headers in ((scraped.test_client(), {"Authorization": f"Bearer {token}"}), (admin, {})):
            if client is None:
                continue
            caplog.clear()
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 503, response.get_data(as_text=True)[:300]
            assert response.headers["Content-Type"].startswith("text/plain")
            assert response.headers["Retry-After"] == "30"
            assert response.get_data(as_text=True) == "database unavailable: locked or not answering\n"
            lines = [r for r in caplog.records if "database is locked or unreachable" in r.getMessage()]
            assert lines and getattr(lines[0], "fields", {}).get("error") == (
                "SQLITE_BUSY" if fault == "locked" else "SQLITE_CANTOPEN"), [getattr(r, "fields", {}) for r in lines]


def test_a_base_url_too_long_for_one_sms_segment_is_a_warning_at_start_up_not_a_failure(make_app, caplog) -> None:  # type: ignore[no-untyped-def]
    """Alerts were promised to fit one GSM-7 segment only while PUBLIC_BASE_URL was at most about 40 characters, and
    nothing checked: a longer address made every alert two parts (sent late, out of order, billed double) without a
    word. The app now says so at start-up, naming the setting and how long it may be; it still starts, and health
    does not fail for it."""
    from notifications.messages import longest_base_url_for_one_segment

    with caplog.at_level(logging.WARNING):
        make_app(PUBLIC_BASE_URL="https://tipline.natronacountyschools.org")  # 40 characters: one segment
    assert not [r for r in caplog.records if "PUBLIC_BASE_URL" in r.getMessage()]
    caplog.clear()
    long_url = "https://tipline.safety.natronacountyschools.example.org"
    with caplog.at_level(logging.WARNING):
        app = make_app(PUBLIC_BASE_URL=long_url, ALERT_MAX_REPEATS=6)
    (warning,) = [r for r in caplog.records if "PUBLIC_BASE_URL" in r.getMessage()]
    message = warning.getMessage()
    assert warning.levelno == logging.WARNING and message.startswith("OPERATOR:")
    assert "two SMS segments" in message
    assert f"at most {longest_base_url_for_one_segment(max_repeat=6)} characters" in message
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok", response.get_json()
    result = app.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 0 and json.loads(result.output)["status"] == "ok", result.output


def test_an_active_school_stored_with_a_zone_without_summer_time_is_degraded(app: Flask, district: District) -> None:
    """A school saved with MST or UTC before the zone was checked kept it without a word to anyone, its medium tips
    then paged an hour or more off the school day for half the year. /healthz says so by its reason only;
    `flask health` names the school, its zone and the fix. A school deactivated takes no tips and is not named."""
    from app.models import School

    with app.app_context():
        for short_name, zone in (("KWHS", "MST"), ("MIDW", "UTC")):
            school = db.session.get(School, district.schools[short_name])
            assert school is not None
            school.timezone = zone
        midwest = db.session.get(School, district.schools["MIDW"])
        assert midwest is not None
        midwest.active = False
        db.session.commit()
    response = app.test_client().get("/healthz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "degraded", body
    assert body["checks"]["alerts"]["status"] == "degraded" and body["checks"]["alerts"]["reason"] == "school_zone"
    assert "KWHS" not in response.get_data(as_text=True) and "MST" not in response.get_data(as_text=True)
    result = app.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 2, result.output
    detail = json.loads(result.output)["checks"]["alerts"]["detail"]
    assert "KWHS (MST)" in detail and "America/Denver" in detail and "MIDW" not in detail, detail
    with app.app_context():  # chosen again on the school's page: all is well
        school = db.session.get(School, district.schools["KWHS"])
        assert school is not None
        school.timezone = "America/Denver"
        db.session.commit()
    assert app.test_client().get("/healthz").get_json()["status"] == "ok"
