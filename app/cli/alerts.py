"""`flask alerts ...`: the alert worker and a look at the outbox."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from app.cli.schema import check_schema, needs_schema
from app.extensions import db
from app.models import Alert, AlertStatus


@click.group("alerts")
def alerts_group() -> None:
    """The SMS alert outbox and its worker."""


@alerts_group.command("run")
@click.option("--poll", "poll_s", default=1.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds between checks when idle.")
@click.option("--batch", default=50, show_default=True, type=click.IntRange(min=1),
              help="Alerts sent per round at most (each claimed just before it is sent).")
@click.option("--once", is_flag=True, help="Run one round and exit (cron, tests).")
@with_appcontext
def run_command(poll_s: float, batch: int, once: bool) -> None:
    """Send due alerts and escalate overdue ones until stopped (SIGTERM or Ctrl-C stop cleanly)."""
    from app.alerts.worker import run_worker

    check_schema(refuse_older=False)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    rounds = run_worker(app, stop=stop, poll_s=poll_s, batch=batch, max_rounds=1 if once else None)
    click.echo(f"alert worker stopped after {rounds} round(s)")


@alerts_group.command("status")
@with_appcontext
@needs_schema
def status_command() -> None:
    """Count alerts by status and show the outbox lag."""
    from app.alerts.dispatcher import oldest_due_age_s

    rows = db.session.execute(select(Alert.status, func.count()).group_by(Alert.status)).all()
    for status, count in sorted(rows):
        click.echo(f"{status:14} {count}")
    retrying = db.session.execute(
        select(Alert.error_code, func.count(), func.max(Alert.send_failures))
        .where(Alert.status == AlertStatus.PENDING.value, Alert.send_failures > 0)
        .group_by(Alert.error_code)).all()
    for code, count, most in sorted(retrying, key=lambda row: str(row[0])):
        click.echo(f"retrying after failed sends: {count} (last error {code}, up to {most} failures)")
    lag = oldest_due_age_s()
    click.echo(f"oldest due alert: {'none' if lag is None else f'{lag:.1f} s'}")


COMMANDS = [alerts_group]
