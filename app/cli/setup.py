"""`flask setup`: idempotent first-run set-up of instance/ files, the database schema and demo data."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.crypto.keyring import KeyringUnavailable, load_keyring, new_keyring, write_keyring
from app.crypto.keystore import current_keyring, db_missing_versions, keyring_source
from app.crypto.receipts import KEY_CHANGED, db_record_receipt_key
from app.database import reading
from app.extensions import db


def db_has_sealed_tips() -> bool:
    """Whether anything in the database is sealed under a keyring: a tip's data key or, from the migration that
    sealed them on, a staff member's authenticator secret."""
    from app.models import Staff, Tip

    inspector = inspect(db.engine)
    if not inspector.has_table("tip"):
        return False
    staff_sealed = "totp_secret_sealed" in {c["name"] for c in inspector.get_columns("staff")}
    # A read that ends its transaction: on SQLite an open one would keep the writers' turn from the migration.
    with reading():
        if db.session.query(Tip.id).filter(Tip.wrapped_dek.isnot(None)).first() is not None:
            return True
        return staff_sealed and db.session.query(Staff.id).filter(Staff.totp_secret_sealed.isnot(None)).first() \
            is not None


def ensure_keyring() -> str:
    # Where the app reads it: TIPLINE_KEYRING from the environment or instance/config.py, else the file.
    path, env_value = keyring_source(current_app._get_current_object())  # type: ignore[attr-defined]
    if env_value:
        load_keyring(path, env_value)
        return "keyring: from TIPLINE_KEYRING"
    if path.exists():
        load_keyring(path)  # fails loudly when unreadable or malformed
        if path.stat().st_mode & 0o077:
            # Readable by others: the key of every tip, in every backup. Owner-only, as write_keyring makes it.
            try:
                path.chmod(0o600)
            except PermissionError:  # put back by root with cp: the services read it, but only root may chmod it
                click.echo(f"WARNING: {path} is readable by others and belongs to another user: make it owned by "
                           "this user, mode 0600 (README, Restoring, step 3)", err=True)
                return f"keyring: {path} (kept)"
            return f"keyring: {path} (kept; it was readable by others, now 0600)"
        return f"keyring: {path} (kept)"
    if db_has_sealed_tips():
        raise click.ClickException(
            f"The database holds sealed tips (or staff authenticator secrets) but there is no keyring at {path}. "
            "Restore it from your key backup; a new keyring would not open them."
        )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_keyring(path, new_keyring())
    return (f"keyring: {path} (created)\nBack the keyring up now, apart from the database backups: without it no "
            "tip in any backup can be read, ever (README, Backups).")


def _keyring_fits_the_database() -> None:
    """A keyring put back after a restore is checked against the database's key checks, as intake and /healthz
    check it: with another database's keyring setup said "kept" and "migrated", exit 0, while every tip got a 503."""
    try:
        with reading():
            missing = db_missing_versions(current_keyring())
    except KeyringUnavailable as exc:
        raise click.ClickException(
            f"{exc}. Put this database's keyring back (README, Backups, Restoring, step 3): until then no tip is "
            "taken and none can be opened.") from None
    if missing:
        versions = ", ".join(f"KEK {version}" for version in sorted(missing))
        click.echo(f"WARNING: tips or staff authenticator secrets are sealed under {versions}, which this keyring "
                   "lacks (a keyring from before the last `flask keys rotate`?): staff cannot open them until the "
                   "keyring backed up after it is put back (README, Backups, Restoring, step 3)", err=True)


def _owner_only_sqlite() -> None:
    """The SQLite file holds staff emails, phones, password hashes and sealed second-factor secrets: owner-only,
    whatever the umask of the shell that ran setup (its -wal and -shm files take the same mode)."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" and url.database and Path(url.database).is_file():
        Path(url.database).chmod(0o600)


def _say_what_is_left() -> None:
    """A new district's database is empty: no school for reporters to choose, nobody who can sign in to the console.
    `flask setup` ended at "migrated" with no word of that; it now names the next commands while they are needed
    (README, Installing, step 8), and the schools whose urgent tips reach no one yet."""
    from app.cli.schools import ADD_AGENCY, CREATE_SCHOOL, schools_reaching_no_one
    from app.models import Agency, Role, School, Staff

    with reading():
        agencies = db.session.scalar(select(func.count(Agency.id))) or 0
        schools = db.session.scalar(select(func.count(School.id))) or 0
        admins = db.session.scalar(select(func.count(Staff.id)).where(
            Staff.role == Role.DISTRICT_ADMIN, Staff.active.is_(True))) or 0
        unreached = schools_reaching_no_one()
    steps = []
    if not agencies:
        steps.append(f"add the agency (police department, sheriff's office) that serves your schools: {ADD_AGENCY}")
    if not schools:
        steps.append(f"add each school, which reporters then choose from: {CREATE_SCHOOL}")
    if not admins:
        steps.append("create the first district admin and give them the enrolment link it prints: flask staff create "
                     "--email admin@district.example --name \"District Safety Office\" --role district_admin")
    if steps:
        click.echo("Next (README, Installing, step 8):")
        for number, step in enumerate(steps, 1):
            click.echo(f"  {number}. {step}")
    if unreached:
        click.echo(f"Urgent tips reach no one yet at: {', '.join(unreached)}. A district admin assigns staff with "
                   "mobile phones and sets each school's escalation chain in the console (Schools).")


@click.command("setup")
@click.option("--demo/--no-demo", default=False, help="Also load the Natrona County demo data.")
@with_appcontext
def setup_command(demo: bool) -> None:
    """Prepare instance/ secrets and keyring, migrate the database, optionally seed demo data."""
    instance = Path(current_app.instance_path)
    try:
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:  # /opt/tipline is root's: the tipline user may not create instance/ in it
        raise click.ClickException(
            f"cannot create {instance} ({exc.strerror}): make it first, owned by the user that runs Tipline, "
            f"e.g. install -d -o tipline -g tipline -m 0700 {instance} (README, Installing, step 3)") from None
    try:
        instance.chmod(0o700)  # also when made by hand first: it holds the secrets, the keyring and the database
    except PermissionError:
        make_it = f"install -d -o tipline -g tipline -m 0700 {instance} (README, Installing, step 3)"
        if not os.access(instance, os.W_OK | os.X_OK):
            # The repository's own instance/ (it holds .gitkeep) is root's in a checkout made by root: stop here,
            # before a keyring or a migration, rather than on a PermissionError traceback half-way.
            raise click.ClickException(f"{instance} belongs to another user and this one cannot write in it: make "
                                       f"it owned by the user that runs Tipline, e.g. {make_it}") from None
        click.echo(f"WARNING: {instance} belongs to another user; make it owned by this one, mode 0700: "
                   f"{make_it}", err=True)
    click.echo(f"instance: {instance}")
    try:
        click.echo(ensure_keyring())
    except KeyringUnavailable as exc:
        raise click.ClickException(f"{exc}. Fix or restore the keyring; setup never replaces one.") from None
    except OperationalError as exc:  # the look for sealed tips before a new keyring is written
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise click.ClickException(f"the database could not be read ({reason}): check DATABASE_URL and that the "
                                   "database server is up, or run this again when the process holding it is done"
                                   ) from None
    upgrade()  # its errors are one line each (migrations/env.py), and exit 1
    _owner_only_sqlite()
    _keyring_fits_the_database()
    click.echo("database: migrated to the latest version")
    if db_record_receipt_key() == KEY_CHANGED:
        click.echo("WARNING: RECEIPT_HMAC_KEY is not the key this database's receipt codes were made with: no "
                   "reporter can open a report until the key is put back (README, Backups, Restoring)", err=True)
    if not demo:
        _say_what_is_left()
    if demo:
        if current_app.config["PRODUCTION"]:
            raise click.ClickException("Demo data is for development; refusing in production.")
        from app.demo_data import seed_demo

        summary = seed_demo()
        click.echo(f"demo data: {summary}")
        from app.demo_cases import seed_demo_cases

        click.echo(seed_demo_cases())
