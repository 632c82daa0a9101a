import os
from pathlib import Path

import pytest

from app import create_app
from app.config import ConfigError, normalise_database_url
from tests.conftest import PRODUCTION_TWILIO, REPO


def test_factory_uses_test_config(app):
    assert app.config["TESTING"] is True
    assert app.config["PRODUCTION"] is False
    assert app.config["SQLALCHEMY_DATABASE_URI"]


def test_wsgi_only_calls_the_factory():
    body = [line for line in (REPO / "wsgi.py").read_text().splitlines() if line.strip()]
    assert body == ["from app import create_app", "app = create_app()"]


def test_production_refuses_to_start_without_secrets(tmp_path, monkeypatch):
    for name in ("SECRET_KEY", "RECEIPT_HMAC_KEY", "DATABASE_URL", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    # Secret files in instance/ must not be picked up in production: only the environment counts.
    (tmp_path / "secret_key").write_text("s" * 64)
    with pytest.raises(ConfigError, match="Refusing to start in production without: SECRET_KEY"):
        create_app({"TIPLINE_ENV": "production", "INSTANCE_PATH": str(tmp_path)})


def test_production_refuses_to_start_without_its_public_address(tmp_path, monkeypatch):
    """PUBLIC_BASE_URL had a development default, so production started without it and sent SMS links to
    http://127.0.0.1:5000 (and checked Twilio's webhook signatures against that address: every reply refused)."""
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    settings = {"TIPLINE_ENV": "production", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48,
                "RECEIPT_HMAC_KEY": "b" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
                "TRUSTED_PROXY_HOPS": 1, **PRODUCTION_TWILIO}
    with pytest.raises(ConfigError, match=r"Refusing to start in production without: PUBLIC_BASE_URL\."):
        create_app(settings)
    assert create_app({**settings, "TIPLINE_ENV": "development"}).config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"


def test_production_starts_with_its_secrets(tmp_path):
    app = create_app({
        "TIPLINE_ENV": "production", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48,
        "RECEIPT_HMAC_KEY": "b" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PUBLIC_BASE_URL": "https://tips.example.org/", "TRUSTED_PROXY_HOPS": 1, **PRODUCTION_TWILIO,
    })
    assert app.config["PRODUCTION"]
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert app.config["PUBLIC_BASE_URL"] == "https://tips.example.org"


def test_short_secret_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="too short"):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "short", "RECEIPT_HMAC_KEY": "b" * 48})


def test_unknown_environment_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="TIPLINE_ENV"):
        create_app({"INSTANCE_PATH": str(tmp_path), "TIPLINE_ENV": "staging"})


def test_development_generates_owner_only_secrets(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("RECEIPT_HMAC_KEY", raising=False)
    app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"})
    secret_file = tmp_path / "secret_key"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert app.config["SECRET_KEY"] == secret_file.read_text().strip()
    again = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"})
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_environment_overrides_instance_config(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text("ALERT_ACK_TIMEOUT_CRITICAL_S = 120\nALERT_ACK_TIMEOUT_HIGH_S = 900\n")
    monkeypatch.setenv("ALERT_ACK_TIMEOUT_HIGH_S", "600")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48, "RECEIPT_HMAC_KEY": "b" * 48,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    assert app.config["ALERT_ACK_TIMEOUT_CRITICAL_S"] == 120
    assert app.config["ALERT_ACK_TIMEOUT_HIGH_S"] == 600


def test_an_instance_directory_this_user_cannot_enter_is_a_clear_error(tmp_path, monkeypatch):
    """`install -d -m 0700 /opt/tipline/instance` run without `-o tipline`: root's and closed to tipline, so every
    command and both services died in the settings with a PermissionError traceback on instance/config.py.
    (Here the look at config.py is refused as it is in a directory of another user.)"""
    config_file = tmp_path / "config.py"
    is_file = Path.is_file

    def refused(path: Path) -> bool:
        if path == config_file:
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", refused)
    with pytest.raises(ConfigError) as raised:
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48, "RECEIPT_HMAC_KEY": "b" * 48,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    assert f"cannot read {config_file} (Permission denied)" in str(raised.value)
    assert f"install -d -o tipline -g tipline -m 0700 {tmp_path}" in str(raised.value)


def test_bad_integer_setting_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ALERT_ACK_TIMEOUT_HIGH_S", "half an hour")
    with pytest.raises(ConfigError, match="ALERT_ACK_TIMEOUT_HIGH_S"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


@pytest.mark.parametrize("given", ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"])
def test_postgres_urls_use_psycopg3(given):
    assert normalise_database_url(given) == "postgresql+psycopg://u@h/db"


def _production(tmp_path, **extra):
    settings = {"TIPLINE_ENV": "production", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48,
                "RECEIPT_HMAC_KEY": "b" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
                "PUBLIC_BASE_URL": "https://tips.example.org", "TRUSTED_PROXY_HOPS": 1, **PRODUCTION_TWILIO}
    settings.update(extra)
    return create_app(settings)


def test_production_never_prints_alerts_instead_of_sending_them(tmp_path):
    with pytest.raises(ConfigError, match="SMS_TRANSPORT must be twilio"):
        _production(tmp_path, SMS_TRANSPORT="console")
    with pytest.raises(ConfigError, match="missing TWILIO_ACCOUNT_SID"):
        _production(tmp_path, TWILIO_ACCOUNT_SID="")


@pytest.mark.parametrize("overrides, message", [
    ({"PUBLIC_BASE_URL": "tips.example.org"}, "PUBLIC_BASE_URL"),
    ({"PUBLIC_BASE_URL": "https://tips example.org"}, "PUBLIC_BASE_URL"),
    ({"ALERT_ACK_TIMEOUT_CRITICAL_S": 0}, "ALERT_ACK_TIMEOUT_CRITICAL_S"),
    ({"ALERT_ACK_TIMEOUT_HIGH_S": 40000}, "ALERT_ACK_TIMEOUT_HIGH_S"),
    ({"ALERT_CLAIM_LEASE_S": 15, "TWILIO_TIMEOUT_S": 10}, "ALERT_CLAIM_LEASE_S"),
])
def test_alert_settings_that_would_fail_an_alert_stop_the_start(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48, "RECEIPT_HMAC_KEY": "b" * 48,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", **overrides})


@pytest.mark.parametrize("overrides, message", [
    # 0 or less would shred every closed case at the next purge, one closed by mistake a minute ago too.
    ({"RETENTION_DAYS": 0}, "RETENTION_DAYS"),
    ({"RETENTION_DAYS": -30}, "RETENTION_DAYS"),
    # 0 would let the nightly prune delete every copy but the newest usable one.
    ({"BACKUP_KEEP_DAYS": 0}, "BACKUP_KEEP_DAYS"),
    # 0: every writer that has to wait a moment (a tip being stored) fails with "database is locked".
    ({"SQLITE_BUSY_TIMEOUT_S": 0}, "SQLITE_BUSY_TIMEOUT_S"),
    # A negative hop count makes ProxyFix believe a client-written X-Forwarded-For.
    ({"TRUSTED_PROXY_HOPS": -1}, "TRUSTED_PROXY_HOPS"),
    ({"HEALTH_MAX_ALERT_LAG_S": 0}, "HEALTH_MAX_ALERT_LAG_S"),
    ({"ALERT_WORKER_LEASE_S": 0}, "ALERT_WORKER_LEASE_S"),
    ({"ALERT_FOLD_WINDOW_S": -1}, "ALERT_FOLD_WINDOW_S"),
    # Twilio refuses a From that is not E.164 (or a short code) with an error taken for the recipient's: every
    # person of the chain would be marked failed in seconds.
    ({"TWILIO_FROM_NUMBER": "307-555-0100", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
      "TWILIO_AUTH_TOKEN": "t" * 32}, "TWILIO_FROM_NUMBER"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
])
def test_settings_that_would_silently_disable_a_safeguard_stop_the_start(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48, "RECEIPT_HMAC_KEY": "b" * 48,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", **overrides})


def test_log_level_may_be_written_in_lower_case(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48, "RECEIPT_HMAC_KEY": "b" * 48,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "LOG_LEVEL": "warning"})
    assert app.config["LOG_LEVEL"] == "WARNING"


@pytest.mark.parametrize("sender", ["+15005550006", "+442071838750", "898211"])
def test_twilio_senders_in_e164_or_short_code_are_accepted(tmp_path, sender):
    app = _production(tmp_path, TWILIO_FROM_NUMBER=sender)
    assert app.config["TWILIO_FROM_NUMBER"] == sender


@pytest.mark.parametrize("overrides, message", [
    ({"DEBUG": True}, "DEBUG"),
    ({"TESTING": True}, "TESTING"),
    ({"WTF_CSRF_ENABLED": False}, "WTF_CSRF_ENABLED"),
    ({"RATELIMIT_ENABLED": False}, "RATELIMIT_ENABLED"),
    ({"LOGIN_DISABLED": True}, "LOGIN_DISABLED"),
    ({"REPORT_SUPPRESSION_THRESHOLD": 1}, "REPORT_SUPPRESSION_THRESHOLD"),
    ({"REPORT_SUPPRESSION_THRESHOLD": 2}, "REPORT_SUPPRESSION_THRESHOLD"),  # "<2" could only mean 1
    # The example environment file's placeholders are long enough to pass as secrets.
    ({"SECRET_KEY": "change-me-64-random-characters-from-python-secrets-token-urlsafe-48"}, "SECRET_KEY"),
    ({"RECEIPT_HMAC_KEY": "a" * 48}, "RECEIPT_HMAC_KEY"),  # the same as SECRET_KEY
])
def test_production_refuses_settings_that_switch_a_protection_off(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        _production(tmp_path, **overrides)


def test_production_refuses_flask_debug_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigError, match="DEBUG"):
        _production(tmp_path)


def test_example_environment_file_placeholders_are_refused(tmp_path):
    example = dict(line.split("=", 1) for line in (REPO / "deploy" / "tipline.env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        _production(tmp_path, SECRET_KEY=example["SECRET_KEY"], RECEIPT_HMAC_KEY=example["RECEIPT_HMAC_KEY"])
    # Every placeholder, as README says: the example's metrics token is public, like the rest of the repository.
    placeholders = [name for name, value in example.items() if "change-me" in value]
    assert "METRICS_TOKEN" in placeholders
    for name in placeholders:
        with pytest.raises(ConfigError, match=f"{name} is still the placeholder"):
            _production(tmp_path, **{name: example[name]})


@pytest.mark.parametrize("env, message", [
    ({"RETENTION_DAYS": "a year"}, "RETENTION_DAYS"),
    ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS"),
    ({"TIPLINE_INSTANCE_PATH": "/proc/no-such-dir/instance"}, "/proc/no-such-dir/instance"),
    # The environment file's Twilio lines left empty in production, or half filled in.
    ({"TIPLINE_ENV": "production", "SECRET_KEY": "a" * 48, "RECEIPT_HMAC_KEY": "b" * 48,
      "PUBLIC_BASE_URL": "https://tips.example.org", "TRUSTED_PROXY_HOPS": "1"},
     "No Twilio settings are set: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER (or "
     "TWILIO_MESSAGING_SERVICE_SID) in the environment; production sends alerts only through Twilio "
     "(README, Configuration)."),
    # Outside production SMS_TRANSPORT=twilio asks for Twilio: the console transport is the way without it.
    ({"SMS_TRANSPORT": "twilio"}, "No Twilio settings are set: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
     "TWILIO_FROM_NUMBER (or TWILIO_MESSAGING_SERVICE_SID), or set SMS_TRANSPORT=console to print SMS instead "
     "while developing (README, Configuration)."),
    ({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32}, "missing TWILIO_AUTH_TOKEN"),
])
def test_flask_command_with_a_bad_setting_prints_the_message_not_a_traceback(tmp_path, env, message):
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE", "DATABASE_URL", "RETENTION", "TWILIO"))}
    base.update({"FLASK_APP": "wsgi", "TIPLINE_INSTANCE_PATH": str(tmp_path / "instance"),
                 "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    done = subprocess.run([sys.executable, "-m", "flask", "tips", "purge", "--dry-run"], cwd=REPO,
                          env={**base, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert "Error: " in done.stderr and message in done.stderr


def test_a_postgresql_that_never_answers_fails_in_time_for_the_503_page(monkeypatch):
    """A database whose network swallows packets must fail the request (the 503 page, the form as typed), not hang
    past nginx's 60 s. A socket that takes the connection and never speaks stands in for it."""
    import socket
    import time

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from app import database

    monkeypatch.setattr(database, "PG_CONNECT_TIMEOUT_S", 2)  # libpq's shortest
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # the kernel completes the handshake; nobody ever answers the startup message
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/tipline"
        engine = create_engine(url, **database.engine_options(url, busy_timeout_s=30))
        started = time.monotonic()
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert time.monotonic() - started < 15
        engine.dispose()
    finally:
        silent.close()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root, to be root in someone's")
def test_root_in_the_services_instance_is_refused_before_it_writes_anything(tmp_path):
    """`flask keys rotate` or `flask db upgrade` run as root (sudo, without -u tipline) left a root-owned
    keyring.json or SQLite -wal/-shm/-writers files in tipline's instance/: the services could not read them, and
    every tip got the 503 page. Refused with one line that says how to run it."""
    import subprocess
    import sys

    instance = tmp_path / "instance"
    instance.mkdir(mode=0o700)
    os.chown(instance, 65534, 65534)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE", "DATABASE_URL", "TWILIO"))}
    base.update({"FLASK_APP": "wsgi", "TIPLINE_INSTANCE_PATH": str(instance)})
    done = subprocess.run([sys.executable, "-m", "flask", "keys", "status"], cwd=REPO, env=base,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"this runs as root, but {instance} belongs to" in done.stderr
    assert "sudo -u " in done.stderr
    assert list(instance.iterdir()) == []  # no secret file, no database, no -writers lock file
    os.chown(instance, 0, 0)  # root's own instance (a container, `make run` as root) is not refused
    done = subprocess.run([sys.executable, "-m", "flask", "keys", "--help"], cwd=REPO, env=base,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_production_refuses_to_count_every_reporter_as_the_proxy(tmp_path):
    """An environment file written without TRUSTED_PROXY_HOPS (default 0) behind nginx: every request came from
    127.0.0.1, so INTAKE_RATE_LIMIT counted the district as one client and during an incident the eleventh tip
    of a minute, anyone's, got the 429 page."""
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_HOPS must be 1 or more in production"):
        _production(tmp_path, TRUSTED_PROXY_HOPS=0)
    assert _production(tmp_path, TRUSTED_PROXY_HOPS=1).config["TRUSTED_PROXY_HOPS"] == 1


@pytest.mark.parametrize("options", [{"pool_pre_ping": True}, {"hide_parameters": False}])
def test_engine_options_of_the_instance_config_keep_sql_values_out_of_errors(make_app, options):
    """SQLALCHEMY_ENGINE_OPTIONS in instance/config.py (a pool setting, say) replaced the app's own whole, and with
    them `hide_parameters`: a failing statement's error then carried its values into the log line and the traceback
    that Flask writes for a 500."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from app.extensions import db

    app = make_app(SQLALCHEMY_ENGINE_OPTIONS=dict(options))
    with app.app_context():
        with pytest.raises(DBAPIError) as failure:
            db.session.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "what-the-reporter-wrote"})
        db.session.rollback()
    assert "what-the-reporter-wrote" not in str(failure.value)
    assert "no_such_table" in str(failure.value)
