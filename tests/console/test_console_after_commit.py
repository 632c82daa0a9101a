"""A console change that was saved is answered as saved, even when the database refuses in the instant after.

Each of these read the database after its commit (the redirect's `tip.ref`, expired by the commit): another
writer taking SQLite's write lock just then, or PostgreSQL going away, turned the saved change into the 503 page
"Nothing was saved, try again", and the person did it twice (a second note, a second message to the reporter) or
believed it lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Agency, Incident
from tests.console.helpers import PASSWORD, World, audit_actions
from tests.support.forms import csrf_token_in, input_value
from tests.support.refused_after_commit import database_refusing_after_commit
from tests.support.tips import make_tip


def _ref_of_a_tip(world: World, *, linked: bool = False) -> tuple[str, str]:
    """A tip of school A and another of the same school (linked to it as one incident when `linked`)."""
    with world.app.app_context():
        incident_id = None
        if linked:
            incident = Incident(school_id=world.school_a, category="threat_of_violence")
            db.session.add(incident)
            db.session.flush()
            incident_id = incident.id
        return (make_tip(world.school_a, incident_id=incident_id).ref,
                make_tip(world.school_a, incident_id=incident_id).ref)


Form = Callable[[str, World, str], dict[str, Any]]

# form (the path after /console/tips/<ref>/), what it sends, the anchor it leads back to, its flash, its audit event
CASE_ACTIONS: list[tuple[str, Form, str, str, str]] = [
    ("acknowledge", lambda page, world, other: {}, "", "Acknowledged: escalation stopped.", "tip.acknowledged"),
    ("label", lambda page, world, other: {"category": "weapon", "urgency": "critical",
                                          "labels_was": input_value(page, "labels_was")},
     "labels", "Category and urgency saved.", "tip.relabelled"),
    ("status", lambda page, world, other: {"status": "investigating", "outcome": "",
                                           "status_was": input_value(page, "status_was")},
     "status", "Status: investigating.", "tip.status_changed"),
    ("assign", lambda page, world, other: {"counselor": world.people["counselor_a"],
                                           "counselor_was": input_value(page, "counselor_was")},
     "assign", "Counselor assigned.", "tip.assigned"),
    ("notes", lambda page, world, other: {"body": "Spoke with the VP.", "note_after": input_value(page, "note_after")},
     "notes", "Note added.", "note.added"),
    ("messages", lambda page, world, other: {"template": "", "body": "Which door did he use?",
                                             "message_after": input_value(page, "message_after")},
     "messages", "Message sent", "message.sent"),
    ("link", lambda page, world, other: {"other_ref": other}, "related", "Linked.", "tip.linked"),
    ("unlink", lambda page, world, other: {"incident_was": input_value(page, "incident_was")},
     "related", "Taken out of the incident", "tip.unlinked"),
    ("hold", lambda page, world, other: {"body": "Police case 24-1187", "hold_was": input_value(page, "hold_was")},
     "hold", "Legal hold set", "tip.hold_set"),
    ("hold/release", lambda page, world, other: {"body": "Case closed by the court",
                                                 "hold_was": input_value(page, "hold_was")},
     "hold", "Legal hold released", "tip.hold_released"),
]


@pytest.mark.parametrize(("form", "data", "anchor", "said", "event"), CASE_ACTIONS,
                         ids=[action[0] for action in CASE_ACTIONS])
def test_a_case_action_saved_is_answered_as_saved_when_the_database_refuses_just_after(
        world: World, signed_in, form: str, data: Form, anchor: str, said: str, event: str) -> None:
    ref, other = _ref_of_a_tip(world, linked=form == "unlink")
    client = signed_in("admin")  # sees the school, and may release a hold
    if form == "hold/release":
        page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
        assert client.post(f"/console/tips/{ref}/hold", data={
            "csrf_token": csrf_token_in(page), "hold_was": input_value(page, "hold_was"),
            "body": "Police case 24-1187"}).status_code == 302
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    before = audit_actions(world.app, ref).count(event)
    sent = {k: v for k, v in data(page, world, other).items() if v is not None}  # a field the page has not
    with database_refusing_after_commit(world.app) as after:
        response = client.post(f"/console/tips/{ref}/{form}", data={"csrf_token": csrf_token_in(page), **sent})
    assert after.commits, "nothing was saved: the test proves nothing"
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert response.headers["Location"] == f"/console/tips/{ref}" + (f"#{anchor}" if anchor else "")
    assert audit_actions(world.app, ref).count(event) == before + 1  # saved, once
    assert said in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_sign_in_with_a_recovery_code_is_signed_in_when_the_database_refuses_just_after(world: World) -> None:
    """The count of codes left was read after the commit that used one: a refusal then answered 503, the code was
    spent all the same, and the person (phone lost, codes running out) tried the next one."""
    from app.accounts.totp import new_recovery_codes
    from app.models import Staff

    codes, hashes = new_recovery_codes()
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["sro_a"])
        assert staff is not None
        staff.recovery_codes = hashes
        db.session.commit()
    client = world.app.test_client()
    page = client.get("/console/sign-in").get_data(as_text=True)
    assert client.post("/console/sign-in", data={"csrf_token": csrf_token_in(page), "email": world.emails["sro_a"],
                                                 "password": PASSWORD}).status_code == 302
    page = client.get("/console/sign-in/code?recovery=1").get_data(as_text=True)
    with database_refusing_after_commit(world.app) as after:
        response = client.post("/console/sign-in/code", data={"csrf_token": csrf_token_in(page), "code": codes[0]})
    assert after.commits
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    queue = client.get("/console/")
    assert queue.status_code == 200
    assert "You signed in with a recovery code: 9 are left." in queue.get_data(as_text=True)


def test_a_password_changed_keeps_this_session_when_the_database_refuses_just_after(world: World, signed_in) -> None:
    """This session was given the new session generation after the commit, which read the person's row again: a
    refusal then answered 503 'nothing was saved' about a password that was changed, and this session, carrying
    the old generation, was signed out."""
    client = signed_in("sro_a")
    page = client.get("/console/account/password").get_data(as_text=True)
    new = "sagebrush meadow lantern"
    with database_refusing_after_commit(world.app) as after:
        response = client.post("/console/account/password", data={
            "csrf_token": csrf_token_in(page), "current": PASSWORD, "password": new, "confirm": new})
    assert after.commits
    assert response.status_code == 302 and response.headers["Location"] == "/console/account/password"
    kept = client.get("/console/account/password")
    assert kept.status_code == 200 and "Your password is changed" in kept.get_data(as_text=True)
    assert audit_actions(world.app).count("staff.password_changed") == 1


def test_a_wrong_current_password_is_said_when_the_database_refuses_just_after(world: World, signed_in) -> None:
    """The failed attempt is counted and committed; the page saying so read the person's name again for its header."""
    client = signed_in("sro_a")
    page = client.get("/console/account/password").get_data(as_text=True)
    new = "sagebrush meadow lantern"
    with database_refusing_after_commit(world.app) as after:
        response = client.post("/console/account/password", data={
            "csrf_token": csrf_token_in(page), "current": "not my password", "password": new, "confirm": new})
    assert after.commits
    assert response.status_code == 200 and "That is not your current password." in response.get_data(as_text=True)


def _admin_page(client: Any, path: str) -> tuple[str, str]:
    page = client.get(path).get_data(as_text=True)
    return page, csrf_token_in(page) or ""


def test_an_invitation_saved_shows_its_enrolment_link_when_the_database_refuses_just_after(world: World,
                                                                                          signed_in) -> None:
    """The page with the link was built from the schools and people read after the commit: a refusal then said
    nothing was saved about an account that was created, and its link (shown once) was lost."""
    admin = signed_in("admin")
    _page, token = _admin_page(admin, "/console/admin/staff")
    with database_refusing_after_commit(world.app) as after:
        response = admin.post("/console/admin/staff", data={
            "csrf_token": token, "email": "invited@district.example", "name": "Invited Person", "role": "sro",
            "schools": [str(world.school_a)]})
    assert after.commits
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "/console/enrol/" in page and "Account created" in page
    assert "Invited Person" in page  # the list shows the new person
    assert audit_actions(world.app).count("staff.invited") == 1


def test_a_staff_edit_saved_is_answered_as_saved_when_the_database_refuses_just_after(world: World,
                                                                                     signed_in) -> None:
    """The flashes of a chain place left empty read the chain, and the redirect the person's id, after the
    commit."""
    admin = signed_in("admin")
    path = f"/console/admin/staff/{world.people['sro_a']}"
    page, token = _admin_page(admin, path)
    with database_refusing_after_commit(world.app) as after:
        response = admin.post(path, data={  # moved from school A, where they are the primary SRO, to B
            "csrf_token": token, "access_was": input_value(page, "access_was") or "", "name": "Sro A",
            "role": "sro", "phone": "+13075550100", "active": "y", "schools": [str(world.school_b)]})
    assert after.commits
    assert response.status_code == 302 and response.headers["Location"] == path
    shown = admin.get(path).get_data(as_text=True)
    assert "Saved." in shown and "was 1 (primary SRO) of the escalation chain of Alpha High School" in shown
    assert audit_actions(world.app).count("staff.updated") == 1


def test_a_sign_in_reset_shows_its_enrolment_link_when_the_database_refuses_just_after(world: World,
                                                                                      signed_in) -> None:
    admin = signed_in("admin")
    path = f"/console/admin/staff/{world.people['sro_a']}"
    page, token = _admin_page(admin, path)
    with database_refusing_after_commit(world.app) as after:
        response = admin.post(f"{path}/reset", data={
            "csrf_token": token, "enrolment_was": input_value(page, "enrolment_was") or ""})
    assert after.commits
    shown = response.get_data(as_text=True)
    assert response.status_code == 200 and "/console/enrol/" in shown and "Sign-in reset" in shown
    assert audit_actions(world.app).count("staff.reset") == 1


def test_a_school_saved_is_answered_as_saved_when_the_database_refuses_just_after(world: World, signed_in) -> None:
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    page, token = _admin_page(admin, path)
    with database_refusing_after_commit(world.app) as after:
        response = admin.post(path, data={
            "csrf_token": token, "school_was": input_value(page, "school_was") or "", "name": "Alpha High School",
            "short_name": "AHS", "town": "Casper", "day_start": "08:00", "day_end": "16:00",
            "timezone": "America/Denver", "active": "y"})
    assert after.commits
    assert response.status_code == 302 and response.headers["Location"] == path
    assert "School saved." in admin.get(path).get_data(as_text=True)
    assert audit_actions(world.app).count("school.updated") == 1


def test_a_chain_saved_is_answered_as_saved_when_the_database_refuses_just_after(world: World, signed_in) -> None:
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    page, token = _admin_page(admin, path)
    with database_refusing_after_commit(world.app) as after:
        response = admin.post(f"{path}/chain", data={
            "csrf_token": token, "chain_was": input_value(page, "chain_was") or "",
            "position_1": str(world.people["counselor_a"]), "position_2": str(world.people["sro_a"])})
    assert after.commits
    assert response.status_code == 302 and response.headers["Location"] == path
    assert "Escalation chain saved." in admin.get(path).get_data(as_text=True)
    assert audit_actions(world.app).count("school.chain_updated") == 1


def test_an_agency_renamed_is_answered_as_saved_when_the_database_refuses_just_after(world: World,
                                                                                     signed_in) -> None:
    """The redirect read the agency's id, expired by the commit: a refusal then answered "nothing was saved"
    about a rename that was saved."""
    admin = signed_in("admin")
    with world.app.app_context():
        agency_id = db.session.scalar(select(Agency.id).where(Agency.short_name == "CPD"))
    path = f"/console/admin/agencies/{agency_id}"
    page, token = _admin_page(admin, path)
    with database_refusing_after_commit(world.app) as after:
        response = admin.post(path, data={
            "csrf_token": token, "agency_was": input_value(page, "agency_was") or "",
            "name": "Casper Police Dept.", "short_name": "CPD"})
    assert after.commits
    assert response.status_code == 302 and response.headers["Location"] == path
    assert "Agency saved." in admin.get(path).get_data(as_text=True)
    assert audit_actions(world.app).count("agency.updated") == 1


def test_an_audit_check_is_shown_when_the_database_refuses_just_after(world: World, signed_in) -> None:
    admin = signed_in("admin")
    _page, token = _admin_page(admin, "/console/admin/audit")
    with database_refusing_after_commit(world.app) as after:
        response = admin.post("/console/admin/audit/verify", data={"csrf_token": token})
    assert after.commits
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert audit_actions(world.app).count("audit.verified") == 1


def test_a_photo_opened_is_shown_when_the_database_refuses_just_after(world: World, signed_in) -> None:
    """Opening a photo is on the record first; its type was read after that commit, so a refusal then answered 503
    and the next try was a second 'viewed' on the record for one look."""
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    with world.app.app_context():
        tip = make_tip(world.school_a, photo=png)
        ref, photo = tip.ref, tip.attachments[0].id
    client = signed_in("sro_a")
    with database_refusing_after_commit(world.app) as after:
        response = client.get(f"/console/tips/{ref}/attachments/{photo}")
    assert after.commits
    assert response.status_code == 200 and response.data == png and response.mimetype == "image/png"
    assert audit_actions(world.app, ref).count("attachment.viewed") == 1


def test_the_quarterly_report_is_shown_when_the_database_refuses_just_after(world: World, signed_in) -> None:
    """The report's view is on the record first; its scopes and the page's header (who is signed in) were read
    after that commit."""
    client = signed_in("sro_a")
    with database_refusing_after_commit(world.app) as after:
        response = client.get("/console/reports/")
    assert after.commits
    assert response.status_code == 200 and "Sro A" in response.get_data(as_text=True)
    assert audit_actions(world.app).count("report.viewed") == 1


def test_an_enrolment_finished_shows_its_recovery_codes_when_the_database_refuses_just_after(world: World,
                                                                                             signed_in) -> None:
    """The recovery codes are shown once, on the page that finishes the enrolment. Finished in a browser where
    someone is signed in (an admin enrolling a colleague's account at the colleague's desk), the page's header read
    that person after a plain commit: a refusal then answered 503 'nothing was saved' about an enrolment made, and
    its recovery codes were never seen."""
    import re

    import pyotp

    admin = signed_in("admin")
    _page, token = _admin_page(admin, "/console/admin/staff")
    invited = admin.post("/console/admin/staff", data={
        "csrf_token": token, "email": "enrolling@district.example", "name": "Enrolling Person", "role": "sro",
        "schools": [str(world.school_a)]}).get_data(as_text=True)
    link = re.search(r"/console/enrol/[A-Za-z0-9_\-]+", invited)
    assert link
    page = admin.get(link.group(0)).get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    password = "a long and unusual passphrase 42"
    with database_refusing_after_commit(world.app) as after:
        response = admin.post(link.group(0), data={"csrf_token": csrf_token_in(page), "password": password,
                                                   "confirm": password, "code": pyotp.TOTP(secret.group(1)).now()})
    assert after.commits
    shown = response.get_data(as_text=True)
    assert response.status_code == 200 and "recovery" in shown.lower(), shown[:400]
    assert audit_actions(world.app).count("staff.enrolled") == 1
