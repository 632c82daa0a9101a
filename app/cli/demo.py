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
    from app.demo_data import seed_demo

    with database_errors_in_one_line():
        click.echo(seed_demo())
