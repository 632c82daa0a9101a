"""Flask extensions, created here without an app and bound in create_app()."""

from __future__ import annotations

from flask import Flask
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, text
from sqlalchemy.orm import DeclarativeBase

from app.client_keys import client_key

# Explicit constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
csrf = CSRFProtect()
login_manager = LoginManager()
# Off: "basic" protection stores a hash of the staff member's IP address and user agent ("_id") in the session
# cookie, which is signed but readable. Sessions end by Staff.session_generation (app/accounts/session.py);
# sign-in drops the "_id" that login_user() writes anyway (app/console/auth.py).
login_manager.session_protection = None


class AppLimiter(Limiter):
    """Flask-Limiter's Limiter whose "storage down: counting in memory" state (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED)
    starts afresh with each app it is bound to: the instance is module-level, and tests bind it to many apps."""

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        self._storage_dead = False


# Keys are keyed hashes of the client address (app/client_keys.py): no address is ever held in clear.
limiter = AppLimiter(key_func=client_key, default_limits=[], headers_enabled=False)
babel = Babel()


# The advisory lock's key: a hash of the name within the schema, since advisory locks are the whole database's and
# another Tipline's schema in it (a second district, the test suite's other process) is none of this one's business.
ADVISORY_KEY_SQL = "hashtextextended(current_schema() || '/' || :name, 0)"


def db_take_turns_on(name: str) -> None:
    """Let transactions about the same `name` (an SMS's SID, an email of no account, the audit chain: things with no
    row to lock) take turns until each ends. PostgreSQL: a transaction-level advisory lock keyed by a hash of the
    schema and the name; SQLite's write lock, taken at BEGIN, already does this."""
    if name and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_KEY_SQL})"), {"name": name})
