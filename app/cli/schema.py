"""`needs_schema`: a command that reads Tipline's tables first checks that the database has them, at this
release's migration, and otherwise says which command makes it so (instead of a SQLAlchemy traceback). A
database that cannot be reached, or that another process holds locked past the busy timeout, stops it with one
line too, whether at the check or later in the command (the check only reads, so a writer's lock lets it by)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from flask import current_app
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.backup import migration_head, older_revisions
from app.database import reading
from app.extensions import db

F = TypeVar("F", bound=Callable[..., Any])


def needs_schema(command: F) -> F:
    """Under `with_appcontext`: refuse to run on a database without the schema, or behind this release's."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check_schema()
        with database_errors_in_one_line():
            return command(*args, **kwargs)

    return checked  # type: ignore[return-value]


@contextmanager
def database_errors_in_one_line() -> Iterator[None]:
    """A database that cannot be reached or stays locked past the busy timeout: one line, exit 1, not a
    SQLAlchemy traceback. The transaction is rolled back whole; the reason is the driver's first line (no SQL,
    no values: `hide_parameters`)."""
    try:
        yield
    except OperationalError as exc:
        db.session.rollback()
        where = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise click.ClickException(f"the database {where} could not be read ({reason}): check DATABASE_URL and "
                                   "that the database server is up, or run this again when the process holding "
                                   "it is done") from None


def check_schema(*, refuse_older: bool = True) -> None:
    """`refuse_older=False` (the alert worker) only warns about an older migration: SMS must keep going through
    a release whose new columns the worker does not read."""
    where = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
    try:
        with reading():
            connection = db.session.connection()
            current = (connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                       if inspect(connection).has_table("alembic_version") else None)
    except OperationalError as exc:
        if not refuse_older:
            return  # the alert worker: it logs the error and tries again, round after round
        # Any other command would die on it with a SQLAlchemy traceback: one line instead, as `flask setup` says.
        with database_errors_in_one_line():
            raise exc from None
    if current is None:
        raise click.ClickException(f"the database {where} has no Tipline tables: run `flask setup` first "
                                   "(or check DATABASE_URL: is the environment file loaded?)")
    if current in older_revisions():
        message = (f"the database {where} is at migration {current}, before this release's {migration_head()}: "
                   "run `flask db upgrade` first")
        if refuse_older:
            raise click.ClickException(message)
        click.echo(f"WARNING: {message}", err=True)
    # A revision this code does not know belongs to a newer release (a rolling upgrade): left to run.
