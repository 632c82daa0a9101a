"""What /healthz checks. Each check says ok, degraded or fail and a fixed reason word: never an error
message, a path or a setting, because the endpoint has no authentication. `flask health` (a shell: the operator)
asks for the error's own words as well, in `detail`, for a keyring or a model that does not load."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import make_url, select, text
from sqlalchemy.exc import SQLAlchemyError

import triage
from app.alerts.claims import seconds_without_worker
from app.alerts.dispatcher import oldest_due_age_s, oldest_failing_age_s
from app.alerts.escalation import count_unreached_tips
from app.alerts.sms_volume import sms_volume_too_high
from app.backup import older_revisions
from app.crypto.keyring import KeyringUnavailable, load_keyring, readable_by_others
from app.crypto.keystore import current_keyring, db_missing_versions, keyring_source
from app.crypto.receipts import KEY_CHANGED, KEY_UNRECORDED, receipt_key_state
from app.extensions import db
from app.models import School
from app.models.directory import zone_without_summer_time

OK, DEGRADED, FAIL = "ok", "degraded", "fail"
_MODEL_OK = "tipline.health.model_ok"
# Without these nothing works: no tip can be stored (keyring, model, disk) or read (database).
ESSENTIAL = ("database", "keyring", "model", "disk")
# Below this much free space a write can fail any minute (a tip, its photos, the WAL, a backup): it is full.
DISK_FULL_MB = 16


@functools.cache
def _older_revisions() -> frozenset[str]:
    """The migrations before this code's head (read from migrations/ once per process)."""
    return frozenset(older_revisions())


def check_database() -> dict[str, Any]:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": FAIL, "reason": "unreachable"}
    try:
        version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:  # no Tipline tables at all: `flask setup` never ran on it
        db.session.rollback()
        version = None
    if version is None or version in _older_revisions():
        # New code restarted before `flask db upgrade` (or an older backup restored): every tip fails on the
        # columns this release's migrations add, while SELECT 1 still answers. A revision this code does not
        # know is a newer release's (a rolling upgrade) and is left to run, as the commands do.
        return {"status": FAIL, "reason": "not_migrated"}
    return {"status": OK}


def check_keyring(app: Flask, database_ok: bool, detail: bool = False) -> dict[str, Any]:
    """Loaded as intake loads it, and checked against the database's key checks when the database answers;
    degraded when tips are wrapped by a key the keyring does not hold. `detail`: the reason in words (it may name
    a path), for `flask health` only."""
    try:
        if not database_ok:
            load_keyring(*keyring_source(app))
            return {"status": OK}
        missing = db_missing_versions(current_keyring())
    except KeyringUnavailable as exc:
        return {"status": FAIL, "reason": "unavailable", **({"detail": str(exc)} if detail else {})}
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": FAIL, "reason": "unverified"}
    if missing:
        # New tips are still sealed (the node stays in rotation), but staff cannot open the tips of these keys.
        return {"status": DEGRADED, "reason": "keys_missing"}
    try:
        receipt_key = receipt_key_state()
    except SQLAlchemyError:  # a database not yet migrated this far: nothing recorded to compare with
        db.session.rollback()
        receipt_key = KEY_UNRECORDED
    if receipt_key == KEY_CHANGED:
        # Tips are taken and sealed, but no reporter's receipt code opens their report: RECEIPT_HMAC_KEY is not
        # the key their codes were hashed under (a restore or a move without it).
        return {"status": DEGRADED, "reason": "receipt_key_changed"}
    if _keyring_file_readable_by_others(app):
        # Tips are taken, but every local user (and whatever copies the folder) can read the key of every tip.
        return {"status": DEGRADED, "reason": "readable_by_others"}
    return {"status": OK}


def _keyring_file_readable_by_others(app: Flask) -> bool:
    path, env_value = keyring_source(app)
    if env_value:
        return False
    try:
        return readable_by_others(path.stat().st_mode)
    except OSError:  # gone since it was read: the next check fails on it
        return False


def check_model(app: Flask, detail: bool = False) -> dict[str, Any]:
    """The triage model loads (once per process: the triage library keeps it, we remember that it worked).
    `detail`: why not, in words (the model directory's path among them), for `flask health` only."""
    if app.extensions.get(_MODEL_OK):
        return {"status": OK}
    try:
        triage.load_model(Path(app.config["TRIAGE_MODEL_DIR"]))
    except Exception as exc:  # noqa: BLE001 - missing (ModelNotTrained), cut short (BadZipFile) or damaged: not loaded
        why = str(exc) if isinstance(exc, triage.ModelUnusable) else f"{type(exc).__name__}: {exc}"
        return {"status": FAIL, "reason": "not_loaded", **({"detail": why} if detail else {})}
    app.extensions[_MODEL_OK] = True
    return {"status": OK}


def _writable_places(app: Flask) -> list[Path]:
    """Where this node writes: its instance folder (keyring, sessions of the dev server) and, on SQLite, the
    database's folder. PostgreSQL's disk is the database server's to watch."""
    places = [Path(app.instance_path)]
    url = make_url(str(app.config["SQLALCHEMY_DATABASE_URI"]))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        places.append(Path(url.database).resolve().parent)
    return places


def check_disk(app: Flask) -> dict[str, Any]:
    """Free space where tips are written. A full disk refuses every tip while SELECT 1 still answers, so the node
    looked healthy: below DISK_FULL_MB it is a failure, below HEALTH_MIN_FREE_MB degraded (page someone)."""
    try:
        free_mb = min(shutil.disk_usage(place).free for place in _writable_places(app)) / 2**20
    except OSError:
        return {"status": DEGRADED, "reason": "unknown"}
    seen = {"free_mb": int(free_mb)}
    if free_mb < DISK_FULL_MB:
        return {"status": FAIL, "reason": "full", **seen}
    if free_mb < float(app.config["HEALTH_MIN_FREE_MB"]):
        return {"status": DEGRADED, "reason": "low", **seen}
    return {"status": OK, **seen}


def schools_without_summer_time() -> list[str]:
    """The active schools stored with a zone that keeps no daylight saving time (MST, UTC: saved before the school's
    page and `flask schools create` refused them), as "KWHS (MST)": their hours, which medium tips wait for, are an
    hour or more off for half the year. A school deactivated takes no tips."""
    rows = db.session.execute(select(School.short_name, School.timezone).where(School.active.is_(True))
                              .order_by(School.short_name))
    return [f"{short_name} ({zone})" for short_name, zone in rows if zone_without_summer_time(zone) is not None]


def check_alerts(app: Flask, database_ok: bool, detail: bool = False) -> dict[str, Any]:
    """Outbox lag: an alert due for longer than HEALTH_MAX_ALERT_LAG_S means no worker is sending SMS; one
    retrying after failed sends for that long means Twilio cannot take them (an outage, or our account); on
    SQLite, no worker's lease for that long means no worker runs, before any alert has to wait for it; an
    urgent tip whose whole chain failed to get an SMS reaches no one until someone takes it in the console; more
    alert SMS in the last hour than ALERT_SMS_HOURLY_WARN is a flood the operator should look at; a school stored
    with a zone without summer time pages an hour off for half the year. `detail`: which schools, for `flask health`
    only."""
    if not database_ok:
        return {"status": FAIL, "reason": "unknown"}
    try:
        lag = oldest_due_age_s()
        failing = oldest_failing_age_s()
        # SQLite: the one worker renews its lease every round, so a lapsed lease is a dead worker even while
        # nothing is due. (PostgreSQL workers hold no lease: there only the lag above tells.)
        idle = seconds_without_worker() if db.engine.dialect.name == "sqlite" else None
        unreached = count_unreached_tips()
        flood = sms_volume_too_high()
        zones = schools_without_summer_time()
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": FAIL, "reason": "unknown"}
    limit = float(app.config["HEALTH_MAX_ALERT_LAG_S"])
    # Every answer counts the urgent tips that reach no one, so an outage (named first) does not hide them.
    seen = {"oldest_due_s": round(lag or 0.0, 1), "unreached_tips": unreached}
    if lag is not None and lag > limit:
        return {"status": DEGRADED, "reason": "outbox_stale", **seen}
    if failing is not None and failing > limit:
        return {"status": DEGRADED, "reason": "sends_failing", **seen, "failing_for_s": round(failing, 1)}
    if unreached:  # before no_worker: a tip that needs a person now says more than a worker that needs a restart
        return {"status": DEGRADED, "reason": "unreached", **seen}
    if idle is not None and idle > limit:
        return {"status": DEGRADED, "reason": "no_worker", **seen}
    if flood:
        # More alert SMS in the last hour than ALERT_SMS_HOURLY_WARN (a prank flood?): all are still sent. The count
        # is for /metrics and the log, not this public page (it says how many tips came in).
        return {"status": DEGRADED, "reason": "sms_volume", **seen}
    if zones:
        # Saved before such zones were refused: nothing else says so. The schools are named in the shell only.
        why = (f"{', '.join(zones)}: a time zone without daylight saving time, so the school's hours (which medium "
               "tips wait for) are an hour or more off for half the year. A district admin chooses the place's zone "
               "on the school's page in the console (Schools), e.g. America/Denver.")
        return {"status": DEGRADED, "reason": "school_zone", **seen, **({"detail": why} if detail else {})}
    return {"status": OK, **seen}


def run_checks(app: Flask, detail: bool = False) -> dict[str, Any]:
    """{"status": "ok" | "degraded" | "fail", "checks": {...}}. Degraded: the web side works, SMS lag.
    `detail` adds the reason in words (paths included) to a failing keyring or model, and names the schools of a
    `school_zone`: never for /healthz."""
    checks: dict[str, dict[str, Any]] = {"database": check_database()}
    database_ok = checks["database"]["status"] == OK
    checks["keyring"] = check_keyring(app, database_ok, detail)
    checks["model"] = check_model(app, detail)
    checks["disk"] = check_disk(app)
    checks["alerts"] = check_alerts(app, database_ok, detail)
    if any(checks[name]["status"] == FAIL for name in ESSENTIAL):
        status = FAIL
    elif any(check["status"] != OK for check in checks.values()):
        status = DEGRADED
    else:
        status = OK
    return {"status": status, "checks": checks}
