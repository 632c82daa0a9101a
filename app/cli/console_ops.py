"""`flask audit verify` (check the audit chain) and `flask triage export-labels` (staff corrections as
training data, decrypted: the export itself is an audit event)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app import audit
from app.cli.operator import operator_label
from app.cli.schema import needs_schema
from app.crypto.errors import DecryptionFailed, KeyringUnavailable, TipShredded
from app.crypto.service import open_tip_text
from app.database import reading
from app.extensions import db
from app.models import Tip


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit record."""


@audit_group.command("verify")
@with_appcontext
@needs_schema
def verify_command() -> None:
    """Check every event's hash and link; name the first broken one and exit 1 if any."""
    report = audit.verify_chain()
    if not report.ok:
        click.echo(f"BROKEN at audit event {report.first_broken_id}: {report.reason} "
                   f"({report.checked} events before it are intact)", err=True)
        sys.exit(1)
    click.echo(f"OK: {report.checked} audit events, chain intact.")


@click.group("triage")
def triage_group() -> None:
    """The triage model's data from the console."""


@triage_group.command("export-labels")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this new file (owner-only) instead of standard output; an existing file is never "
                   "overwritten.")
@with_appcontext
@needs_schema
def export_labels_command(out: Path | None) -> None:
    """Corrected tips as {"text","category","urgency"} JSON lines, the taxonomy's training format."""
    if out is not None and (out.exists() or out.is_symlink()):
        # A slip of the path (the database, the keyring, yesterday's export) must not be destroyed.
        raise click.ClickException(f"{out} exists already: give a new file name (nothing was written)")
    handle: TextIO = sys.stdout
    if out is not None:
        # Created here, owner-only (decrypted tips: never world-readable); O_EXCL fails if it appeared meanwhile.
        # Opened before any tip is decrypted: a folder that does not exist or cannot be written is a sentence.
        try:
            handle = os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror} (nothing was written)") from None
    exported: list[str] = []  # references of the tips decrypted and handed to the output
    skipped: list[str] = []
    try:
        # Only reads until the audit event: on SQLite the write lock stays free for tips and alerts however long
        # the writing takes (a pipe to `less`, a slow disk); BEGIN IMMEDIATE held it from the first tip to the last.
        with handle if out is not None else contextlib.nullcontext(handle), reading():
            tips = db.session.scalars(
                select(Tip).where(Tip.label_category.isnot(None), Tip.wrapped_dek.isnot(None)).order_by(Tip.id)
            ).all()
            _write_labels(tips, handle, exported, skipped)
    except BaseException as exc:
        # Stopped part-way (a missing key, a full disk, a closed pipe, Ctrl-C): what was already written is
        # decrypted tips outside the database, so the export is recorded all the same, as incomplete.
        db.session.rollback()
        _record_export(exported, skipped, stopped_by=type(exc).__name__)
        raise
    _record_export(exported, skipped)
    click.echo(f"exported {len(exported)} labelled tips ({len(skipped)} could not be opened)", err=True)


def _record_export(exported: list[str], skipped: list[str], stopped_by: str | None = None) -> None:
    """The `labels.exported` event: which tips, by reference (never their text), and whether it completed."""
    detail: dict[str, Any] = {"count": len(exported), "refs": exported, "skipped": len(skipped),
                             "skipped_refs": skipped}
    if stopped_by is not None:
        detail.update(complete=False, stopped_by=stopped_by)
    audit.record("labels.exported", actor_label=operator_label(), **detail)
    db.session.commit()


def _write_labels(tips: Sequence[Tip], handle: TextIO, exported: list[str], skipped: list[str]) -> None:
    """Write each tip as a JSON line; append its reference to `exported` (or `skipped`) as it goes."""
    for tip in tips:
        try:
            text = open_tip_text(tip)
        except KeyringUnavailable as exc:
            raise click.ClickException(f"cannot open tips: {exc}") from None
        except (DecryptionFailed, TipShredded):
            skipped.append(tip.ref)
            continue
        line = {"text": text, "category": tip.label_category, "urgency": tip.label_urgency or tip.urgency}
        exported.append(tip.ref)  # before the write: a line cut short by a failing write is still recorded
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


COMMANDS = [audit_group, triage_group]
