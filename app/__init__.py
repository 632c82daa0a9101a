"""Tipline: create_app() is the one place the application is assembled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from app.config import instance_path_from_env, load_settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides every other source (tests pass theirs here)."""
    config = dict(config or {})
    instance_path = Path(config.pop("INSTANCE_PATH", None) or instance_path_from_env())
    app = Flask(__name__, instance_path=str(instance_path), instance_relative_config=False)
    app.config.update(load_settings(instance_path, config))

    from app.logs import configure_logging

    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])

    from app.database import configure_postgresql, configure_sqlite, engine_options
    from app.extensions import babel, csrf, db, limiter, login_manager, migrate
    from app.i18n import select_locale

    # Options set in instance/config.py (a pool size, say) add to the app's own, never replace them; and SQL values
    # stay out of every error and log line whatever was set (a statement's values may be a reporter's).
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **engine_options(app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLITE_BUSY_TIMEOUT_S"],
                         app.config["SQLITE_WRITER_QUEUE"]),
        **dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}),
        "hide_parameters": True,
    }
    from app import models  # noqa: F401  (the tables must be known to SQLAlchemy and Alembic)
    from app.accounts import session as _session  # noqa: F401  (the user loader)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    with app.app_context():
        configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_S"])
        configure_postgresql(db.engine, app.config["SQLITE_BUSY_TIMEOUT_S"])

    from app.web import install_web

    install_web(app)

    from app.alerts.sms import init_sms

    init_sms(app)
    from app.cli import register_cli

    register_cli(app)
    if app.config["ALERT_IN_PROCESS_DISPATCHER"]:
        from app.alerts.worker import start_in_process_dispatcher

        start_in_process_dispatcher(app)
    return app
