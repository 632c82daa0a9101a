import re

from sqlalchemy import select

from app.demo_data import SCHOOLS, seed_demo
from app.extensions import db
from app.models import Agency, Assignment, ChainPosition, School, Staff

FICTIONAL = re.compile(r"^\+130755501\d\d$")


def test_seed_is_idempotent(demo):
    with demo.app_context():
        counts = (db.session.query(School).count(), db.session.query(Staff).count(),
                  db.session.query(Assignment).count())
        assert seed_demo() == "0 agencies created, 0 schools created, 0 staff created, 0 assignments created"
        assert counts == (db.session.query(School).count(), db.session.query(Staff).count(),
                          db.session.query(Assignment).count())


def test_every_school_has_a_complete_escalation_chain(demo):
    with demo.app_context():
        assert db.session.query(School).count() == len(SCHOOLS)
        for school in db.session.scalars(select(School)):
            positions = {a.chain_position for a in school.assignments if a.chain_position}
            assert positions == {int(p) for p in ChainPosition}, school.short_name
            for assignment in school.assignments:
                if assignment.chain_position:
                    assert assignment.staff.phone, f"{assignment.staff.email} in a chain without a phone"


def test_agencies_of_the_seed_story(demo):
    with demo.app_context():
        by_short = {s.short_name: s for s in db.session.scalars(select(School))}
        assert by_short["KWHS"].agency.name == "Casper Police Department"
        assert by_short["MWS"].agency.name == "Natrona County Sheriff's Office"
        assert by_short["EVES"].agency.name == "Evansville Police Department"
        assert db.session.query(Agency).count() == 3


def test_phone_numbers_are_fictional(demo):
    with demo.app_context():
        phones = [s.phone for s in db.session.scalars(select(Staff)) if s.phone]
        assert phones and all(FICTIONAL.match(p) for p in phones)
        assert len(phones) == len(set(phones))


def test_an_sro_covers_several_schools(demo):
    with demo.app_context():
        primaries = [a.staff_id for a in db.session.scalars(
            select(Assignment).where(Assignment.chain_position == ChainPosition.PRIMARY_SRO))]
        assert max(primaries.count(s) for s in set(primaries)) >= 3


def test_demo_logins_are_owner_only(demo):
    from pathlib import Path

    path = Path(demo.instance_path) / "demo_logins.txt"
    assert path.stat().st_mode & 0o777 == 0o600
    assert "admin@ncsd.example" in path.read_text()
