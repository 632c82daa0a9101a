"""`flask tips purge`, `flask backup create|verify|prune` and `flask health`: running Tipline in production."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from app.backup import BackupError, NotSQLite, create_backup, pg_dump_instructions, plan_prune, verify_backup
from app.cli.operator import operator_label
from app.cli.schema import needs_schema
from app.console.clock import on_the_wall
from app.extensions import db
from app.models import School, Staff, Tip
from app.retention import (
    DEFAULT_BATCH,
    PAUSED,
    PurgeResult,
    count_unclosed_past_retention,
    db_purge_expired_tips,
    purge_expired_tips,
    retention_paused,
)


@click.group("tips")
def tips_group() -> None:
    """Tips as a whole: retention."""


@tips_group.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be shredded; change nothing.")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(min=1),
              help="Tips per transaction.")
@with_appcontext
@needs_schema
def purge_command(dry_run: bool, batch: int) -> None:
    """Crypto-shred closed tips older than RETENTION_DAYS (their content becomes unreadable for good)."""
    days = current_app.config["RETENTION_DAYS"]
    if dry_run:
        result = db_purge_expired_tips(dry_run=True)
        db.session.rollback()
        for ref in result.refs:
            click.echo(ref)
        click.echo(f"{result.count} closed tips are older than {days} days and would be shredded (dry run).")
        _mention_held(result.held, days)
        _mention_unclosed(days)
        if retention_paused():
            click.echo(f"Nothing will be shredded while it is so: {PAUSED}.")
        return
    if retention_paused():
        raise click.ClickException(f"nothing shredded. {PAUSED}.")

    def progress(step: PurgeResult) -> None:
        click.echo(f"shredded {step.count} tips: {', '.join(step.refs)}")

    total = purge_expired_tips(batch=batch, progress=progress, actor_label=operator_label())
    click.echo(f"{total.count} closed tips older than {days} days shredded.")
    _mention_held(total.held, days)
    _mention_unclosed(days)


def _mention_held(held: list[str], days: int) -> None:
    if held:
        click.echo(f"{len(held)} closed tips older than {days} days are on legal hold and kept: {', '.join(held)} "
                   "(`flask tips holds` lists every hold).")


@tips_group.command("holds")
@with_appcontext
@needs_schema
def holds_command() -> None:
    """List the cases on legal hold: reference, school, since when, by whom (never the reason)."""
    rows = db.session.execute(
        select(Tip.ref, School.short_name, Tip.status, Tip.legal_hold_at, Staff.email)
        .join(School, School.id == Tip.school_id).outerjoin(Staff, Staff.id == Tip.legal_hold_by_id)
        .where(Tip.on_legal_hold).order_by(Tip.legal_hold_at, Tip.id)).all()
    for ref, school, status, since, by in rows:
        click.echo(f"{ref}  {school}  {status}  on hold since {on_the_wall(since)}  by {by or '?'}")
    click.echo(f"{len(rows)} cases on legal hold.")


def _mention_unclosed(days: int) -> None:
    kept = count_unclosed_past_retention()
    if kept:
        click.echo(f"{kept} cases not closed have not changed in more than {days} days: they are kept, however old, "
                   "until someone closes them in the console (only closing starts the retention period).")


@click.group("backup")
def backup_group() -> None:
    """Database backups (the keyring is never in them: back it up apart)."""


@backup_group.command("create")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def create_command(path: Path) -> None:
    """Copy the running database to PATH, consistently (SQLite online backup)."""
    uri = current_app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        create_backup(uri, path)
    except NotSQLite:
        click.echo(pg_dump_instructions(uri), err=True)
        sys.exit(2)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        result = verify_backup(path)
    except BackupError as exc:
        # Not a Tipline database at all (DATABASE_URL pointing elsewhere): no copy left named as a backup.
        path.unlink(missing_ok=True)
        raise click.ClickException(f"the copy does not check out ({exc}): is DATABASE_URL this district's "
                                   "database? Nothing was kept") from None
    click.echo(f"backup written to {path}: {result.tips} tips, schema {result.schema_version}, "
               f"integrity {result.integrity}.")
    click.echo("The keyring is NOT in this backup; keep its own copy apart (README, Running in production).")
    if not result.ok:
        # Kept (it may be the best copy there is), but the nightly unit must fail, not report success.
        click.echo("BACKUP NOT USABLE: `flask backup verify` says why", err=True)
        sys.exit(1)


@backup_group.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify_command(path: Path) -> None:
    """Open a backup read-only: integrity check, schema at the latest migration, tips counted."""
    try:
        result = verify_backup(path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"integrity: {result.integrity}")
    click.echo(f"schema:    {result.schema_version} (latest: {result.head})")
    if result.older:
        click.echo("           an older release: run `flask db upgrade` once it is restored")
    click.echo(f"tips:      {result.tips} ({result.shredded} shredded after retention)")
    if not result.ok:
        click.echo("BACKUP NOT USABLE", err=True)
        sys.exit(1)
    click.echo("OK")


@backup_group.command("prune")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--keep-days", type=click.IntRange(min=1), default=None,
              help="Delete nightly backups older than this (default: BACKUP_KEEP_DAYS, 35).")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@with_appcontext
def prune_command(directory: Path, keep_days: int | None, dry_run: bool) -> None:
    """Delete tipline-*.db backups in DIRECTORY older than the keep period, never the newest that verifies.

    Old backups keep shredded tips readable to whoever holds the keyring: retention needs them gone too."""
    days = int(current_app.config["BACKUP_KEEP_DAYS"] if keep_days is None else keep_days)
    try:
        plan = plan_prune(directory, days)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    for path in plan.delete:
        if dry_run:
            click.echo(f"would delete {path}")
            continue
        try:
            path.unlink()
        except OSError as exc:
            raise click.ClickException(f"cannot delete {path}: {exc.strerror}") from None
        click.echo(f"deleted {path}")
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {len(plan.delete)} backups older than {days} days; kept {len(plan.keep)} "
               f"(newest usable: {plan.newest_usable.name if plan.newest_usable else 'none'}).")


@click.command("health")
@with_appcontext
def health_command() -> None:
    """The same checks as GET /healthz, for a shell or a cron job; exit 0 ok, 2 degraded, 1 fail.

    Degraded (no worker, alerts waiting or failing, a tip that reaches no one) is not 0: no SMS may be going out,
    and whoever runs this from cron must be paged, as README says for /healthz."""
    from app.database import reading
    from app.ops.health import run_checks

    # Only reads, as /healthz does (`reads_only`): a writer holding SQLite past the busy timeout (a purge, a
    # migration) must not make the database look unreachable here while /healthz says ok.
    with reading():
        # With the reasons in words (a path among them): this is the operator's shell, not the open /healthz.
        report = run_checks(current_app._get_current_object(), detail=True)  # type: ignore[attr-defined]
    click.echo(json.dumps(report, indent=2))
    if report["status"] != "ok":
        sys.exit(1 if report["status"] == "fail" else 2)


COMMANDS = [tips_group, backup_group, health_command]
