"""The baseline: the least a Flask app can do for one tip, to price everything Tipline adds.

GET /report renders a small form with a random token in a session cookie; POST /report checks the token and
inserts one 2 KB row in its own transaction, then redirects (303), like the real intake. Same database engine
settings as Tipline (app/database.py: SQLite WAL, busy timeout, BEGIN IMMEDIATE; PostgreSQL pool), same
gunicorn. No triage, no encryption, no outbox, no templates, no rate limits.

    DATABASE_URL=sqlite:////tmp/b.db gunicorn 'bench.baseline_app:create_baseline_app()'

"""

from __future__ import annotations

import os
import secrets

from flask import Flask, abort, redirect, request, session
from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, Table, create_engine, func, insert
from sqlalchemy.engine import Engine
from werkzeug.wrappers import Response

from app.config import normalise_database_url
from app.database import configure_sqlite, engine_options

ROW_BYTES = 2048
metadata = MetaData()
baseline_tip = Table(
    "baseline_tip", metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime, server_default=func.now()),
    Column("body", LargeBinary),
)


def baseline_engine(database_url: str) -> Engine:
    url = normalise_database_url(database_url)
    queue = os.environ.get("SQLITE_WRITER_QUEUE", "1").strip().lower() in {"1", "true", "yes", "on"}
    engine = create_engine(url, **engine_options(url, 30, queue))
    configure_sqlite(engine, 30)
    return engine


def create_baseline_table(database_url: str) -> None:
    """Called by the harness before gunicorn starts, so that workers never race to create it."""
    engine = baseline_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()


def create_baseline_app() -> Flask:
    engine = baseline_engine(os.environ["DATABASE_URL"])
    app = Flask(__name__)
    app.secret_key = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(32)

    @app.get("/")
    def home() -> str:
        return "<!doctype html><title>baseline</title><p>baseline"

    @app.get("/report")
    def form() -> str:
        token = session.setdefault("csrf", secrets.token_urlsafe(16))
        return ('<!doctype html><title>report</title><form method="post">'
                f'<input type="hidden" name="csrf_token" value="{token}">'
                '<select name="school"><option value="1">one</option></select>'
                '<textarea name="description"></textarea><button>Send</button></form>')

    @app.post("/report")
    def submit() -> Response:
        if not secrets.compare_digest(request.form.get("csrf_token", ""), session.get("csrf", "-")):
            abort(400)
        body = request.form.get("description", "").encode()[:ROW_BYTES].ljust(ROW_BYTES, b" ")
        with engine.begin() as conn:
            conn.execute(insert(baseline_tip).values(body=body))
        return redirect("/receipt", code=303)

    return app

