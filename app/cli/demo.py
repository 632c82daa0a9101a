"""`flask demo seed`: the Natrona County demo district (idempotent)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.cli.schema import check_schema, database_errors_in_one_line


@click.group("demo")
def demo_group() -> None:
    """Demo data for trying Tipline locally."""


@demo_group.command("seed")
@with_appcontext
def seed_command() -> None:
    """Create (or complete) the demo agencies, schools, staff and escalation chains."""
    from flask import current_app

    if current_app.config["PRODUCTION"]:
        raise click.ClickException("Demo data is for development; refusing in production.")
    check_schema()
    from app.crypto.errors import KeyringUnavailable
    from app.demo_data import seed_demo
    from app.extensions import db

    with database_errors_in_one_line():
        try:
            click.echo(seed_demo())
        except KeyringUnavailable as exc:
            # The demo staff's authenticator secrets are sealed under the keyring, which `flask setup` makes.
            db.session.rollback()
            raise click.ClickException(f"{exc}: the demo staff's authenticator secrets are sealed under it, so "
                                       "nothing was created. Run `flask setup --demo` instead.") from None
