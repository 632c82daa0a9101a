"""Settings: read once from the environment and instance/config.py, validated at start-up.

Order of precedence (lowest first): built-in safe defaults, instance/config.py, environment variables,
then the mapping passed to create_app(). Secrets never have a built-in value: in development they come
from files that `flask setup` writes into instance/, in production from the environment.
"""

from __future__ import annotations

import os
import re
import runpy
import secrets
from pathlib import Path
from typing import Any

import click
from flask.helpers import get_debug_flag
from limits import parse_many
from sqlalchemy.engine import make_url

from app.accounts.phones import E164

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = REPO_ROOT / "instance"


class ConfigError(click.ClickException, RuntimeError):
    """The configuration cannot work; the message says what to change.

    A ClickException too, so a `flask` command stops with "Error: <message>" (exit 1) instead of a traceback;
    gunicorn still logs it and refuses to boot the worker."""


# Settings that may be given as environment variables, with how to parse them.
_INT = int
_STR = str


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


ENV_SETTINGS: dict[str, Any] = {
    "TIPLINE_ENV": _STR,
    "SECRET_KEY": _STR,
    "RECEIPT_HMAC_KEY": _STR,
    "TIPLINE_KEYRING": _STR,
    "KEYRING_PATH": _STR,
    "DATABASE_URL": _STR,
    "PUBLIC_BASE_URL": _STR,
    "SQLITE_BUSY_TIMEOUT_S": _INT,
    "SQLITE_WRITER_QUEUE": _bool,
    "LOG_LEVEL": _STR,
    "LOG_FORMAT": _STR,
    "RATELIMIT_STORAGE_URI": _STR,
    "INTAKE_RATE_LIMIT": _STR,
    "RECEIPT_RATE_LIMIT": _STR,
    "RECEIPT_GLOBAL_RATE_LIMIT": _STR,
    "SIGNIN_RATE_LIMIT": _STR,
    "TRIAGE_MODEL_DIR": _STR,
    "TWILIO_ACCOUNT_SID": _STR,
    "TWILIO_AUTH_TOKEN": _STR,
    "TWILIO_PREVIOUS_AUTH_TOKEN": _STR,
    "TWILIO_FROM_NUMBER": _STR,
    "TWILIO_MESSAGING_SERVICE_SID": _STR,
    "TWILIO_API_BASE_URL": _STR,
    "ALERT_ACK_TIMEOUT_CRITICAL_S": _INT,
    "ALERT_ACK_TIMEOUT_HIGH_S": _INT,
    "ALERT_MAX_REPEATS": _INT,
    "ALERT_FOLD_WINDOW_S": _INT,
    "ALERT_REPLY_SMS_INTERVAL_S": _INT,
    "ALERT_SMS_HOURLY_WARN": _INT,
    "ALERT_DELIVERY_CHECK_AFTER_S": _INT,
    "ALERT_IN_PROCESS_DISPATCHER": _bool,
    "ALERT_CLAIM_LEASE_S": _INT,
    "ALERT_WAKE_PORT": _INT,
    "ALERT_WORKER_LEASE_S": _INT,
    "SMS_TRANSPORT": _STR,
    "TWILIO_TIMEOUT_S": _INT,
    "RETENTION_DAYS": _INT,
    "RETENTION_PAUSED": _bool,
    "BACKUP_KEEP_DAYS": _INT,
    "METRICS_TOKEN": _STR,
    "TRUSTED_PROXY_HOPS": _INT,
    "REPORT_SUPPRESSION_THRESHOLD": _INT,
    "HEALTH_MAX_ALERT_LAG_S": _INT,
    "HEALTH_MIN_FREE_MB": _INT,
    "DISTRICT_NAME": _STR,
}

DEFAULTS: dict[str, Any] = {
    "TIPLINE_ENV": "development",
    "SQLITE_BUSY_TIMEOUT_S": 30,
    # Writers take turns on a lock file beside the database instead of SQLite's sleeping busy handler
    # (app/database.py). Off only to measure the difference (bench/).
    "SQLITE_WRITER_QUEUE": True,
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",
    # Flask-Limiter syntax. Generous enough for a school assembly behind one NAT, tight enough for a script.
    "INTAKE_RATE_LIMIT": "30 per hour;10 per minute",
    "RECEIPT_RATE_LIMIT": "10 per minute;50 per hour",
    "RECEIPT_GLOBAL_RATE_LIMIT": "600 per minute",
    # Staff sign-in attempts per client, on top of the per-account lockout (password spraying).
    "SIGNIN_RATE_LIMIT": "20 per minute;100 per hour",
    "RATELIMIT_STORAGE_URI": "memory://",
    # Rate limits fail open: with Redis down, Flask-Limiter counts in each process's memory and logs a
    # warning; any other error of the limiter is logged, never turned into a 500 that loses a tip.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "RATELIMIT_SWALLOW_ERRORS": True,
    # The storage's driver errors (redis.ConnectionError ...) as limits.errors.StorageError: app/intake/throttle.py.
    "RATELIMIT_STORAGE_OPTIONS": {"wrap_exceptions": True},
    "TWILIO_API_BASE_URL": "https://api.twilio.com",
    "ALERT_ACK_TIMEOUT_CRITICAL_S": 300,
    "ALERT_ACK_TIMEOUT_HIGH_S": 1800,
    "ALERT_MAX_REPEATS": 6,
    "ALERT_FOLD_WINDOW_S": 3600,
    # At most one SMS per tip in this time about a reporter's new messages: five messages typed in a row are one SMS.
    "ALERT_REPLY_SMS_INTERVAL_S": 600,
    # More alert SMS than this in an hour (a prank flood): an OPERATOR warning and /healthz degraded, never an SMS
    # held back. A district of ~20 schools sends a few an hour on a bad day; 0 switches the warning off.
    "ALERT_SMS_HOURLY_WARN": 200,
    # A sent SMS with no delivery report this long after it went out is looked up at Twilio (then backing off, a
    # few times): a report lost while the site was down is not posted again. 0 switches the lookups off.
    "ALERT_DELIVERY_CHECK_AFTER_S": 600,
    "ALERT_IN_PROCESS_DISPATCHER": False,
    # A claimed alert whose worker died is due again after this; a single SQLite worker's lease likewise.
    "ALERT_CLAIM_LEASE_S": 60,
    # SQLite: the web wakes the worker with a datagram to this loopback port (0: the worker only polls).
    "ALERT_WAKE_PORT": 47551,
    "ALERT_WORKER_LEASE_S": 15,
    "TWILIO_TIMEOUT_S": 10,
    "RETENTION_DAYS": 365,
    # True: no closed case is shredded, by the worker's daily purge or by `flask tips purge`, until it is removed
    # (after restoring a backup, until the legal holds set since it was taken are set again).
    "RETENTION_PAUSED": False,
    # `flask backup prune` (run by the nightly backup unit): a shredded tip stays in older backups this long.
    "BACKUP_KEEP_DAYS": 35,
    "TRUSTED_PROXY_HOPS": 0,
    "REPORT_SUPPRESSION_THRESHOLD": 5,
    # /healthz says "degraded" when an alert has been due for longer than this: no worker is sending SMS.
    "HEALTH_MAX_ALERT_LAG_S": 120,
    "HEALTH_MIN_FREE_MB": 500,
    "DISTRICT_NAME": "Natrona County School District",
    "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
    # One text field of a form (werkzeug's default is 500 KB): past it the form is refused whole with a 413, and a
    # long chat log pasted into a report would be lost instead of coming back with its length (app/intake/validation).
    "MAX_FORM_MEMORY_SIZE": 4 * 1024 * 1024,
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "WTF_CSRF_TIME_LIMIT": None,
    # Off: over HTTPS Flask-WTF also wants a Referer from this host, and every page says "Referrer-Policy:
    # no-referrer", so browsers send none and every form in production was "expired". The token, the SameSite
    # session cookie and its __Host- name (no other host or plain HTTP can set it) stop forged forms.
    "WTF_CSRF_SSL_STRICT": False,
    "BABEL_DEFAULT_LOCALE": "en",
    "LANGUAGES": ("en", "es"),
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
}

# Secrets read from a file in instance/ when not given otherwise (written by `flask setup`).
SECRET_FILES = {"SECRET_KEY": "secret_key", "RECEIPT_HMAC_KEY": "receipt_hmac_key"}
DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"
REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "RECEIPT_HMAC_KEY", "DATABASE_URL", "PUBLIC_BASE_URL")
MIN_SECRET_LENGTH = 32


def load_settings(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the settings mapping; raises ConfigError when it cannot work."""
    refuse_root_in_service_instance(instance_path)
    settings: dict[str, Any] = dict(DEFAULTS)
    instance_config = instance_path / "config.py"
    try:
        has_instance_config = instance_config.is_file()
    except OSError as exc:  # instance/ made by root without `-o tipline`: closed to the user that runs Tipline
        raise ConfigError(
            f"cannot read {instance_config} ({exc.strerror}): make {instance_path} owned by the user that runs "
            f"Tipline, e.g. install -d -o tipline -g tipline -m 0700 {instance_path} (README, Installing, step 3)"
        ) from None
    if has_instance_config:
        namespace = runpy.run_path(str(instance_config))
        settings.update({k: v for k, v in namespace.items() if k.isupper()})
    for name, parse in ENV_SETTINGS.items():
        raw = os.environ.get(name)
        if raw is not None and raw != "":
            try:
                settings[name] = parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{name}={raw!r} is not a valid value: {exc}") from exc
    settings.update(overrides or {})

    env = settings["TIPLINE_ENV"]
    if env not in {"development", "production", "testing"}:
        raise ConfigError(f"TIPLINE_ENV must be development, production or testing, not {env!r}")
    production = env == "production"

    if not production:
        for name, filename in SECRET_FILES.items():
            if not settings.get(name):
                settings[name] = read_or_create_secret(instance_path / filename)
        settings.setdefault("DATABASE_URL", f"sqlite:///{instance_path / 'tipline.db'}")
        # Not a default in production: SMS links and Twilio's webhook signatures would name this machine.
        settings.setdefault("PUBLIC_BASE_URL", DEVELOPMENT_BASE_URL)

    missing = [name for name in REQUIRED_IN_PRODUCTION if production and not settings.get(name)]
    if missing:
        raise ConfigError(
            "Refusing to start in production without: " + ", ".join(missing)
            + ". Set them as environment variables (see README, Production)."
        )
    for name in SECRET_FILES:
        value = settings.get(name)
        if not value:
            raise ConfigError(f"{name} is not set. Run `flask setup` (development) or set it in the environment.")
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"{name} is too short: at least {MIN_SECRET_LENGTH} characters of random data.")

    validate_alert_settings(settings, production)
    validate_rate_limits(settings)
    validate_ranges(settings)
    if production:
        validate_production_safeguards(settings)
    settings.setdefault("KEYRING_PATH", str(instance_path / "keyring.json"))
    settings.setdefault("TRIAGE_MODEL_DIR", str(instance_path / "triage"))
    settings["SQLALCHEMY_DATABASE_URI"] = sqlite_in_instance(normalise_database_url(settings["DATABASE_URL"]),
                                                             instance_path)
    settings["PRODUCTION"] = production
    settings["TESTING"] = settings.get("TESTING", env == "testing")
    # Cookies: Secure and __Host- outside development (tests run over plain HTTP like development).
    if production:
        settings.setdefault("SESSION_COOKIE_SECURE", True)
        settings.setdefault("SESSION_COOKIE_NAME", "__Host-tipline")
        settings.setdefault("REMEMBER_COOKIE_SECURE", True)
    else:
        settings.setdefault("SESSION_COOKIE_NAME", "tipline")
    settings["PUBLIC_BASE_URL"] = str(settings["PUBLIC_BASE_URL"]).rstrip("/")
    return settings


_BASE_URL = re.compile(r"https?://[!-~]+")


def validate_alert_settings(settings: dict[str, Any], production: bool) -> None:
    """Settings whose mistakes would only show when an alert has to go out: caught at start-up instead."""
    if production:
        # Never print alerts to a log in production because the Twilio settings were forgotten.
        settings.setdefault("SMS_TRANSPORT", "twilio")
        if str(settings["SMS_TRANSPORT"]).lower() != "twilio":
            raise ConfigError("SMS_TRANSPORT must be twilio in production: alerts must reach a phone.")
    base_url = str(settings.get("PUBLIC_BASE_URL", "")).rstrip("/")
    if not _BASE_URL.fullmatch(base_url):
        raise ConfigError(f"PUBLIC_BASE_URL must be an http(s) URL in plain ASCII without spaces, not {base_url!r}")
    for name in ("ALERT_ACK_TIMEOUT_CRITICAL_S", "ALERT_ACK_TIMEOUT_HIGH_S"):
        if not 1 <= int(settings[name]) <= 36000:  # 36000 s is also Twilio's longest validity period
            raise ConfigError(f"{name} must be between 1 and 36000 seconds")
    if int(settings["ALERT_CLAIM_LEASE_S"]) <= 2 * int(settings["TWILIO_TIMEOUT_S"]):
        raise ConfigError("ALERT_CLAIM_LEASE_S must exceed twice TWILIO_TIMEOUT_S, or a slow send could be "
                          "taken over by another worker and sent twice")


# A Twilio sender: E.164 or a short code. Twilio refuses any other From with an error (21212) that reads like
# the recipient's, so a mistyped sender would mark every person of the chain failed within seconds.
_TWILIO_SENDER = re.compile(rf"{E164.pattern}|[0-9]{{5,6}}")
# Lowest value each number may take: below it a safeguard is silently off (0 days of retention shreds every
# closed case at the next purge; a busy timeout of 0 fails a tip whenever another writer holds the lock; a
# negative hop count makes ProxyFix believe the client's own X-Forwarded-For).
MINIMUM: dict[str, int] = {
    "RETENTION_DAYS": 1, "BACKUP_KEEP_DAYS": 1, "SQLITE_BUSY_TIMEOUT_S": 1, "HEALTH_MAX_ALERT_LAG_S": 1,
    "ALERT_WORKER_LEASE_S": 1, "TRUSTED_PROXY_HOPS": 0, "ALERT_FOLD_WINDOW_S": 0, "ALERT_MAX_REPEATS": 0,
    "ALERT_REPLY_SMS_INTERVAL_S": 0, "ALERT_SMS_HOURLY_WARN": 0, "ALERT_DELIVERY_CHECK_AFTER_S": 0,
    "HEALTH_MIN_FREE_MB": 0,
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def validate_ranges(settings: dict[str, Any]) -> None:
    """Numbers out of range, a malformed Twilio sender, an unknown log level or format: stop with the name."""
    for name, lowest in MINIMUM.items():
        if int(settings[name]) < lowest:
            raise ConfigError(f"{name} must be {lowest} or more, not {settings[name]!r}")
    if not 0 <= int(settings["ALERT_WAKE_PORT"]) <= 65535:
        raise ConfigError("ALERT_WAKE_PORT must be a port number (0 to turn the wake-up off)")
    sender = str(settings.get("TWILIO_FROM_NUMBER") or "").strip()
    if sender and not _TWILIO_SENDER.fullmatch(sender):
        raise ConfigError("TWILIO_FROM_NUMBER must be in E.164 form (+13075550100, no spaces or dashes) "
                          "or a short code")
    settings["LOG_LEVEL"] = str(settings["LOG_LEVEL"]).upper()
    if settings["LOG_LEVEL"] not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    if settings["LOG_FORMAT"] not in ("json", "text"):
        raise ConfigError("LOG_FORMAT must be json or text")


# Settings a development or test set-up may switch; production refuses them (Flask, Flask-WTF, Flask-Limiter,
# Flask-Login), since each turns a protection off without a word: name -> the value that does it.
UNSAFE_IN_PRODUCTION: dict[str, bool] = {
    "DEBUG": True, "TESTING": True, "LOGIN_DISABLED": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
}


def validate_production_safeguards(settings: dict[str, Any]) -> None:
    if get_debug_flag():  # FLASK_DEBUG in the environment: Flask reads it itself
        settings.setdefault("DEBUG", True)
    for name, unsafe in UNSAFE_IN_PRODUCTION.items():
        if name in settings and bool(settings[name]) is unsafe:
            raise ConfigError(f"{name}={settings[name]!r} is refused in production: it switches a protection off")
    if int(settings["TRUSTED_PROXY_HOPS"]) < 1:
        # gunicorn listens on loopback behind nginx: with 0, every request comes from the proxy's address, so the
        # rate limits count the whole district as one client and the eleventh tip of a minute, anyone's, is a 429.
        raise ConfigError("TRUSTED_PROXY_HOPS must be 1 or more in production (1 with nginx in front, README, "
                          "Proxy): with 0 every reporter is the proxy's address and shares one rate limit")
    if int(settings["REPORT_SUPPRESSION_THRESHOLD"]) < 3:
        # At 2 a hidden "<2" can only be 1: a count of one, which can point at a reporter, shown all the same.
        raise ConfigError("REPORT_SUPPRESSION_THRESHOLD must be 3 or more in production: below it a hidden "
                          "count can only be one, which can point at a reporter")
    for name in ENV_SETTINGS:  # the secrets, and METRICS_TOKEN: the example's values are public
        if "change-me" in str(settings.get(name) or ""):
            raise ConfigError(f"{name} is still the placeholder of tipline.env.example: make one with "
                              "python3 -c \"import secrets; print(secrets.token_urlsafe(48))\"")
    if settings["SECRET_KEY"] == settings["RECEIPT_HMAC_KEY"]:
        raise ConfigError("RECEIPT_HMAC_KEY must differ from SECRET_KEY")


RATE_LIMIT_SETTINGS = ("INTAKE_RATE_LIMIT", "RECEIPT_RATE_LIMIT", "RECEIPT_GLOBAL_RATE_LIMIT", "SIGNIN_RATE_LIMIT")


def validate_rate_limits(settings: dict[str, Any]) -> None:
    """A mistyped limit would otherwise start fine, then fail every follow-up or silently lift the limit."""
    for name in RATE_LIMIT_SETTINGS:
        value = str(settings[name])
        try:
            parse_many(value)
        except ValueError as exc:
            raise ConfigError(f"{name}={value!r} is not a rate limit ({exc}); write it like "
                              "'30 per hour;10 per minute'") from None


def refuse_root_in_service_instance(instance_path: Path) -> None:
    """root in an instance directory that belongs to the service's user (tipline): whatever the command writes
    there, a new keyring (`flask keys rotate`), the SQLite database's -wal, -shm and -writers files (any command
    that opens it while the services are stopped), would be root's, owner-only, and the services could no longer
    read them: every tip refused with 503, no SMS sent. Refused before anything is opened."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    try:
        owner = instance_path.stat().st_uid
    except OSError:
        return  # not there yet: `flask setup` makes it (README, Installing, step 3)
    if owner == 0:
        return
    try:
        import pwd

        name = pwd.getpwuid(owner).pw_name
    except (ImportError, KeyError):
        name = str(owner)
    raise ConfigError(f"this runs as root, but {instance_path} belongs to {name}: files written now would be "
                      f"root's and the services could not read them. Run it as {name}: sudo -u {name} sh -c "
                      "'set -a; . /etc/tipline/tipline.env; exec .venv/bin/flask \"$@\"' flask ... "
                      "(README, Installing, step 2)")


def read_or_create_secret(path: Path) -> str:
    """Development only: a random secret kept in an owner-only file of instance/, made on first use.

    (The keyring is never made here: a lost keyring must be noticed, not silently replaced.)
    """
    try:
        if path.is_file():
            return path.read_text().strip()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot read or create {path} ({exc.strerror}): is TIPLINE_INSTANCE_PATH "
                          "a directory this user may write?") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and use psycopg 3 for all of them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def sqlite_in_instance(url: str, instance_path: Path) -> str:
    """A relative SQLite path made absolute in the instance folder, where Flask-SQLAlchemy opens it: everything
    that reads the path from the setting (`flask backup create`, `flask setup`'s owner-only mode, the disk check of
    /healthz) then names the database the app uses, not a file of that name in the working directory."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:") \
            or os.path.isabs(name):
        return url
    return parsed.set(database=str(instance_path / name)).render_as_string(hide_password=False)


def instance_path_from_env() -> Path:
    return Path(os.environ.get("TIPLINE_INSTANCE_PATH", DEFAULT_INSTANCE)).resolve()
