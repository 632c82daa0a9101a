"""`flask schools ...`: the district's agencies and schools. A new installation has none (the demo data is
refused in production), and the console only edits schools, so these make the first ones."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask.cli import with_appcontext
from sqlalchemy import func, or_, select

from app import audit
from app.cli.operator import operator_label
from app.cli.schema import needs_schema
from app.extensions import db
from app.models import Agency, School
from app.models.directory import DISTRICT_TIMEZONE, twenty_four_hour_hint, zone_without_summer_time

ADD_AGENCY = 'flask schools add-agency --short CPD --name "Casper Police Department"'
CREATE_SCHOOL = ('flask schools create --short KWHS --name "Kelly Walsh High School" --town Casper --agency CPD '
                 '[--timezone America/Denver] [--day-start 07:30] [--day-end 16:00]')


@click.group("schools")
def schools_group() -> None:
    """The district's agencies and schools (escalation chains: in the console, Schools)."""


def _text(value: str, what: str, longest: int) -> str:
    value = value.strip()
    if not value or len(value) > longest:
        raise click.ClickException(f"{what} must be 1 to {longest} characters, not {value!r}")
    return value


def _clock(value: str, what: str) -> time:
    try:
        hours, minutes = (int(part) for part in value.split(":"))
        return time(hours, minutes)
    except ValueError:
        raise click.ClickException(f"{what} is written HH:MM, e.g. 07:30, not {value!r}") from None


@schools_group.command("add-agency")
@click.option("--short", "short_name", required=True, help="Short name, e.g. CPD (up to 20 characters).")
@click.option("--name", required=True, help='Full name, e.g. "Casper Police Department".')
@with_appcontext
@needs_schema
def add_agency_command(short_name: str, name: str) -> None:
    """Add the agency (police department, sheriff's office) that serves some of the schools."""
    short_name, name = _text(short_name, "--short", 20).upper(), _text(name, "--name", 200)
    if db.session.scalar(select(Agency.id).where(or_(func.upper(Agency.short_name) == short_name,
                                                     func.lower(Agency.name) == name.lower()))) is not None:
        raise click.ClickException(f"an agency named {short_name} or {name!r} exists already (flask schools list)")
    agency = Agency(short_name=short_name, name=name)
    db.session.add(agency)
    db.session.flush()
    audit.record("agency.created", actor_label=operator_label(), target_id=agency.id, target=short_name)
    db.session.commit()
    click.echo(f"Agency {short_name} ({name}) added.")


@schools_group.command("create")
@click.option("--short", "short_name", required=True, help="Short name staff use, e.g. KWHS (up to 12 characters).")
@click.option("--name", required=True, help="Name reporters choose from, e.g. \"Kelly Walsh High School\".")
@click.option("--town", required=True)
@click.option("--agency", "agency_short", required=True, help="Short name of its agency (flask schools add-agency).")
@click.option("--timezone", default=DISTRICT_TIMEZONE, show_default=True, help="The school's time zone (IANA name).")
@click.option("--day-start", default="07:30", show_default=True, help="School day starts, HH:MM local time.")
@click.option("--day-end", default="16:00", show_default=True, help="School day ends, HH:MM local time.")
@with_appcontext
@needs_schema
def create_command(short_name: str, name: str, town: str, agency_short: str, timezone: str, day_start: str,
                   day_end: str) -> None:
    """Add a school: reporters can choose it at once; assign staff and set its escalation chain next."""
    short_name, name = _text(short_name, "--short", 12).upper(), _text(name, "--name", 200)
    town = _text(town, "--town", 100)
    start, end = _clock(day_start, "--day-start"), _clock(day_end, "--day-end")
    if start >= end:  # never in session: medium tips would wait for a start of day at odd hours
        raise click.ClickException(f"the school day must end after it starts (--day-start {day_start}, "
                                   f"--day-end {day_end}){twenty_four_hour_hint(start, end)}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.ClickException(f"unknown time zone {timezone!r}: use an IANA name such as America/Denver"
                                   ) from None
    if (why := zone_without_summer_time(timezone)) is not None:
        raise click.ClickException(why)
    agency = db.session.scalar(select(Agency).where(func.upper(Agency.short_name) == agency_short.strip().upper()))
    if agency is None:
        known = ", ".join(db.session.scalars(select(Agency.short_name).order_by(Agency.short_name))) or "none yet"
        raise click.ClickException(f"unknown agency {agency_short!r} (known: {known}); add it with "
                                   "`flask schools add-agency` first")
    if db.session.scalar(select(School.id).where(or_(func.upper(School.short_name) == short_name,
                                                     func.lower(School.name) == name.lower()))) is not None:
        raise click.ClickException(f"a school named {short_name} or {name!r} exists already (flask schools list)")
    school = School(short_name=short_name, name=name, town=town, agency=agency, timezone=timezone,
                    day_start=start, day_end=end, active=True)
    db.session.add(school)
    db.session.flush()
    audit.record("school.created", actor_label=operator_label(), school_id=school.id, target=short_name)
    db.session.commit()
    click.echo(f"School {short_name} ({name}, {town}) added; reporters can choose it now. Its escalation chain is "
               "empty: assign staff (flask staff create --school " + short_name + ") and set the chain in the "
               "console (Schools).")


@schools_group.command("list")
@with_appcontext
@needs_schema
def list_command() -> None:
    """Every agency and school: short name, name, town, agency, hours, active, people in the chain."""
    agencies = db.session.scalars(select(Agency).order_by(Agency.short_name)).all()
    schools = db.session.scalars(select(School).order_by(School.short_name)).all()
    if not agencies:  # printed nothing at all on a new installation, which read as a failure
        click.echo(f"No agencies yet. Add the first: {ADD_AGENCY}")
    for agency in agencies:
        click.echo(f"agency {agency.short_name:12} {agency.name}")
    if not schools:
        click.echo(f"No schools yet: reporters have none to choose. Add each: {CREATE_SCHOOL}")
    for school in schools:
        click.echo(f"school {school.short_name:12} {school.name:40} {school.town:20} {school.agency.short_name:8} "
                   f"{school.day_start:%H:%M}-{school.day_end:%H:%M} {school.timezone:20} "
                   f"{'active' if school.active else 'inactive'} chain: {_chain_summary(school)}")
        if (why := school.zone_to_choose_again) is not None:  # saved before such zones were refused
            click.echo(f"  {school.short_name}: choose its zone again on its page in the console (Schools): {why}")


def schools_reaching_no_one() -> list[str]:
    """Short names of the active schools whose urgent tips reach no one: a chain not set, or nobody on it who can
    be sent an SMS."""
    return [school.short_name for school in db.session.scalars(
        select(School).where(School.active.is_(True)).order_by(School.short_name))
        if _chain_summary(school).startswith("NOBODY")]


def _chain_summary(school: School) -> str:
    """How many people of the chain an SMS can reach: a chain of people deactivated, without a phone or opted out
    (STOP) reaches no one, as much as a chain never set."""
    chain = [a.staff for a in school.assignments if a.chain_position is not None]
    reachable = sum(1 for person in chain if person.can_get_sms)
    unreachable = len(chain) - reachable
    if not chain:
        return "NOBODY"
    if not unreachable:
        return str(reachable)
    why = "deactivated, without a phone or opted out"
    return f"NOBODY reachable ({unreachable} {why})" if not reachable else f"{reachable} ({unreachable} more {why})"


COMMANDS = [schools_group]
