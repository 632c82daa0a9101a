"""A production-like Tipline on 127.0.0.1 for benchmarks and the soak: a temporary instance folder with a
keyring, generated secrets in the environment, a fresh database (SQLite file or PostgreSQL schema) migrated
and seeded with the demo district, gunicorn with the production settings, the alert worker and the fake
Twilio as separate processes. Everything is removed when the `Deployment` block ends."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.common import REPO, VENV_BIN, Child, free_port, wait_http

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FAKE_ACCOUNT_SID = "AC" + "fa4e" * 8  # the fake's default account (tests/fakes/twilio_api.py)
FAKE_SENDER = "+15005550006"
GUNICORN_CONF = REPO / "gunicorn.conf.py"
CLOSED_PORT_URL = "http://127.0.0.1:9"
# No reporter-side limits in a load test: every request comes from 127.0.0.1, like one school behind NAT.
LOOSE = {"INTAKE_RATE_LIMIT": "1000000 per minute", "RECEIPT_RATE_LIMIT": "1000000 per minute",
         "RECEIPT_GLOBAL_RATE_LIMIT": "1000000 per minute"}


def model_dir() -> Path:
    """The trained triage model (trained once when missing, as `make test` does)."""
    directory = Path(os.environ.get("TRIAGE_MODEL_DIR", REPO / "instance" / "triage"))
    subprocess.run([sys.executable, "-m", "triage", "train", "--if-missing"], cwd=REPO, check=True,
                   env={**os.environ, "TRIAGE_MODEL_DIR": str(directory)}, stdout=subprocess.DEVNULL)
    return directory


@dataclass
class Deployment:
    engine: str  # "sqlite" or "postgres"
    name: str = "bench"
    extra_env: dict[str, str] = field(default_factory=dict)
    tmp: Path = field(init=False)
    database_url: str = field(init=False)
    env: dict[str, str] = field(init=False)
    children: list[Child] = field(default_factory=list)
    _schema: str | None = None

    def __enter__(self) -> Deployment:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"tipline-{self.name}-"))
        (self.tmp / "logs").mkdir()
        if self.engine == "sqlite":
            self.database_url = f"sqlite:///{self.tmp / 'tipline.db'}"
        else:
            self._schema = f"bench_{uuid.uuid4().hex[:10]}"
            _pg_execute(f'CREATE SCHEMA "{self._schema}"')
            sep = "&" if "?" in PG_URL else "?"
            self.database_url = f"{PG_URL}{sep}options={quote(f'-csearch_path={self._schema}')}"
        from app.crypto.keyring import new_keyring, write_keyring

        write_keyring(self.tmp / "keyring.json", new_keyring())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "ALERT_", "TIPLINE_"))}
        env.update({
            "TIPLINE_ENV": "production", "TIPLINE_INSTANCE_PATH": str(self.tmp), "FLASK_APP": "wsgi",
            "SECRET_KEY": secrets.token_urlsafe(48), "RECEIPT_HMAC_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": self.database_url, "KEYRING_PATH": str(self.tmp / "keyring.json"),
            "TRIAGE_MODEL_DIR": str(model_dir()), "PUBLIC_BASE_URL": "http://127.0.0.1:9",
            "LOG_LEVEL": "WARNING", "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", **LOOSE,
            # Production refuses 0 (README, Proxy): one hop, as behind nginx. The load comes straight to gunicorn
            # with no X-Forwarded-For, so every simulated reporter is 127.0.0.1, under the loose limits above.
            "TRUSTED_PROXY_HOPS": "1",
        })
        # Production insists on Twilio: until a fake runs (twilio_env), SMS would go to a closed loopback port.
        env.update(self.twilio_env(CLOSED_PORT_URL, CLOSED_PORT_URL))
        # Its own wake-up port: another deployment's worker on the default port would get this one's wake-ups.
        env["ALERT_WAKE_PORT"] = str(free_port(udp=True))
        # Limits shared between gunicorn workers, as production runs them (deploy/tipline.env.example).
        env["RATELIMIT_STORAGE_URI"] = REDIS_URL if redis_available() else "memory://"
        env.update(self.extra_env)
        self.env = env
        self._migrate_and_seed()
        return self

    def __exit__(self, *exc: object) -> None:
        for child in reversed(self.children):
            child.stop()
        if self._schema:
            _pg_execute(f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE')
        if os.environ.get("BENCH_KEEP_TMP"):
            print(f"(kept {self.tmp})")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def app(self, **overrides: Any) -> Any:
        """An app object on the same database, in this process (seeding, reading results). Not production:
        demo data is refused there, and nothing here serves requests."""
        from app import create_app

        config = {"TIPLINE_ENV": "development", "INSTANCE_PATH": str(self.tmp), "SECRET_KEY": self.env["SECRET_KEY"],
                  "RECEIPT_HMAC_KEY": self.env["RECEIPT_HMAC_KEY"], "DATABASE_URL": self.database_url,
                  "KEYRING_PATH": self.env["KEYRING_PATH"], "TRIAGE_MODEL_DIR": self.env["TRIAGE_MODEL_DIR"],
                  "LOG_LEVEL": "WARNING", "SMS_TRANSPORT": "console"}
        config.update(overrides)
        return create_app(config)

    def _migrate_and_seed(self) -> None:
        from flask_migrate import upgrade

        from app.demo_data import seed_demo
        from app.extensions import db

        app = self.app()
        with app.app_context():
            upgrade()
            seed_demo()
            db.session.remove()
            db.engine.dispose()

    # -- processes -------------------------------------------------------------------------------------

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(args, env or self.env, self.tmp / "logs" / f"{name}.log", name)
        self.children.append(child)
        return child

    def gunicorn(self, name: str, app_spec: str = "wsgi:app", workers: int | None = None,
                 env: dict[str, str] | None = None, port: int | None = None) -> tuple[Child, str]:
        """gunicorn with the project's gunicorn.conf.py (when there is one), bound to a loopback port."""
        port = port or free_port()
        args = [str(VENV_BIN / "gunicorn")]
        if GUNICORN_CONF.exists():
            args += ["-c", str(GUNICORN_CONF)]
        args += ["--bind", f"127.0.0.1:{port}"]
        if workers is not None or not GUNICORN_CONF.exists():
            args += ["--workers", str(workers or 2), "--threads", "4", "--worker-class", "gthread"]
        args.append(app_spec)
        child = self.start(name, args, env)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(url + "/", timeout=60)
        except TimeoutError:
            raise RuntimeError(f"{name} did not start:\n{child.tail()}") from None
        return child, url

    def fake_twilio(self, fail_rate: float = 0.0, seed: int = 7, callback_delay: float = 0.05) -> tuple[Child, str]:
        """The fake Twilio REST API as its own process; returns it and its URL."""
        port = free_port()
        child = self.start("fake-twilio", [sys.executable, "-m", "tests.fakes.fake_twilio", "--port", str(port),
                                           "--fail-rate", str(fail_rate), "--seed", str(seed),
                                           "--callback-delay", str(callback_delay)], env=dict(self.env))
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/_fake/state", timeout=30)
        return child, url

    def twilio_env(self, fake_url: str, public_url: str) -> dict[str, str]:
        """Settings that send SMS to the fake and status callbacks to `public_url` (the intake server)."""
        from tests.fakes.twilio_api import FAKE_AUTH_TOKEN

        return {"SMS_TRANSPORT": "twilio", "TWILIO_ACCOUNT_SID": FAKE_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": FAKE_AUTH_TOKEN,
                "TWILIO_FROM_NUMBER": FAKE_SENDER, "TWILIO_API_BASE_URL": fake_url, "TWILIO_TIMEOUT_S": "2",
                "PUBLIC_BASE_URL": public_url}

    def alert_worker(self, env: dict[str, str], poll: float | None = None, name: str = "alert-worker") -> Child:
        args = [str(VENV_BIN / "flask"), "alerts", "run"]
        if poll is not None:
            args += ["--poll", str(poll)]
        return self.start(name, args, env)


def _pg_execute(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def redis_available() -> bool:
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(REDIS_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def pg_available() -> bool:
    try:
        _pg_execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means: skip the PostgreSQL half, say why
        print(f"PostgreSQL at {re.sub(r'//[^@]*@', '//', PG_URL)} unavailable: {type(exc).__name__}")
        return False
    return True


def fake_state(fake_url: str) -> dict[str, Any]:
    import json
    import urllib.request

    with urllib.request.urlopen(fake_url + "/_fake/state", timeout=30) as response:  # noqa: S310 - loopback
        state: dict[str, Any] = json.loads(response.read())
    return state


def wait_until(check: Any, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())
