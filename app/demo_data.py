"""The Natrona County demo district (Casper, Wyoming): real school names, invented people.

Phone numbers stay in the fictional range +1 307-555-0100 to 0199. Passwords are random per installation
and written to instance/demo_logins.txt (owner-only); `flask staff totp EMAIL` gives the second factor.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import pyotp
from flask import current_app

from app.accounts.passwords import hash_password
from app.crypto.staff_secrets import seal_totp_secret
from app.extensions import db
from app.models import Agency, Assignment, ChainPosition, Role, School, Staff

AGENCIES = [
    ("Casper Police Department", "CPD"),
    ("Natrona County Sheriff's Office", "NCSO"),
    ("Evansville Police Department", "EPD"),
]

# (name, short name, town, agency)
SCHOOLS = [
    ("Kelly Walsh High School", "KWHS", "Casper", "CPD"),
    ("Natrona County High School", "NCHS", "Casper", "CPD"),
    ("Roosevelt High School", "RHS", "Casper", "CPD"),
    ("Pathways Innovation Center", "PIC", "Casper", "CPD"),
    ("CY Middle School", "CYMS", "Casper", "CPD"),
    ("Dean Morgan Middle School", "DMMS", "Casper", "CPD"),
    ("Centennial Middle School", "CMS", "Casper", "CPD"),
    ("Casper Classical Academy", "CCA", "Casper", "CPD"),
    ("Crest Hill Elementary", "CHES", "Casper", "CPD"),
    ("Paradise Valley Elementary", "PVES", "Casper", "CPD"),
    ("Park Elementary", "PKES", "Casper", "CPD"),
    ("Verda James Elementary", "VJES", "Casper", "CPD"),
    ("Mills Elementary", "MES", "Mills", "NCSO"),
    ("Midwest School", "MWS", "Midwest", "NCSO"),
    ("Red Creek Elementary", "RCES", "Casper (rural)", "NCSO"),
    ("Poison Spider School", "PSS", "Casper (rural)", "NCSO"),
    ("Bar Nunn Elementary", "BNES", "Bar Nunn", "NCSO"),
    ("Evansville Elementary", "EVES", "Evansville", "EPD"),
]


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    role: Role
    phone: str | None
    # (school short name, chain position or None)
    posts: tuple[tuple[str, int | None], ...]


P, B, S, D = (
    ChainPosition.PRIMARY_SRO,
    ChainPosition.BACKUP_SRO,
    ChainPosition.SUPERVISOR,
    ChainPosition.DISPATCH,
)
CPD_CITY = [x[1] for x in SCHOOLS if x[3] == "CPD"]
NCSO_RURAL = [x[1] for x in SCHOOLS if x[3] == "NCSO"]


def _posts(schools: list[str], position: int | None) -> tuple[tuple[str, int | None], ...]:
    return tuple((school, position) for school in schools)


DEMO_PEOPLE = [
    # Casper Police Department: one SRO per high school, middle schools and elementaries shared.
    DemoPerson("d.ortiz@cpd.example", "Officer Dana Ortiz", Role.SRO, "+13075550101",
               _posts(["KWHS"], P) + _posts(["NCHS"], B)),
    DemoPerson("m.hale@cpd.example", "Officer Marcus Hale", Role.SRO, "+13075550102",
               _posts(["NCHS"], P) + _posts(["KWHS"], B)),
    DemoPerson("j.whitford@cpd.example", "Officer Jenna Whitford", Role.SRO, "+13075550103",
               _posts(["RHS", "PIC", "CCA"], P) + _posts(["CYMS", "DMMS"], B)),
    DemoPerson("t.redcloud@cpd.example", "Officer Tom Redcloud", Role.SRO, "+13075550104",
               _posts(["CYMS", "DMMS"], P) + _posts(["RHS", "PIC", "CCA", "CMS"], B)),
    DemoPerson("a.lindqvist@cpd.example", "Officer Anna Lindqvist", Role.SRO, "+13075550105",
               _posts(["CMS", "CHES", "PVES", "PKES", "VJES"], P)),
    DemoPerson("r.baptiste@cpd.example", "Officer Ray Baptiste", Role.SRO, "+13075550106",
               _posts(["CHES", "PVES", "PKES", "VJES"], B)),
    DemoPerson("sgt.moreno@cpd.example", "Sergeant Luis Moreno", Role.SUPERVISOR, "+13075550110",
               _posts(CPD_CITY, S)),
    DemoPerson("dispatch@cpd.example", "CPD Dispatch", Role.DISPATCH, "+13075550111", _posts(CPD_CITY, D)),
    # Natrona County Sheriff's Office: two deputies cover the rural schools.
    DemoPerson("k.brandt@ncso.example", "Deputy Kyle Brandt", Role.SRO, "+13075550120",
               _posts(["MES", "BNES", "RCES"], P) + _posts(["MWS", "PSS"], B)),
    DemoPerson("s.yazzie@ncso.example", "Deputy Sara Yazzie", Role.SRO, "+13075550121",
               _posts(["MWS", "PSS"], P) + _posts(["MES", "BNES", "RCES"], B)),
    DemoPerson("sgt.kowalski@ncso.example", "Sergeant Pete Kowalski", Role.SUPERVISOR, "+13075550122",
               _posts(NCSO_RURAL, S)),
    DemoPerson("dispatch@ncso.example", "NCSO Dispatch", Role.DISPATCH, "+13075550123", _posts(NCSO_RURAL, D)),
    # Evansville Police Department.
    DemoPerson("c.nguyen@epd.example", "Officer Chris Nguyen", Role.SRO, "+13075550130", _posts(["EVES"], P)),
    DemoPerson("b.albright@epd.example", "Officer Beth Albright", Role.SRO, "+13075550131", _posts(["EVES"], B)),
    DemoPerson("lt.harlan@epd.example", "Lieutenant Joe Harlan", Role.SUPERVISOR, "+13075550132",
               _posts(["EVES"], S)),
    DemoPerson("dispatch@epd.example", "EPD Dispatch", Role.DISPATCH, "+13075550133", _posts(["EVES"], D)),
    # School counselors and the district office.
    DemoPerson("l.mendez@ncsd.example", "Laura Mendez", Role.COUNSELOR, "+13075550150", _posts(["KWHS"], None)),
    DemoPerson("p.oconnor@ncsd.example", "Patrick O'Connor", Role.COUNSELOR, "+13075550151",
               _posts(["NCHS", "PIC"], None)),
    DemoPerson("h.begay@ncsd.example", "Hannah Begay", Role.COUNSELOR, None, _posts(["RHS", "CCA"], None)),
    DemoPerson("g.fischer@ncsd.example", "Greta Fischer", Role.COUNSELOR, None,
               _posts(["CYMS", "DMMS", "CMS"], None)),
    DemoPerson("e.romero@ncsd.example", "Elena Romero", Role.COUNSELOR, None,
               _posts(["MES", "MWS", "RCES", "PSS", "BNES", "EVES"], None)),
    DemoPerson("admin@ncsd.example", "District Safety Office", Role.DISTRICT_ADMIN, "+13075550190", ()),
]


def demo_logins_path() -> Path:
    return Path(current_app.instance_path) / "demo_logins.txt"


def seed_demo() -> str:
    """Create what is missing; never duplicate or overwrite what exists. Returns a one-line summary."""
    created = {"agencies": 0, "schools": 0, "staff": 0, "assignments": 0}
    agencies = {a.short_name: a for a in db.session.query(Agency)}
    for name, short in AGENCIES:
        if short not in agencies:
            agencies[short] = Agency(name=name, short_name=short)
            db.session.add(agencies[short])
            created["agencies"] += 1
    schools = {s.short_name: s for s in db.session.query(School)}
    for name, short, town, agency in SCHOOLS:
        if short not in schools:
            schools[short] = School(name=name, short_name=short, town=town, agency=agencies[agency])
            db.session.add(schools[short])
            created["schools"] += 1
    db.session.flush()

    new_logins: list[str] = []
    staff = {s.email: s for s in db.session.query(Staff)}
    for person in DEMO_PEOPLE:
        member = staff.get(person.email)
        if member is None:
            password = "-".join(secrets.token_hex(3) for _ in range(3))  # random per installation
            member = Staff(
                email=person.email, name=person.name, role=person.role, phone=person.phone,
                password_hash=hash_password(password),
            )
            db.session.add(member)
            db.session.flush()
            seal_totp_secret(member, pyotp.random_base32())  # bound to the row's id: after the flush
            staff[person.email] = member
            new_logins.append(f"{person.email:32} {password:22} {person.role.value}")
            created["staff"] += 1
        existing = {(a.school_id, a.chain_position) for a in member.assignments}
        existing_schools = {a.school_id for a in member.assignments}
        for short, position in person.posts:
            school = schools[short]
            if school.id in existing_schools or (school.id, position) in existing:
                continue
            taken = position is not None and db.session.query(Assignment).filter_by(
                school_id=school.id, chain_position=position).first()
            db.session.add(Assignment(staff=member, school=school, chain_position=None if taken else position))
            created["assignments"] += 1
    db.session.commit()
    if new_logins:
        _append_logins(new_logins)
    return ", ".join(f"{n} {k} created" for k, n in created.items())


def _append_logins(lines: list[str]) -> None:
    path = demo_logins_path()
    new_file = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        if new_file:
            handle.write("# Demo staff sign-ins (development only). Second factor: flask staff totp EMAIL\n")
        handle.write("\n".join(lines) + "\n")
