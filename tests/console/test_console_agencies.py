"""Agencies (the police department or sheriff's office serving schools): a district admin renames one (a typo made
at `flask schools add-agency`, a department renamed), on the audit record; a name two agencies would share, or
none, is refused beside its box."""

from __future__ import annotations

import html
import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Agency, AuditEvent
from tests.console.helpers import World, audit_actions
from tests.support.forms import csrf_token, input_value
from tests.support.write_lock import rendering_holding_the_lock


def _agency_id(world: World) -> int:
    with world.app.app_context():
        return db.session.scalar(select(Agency.id).where(Agency.short_name == "CPD")) or 0


def _add_sheriff(world: World) -> None:
    with world.app.app_context():
        db.session.add(Agency(name="Natrona County Sheriff's Office", short_name="NCSO"))
        db.session.commit()


def _names(world: World) -> tuple[str, str]:
    """The name and short name of the agency of the schools (the only one the world starts with)."""
    with world.app.app_context():
        agency = db.session.scalar(select(Agency).order_by(Agency.id).limit(1))
        assert agency is not None
        return agency.name, agency.short_name


def _rename(client: FlaskClient, agency_id: int, name: str, short_name: str, *, agency_was: str | None = None):
    page = client.get(f"/console/admin/agencies/{agency_id}").get_data(as_text=True)
    shown = input_value(page, "agency_was")
    return client.post(f"/console/admin/agencies/{agency_id}", data={
        "csrf_token": csrf_token(client, "/console/"), "name": name, "short_name": short_name,
        "agency_was": shown if agency_was is None else agency_was})


def test_admin_renames_an_agency_and_the_change_is_on_the_record(world: World, signed_in) -> None:
    admin = signed_in("admin")
    agency_id = _agency_id(world)
    listing = admin.get("/console/admin/agencies").get_data(as_text=True)
    assert "Casper Police Department" in listing and "Alpha High School" in listing  # with the schools it serves
    response = _rename(admin, agency_id, "  Casper Police Dept. ", "cpd ")
    assert response.status_code == 302
    assert "Agency saved" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert _names(world) == ("Casper Police Dept.", "CPD")
    with world.app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "agency.updated"))
        assert event is not None and event.actor_id == world.people["admin"]
        assert json.loads(event.detail) == {"agency_id": agency_id, "changed": ["name"],
                                            "before": {"name": "Casper Police Department"},
                                            "after": {"name": "Casper Police Dept."}}
    assert "Casper Police Dept." in admin.get("/console/admin/schools").get_data(as_text=True)


def test_a_short_name_is_corrected_too(world: World, signed_in) -> None:
    admin = signed_in("admin")
    _rename(admin, _agency_id(world), "Casper Police Department", "casperpd")
    assert _names(world) == ("Casper Police Department", "CASPERPD")


@pytest.mark.parametrize(("name", "short_name", "box", "says"), [
    ("", "CPD", "name", "Enter the agency's name"),
    ("   ", "CPD", "name", "Enter the agency's name"),
    ("Casper Police Department", "  ", "short_name", "Enter the agency's short name"),
    ("natrona county SHERIFF'S office", "CPD", "name", "Another agency has this name"),
    ("Casper Police Department", "ncso", "short_name", "Another agency has the short name NCSO"),
    ("x" * 201, "CPD", "name", "Up to 200 characters"),
    ("Casper Police Department", "C" * 21, "short_name", "Up to 20 characters"),
    ("Casper\u200bPolice", "CPD", "name", "Use letters"),
])
def test_an_empty_or_taken_name_is_refused_beside_its_box(world: World, signed_in, name: str, short_name: str,
                                                          box: str, says: str) -> None:
    _add_sheriff(world)
    admin = signed_in("admin")
    response = _rename(admin, _agency_id(world), name, short_name)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and f'id="{box}-error"' in page and says in page, page
    assert name in page or not name.strip()  # what was typed stays in the box, to correct
    assert _names(world) == ("Casper Police Department", "CPD")
    assert "agency.updated" not in audit_actions(world.app)


def test_the_same_names_change_nothing(world: World, signed_in) -> None:
    admin = signed_in("admin")
    response = _rename(admin, _agency_id(world), "Casper Police Department", "cpd")
    assert "Nothing changed" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "agency.updated" not in audit_actions(world.app)


def test_a_rename_from_an_outdated_page_is_refused(world: World, signed_in) -> None:
    admin = signed_in("admin")
    response = _rename(admin, _agency_id(world), "Casper PD", "CPD", agency_was="0123456789abcdef")
    assert "changed by someone else" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert _names(world) == ("Casper Police Department", "CPD")


@pytest.mark.parametrize("who", ["sro_a", "counselor_a"])
def test_only_a_district_admin_sees_or_renames_agencies(world: World, signed_in, who: str) -> None:
    """An SRO's own agency included: its name is the district's to keep."""
    client = signed_in(who)
    agency_id = _agency_id(world)
    assert client.get("/console/admin/agencies").status_code == 403
    assert client.get(f"/console/admin/agencies/{agency_id}").status_code == 403
    response = client.post(f"/console/admin/agencies/{agency_id}", data={
        "csrf_token": csrf_token(client, "/console/"), "name": "Renamed", "short_name": "REN"})
    assert response.status_code == 403
    assert _names(world) == ("Casper Police Department", "CPD")
    assert "agency.updated" not in audit_actions(world.app)


def test_an_agency_that_does_not_exist_is_a_404(world: World, signed_in) -> None:
    assert signed_in("admin").get("/console/admin/agencies/999").status_code == 404


def test_agency_pages_render_without_the_write_lock(world: World, signed_in) -> None:
    admin = signed_in("admin")
    agency_id = _agency_id(world)
    token = csrf_token(admin, "/console/")
    with rendering_holding_the_lock(world.app) as held:
        for path in ("/console/admin/agencies", f"/console/admin/agencies/{agency_id}", "/console/admin/schools"):
            assert admin.get(path).status_code == 200, path
        refused = admin.post(f"/console/admin/agencies/{agency_id}", data={"csrf_token": token, "name": "",
                                                                          "short_name": "CPD"})
        assert refused.status_code == 200
    assert held == []
