"""`flask staff ...`: create accounts (with a one-time enrolment link), list them, set a password, reset a
sign-in (a new enrolment link), and print the current TOTP code of a demo account (development only)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from app import audit
from app.accounts import service
from app.accounts.totp import current_code
from app.cli.operator import operator_label
from app.cli.schema import needs_schema
from app.crypto.errors import DecryptionFailed, KeyringUnavailable
from app.crypto.staff_secrets import open_totp_secret
from app.extensions import db
from app.models import Role, Staff, utcnow


@click.group("staff")
def staff_group() -> None:
    """Staff accounts of the console."""


@staff_group.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--school", "schools", multiple=True, help="School short name, e.g. KWHS (repeatable).")
@click.option(
    "--phone", default=None, help="Mobile number for SMS alerts, e.g. '(307) 555-0123' or '+44 20 7946 0958'."
)
@with_appcontext
@needs_schema
def create_command(email: str, name: str, role: str, schools: tuple[str, ...], phone: str | None) -> None:
    """Create an account and print its one-time enrolment link (password and authenticator are set there)."""
    try:
        school_rows = service.schools_by_short_name(schools)
        staff = service.db_create_staff(email, name, Role(role), school_rows, phone=phone)
    except service.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    token = service.db_new_enrolment(staff, utcnow())
    audit.record("staff.invited", actor_label=operator_label(), target_id=staff.id, target=staff.email, role=role,
                 school_ids=[s.id for s in school_rows])
    db.session.commit()
    click.echo(f"Created {staff.email} ({role}). Enrolment link, valid for 3 days, works once:")
    click.echo(service.enrolment_link(token))


@staff_group.command("list")
@with_appcontext
@needs_schema
def list_command() -> None:
    """Every account: email, name, role, schools, phone, active."""
    people = db.session.scalars(select(Staff).order_by(Staff.email)).all()
    for person in people:
        schools = ",".join(sorted(a.school.short_name for a in person.assignments)) or "-"
        click.echo(f"{person.email:32} {person.name:28} {person.role.value:15} {schools:40} "
                   f"{person.phone or '-':13} {'active' if person.active else 'inactive'}")


def _find(email: str) -> Staff:
    staff = service.find_staff(email)
    if staff is None:
        raise click.ClickException(f"no account for {email}")
    return staff


@staff_group.command("set-password")
@click.argument("email")
@with_appcontext
@needs_schema
def set_password_command(email: str) -> None:
    """Read a new password from standard input (one line); signs the person out everywhere."""
    staff = _find(email)
    if not staff.has_authenticator:
        # Without an authenticator the second step refuses every code: a password alone lets nobody in.
        if service.has_live_enrolment(staff, utcnow()) and staff.enrolment_expires_at is not None:
            link = f"Their enrolment link is valid until {staff.enrolment_expires_at:%Y-%m-%d %H:%M} UTC: give it again"
        else:
            link = "Their enrolment link has expired"
        raise click.ClickException(
            f"{staff.email} has not finished enrolling (no authenticator app yet), so a password alone would not let "
            f"them sign in; nothing was changed. The password is chosen on the enrolment link, with the "
            f"authenticator. {link}; for a new link, a district admin presses 'Reset sign-in' on their page in the "
            f"console (Staff), or run 'flask staff reset-signin {staff.email}' here.")
    if sys.stdin.isatty():
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        service.db_set_password(staff, password)
    except service.WeakPassword as exc:
        raise click.ClickException(str(exc)) from None
    service.db_clear_lockout(staff)
    audit.record("staff.password_set", actor_label=operator_label(), target_id=staff.id, target=staff.email)
    db.session.commit()
    click.echo(f"Password of {staff.email} set; their sessions were ended.")


@staff_group.command("reset-signin")
@click.argument("email")
@with_appcontext
@needs_schema
def reset_signin_command(email: str) -> None:
    """What the console's 'Reset sign-in' does, for when no district admin can: a new enrolment link (printed),
    the old password, authenticator and recovery codes stop working, sessions end and the account is unlocked."""
    staff = _find(email)
    if not staff.active:
        # The enrolment link of a deactivated account opens nothing: a link printed here would not work.
        raise click.ClickException(
            f"{staff.email} is deactivated, so an enrolment link would not open; nothing was changed. A district "
            "admin makes the account active again on their page in the console (Staff).")
    token = service.db_reset_sign_in(staff, utcnow())
    audit.record("staff.reset", actor_label=operator_label(), target_id=staff.id, target=staff.email)
    db.session.commit()
    click.echo(f"Sign-in of {staff.email} reset: their password, authenticator and recovery codes no longer work, "
               "their sessions were ended and any lockout lifted. Give them this enrolment link in person or by a "
               "channel you trust; valid for 3 days, works once:")
    click.echo(service.enrolment_link(token))


@staff_group.command("totp")
@click.argument("email")
@with_appcontext
@needs_schema
def totp_command(email: str) -> None:
    """Development only: the current second-factor code of an account (for the demo logins)."""
    if current_app.config["PRODUCTION"]:
        raise click.ClickException("Refusing in production: the second factor must come from the person's phone.")
    staff = _find(email)
    try:
        secret = open_totp_secret(staff)
    except (KeyringUnavailable, DecryptionFailed) as exc:
        raise click.ClickException(f"the authenticator secret of {staff.email} cannot be opened: {exc}") from None
    if secret is None:
        raise click.ClickException(f"{staff.email} has not enrolled an authenticator yet")
    click.echo(current_code(secret, utcnow()))


COMMANDS = [staff_group]
