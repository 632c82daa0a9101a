"""Console test helpers: two schools, a few people with known passwords and TOTP secrets, sealed tips, and
the real two-step sign-in with CSRF tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.passwords import hash_password
from app.console import clock
from app.crypto.staff_secrets import seal_totp_secret
from app.extensions import db
from app.models import Agency, Assignment, Role, School, Staff
from tests.support.forms import csrf_token

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = hash_password(PASSWORD)  # once: Argon2 is slow on purpose


@dataclass
class World:
    app: Flask
    school_a: int
    school_b: int
    people: dict[str, int]  # key -> staff id
    secrets: dict[str, str]  # key -> TOTP secret
    emails: dict[str, str]


PEOPLE = {
    # key: (role, schools, chain position at school A)
    "sro_a": (Role.SRO, ("A",), 1),
    "counselor_a": (Role.COUNSELOR, ("A",), None),
    "counselor_b": (Role.COUNSELOR, ("B",), None),
    "sro_b": (Role.SRO, ("B",), None),
    "admin": (Role.DISTRICT_ADMIN, (), None),
}


def build_world(app: Flask) -> World:
    with app.app_context():
        agency = Agency(name="Casper Police Department", short_name="CPD")
        a = School(name="Alpha High School", short_name="AHS", town="Casper", agency=agency)
        b = School(name="Beta Middle School", short_name="BMS", town="Casper", agency=agency)
        db.session.add_all([agency, a, b])
        db.session.flush()
        people: dict[str, int] = {}
        secrets: dict[str, str] = {}
        emails: dict[str, str] = {}
        for i, (key, (role, schools, position)) in enumerate(PEOPLE.items()):
            secret = pyotp.random_base32()
            staff = Staff(email=f"{key}@district.example", name=key.replace("_", " ").title(), role=role,
                          phone=f"+1307555010{i}", password_hash=PASSWORD_HASH)
            db.session.add(staff)
            db.session.flush()
            seal_totp_secret(staff, secret)  # as enrolment stores it: sealed, bound to the row's id
            for school in schools:
                db.session.add(Assignment(staff=staff, school=a if school == "A" else b,
                                          chain_position=position if school == "A" else None))
            db.session.flush()
            people[key], secrets[key], emails[key] = staff.id, secret, staff.email
        db.session.commit()
        return World(app, a.id, b.id, people, secrets, emails)


def totp_code(app: Flask, staff_id: int, secret: str) -> str:
    """A code not used yet for this person (a code works once: use the next step if this one was)."""
    totp = pyotp.TOTP(secret)
    now = clock.now()
    current = totp.timecode(now.replace(tzinfo=UTC))
    with app.app_context():
        staff = db.session.get(Staff, staff_id)
        assert staff is not None
        last = staff.totp_last_counter
    counter = current if last is None or last < current else current + 1
    if last is not None and last >= counter:
        with app.app_context():
            staff = db.session.get(Staff, staff_id)
            assert staff is not None
            staff.totp_last_counter = None
            db.session.commit()
        counter = current
    return totp.generate_otp(counter)


def sign_in(client: FlaskClient, world: World, key: str, *, code: str | None = None, password: str = PASSWORD,
            page: str = "/console/sign-in") -> Any:
    """Both steps; `page`: the sign-in page as a redirect gave it (with its `next`)."""
    token = csrf_token(client, page)
    client.post(page, data={"csrf_token": token, "email": world.emails[key], "password": password})
    token = csrf_token(client, "/console/sign-in/code")
    code = code or totp_code(world.app, world.people[key], world.secrets[key])
    return client.post("/console/sign-in/code", data={"csrf_token": token, "code": code})


class FrozenClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def audit_actions(app: Flask, tip_ref: str | None = None) -> list[str]:
    from sqlalchemy import select

    from app.models import AuditEvent

    with app.app_context():
        query = select(AuditEvent.action).order_by(AuditEvent.id)
        if tip_ref is not None:
            query = query.where(AuditEvent.tip_ref == tip_ref)
        return list(db.session.scalars(query))


def an_sms_refused_five_minutes_ago(world: World, key: str) -> int:
    """A critical tip of school A whose SMS to `key` Twilio refused for good five minutes ago (21211, invalid To
    number): the Schools list then marks that person unreachable. Returns the tip's id."""
    from app.models import Alert, utcnow
    from tests.support.tips import make_tip

    with world.app.app_context():
        tip_id = make_tip(world.school_a, urgency="critical").id
        at = utcnow() - timedelta(minutes=5)
        db.session.add(Alert(tip_id=tip_id, staff_id=world.people[key], chain_position=1, kind="initial",
                             status="failed", error_code="21211", due_at=at, created_at=at))
        db.session.commit()
    return tip_id
