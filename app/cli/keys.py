"""`flask keys status | rotate | retire VERSION`: the keyring of key-encryption keys.

Rotation writes the new keyring first (atomically), then re-seals the staff authenticator secrets and re-wraps
the data keys of tips still on an older KEK, in batches committed one by one. Interrupted, it can simply be run
again: the keyring already has the new active key, and only rows whose KEK version differs from it are done.
Tip content is never re-encrypted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import ColumnElement, and_, func, select

from app import audit
from app.cli.operator import operator_label
from app.cli.schema import needs_schema
from app.crypto.envelope import unwrap_data_key
from app.crypto.errors import DecryptionFailed
from app.crypto.keyring import Keyring, KeyringUnavailable, write_keyring
from app.crypto.keystore import (
    current_keyring,
    db_ensure_key_check,
    db_known_versions,
    db_missing_versions,
    forget_keyring,
    keyring_source,
)
from app.crypto.service import db_rewrap_tip_key
from app.crypto.staff_secrets import db_reseal_totp_secret, open_totp_value
from app.extensions import db
from app.models import Staff, Tip

BATCH = 200


def _keyring() -> Keyring:
    try:
        return current_keyring()
    except KeyringUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _writable_path() -> str:
    path, env_value = keyring_source(current_app._get_current_object())  # type: ignore[attr-defined]
    if env_value:
        raise click.ClickException("The keyring comes from TIPLINE_KEYRING: rotate it where it is kept.")
    return str(path)


def _write(path: str, keyring: Keyring) -> None:
    try:
        write_keyring(path, keyring)
    except OSError as exc:
        raise click.ClickException(f"cannot write the keyring {path}: {exc.strerror or exc}; nothing was changed "
                                   "(the keyring and the tips are as they were)") from None


def _usage() -> dict[int, int]:
    rows = db.session.execute(
        select(Tip.kek_version, func.count(Tip.id)).where(Tip.wrapped_dek.isnot(None)).group_by(Tip.kek_version)
    ).all()
    return {int(version): int(count) for version, count in rows if version is not None}


def _staff_usage() -> dict[int, int]:
    """How many staff authenticator secrets each KEK version seals."""
    rows = db.session.execute(
        select(Staff.totp_kek_version, func.count(Staff.id)).where(Staff.totp_secret_sealed.isnot(None))
        .group_by(Staff.totp_kek_version)
    ).all()
    return {int(version): int(count) for version, count in rows if version is not None}


def _staff_left(keyring: Keyring) -> ColumnElement[bool]:
    """Staff whose authenticator secret is sealed under an older KEK than the active one."""
    return and_(Staff.totp_secret_sealed.isnot(None), Staff.totp_kek_version != keyring.active)


def _tips_left(keyring: Keyring) -> ColumnElement[bool]:
    """Tips whose data key is wrapped by an older KEK than the active one."""
    return and_(Tip.wrapped_dek.isnot(None), Tip.kek_version != keyring.active)


Row = TypeVar("Row", Tip, Staff)


def _move_to_active(model: type[Row], left: ColumnElement[bool], move: Callable[[Row], None],
                    named: Callable[[Row], tuple[str, int | None]], batch: int,
                    progress: Callable[[int], None] | None = None) -> tuple[int, dict[int, tuple[str, int | None]]]:
    """Move every row of `model` still on an older KEK (`left`) to the active one with `move`, in batches committed
    one by one: how many moved, and the rows whose key or secret did not open (a damaged, altered or copied row),
    id -> `named` (what names it, its KEK version). Those stay where they are and stop none after them."""
    done = 0
    unopened: dict[int, tuple[str, int | None]] = {}
    while True:
        # Locked (PostgreSQL) and read as they are then: a tip the purge is shredding, or a secret a "Reset sign-in"
        # is clearing, is waited for and then left out, not written back over the shredding or the reset.
        rows = db.session.scalars(
            select(model).where(left, model.id.notin_(sorted(unopened))).order_by(model.id).limit(batch)
            .with_for_update(key_share=True).execution_options(populate_existing=True)).all()
        if not rows:
            return done, unopened
        for row in rows:
            try:
                move(row)
            except DecryptionFailed:
                unopened[row.id] = named(row)
            else:
                done += 1
        db.session.commit()
        if progress is not None:
            progress(done)


@click.group("keys")
def keys_group() -> None:
    """Key-encryption keys: status, rotation, retirement."""


@keys_group.command("status")
@with_appcontext
@needs_schema
def status_command() -> None:
    """Show the keyring's versions and how many tips and staff authenticator secrets each one seals."""
    keyring = _keyring()
    usage, staff = _usage(), _staff_usage()
    for version in sorted(set(keyring.keys) | set(usage) | set(staff)):
        mark = " (active)" if version == keyring.active else ""
        missing = "" if version in keyring.keys else "  MISSING FROM THE KEYRING"
        click.echo(f"KEK {version}{mark}: {usage.get(version, 0)} tips, {staff.get(version, 0)} staff "
                   f"authenticator secrets{missing}")


@keys_group.command("rotate")
@click.option("--batch", default=BATCH, show_default=True, type=click.IntRange(min=1),
              help="Tips re-wrapped per transaction.")
@with_appcontext
@needs_schema
def rotate_command(batch: int) -> None:
    """Add a new KEK, make it active, and re-wrap every tip's data key with it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    path = _writable_path()
    keyring = _keyring()
    missing = db_missing_versions(keyring)
    if missing:
        # Re-wrapping would stop at the first such tip; restoring the keyring that has the key fixes it.
        names = ", ".join(f"KEK {version}" for version in sorted(missing))
        raise click.ClickException(f"tips or staff authenticator secrets are sealed by {names}, which is not in the "
                                   "keyring: put back the keyring backup that holds it (`flask keys status`), then "
                                   "rotate")
    pending = db.session.scalar(select(func.count(Tip.id)).where(_tips_left(keyring))) or 0
    staff_pending = db.session.scalar(select(func.count(Staff.id)).where(_staff_left(keyring))) or 0
    if not (pending or staff_pending) or not _any_rewrappable(keyring):
        # Nothing left over from an earlier run (tips whose wrapped key does not open are not: they would make
        # every later run "finish" that rotation, and a KEK could never be replaced again): a new rotation.
        keyring = keyring.with_new_key(taken=db_known_versions())
        _write(path, keyring)
        forget_keyring(app)
        keyring = _keyring()
        click.echo(f"keyring: KEK {keyring.active} added and active ({path})")
        click.echo(f"Back the keyring up again now, apart from the database backups: tips sealed from now on need "
                   f"KEK {keyring.active}, which no earlier copy of the keyring has (README, Backups).")
    else:
        click.echo(f"keyring: finishing the rotation to KEK {keyring.active} ({pending} tips, {staff_pending} staff "
                   "authenticator secrets left)")
    db_ensure_key_check(keyring, keyring.active)
    db.session.commit()
    resealed, unopened = _move_to_active(Staff, _staff_left(keyring), lambda person: db_reseal_totp_secret(
        person, keyring), lambda person: (person.email, person.totp_kek_version), batch)
    total = db.session.scalar(select(func.count(Tip.id)).where(_tips_left(keyring))) or 0
    # A wrapped key that does not open (a damaged row) stays where it is; it must not stop the tips after it.
    done, damaged = _move_to_active(Tip, _tips_left(keyring), lambda tip: db_rewrap_tip_key(tip, keyring),
                                    lambda tip: (tip.ref, tip.kek_version), batch,
                                    lambda done: click.echo(f"re-wrapped {done}/{total}"))
    click.echo(f"done: {done} tips re-wrapped with KEK {keyring.active}; content was not re-encrypted")
    click.echo(f"done: {resealed} staff authenticator secrets sealed again with KEK {keyring.active}")
    # On the record like any change to who can read what: which key wraps the tips now, and by whose hand.
    audit.record("keys.rotated", actor_label=operator_label(), active=keyring.active, rewrapped=done,
                 not_rewrapped_refs=[ref for ref, _version in damaged.values()], staff_resealed=resealed,
                 staff_not_resealed_ids=sorted(unopened))
    db.session.commit()
    if unopened:
        named = ", ".join(f"{email} (KEK {version})" for email, version in unopened.values())
        click.echo(f"{len(unopened)} staff authenticator secrets could not be sealed again, they do not open under "
                   f"their KEK (a damaged, altered or copied row): {named}. They stay on that KEK; a district admin's "
                   "'Reset sign-in' gives each person a new authenticator.", err=True)
    if damaged:
        named = ", ".join(f"{ref} (KEK {version})" for ref, version in damaged.values())
        raise click.ClickException(
            f"{len(damaged)} tips could not be re-wrapped, their wrapped data key does not open under its KEK "
            f"(a damaged or altered row): {named}. They stay on that KEK and cannot be "
            "opened; restore them from a backup, or keep that KEK until they are shredded.")
    if unopened:
        raise click.ClickException("some staff authenticator secrets were not sealed again (above)")


def _any_rewrappable(keyring: Keyring) -> bool:
    """Whether a tip left on an older KEK has a wrapped data key that opens (or a staff secret left there opens),
    so an earlier run is to finish."""
    for person in db.session.scalars(select(Staff).where(_staff_left(keyring))):
        if person.totp_secret_sealed is None or person.totp_kek_version is None:
            continue
        try:
            open_totp_value(keyring.kek(person.totp_kek_version), person.id, person.totp_secret_sealed)
        except DecryptionFailed:
            continue
        return True
    left = db.session.scalars(
        select(Tip).where(_tips_left(keyring)).order_by(Tip.id).execution_options(yield_per=BATCH))
    try:
        for tip in left:
            if tip.wrapped_dek is None or tip.kek_version is None:
                continue
            try:
                unwrap_data_key(keyring.kek(tip.kek_version), tip.ref, tip.wrapped_dek)
            except DecryptionFailed:
                continue
            return True
        return False
    finally:
        left.close()  # found one early: on PostgreSQL yield_per holds a server-side cursor open until closed


@keys_group.command("retire")
@click.argument("version", type=int)
@with_appcontext
@needs_schema
def retire_command(version: int) -> None:
    """Remove an old KEK from the keyring once no tip uses it any more."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    path = _writable_path()
    keyring = _keyring()
    if version not in keyring.keys:
        raise click.ClickException(f"KEK {version} is not in the keyring")
    if version == keyring.active:
        raise click.ClickException(f"KEK {version} is the active key; rotate first")
    still = _usage().get(version, 0)
    if still:
        raise click.ClickException(f"{still} tips still use KEK {version}; run `flask keys rotate` to finish")
    people = _staff_usage().get(version, 0)
    if people:
        # Retired, its key is gone: these people could never sign in with their authenticator again.
        raise click.ClickException(f"{people} staff authenticator secrets are still sealed under KEK {version}; run "
                                   "`flask keys rotate` to finish")
    _write(path, keyring.without({version}))
    forget_keyring(app)
    audit.record("keys.retired", actor_label=operator_label(), version=version)
    db.session.commit()
    click.echo(f"KEK {version} retired; keep an offline backup of the keyring until your backups expire")


COMMANDS = [keys_group]
