"""Who may reach what: every /console route and method, enumerated from the app's URL map."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.routing import Rule

from app.extensions import db
from app.models import Attachment, Incident
from tests.console.helpers import World
from tests.support.forms import csrf_token, without_csrf_tokens
from tests.support.tips import make_tip

PUBLIC = {"console.sign_in", "console.second_factor", "console.enrol"}


def console_rules(app: Flask) -> Iterator[tuple[Rule, str]]:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/console") and rule.endpoint.startswith("console."):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield rule, method


def build(rule: Rule, **values: object) -> str:
    arguments = {name: values.get(name, 1) for name in rule.arguments}
    return rule.build(arguments, append_unknown=False)[1]  # type: ignore[index]


def test_every_console_route_is_known_to_this_test(world: World) -> None:
    # A new route must be classified here (public, tip, admin or personal) before it ships.
    for rule, _ in console_rules(world.app):
        assert (rule.endpoint in PUBLIC or "ref" in rule.arguments or rule.rule.startswith("/console/admin")
                or rule.endpoint in {"console.queue", "console.sign_out", "console.sign_out_everywhere",
                                     "console.change_password"}
                or rule.rule.startswith("/console/dev/")), rule.rule


def test_anonymous_is_sent_to_sign_in_everywhere(world: World) -> None:
    client = world.app.test_client()
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    for rule, method in console_rules(world.app):
        if rule.endpoint in PUBLIC:
            continue
        token = csrf_token(client, "/console/sign-in")
        response = client.open(build(rule, ref=ref), method=method, data={"csrf_token": token})
        assert response.status_code in (302, 401), (rule.rule, method, response.status_code)
        if response.status_code == 302:
            assert "/console/sign-in" in response.headers["Location"]


@pytest.mark.parametrize("who", ["counselor_a", "sro_a"])
def test_staff_of_school_a_get_404_on_every_tip_route_of_school_b(world: World, signed_in, who: str) -> None:
    with world.app.app_context():
        incident = Incident(school_id=world.school_b, category="threat_of_violence")  # one to take tip_b out of
        db.session.add(incident)
        db.session.flush()
        tip_b = make_tip(world.school_b, photo=b"\x89PNG fake", incident_id=incident.id)
        other_b = make_tip(world.school_b, incident_id=incident.id)
        attachment_id = db.session.query(Attachment.id).filter_by(tip_id=tip_b.id).scalar()
        ref_b, other_ref, incident_id = tip_b.ref, other_b.ref, incident.id
    client = signed_in(who)
    token = csrf_token(client, "/console/")
    checked = 0
    for rule, method in console_rules(world.app):
        if "ref" not in rule.arguments:
            continue
        url = build(rule, ref=ref_b, attachment_id=attachment_id)
        data = {"csrf_token": token, "category": "other", "urgency": "low", "status": "closed",
                "outcome": "unfounded", "body": "x", "other_ref": other_ref, "counselor": "0",
                "incident_was": str(incident_id)}
        response = client.open(url, method=method, data=data)
        assert response.status_code == 404, (rule.rule, method, response.status_code)
        checked += 1
    assert checked >= 10
    with world.app.app_context():
        from app.models import Tip

        tip = db.session.query(Tip).filter_by(ref=ref_b).one()
        assert tip.status == "new" and tip.label_category is None and not tip.notes and not tip.messages
        assert tip.incident_id == incident_id  # neither linked elsewhere nor taken out of its incident


def test_a_tip_of_another_school_cannot_be_linked(world: World, signed_in) -> None:
    with world.app.app_context():
        mine, theirs = make_tip(world.school_a).ref, make_tip(world.school_b).ref
    client = signed_in("counselor_a")
    token = csrf_token(client, "/console/")
    client.post(f"/console/tips/{mine}/link", data={"csrf_token": token, "other_ref": theirs})
    with world.app.app_context():
        from app.models import Tip

        assert db.session.query(Tip).filter_by(ref=theirs).one().incident_id is None


@pytest.mark.parametrize("who", ["sro_a", "counselor_b"])
def test_non_admins_get_403_or_404_on_every_admin_page(world: World, signed_in, who: str) -> None:
    client = signed_in(who)
    token = csrf_token(client, "/console/")
    checked = 0
    for rule, method in console_rules(world.app):
        if not rule.rule.startswith("/console/admin"):
            continue
        response = client.open(build(rule, staff_id=world.people["sro_a"], school_id=world.school_a), method=method,
                               data={"csrf_token": token, "name": "x", "role": "district_admin"})
        assert response.status_code in (403, 404), (rule.rule, method, response.status_code)
        checked += 1
    assert checked >= 8


def test_admin_reaches_every_admin_page(world: World, signed_in) -> None:
    client = signed_in("admin")
    for rule, method in console_rules(world.app):
        if rule.rule.startswith("/console/admin") and method == "GET":
            url = build(rule, staff_id=world.people["sro_a"], school_id=world.school_a)
            assert client.get(url).status_code in (200, 302), url


def test_admin_sees_tips_of_every_school(world: World, signed_in) -> None:
    with world.app.app_context():
        ref_b = make_tip(world.school_b).ref
    assert signed_in("admin").get(f"/console/tips/{ref_b}").status_code == 200
    assert signed_in("counselor_b").get(f"/console/tips/{ref_b}").status_code == 200
    assert signed_in("counselor_a").get(f"/console/tips/{ref_b}").status_code == 404


def test_an_id_too_big_for_the_database_is_a_404_not_a_500(world: World, signed_in) -> None:
    # A path number past the database's integers used to reach the query and overflow it.
    with world.app.app_context():
        ref = make_tip(world.school_a, photo=b"\x89PNG fake").ref
    client = signed_in("admin")
    token = csrf_token(client, "/console/")
    checked = 0
    for rule, method in console_rules(world.app):
        if not set(rule.arguments) - {"ref"}:
            continue
        for big in ("9" * 25, str(2**63)):
            url = rule.rule.replace("<ref>", ref)
            while "<" in url:  # every numeric argument
                url = url.split("<", 1)[0] + big + url.split(">", 1)[1]
            response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 404, (url, method, response.status_code)
            checked += 1
    assert checked >= 10


def test_a_refused_or_unknown_case_is_a_console_page_that_tells_nothing_of_other_schools(world: World,
                                                                                         signed_in) -> None:
    """An SRO tapping an SMS link on a phone to a case they cannot see (taken off the school since) got werkzeug's
    bare 'Not Found' page: no phone layout, no way back. It is the console's page now, with the queue a tap away,
    and a case of another school still reads word for word as one that does not exist."""
    with world.app.app_context():
        ref_a, ref_b = make_tip(world.school_a).ref, make_tip(world.school_b).ref
    counselor = signed_in("counselor_a")
    other_school, no_such = (counselor.get(f"/console/tips/{ref}") for ref in (ref_b, "ZZZZZZ"))
    page = other_school.get_data(as_text=True)
    assert other_school.status_code == no_such.status_code == 404
    assert without_csrf_tokens(page) == without_csrf_tokens(no_such.get_data(as_text=True)) and ref_b not in page
    assert 'name="viewport"' in page and 'href="/console/"' in page and "<h1>Not found</h1>" in page
    refused = counselor.post(f"/console/tips/{ref_a}/hold", data={  # a counselor puts no case on hold
        "csrf_token": csrf_token(counselor, "/console/"), "hold_was": "none", "body": "a subpoena"})
    assert refused.status_code == 403 and "<h1>Not allowed</h1>" in refused.get_data(as_text=True)
    nul = counselor.get("/console/tips/AB%00CD")
    assert nul.status_code == 400 and "NUL character" in nul.get_data(as_text=True)
    assert 'href="/console/"' in nul.get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/console/tips/", 404), ("GET", "/console/no-such-page", 404), ("GET", "/console/tips/{ref}/x/y", 404),
    ("GET", "/console/reports/no-such-table.csv", 404), ("POST", "/console/", 405),
    ("POST", "/console/tips/{ref}", 405), ("DELETE", "/console/tips/{ref}/notes", 405)])
def test_a_console_address_no_route_matches_is_the_consoles_page(world: World, signed_in, method: str, path: str,
                                                                  status: int) -> None:
    """An address cut short ('/console/tips/'), or a form sent to a page that only shows (POST to the queue), got
    werkzeug's bare 'Not Found' or 'Method Not Allowed': no console, no way back. It is the console's page now, with
    the queue a tap away, and nothing of the case it was about."""
    with world.app.app_context():
        ref = make_tip(world.school_a, "he said he has a knife in locker 12").ref
    clients = [signed_in("sro_a"), world.app.test_client()]  # signed in, and not
    if path.startswith("/console/reports/"):
        clients.pop()  # a reports address that matches a route asks to sign in first
    for client in clients:
        response = client.open(path.format(ref=ref), method=method, data={"csrf_token": "x"})
        page = response.get_data(as_text=True)
        assert response.status_code == status, (path, response.status_code)
        assert 'name="viewport"' in page and "console-style.css" in page and 'href="/console/"' in page
        assert "Back to the queue" in page and "werkzeug" not in page.lower() and "Traceback" not in page
        assert "knife" not in page and ref not in page and "911" not in page
        assert response.headers["Cache-Control"] == "no-store"
        if status == 405:
            assert response.headers["Allow"] and "Nothing was changed" in page
        else:
            assert "<h1>Not found</h1>" in page
    with world.app.app_context():
        from app.models import Tip

        assert db.session.query(Tip).filter_by(ref=ref).one().notes == []
