"""Taking a tip out of its incident: a tip linked by mistake, or into the wrong incident, can be taken out again."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app import audit
from app.extensions import db
from app.models import Alert, AuditEvent, Incident, Tip, utcnow
from tests.console.helpers import World, audit_actions
from tests.support.forms import csrf_token, csrf_token_in, input_value
from tests.support.tips import make_tip

BUTTON = "Take this tip out of the incident"


def _tip(ref: str) -> Tip:
    tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
    assert tip is not None
    return tip


def _flashes(page: str) -> list[str]:
    return re.findall(r'class="flash [^"]*"[^>]*>(.*?)</p>', page)


def _unlink_as_shown(client: Any, page: str, ref: str) -> Any:
    """Press the button of a case page as that page had it: its CSRF token and the incident it showed."""
    return client.post(f"/console/tips/{ref}/unlink", data={
        "csrf_token": csrf_token_in(page), "incident_was": input_value(page, "incident_was")})


def _incident_of(world: World, *minutes_ago: int) -> tuple[int, list[str]]:
    """An incident of tips of school A received `minutes_ago` minutes ago each: its id and their references."""
    with world.app.app_context():
        now = utcnow()
        incident = Incident(school_id=world.school_a, category="threat_of_violence", opened_at=now,
                            last_tip_at=now - timedelta(minutes=min(minutes_ago)))
        db.session.add(incident)
        db.session.flush()
        refs = [make_tip(world.school_a, incident_id=incident.id, created_at=now - timedelta(minutes=m)).ref
                for m in minutes_ago]
        return incident.id, refs


def test_a_tip_linked_by_mistake_is_taken_out_of_its_incident(world: World, signed_in) -> None:
    """A tip linked into the wrong incident stayed there for good: nothing took it out. The case page now has a
    button that gives it an incident of its own; the other tips stay together."""
    incident_id, (older, newer, wrong) = _incident_of(world, 30, 20, 5)
    client = signed_in("counselor_a")  # everyone who may link may take a tip out: counselors too
    page = client.get(f"/console/tips/{wrong}").get_data(as_text=True)
    assert BUTTON in page and older in page and newer in page
    response = _unlink_as_shown(client, page, wrong)
    assert response.status_code == 302 and response.headers["Location"] == f"/console/tips/{wrong}#related"
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Taken out of the incident: this tip is linked to no other tip now." in _flashes(after)
    assert "None linked." in after and BUTTON not in after and older not in after
    with world.app.app_context():
        taken = _tip(wrong)
        assert taken.incident_id not in (None, incident_id)
        own = db.session.get(Incident, taken.incident_id)
        assert own is not None and own.school_id == world.school_a and own.last_tip_at == taken.created_at
        assert {_tip(r).incident_id for r in (older, newer)} == {incident_id}
        # The incident left behind ends with its own latest tip: a new tip is not joined to it for the one taken
        # out (intake joins a tip to an incident of the same school and category by its last tip's time).
        left = db.session.get(Incident, incident_id)
        assert left is not None and left.last_tip_at == _tip(newer).created_at
    other = client.get(f"/console/tips/{older}").get_data(as_text=True)
    assert newer in other and wrong not in other and BUTTON in other
    queue = client.get("/console/?status=all").get_data(as_text=True)
    assert queue.count("incident: 2 related tips") == 2 and "3 related tips" not in queue


def test_taking_one_of_two_tips_out_leaves_a_tip_linked_to_nothing(world: World, signed_in) -> None:
    """An incident of one tip left behind is a tip on its own, as every tip is when it arrives: no 'related tips'
    in the queue, 'None linked.' and no button on either case."""
    _, (first, second) = _incident_of(world, 10, 5)
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{first}").get_data(as_text=True)
    _unlink_as_shown(client, page, first)
    for ref in (first, second):
        case = client.get(f"/console/tips/{ref}").get_data(as_text=True)
        assert "None linked." in case and BUTTON not in case
    assert "related tips" not in client.get("/console/?status=all").get_data(as_text=True)
    # Linked again, they are one incident again.
    client.post(f"/console/tips/{first}/link", data={"csrf_token": csrf_token(client, f"/console/tips/{first}"),
                                                     "other_ref": second})
    with world.app.app_context():
        assert _tip(first).incident_id == _tip(second).incident_id


def test_taking_a_tip_out_is_on_the_audit_record_with_the_incident_it_left(world: World, signed_in) -> None:
    incident_id, (stays, wrong) = _incident_of(world, 10, 5)
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{wrong}").get_data(as_text=True)
    _unlink_as_shown(client, page, wrong)
    assert audit_actions(world.app, wrong) == ["tip.viewed", "tip.unlinked"]
    assert audit_actions(world.app, stays) == ["tip.unlinked"]  # its incident changed too: on its record
    with world.app.app_context():
        events = {e.tip_ref: e for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "tip.unlinked"))}
        own = audit.parse_detail(events[wrong])
        assert own["incident_id"] == incident_id and own["new_incident_id"] == _tip(wrong).incident_id
        assert own["taken_out"] == wrong
        assert audit.parse_detail(events[stays]) == {"incident_id": incident_id, "taken_out": wrong}
        assert {e.actor_id for e in events.values()} == {world.people["sro_a"]}
        assert audit.verify_chain().ok


def test_taking_a_tip_out_twice_says_it_is_done(world: World, signed_in) -> None:
    """The button tapped twice on a slow phone: the browser shows the second answer only, which must say it is
    done, not that someone else changed the case or that nothing happened."""
    _, (stays, wrong) = _incident_of(world, 10, 5)
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{wrong}").get_data(as_text=True)
    _unlink_as_shown(client, page, wrong)
    with world.app.app_context():
        own = _tip(wrong).incident_id
    second = _unlink_as_shown(client, page, wrong)
    assert second.status_code == 302
    shown = _flashes(client.get(second.headers["Location"]).get_data(as_text=True))
    assert not [said for said in shown if "nothing was changed" in said], shown
    assert shown[-1] == "This tip is out of the incident already: it is linked to no other tip."
    with world.app.app_context():
        assert _tip(wrong).incident_id == own
    assert audit_actions(world.app, wrong).count("tip.unlinked") == 1
    assert audit_actions(world.app, stays).count("tip.unlinked") == 1


def test_a_tip_never_linked_cannot_be_taken_out(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref  # no incident at all
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert BUTTON not in page
    response = client.post(f"/console/tips/{ref}/unlink", data={"csrf_token": csrf_token_in(page)})
    assert "This tip is out of the incident already: it is linked to no other tip." in _flashes(
        client.get(response.headers["Location"]).get_data(as_text=True))
    assert "tip.unlinked" not in audit_actions(world.app, ref)
    with world.app.app_context():
        assert _tip(ref).incident_id is None


def test_taking_a_tip_out_on_a_page_gone_stale_is_refused(world: World, signed_in) -> None:
    """A counselor opens a case linked to one other tip; meanwhile the SRO links a third tip to it. Taking it out
    from the old page would take it away from a tip she never saw beside it: refused, nothing changed; the page
    then shows the incident as it is, and taking it out from there works."""
    incident_id, (stays, wrong) = _incident_of(world, 10, 5)
    with world.app.app_context():
        third = make_tip(world.school_a).ref
    counselor, sro = signed_in("counselor_a"), signed_in("sro_a")
    page = counselor.get(f"/console/tips/{wrong}").get_data(as_text=True)
    sro.post(f"/console/tips/{third}/link", data={"csrf_token": csrf_token(sro, f"/console/tips/{third}"),
                                                  "other_ref": wrong})
    response = _unlink_as_shown(counselor, page, wrong)
    again = counselor.get(response.headers["Location"]).get_data(as_text=True)
    assert ("The tips linked to this one changed while you had this case open: nothing was changed. Check them "
            "and take it out again if it does not belong.") in _flashes(again)
    with world.app.app_context():
        assert {_tip(r).incident_id for r in (stays, wrong, third)} == {incident_id}
    assert "tip.unlinked" not in audit_actions(world.app)
    assert third in again
    _unlink_as_shown(counselor, again, wrong)
    with world.app.app_context():
        assert _tip(wrong).incident_id != incident_id
        assert {_tip(r).incident_id for r in (stays, third)} == {incident_id}


def test_taking_a_tip_out_needs_the_forms_csrf_token(world: World, signed_in) -> None:
    incident_id, (_, wrong) = _incident_of(world, 10, 5)
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{wrong}").get_data(as_text=True)
    response = client.post(f"/console/tips/{wrong}/unlink", data={"incident_was": input_value(page, "incident_was")})
    assert response.status_code == 400
    with world.app.app_context():
        assert _tip(wrong).incident_id == incident_id


def test_another_schools_tip_cannot_be_taken_out_of_its_incident(world: World, signed_in) -> None:
    with world.app.app_context():
        incident = Incident(school_id=world.school_b, category="threat_of_violence")
        db.session.add(incident)
        db.session.flush()
        ref_b = make_tip(world.school_b, incident_id=incident.id).ref
        make_tip(world.school_b, incident_id=incident.id)
        incident_id = incident.id
    client = signed_in("sro_a")
    response = client.post(f"/console/tips/{ref_b}/unlink", data={
        "csrf_token": csrf_token(client, "/console/"), "incident_was": f"{incident_id}"})
    assert response.status_code == 404 and ref_b not in response.get_data(as_text=True)
    with world.app.app_context():
        assert _tip(ref_b).incident_id == incident_id
    assert audit_actions(world.app, ref_b) == []
    admin = signed_in("admin")  # a district admin sees every school: may take it out
    page = admin.get(f"/console/tips/{ref_b}").get_data(as_text=True)
    _unlink_as_shown(admin, page, ref_b)
    with world.app.app_context():
        assert _tip(ref_b).incident_id != incident_id


def test_taking_a_tip_out_leaves_its_alerts_as_they_were(world: World, signed_in) -> None:
    with world.app.app_context():
        wrong = make_tip(world.school_a, plan_alerts=True)
        stays = make_tip(world.school_a, plan_alerts=True)
        assert wrong.incident_id is not None and wrong.incident_id == stays.incident_id  # joined at intake
        for alert in db.session.scalars(select(Alert)):
            alert.status, alert.sent_at = "sent", utcnow()
        db.session.commit()
        ref, joined = wrong.ref, stays.incident_id
        before = [(a.id, a.tip_id, a.status, a.sent_at, a.kind) for a in db.session.scalars(
            select(Alert).order_by(Alert.id))]
        assert before
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    _unlink_as_shown(client, page, ref)
    with world.app.app_context():
        assert _tip(ref).incident_id != joined
        assert [(a.id, a.tip_id, a.status, a.sent_at, a.kind) for a in db.session.scalars(
            select(Alert).order_by(Alert.id))] == before
