"""`flask schools ...`: a new installation's first agencies and schools (README, Installing, step 8)."""

from __future__ import annotations

import json
from datetime import time

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from app.crypto.staff_secrets import seal_totp_secret
from app.extensions import db
from app.models import AuditEvent, Role, School, Staff
from tests.console.helpers import PASSWORD_HASH, World, audit_actions, sign_in


def _run(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def test_a_new_installation_gets_its_schools_staff_and_a_report_form_to_choose_them(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's steps on an empty database: before, there was no way to add a school outside the demo data
    (refused in production), so `flask staff create --school` and the reporter's school list had nothing."""
    monkeypatch.setenv("SUDO_USER", "opsdesk")
    assert _run(app, "schools", "add-agency", "--short", "cpd", "--name", "Casper Police Department") == (
        0, "Agency CPD (Casper Police Department) added.\n")
    code, output = _run(app, "schools", "create", "--short", "kwhs", "--name", "Kelly Walsh High School",
                        "--town", "Casper", "--agency", "CPD", "--day-start", "07:45", "--day-end", "15:30")
    assert code == 0 and "KWHS" in output and "reporters can choose it now" in output, output
    code, output = _run(app, "staff", "create", "--email", "sro@district.example", "--name", "Officer Jo",
                        "--role", "sro", "--school", "KWHS", "--phone", "+13075550142")
    assert code == 0, output
    code, listing = _run(app, "schools", "list")
    assert code == 0 and "CPD" in listing and "Kelly Walsh High School" in listing and "07:45-15:30" in listing
    assert "chain: NOBODY" in listing  # the operator sees there is still a chain to set in the console
    with app.app_context():
        school = db.session.scalars(select(School)).one()
        assert (school.short_name, school.timezone, school.day_start, school.day_end, school.active) == (
            "KWHS", "America/Denver", time(7, 45), time(15, 30), True)
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
            ["agency.created", "school.created"])).order_by(AuditEvent.id)).all()
        assert [(e.action, e.actor_label) for e in events] == [
            ("agency.created", "cli:opsdesk"), ("school.created", "cli:opsdesk")]
        assert json.loads(events[1].detail)["school_id"] == school.id
    assert "Kelly Walsh High School" in app.test_client().get("/report").get_data(as_text=True)


@pytest.mark.parametrize(("args", "message"), [
    (["--agency", "NOPE"], "unknown agency 'NOPE' (known: CPD)"),
    (["--short", "X" * 13], "--short must be 1 to 12 characters"),
    (["--name", "  "], "--name must be 1 to 200 characters"),
    (["--day-start", "7.30"], "--day-start is written HH:MM"),
    (["--day-end", "25:00"], "--day-end is written HH:MM"),
    (["--day-start", "16:00", "--day-end", "07:30"], "the school day must end after it starts"),
    (["--day-start", "08:00", "--day-end", "08:00"], "the school day must end after it starts"),
    (["--timezone", "Mountain"], "unknown time zone 'Mountain'"),
    # Names the server knows, but without summer time: a Wyoming school's hours an hour or more off.
    (["--timezone", "MST"], "'MST' has no daylight saving time"),
    (["--timezone", "UTC"], "such as America/Denver"),
    (["--day-start", "08:00", "--day-end", "3:15"], "a 24-hour clock: 15:15 for 3:15 in the afternoon"),
    (["--short", "ahs"], "exists already"),
    (["--name", "alpha high school"], "exists already"),
])
def test_a_mistake_is_one_line_and_adds_nothing(app: Flask, args: list[str], message: str) -> None:
    assert _run(app, "schools", "add-agency", "--short", "CPD", "--name", "Casper Police Department")[0] == 0
    good = {"--short": "AHS", "--name": "Alpha High School", "--town": "Casper", "--agency": "CPD"}
    assert _run(app, "schools", "create", *[part for pair in good.items() for part in pair])[0] == 0
    options = dict(good, **dict(zip(args[::2], args[1::2], strict=True)))
    if "--short" not in args and "--name" not in args:
        options["--short"], options["--name"] = "BMS", "Beta Middle School"
    code, output = _run(app, "schools", "create", *[part for pair in options.items() for part in pair])
    assert code == 1 and message in output and "Traceback" not in output, output
    with app.app_context():
        assert db.session.scalars(select(School.short_name)).all() == ["AHS"]
    assert audit_actions(app).count("school.created") == 1


def test_an_agency_is_added_once(app: Flask) -> None:
    assert _run(app, "schools", "add-agency", "--short", "CPD", "--name", "Casper Police Department")[0] == 0
    code, output = _run(app, "schools", "add-agency", "--short", "cpd", "--name", "Another")
    assert code == 1 and "exists already" in output


def test_the_console_tells_the_first_admin_where_schools_come_from(app: Flask) -> None:
    """The first district admin of a new installation opened Schools and found an empty table, with no word of
    how a school is added (the console edits schools only)."""
    secret = pyotp.random_base32()
    with app.app_context():
        admin = Staff(email="admin@district.example", name="Admin", role=Role.DISTRICT_ADMIN,
                      password_hash=PASSWORD_HASH)
        db.session.add(admin)
        db.session.flush()
        seal_totp_secret(admin, secret)
        db.session.commit()
        world = World(app, 0, 0, {"admin": admin.id}, {"admin": secret},
                      {"admin": "admin@district.example"})
    client = app.test_client()
    assert sign_in(client, world, "admin").status_code == 302
    page = client.get("/console/admin/schools").get_data(as_text=True)
    assert "flask schools create" in page and "No schools yet" in page


def test_the_list_names_a_chain_that_reaches_nobody_once_its_people_are_deactivated(world: World) -> None:
    """The SRO who was a school's whole chain left and was deactivated: the chain still held her, so the list said
    "chain: 1" while the school's urgent tips reached no one, the case "chain: NOBODY" is there to show."""
    def line_of(short: str) -> str:
        code, listing = _run(world.app, "schools", "list")
        assert code == 0, listing
        (line,) = [row for row in listing.splitlines() if f"school {short} " in row]
        return line

    assert line_of("AHS").endswith("chain: 1")
    with world.app.app_context():
        person = db.session.get(Staff, world.people["sro_a"])
        assert person is not None
        person.active = False
        db.session.commit()
    assert line_of("AHS").endswith("chain: NOBODY reachable (1 deactivated, without a phone or opted out)")
    assert line_of("BMS").endswith("chain: NOBODY")


def test_the_list_of_a_new_installation_says_there_is_nothing_yet_and_how_to_add_it(app: Flask) -> None:
    """`flask schools list` on a new installation printed nothing at all, which reads as a failure."""
    code, output = _run(app, "schools", "list")
    assert code == 0 and "No agencies yet" in output and "flask schools add-agency" in output, output
    assert _run(app, "schools", "add-agency", "--short", "CPD", "--name", "Casper Police Department")[0] == 0
    code, output = _run(app, "schools", "list")
    assert "agency CPD" in output and "No schools yet" in output and "flask schools create" in output, output


def test_the_list_flags_a_school_stored_with_a_zone_without_summer_time(world: World) -> None:
    """A school saved under MST before such zones were refused is flagged on its page, in the console's list and
    on /healthz; `flask schools list` printed its zone like any other."""
    with world.app.app_context():
        school = db.session.scalar(select(School).where(School.short_name == "AHS"))
        assert school is not None
        school.timezone = "MST"
        db.session.commit()
    code, listing = _run(world.app, "schools", "list")
    assert code == 0, listing
    lines = listing.splitlines()
    (index,) = [i for i, row in enumerate(lines) if "school AHS " in row]
    assert "MST" in lines[index] and "choose its zone again" in lines[index + 1], listing
    assert "no daylight saving time" in lines[index + 1] and "America/Denver" in lines[index + 1]
    assert "choose its zone again" not in listing.replace(lines[index + 1], ""), listing  # BMS keeps its zone
