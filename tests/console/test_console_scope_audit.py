"""Two standards, walked over every route that takes a tip's reference, for every role: every staff access that
opens a tip (or changes it) is on the audit record with who and which tip; and nothing of a school the person is
not assigned to shows, not even as a count (queue counters, an incident's related tips, "close together")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import Rule

from app.crypto.staff_secrets import seal_totp_secret
from app.extensions import db
from app.models import Assignment, Attachment, AuditEvent, Incident, Role, Staff, Tip, utcnow
from tests.console.helpers import PASSWORD_HASH, World, sign_in
from tests.support.forms import csrf_token, input_value
from tests.support.tips import add_unread_reporter_message, make_tip

SECRET_TEXT = "he showed a knife in locker 12 behind the gym"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ROLES = [Role.SRO, Role.COUNSELOR, Role.SUPERVISOR, Role.DISPATCH, Role.DISTRICT_ADMIN]


def tip_rules(app: Flask) -> Iterator[tuple[Rule, str]]:
    """Every console route and method that takes a tip's reference."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.startswith("console.") and "ref" in rule.arguments:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield rule, method


def person(world: World, role: Role, *schools: int) -> tuple[FlaskClient, int]:
    """A signed-in client of a new person of `role`, assigned to `schools`, and the person's id."""
    key = f"{role.value}-{len(world.people)}"
    with world.app.app_context():
        staff = Staff(email=f"{key}@district.example", name=key.title(), role=role, password_hash=PASSWORD_HASH)
        db.session.add(staff)
        db.session.flush()
        secret = pyotp.random_base32()
        seal_totp_secret(staff, secret)
        for school in schools:
            db.session.add(Assignment(staff=staff, school_id=school))
        db.session.commit()
        world.people[key], world.secrets[key], world.emails[key] = staff.id, secret, staff.email
    client = world.app.test_client()
    assert sign_in(client, world, key).status_code == 302
    return client, world.people[key]


@dataclass
class Case:
    ref: str
    attachment_id: int
    other_ref: str  # a tip of the same school, in no incident with this one: for "link"


def a_case(world: World, school_id: int) -> Case:
    """A tip with a photo and an unread reporter message, in an incident with one other tip, and a third tip of
    the school to link it to."""
    with world.app.app_context():
        now = utcnow()
        incident = Incident(school_id=school_id, category="threat_of_violence", opened_at=now, last_tip_at=now)
        db.session.add(incident)
        db.session.flush()
        tip = make_tip(school_id, SECRET_TEXT, photo=PNG, incident_id=incident.id)
        make_tip(school_id, incident_id=incident.id)
        add_unread_reporter_message(tip, "he is outside now")
        db.session.commit()
        attachment_id = db.session.scalar(select(Attachment.id).where(Attachment.tip_id == tip.id))
        assert attachment_id is not None
        return Case(tip.ref, attachment_id, make_tip(school_id).ref)


def state_of(app: Flask, ref: str) -> tuple[object, ...]:
    """What any action may change on a tip."""
    with app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert tip is not None
        return (tip.status, tip.outcome, tip.label_category, tip.label_urgency, tip.assigned_counselor_id,
                tip.incident_id, tip.acknowledged_at, tip.legal_hold_at, tip.legal_hold_released_at,
                len(tip.notes), len(tip.messages))


def events_of(app: Flask, ref: str, staff_id: int | None = None) -> list[str]:
    with app.app_context():
        query = select(AuditEvent.action).where(AuditEvent.tip_ref == ref).order_by(AuditEvent.id)
        if staff_id is not None:
            query = query.where(AuditEvent.actor_id == staff_id)
        return list(db.session.scalars(query))


def form_for(client: FlaskClient, case: Case) -> dict[str, str]:
    """What a person sends from the case page as it shows now: its token and markers, and plausible choices."""
    page = client.get(f"/console/tips/{case.ref}").get_data(as_text=True)
    data = {name: input_value(page, name) or "" for name in
            ("csrf_token", "labels_was", "status_was", "counselor_was", "note_after", "message_after", "hold_was",
             "incident_was")}
    return data | {"category": "bullying", "urgency": "low", "status": "closed", "outcome": "unfounded",
                   "body": "typed by staff", "other_ref": case.other_ref, "counselor": "0", "template": ""}


@pytest.mark.parametrize("role", ROLES)
def test_every_access_that_opens_or_changes_a_tip_is_on_the_record_with_who_and_which_tip(world: World,
                                                                                         role: Role) -> None:
    """Each route that takes a reference, pressed by each role on a case of its own school: an answer that shows the
    tip's text or photo added a view event of this person on this tip, and an answer after which the tip changed
    added an event of this person on this tip. Refused forms that show the case again count as views."""
    client, staff_id = person(world, role, world.school_a)
    checked = opened = changed = 0
    for rule, method in tip_rules(world.app):
        case = a_case(world, world.school_a)  # a fresh case each time: every form finds what it acts on
        data = form_for(client, case) if method == "POST" else {}
        before_state, before_events = state_of(world.app, case.ref), events_of(world.app, case.ref, staff_id)
        url = rule.build({"ref": case.ref, "attachment_id": case.attachment_id}, append_unknown=False)[1]
        response = client.open(url, method=method, data=data)
        assert response.status_code < 500, (rule.rule, method, response.status_code)
        new = events_of(world.app, case.ref, staff_id)[len(before_events):]
        body = response.get_data()
        if SECRET_TEXT.encode() in body:
            assert "tip.viewed" in new, (rule.rule, method, new)
            opened += 1
        if body == PNG:
            assert "attachment.viewed" in new, (rule.rule, method, new)
            opened += 1
        if state_of(world.app, case.ref) != before_state:
            assert new, (rule.rule, method, "changed the tip without an event")
            changed += 1
        checked += 1
    assert checked >= 20 and opened >= 2 and changed >= 6, (checked, opened, changed)


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.DISPATCH])
def test_every_tip_route_of_another_school_is_a_404_for_supervisors_and_dispatch(world: World, role: Role) -> None:
    """As test_console_access_matrix.py checks for counselors and SROs: every route and method, GET and POST, on a
    case of a school the person is not assigned to (and its photo, and a form naming its reference) answers 404,
    changes nothing and leaves nothing on that tip's record."""
    client, _ = person(world, role, world.school_a)
    theirs = a_case(world, world.school_b)
    mine = a_case(world, world.school_a)
    token = csrf_token(client, "/console/")
    before = state_of(world.app, theirs.ref)
    checked = 0
    for rule, method in tip_rules(world.app):
        url = rule.build({"ref": theirs.ref, "attachment_id": theirs.attachment_id}, append_unknown=False)[1]
        data = {"csrf_token": token, "category": "other", "urgency": "low", "status": "closed",
                "outcome": "unfounded", "body": "x", "other_ref": mine.ref, "counselor": "0", "hold_was": "none",
                "tips_was": f"{theirs.ref}:new:-:-:1"}
        response = client.open(url, method=method, data=data)
        assert response.status_code == 404, (rule.rule, method, response.status_code)
        assert SECRET_TEXT not in response.get_data(as_text=True)
        checked += 1
    # Its reference in a form of one's own case: link, and close together.
    page = client.get(f"/console/tips/{mine.ref}").get_data(as_text=True)
    client.post(f"/console/tips/{mine.ref}/link",
                data={"csrf_token": input_value(page, "csrf_token"), "other_ref": theirs.ref})
    client.post(f"/console/tips/{mine.ref}/close-incident", data={
        "csrf_token": token, "outcome": "unfounded", "tips_was": f"{theirs.ref}:new:-:-:1"})
    assert checked >= 20
    assert state_of(world.app, theirs.ref) == before
    assert events_of(world.app, theirs.ref) == []


def test_the_queue_counts_and_finds_nothing_of_another_school(world: World, signed_in) -> None:
    """The queue's counter, its school and incident filters, its "N related tips" and its "Open a tip" box say the
    same of another school's tips as of tips that do not exist."""
    theirs = a_case(world, world.school_b)
    mine = a_case(world, world.school_a)
    with world.app.app_context():
        their_incident = db.session.scalar(select(Tip.incident_id).where(Tip.ref == theirs.ref))
    client = signed_in("counselor_a")
    for query in (f"school={world.school_b}&status=all", f"incident={their_incident}&status=all"):
        page = client.get(f"/console/?{query}").get_data(as_text=True)
        assert "0 tips" in page and theirs.ref not in page and "related tips" not in page, query
    page = client.get("/console/?status=all").get_data(as_text=True)
    assert "3 tips" in page and theirs.ref not in page and "incident: 2 related tips" in page and mine.ref in page
    found, missing = (client.get(f"/console/?ref={ref}").get_data(as_text=True) for ref in (theirs.ref, "ZZZZZZ"))
    assert found.replace(theirs.ref, "ZZZZZZ") == missing


def a_legacy_incident(world: World) -> tuple[str, str, str]:
    """An incident holding tips of both schools (linking and intake keep an incident to one school now; data from
    before, or written by hand, may not): two open tips of school A, one of school B. Their references."""
    with world.app.app_context():
        now = utcnow()
        incident = Incident(school_id=world.school_a, category="threat_of_violence", opened_at=now, last_tip_at=now)
        db.session.add(incident)
        db.session.flush()
        refs = [make_tip(school, SECRET_TEXT, incident_id=incident.id).ref
                for school in (world.school_a, world.school_a, world.school_b)]
        return refs[0], refs[1], refs[2]


def test_closing_an_incident_together_counts_no_tip_of_another_school(world: World, signed_in) -> None:
    """Close together counted the incident's open tips at schools the person is not assigned to ("1 open tip of
    this incident at a school you are not assigned to is left alone"), on the confirmation and on the result: it told
    an SRO of school A that school B had a tip in the incident. Both pages now tell only of A's tips, and B's tip is
    left as it was."""
    mine, sibling, theirs = a_legacy_incident(world)
    client = signed_in("sro_a")
    confirmation = client.get(f"/console/tips/{mine}/close-incident?outcome=false_report").get_data(as_text=True)
    assert "2 tips" in confirmation and sibling in confirmation and theirs not in confirmation
    assert "not assigned" not in confirmation and "left alone" not in confirmation
    result = client.post(f"/console/tips/{mine}/close-incident", data={
        "csrf_token": input_value(confirmation, "csrf_token"), "tips_was": input_value(confirmation, "tips_was"),
        "outcome": "false_report"}).get_data(as_text=True)
    assert theirs not in result and "not assigned" not in result and "left alone" not in result
    assert "joined" not in result
    with world.app.app_context():
        assert db.session.scalar(select(Tip.status).where(Tip.ref == theirs)) == "new"
        assert db.session.scalar(select(func.count(Tip.id)).where(Tip.status == "closed")) == 2
    assert events_of(world.app, theirs) == []


def test_the_case_page_carries_no_id_of_another_schools_tip_of_its_incident(world: World, signed_in) -> None:
    """The "take out of the incident" form's marker carried the ids of every other tip of the incident, another
    school's too (how many, and which rows): it carries those the page lists, and taking a tip out still works
    from the page as shown."""
    mine, sibling, theirs = a_legacy_incident(world)
    with world.app.app_context():
        ids = {ref: id_ for ref, id_ in db.session.execute(select(Tip.ref, Tip.id))}
    client = signed_in("sro_a")
    case = client.get(f"/console/tips/{mine}").get_data(as_text=True)
    assert theirs not in case and sibling in case
    marker = input_value(case, "incident_was") or ""
    assert marker.split(":")[1].split(",") == [str(ids[sibling])], marker
    page = client.get(f"/console/tips/{sibling}").get_data(as_text=True)
    response = client.post(f"/console/tips/{sibling}/unlink", data={
        "csrf_token": input_value(page, "csrf_token"), "incident_was": input_value(page, "incident_was") or ""})
    assert response.status_code == 302
    with world.app.app_context():
        incidents = {ref: incident for ref, incident in db.session.execute(select(Tip.ref, Tip.incident_id))}
    assert incidents[sibling] not in (incidents[mine], incidents[theirs]) and incidents[mine] == incidents[theirs]
    assert "tip.unlinked" in events_of(world.app, sibling)
    # Its last tip of A taken out, the tip of A left alone in the incident shows no related tip and no form.
    page = client.get(f"/console/tips/{mine}").get_data(as_text=True)
    assert "None linked." in page and input_value(page, "incident_was") is None
