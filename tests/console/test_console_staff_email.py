"""A district admin corrects a person's sign-in email (a typo at creation, a changed name): checked as at creation,
unique, on the audit record; nobody else can change one, not even their own."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Staff
from tests.console.helpers import PASSWORD, World, audit_actions, sign_in
from tests.support.forms import csrf_token, input_value
from tests.support.write_lock import rendering_holding_the_lock


def _email_of(world: World, key: str) -> str:
    with world.app.app_context():
        person = db.session.get(Staff, world.people[key])
        assert person is not None
        return person.email


def _change_email(client: FlaskClient, world: World, key: str, email: str, *, email_was: str | None = None):
    page = client.get(f"/console/admin/staff/{world.people[key]}").get_data(as_text=True)
    shown = input_value(page, "email_was")
    return client.post(f"/console/admin/staff/{world.people[key]}/email", data={
        "csrf_token": csrf_token(client, "/console/"), "email": email,
        "email_was": shown if email_was is None else email_was})


def _email_events(world: World) -> list[dict[str, object]]:
    with world.app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.email_changed")
                                    .order_by(AuditEvent.id))
        return [{"actor_id": e.actor_id, **json.loads(e.detail)} for e in events]


def test_admin_corrects_an_email_and_the_person_signs_in_with_the_new_one(world: World, signed_in) -> None:
    person = signed_in("sro_a")  # signed in before the change: the email names the account, it is no credential
    admin = signed_in("admin")
    response = _change_email(admin, world, "sro_a", "  Ｏfficer.Alpha@District.example ")
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sign-in email changed" in page
    assert _email_of(world, "sro_a") == "officer.alpha@district.example"  # NFKC, trimmed, lower case
    assert _email_events(world) == [{"actor_id": world.people["admin"], "target_id": world.people["sro_a"],
                                     "target": "officer.alpha@district.example",
                                     "before": "sro_a@district.example", "after": "officer.alpha@district.example"}]
    assert person.get("/console/").status_code == 200  # their session goes on

    old = world.app.test_client()
    old_page = old.post("/console/sign-in", data={"csrf_token": csrf_token(old, "/console/sign-in"),
                                                  "email": "sro_a@district.example", "password": PASSWORD})
    assert old_page.status_code == 200 and "/console/sign-in/code" not in old_page.headers.get("Location", "")
    world.emails["sro_a"] = "officer.alpha@district.example"
    response = sign_in(world.app.test_client(), world, "sro_a")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/")


@pytest.mark.parametrize("email", ["jane doe@district.example", "jane@doe@district.example", "@district.example",
                                   "jane@", "jane@district", "jane@district..example", "jane@\u200bdistrict.example",
                                   "", "x" * 250 + "@d.example"])
def test_an_email_creation_would_refuse_is_refused_beside_its_box(world: World, signed_in, email: str) -> None:
    admin = signed_in("admin")
    response = _change_email(admin, world, "sro_a", email)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="email-error"' in page, page
    assert _email_of(world, "sro_a") == "sro_a@district.example"
    assert "staff.email_changed" not in audit_actions(world.app)


@pytest.mark.parametrize("taken", ["counselor_a@district.example", "ＣＯＵＮＳＥＬＯＲ_Ａ@District.Example"])
def test_an_email_another_account_has_is_refused(world: World, signed_in, taken: str) -> None:
    admin = signed_in("admin")
    response = _change_email(admin, world, "sro_a", taken)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Another account signs in with counselor_a@district.example" in page
    assert _email_of(world, "sro_a") == "sro_a@district.example"
    assert _email_of(world, "counselor_a") == "counselor_a@district.example"
    assert "staff.email_changed" not in audit_actions(world.app)


def test_the_same_email_changes_nothing_and_records_nothing(world: World, signed_in) -> None:
    admin = signed_in("admin")
    response = _change_email(admin, world, "sro_a", "SRO_A@district.example")
    assert "Nothing changed" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "staff.email_changed" not in audit_actions(world.app)


def test_an_email_change_from_an_outdated_page_is_refused(world: World, signed_in) -> None:
    """Two admins (or two tabs) correcting one typo differently: the second would undo the first without a word."""
    admin = signed_in("admin")
    response = _change_email(admin, world, "sro_a", "new@district.example", email_was="someone@district.example")
    assert "changed since this page was opened" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert _email_of(world, "sro_a") == "sro_a@district.example"


@pytest.mark.parametrize("who", ["sro_a", "counselor_a"])
@pytest.mark.parametrize("whose", ["own", "admin", "colleague"])
def test_only_a_district_admin_changes_an_email(world: World, signed_in, who: str, whose: str) -> None:
    """Not their own either: an email is the sign-in name the district knows them by; and never another's (the
    admin's: a look-alike account name in the audit record, a colleague's: a sign-in name nobody gave them)."""
    target = {"own": who, "admin": "admin", "colleague": "sro_b"}[whose]
    before = _email_of(world, target)
    client = signed_in(who)
    response = client.post(f"/console/admin/staff/{world.people[target]}/email", data={
        "csrf_token": csrf_token(client, "/console/"), "email": "taken.over@district.example", "email_was": before})
    assert response.status_code == 403
    assert _email_of(world, target) == before
    assert "staff.email_changed" not in audit_actions(world.app)


def test_a_refused_email_page_renders_without_the_write_lock(world: World, signed_in) -> None:
    admin = signed_in("admin")
    with rendering_holding_the_lock(world.app) as held:
        assert _change_email(admin, world, "sro_a", "counselor_a@district.example").status_code == 200
    assert held == []
