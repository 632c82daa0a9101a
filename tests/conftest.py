"""Fixtures shared by the whole suite: a fresh app and database per test, on SQLite or PostgreSQL.

SQLite: the schema is migrated once into a template file, copied for each test.
PostgreSQL (TEST_DATABASE_URL set): a fresh schema per run, migrated once, emptied before each test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app import create_app  # noqa: E402
from app.crypto.keyring import new_keyring, write_keyring  # noqa: E402
from app.extensions import db  # noqa: E402

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
SECRET = "test-secret-" + "x" * 40
# Production refuses to run without Twilio; these settings satisfy it (nothing is sent in those tests).
PRODUCTION_TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32,
                     "TWILIO_FROM_NUMBER": "+15005550006", "TWILIO_API_BASE_URL": "http://127.0.0.1:9"}


def on_postgres() -> bool:
    return PG_URL.startswith("postgresql")


def base_config(tmp: Path, database_url: str, model_dir: Path) -> dict[str, Any]:
    keyring_path = tmp / "keyring.json"
    if not keyring_path.exists():
        write_keyring(keyring_path, new_keyring())
    return {
        "TIPLINE_ENV": "testing",
        "INSTANCE_PATH": str(tmp),
        "SECRET_KEY": SECRET,
        "RECEIPT_HMAC_KEY": "receipt-" + "k" * 40,
        "DATABASE_URL": database_url,
        "KEYRING_PATH": str(keyring_path),
        "TRIAGE_MODEL_DIR": str(model_dir),
        "PUBLIC_BASE_URL": "http://tipline.test",
        "LOG_FORMAT": "json",
        "RATELIMIT_STORAGE_URI": "memory://",
        "ALERT_WAKE_PORT": 0,  # tests that want the cross-process wake-up choose a free port themselves
        "HEALTH_MIN_FREE_MB": 0,  # a test machine short of disk is not a degraded node; test_health sets its own
    }


@pytest.fixture(scope="session")
def triage_model_dir() -> Path:
    """The trained triage model (trained once when missing; `make run` shares it)."""
    model_dir = Path(os.environ.get("TRIAGE_MODEL_DIR", REPO / "instance" / "triage"))
    subprocess.run(
        [sys.executable, "-m", "triage", "train", "--if-missing"],
        cwd=REPO, env={**os.environ, "TRIAGE_MODEL_DIR": str(model_dir)}, check=True,
    )
    return model_dir


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for this run, migrated to head, dropped at the end."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """The URL of a database at the latest migration (SQLite template file or PostgreSQL schema)."""
    from flask_migrate import upgrade

    tmp = tmp_path_factory.mktemp("template")
    url = request.getfixturevalue("pg_schema_url") if on_postgres() else f"sqlite:///{tmp / 'template.db'}"
    app = create_app(base_config(tmp, url, tmp / "no-model"))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


def _empty_postgres(app: Flask) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import inspect

    from app.backup import migration_head

    with app.app_context():
        there = set(inspect(db.engine).get_table_names())
        version = None
        if "alembic_version" in there:
            with db.engine.connect() as conn:
                version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if version != migration_head() or any(t.name not in there for t in db.metadata.sorted_tables):
            # A test left the schema below the head on purpose (an upgrade refused for a wrong keyring; the worker
            # on a database without a later migration's table): the next test on this worker, whichever file it
            # comes from, gets the schema whole again ("relation sms_check does not exist" otherwise).
            with db.engine.begin() as conn:
                for name in there:
                    conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
            upgrade()
            return
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def make_app(
    tmp_path: Path, migrated_database: str, triage_model_dir: Path
) -> Iterator[Callable[..., Flask]]:
    """Build an app on a fresh, migrated database; keyword arguments override the settings."""
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        instance = tmp_path / "instance"
        instance.mkdir(exist_ok=True)
        if on_postgres():
            url = migrated_database
        else:
            db_file = instance / "tipline.db"
            if not db_file.exists():
                shutil.copyfile(migrated_database.removeprefix("sqlite:///"), db_file)
            url = f"sqlite:///{db_file}"
        config = base_config(instance, url, triage_model_dir)
        config.update(overrides)
        app = create_app(config)
        if on_postgres() and not apps:
            _empty_postgres(app)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def demo(app: Flask) -> Flask:
    """The app with the Natrona County demo district loaded."""
    from app.demo_data import seed_demo

    with app.app_context():
        seed_demo()
    return app


def random_secret() -> str:
    return secrets.token_urlsafe(40)
