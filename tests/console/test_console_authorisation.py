"""Who may reach what, when it changes under a signed-in person: deactivated, taken off a school, another role; and
what every staff route asks of a form (its CSRF token) and leaves on the audit record. The routes are walked from
the app's URL map (console and reports blueprints), as test_console_access_matrix.py does for a school's tips."""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from werkzeug.routing import Rule

from app import audit
from app.crypto.staff_secrets import seal_totp_secret
from app.extensions import db
from app.models import Assignment, Attachment, AuditEvent, Note, Role, Staff, Tip
from tests.console.helpers import PASSWORD_HASH, World, audit_actions, sign_in
from tests.support.forms import csrf_token, input_value
from tests.support.tips import make_tip

PUBLIC = {"console.sign_in", "console.second_factor", "console.enrol", "reports.static"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def staff_rules(app: Flask) -> Iterator[tuple[Rule, str]]:
    """Every staff route and method: the console's and the reports' (both under /console)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("console", "reports") and rule.endpoint not in PUBLIC:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield rule, method


def url_for_rule(rule: Rule, **values: object) -> str:
    arguments = {name: values.get(name, 1) for name in rule.arguments}
    arguments.setdefault("table", "categories")
    return rule.build({**arguments, **{k: v for k, v in values.items() if k in rule.arguments}},
                      append_unknown=False)[1]  # type: ignore[index]


def tips_of_both_schools(world: World) -> dict[str, object]:
    with world.app.app_context():
        tip_a, tip_b = make_tip(world.school_a, photo=PNG), make_tip(world.school_b, photo=PNG)
        attachment_a = db.session.scalar(select(Attachment.id).where(Attachment.tip_id == tip_a.id))
        attachment_b = db.session.scalar(select(Attachment.id).where(Attachment.tip_id == tip_b.id))
        return {"ref_a": tip_a.ref, "ref_b": tip_b.ref, "attachment_a": attachment_a, "attachment_b": attachment_b}


def form_data(token: str, other_ref: str) -> dict[str, str]:
    return {"csrf_token": token, "category": "other", "urgency": "low", "status": "closed", "outcome": "unfounded",
            "body": "typed by staff", "other_ref": other_ref, "counselor": "0", "hold_was": "none"}


def tip_events(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.tip_ref.isnot(None))) or 0


def assert_every_route_sends_to_sign_in(world: World, client: FlaskClient, token: str, ref: str,
                                        attachment_id: object) -> None:
    checked = 0
    for rule, method in staff_rules(world.app):
        url = url_for_rule(rule, ref=ref, attachment_id=attachment_id, staff_id=world.people["sro_a"],
                           school_id=world.school_a)
        response = client.open(url, method=method, data=form_data(token, ref))
        assert response.status_code in (302, 401), (rule.rule, method, response.status_code)
        if response.status_code == 302:
            assert "/console/sign-in" in response.headers["Location"], (rule.rule, method)
        assert "someone said" not in response.get_data(as_text=True)
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("how", ["admin_page", "row_only"])
def test_a_person_deactivated_while_signed_in_reaches_nothing(world: World, signed_in, how: str) -> None:
    """Deactivated through the admin page (which ends their sessions) or by the flag alone (a script, a restore):
    either way the next request of their open session reaches no staff page, and no tip is opened."""
    tips = tips_of_both_schools(world)
    client = signed_in("counselor_a")
    token = csrf_token(client, "/console/")
    assert client.get(f"/console/tips/{tips['ref_a']}").status_code == 200
    if how == "admin_page":
        admin = signed_in("admin")
        page = f"/console/admin/staff/{world.people['counselor_a']}"
        shown = admin.get(page).get_data(as_text=True)
        response = admin.post(page, data={"csrf_token": input_value(shown, "csrf_token"), "name": "Counselor A",
                                          "role": "counselor", "schools": [str(world.school_a)], "phone": "",
                                          "access_was": input_value(shown, "access_was") or ""})
        assert response.status_code == 302
    else:
        with world.app.app_context():
            person = db.session.get(Staff, world.people["counselor_a"])
            assert person is not None
            person.active = False
            db.session.commit()
    with world.app.app_context():
        assert db.session.get(Staff, world.people["counselor_a"]).active is False  # type: ignore[union-attr]
    before = tip_events(world.app)
    assert_every_route_sends_to_sign_in(world, client, token, str(tips["ref_a"]), tips["attachment_a"])
    assert tip_events(world.app) == before  # nothing viewed, nothing changed


def test_a_person_taken_off_their_school_while_signed_in_loses_its_tips_at_once(world: World, signed_in) -> None:
    """The counselor of Alpha is moved to Beta by an admin while their console is open: from the next request on,
    Alpha's case, its photo, its forms, its reports and its queue rows are gone as if they never existed."""
    tips = tips_of_both_schools(world)
    client = signed_in("counselor_a")
    token = csrf_token(client, "/console/")
    ref_a = str(tips["ref_a"])
    assert client.get(f"/console/tips/{ref_a}").status_code == 200
    assert ref_a in client.get("/console/?status=all").get_data(as_text=True)
    assert client.get(f"/console/reports/?scope=school:{world.school_a}").status_code == 200
    with world.app.app_context():
        db.session.execute(delete(Assignment).where(Assignment.staff_id == world.people["counselor_a"]))
        db.session.add(Assignment(staff_id=world.people["counselor_a"], school_id=world.school_b))
        db.session.commit()
    before = tip_events(world.app)
    checked = 0
    for rule, method in staff_rules(world.app):
        if "ref" not in rule.arguments:
            continue
        url = url_for_rule(rule, ref=ref_a, attachment_id=tips["attachment_a"])
        response = client.open(url, method=method, data=form_data(token, str(tips["ref_b"])))
        assert response.status_code == 404, (rule.rule, method, response.status_code)
        checked += 1
    assert checked >= 20
    assert tip_events(world.app) == before
    assert ref_a not in client.get("/console/?status=all").get_data(as_text=True)
    assert ref_a not in client.get(f"/console/?status=all&school={world.school_a}").get_data(as_text=True)
    assert "No tip" in client.get(f"/console/?ref={ref_a}").get_data(as_text=True)
    assert client.get(f"/console/reports/?scope=school:{world.school_a}").status_code == 404
    assert client.get(f"/console/reports/categories.csv?scope=school:{world.school_a}").status_code == 404
    assert client.get(f"/console/tips/{tips['ref_b']}").status_code == 200  # Beta's are theirs now


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.DISPATCH, Role.COUNSELOR, Role.SRO])
def test_every_assigned_role_gets_404_on_another_schools_tip_and_photo(world: World, role: Role) -> None:
    """Every role but the district admin's sees its schools only; a photo's id guessed under one's own case is no
    way into another school's photo either."""
    tips = tips_of_both_schools(world)
    with world.app.app_context():
        person = Staff(email=f"{role.value}-x@district.example", name="X", role=role, password_hash=PASSWORD_HASH)
        db.session.add(person)
        db.session.flush()
        secret = pyotp.random_base32()
        seal_totp_secret(person, secret)
        db.session.add(Assignment(staff=person, school_id=world.school_a))
        db.session.commit()
        world.people["x"], world.secrets["x"], world.emails["x"] = person.id, secret, person.email
    client = world.app.test_client()
    assert sign_in(client, world, "x").status_code == 302
    ref_a, ref_b = tips["ref_a"], tips["ref_b"]
    assert client.get(f"/console/tips/{ref_a}").status_code == 200
    assert client.get(f"/console/tips/{ref_a}/attachments/{tips['attachment_a']}").status_code == 200
    assert client.get(f"/console/tips/{ref_b}").status_code == 404
    assert client.get(f"/console/tips/{ref_b}/attachments/{tips['attachment_b']}").status_code == 404
    assert client.get(f"/console/tips/{ref_a}/attachments/{tips['attachment_b']}").status_code == 404
    assert client.get(f"/console/reports/?scope=school:{world.school_b}").status_code == 404
    assert client.get("/console/admin/audit").status_code == 403
    with world.app.app_context():
        viewed = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "attachment.viewed")).all()
    assert viewed == [f'{{"attachment_id":{tips["attachment_a"]}}}']  # only the photo served


def test_every_staff_form_refuses_a_post_without_its_csrf_token(world: World, signed_in) -> None:
    """A page of another site making a signed-in admin's browser post a form: refused, nothing changed."""
    tips = tips_of_both_schools(world)
    client = signed_in("admin")
    client.get("/console/")  # the session has a token; the forged form does not
    with world.app.app_context():
        events = db.session.scalar(select(func.count(AuditEvent.id)))
    checked = 0
    for rule, method in staff_rules(world.app):
        if method != "POST":
            continue
        url = url_for_rule(rule, ref=tips["ref_a"], staff_id=world.people["counselor_a"], school_id=world.school_a)
        data = form_data("", str(tips["ref_a"])) | {"name": "Forged", "role": "district_admin", "active": "y",
                                                     "email": "forged@evil.example", "position_1": "1"}
        del data["csrf_token"]
        response = client.post(url, data=data)
        assert response.status_code == 400, (rule.rule, response.status_code)
        checked += 1
    assert checked >= 15
    with world.app.app_context():
        assert db.session.scalar(select(func.count(AuditEvent.id))) == events
        assert db.session.scalar(select(func.count(Note.id))) == 0
        tip = db.session.scalar(select(Tip).where(Tip.ref == tips["ref_a"]))
        assert tip is not None and tip.status == "new" and tip.label_category is None
        assert db.session.scalar(select(func.count(Staff.id)).where(Staff.email == "forged@evil.example")) == 0


def test_a_photo_is_served_inline_unsniffed_uncached_and_sandboxed(world: World, signed_in) -> None:
    tips = tips_of_both_schools(world)
    response = signed_in("counselor_a").get(f"/console/tips/{tips['ref_a']}/attachments/{tips['attachment_a']}")
    assert response.status_code == 200 and response.data == PNG and response.mimetype == "image/png"
    assert response.headers["Content-Disposition"] == "inline"  # no filename: it could name the reporter
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")


def test_every_page_that_shows_tip_content_or_figures_is_on_the_record(world: World, signed_in) -> None:
    tips = tips_of_both_schools(world)
    client = signed_in("counselor_a")
    ref = str(tips["ref_a"])
    for path in (f"/console/tips/{ref}", f"/console/tips/{ref}/attachments/{tips['attachment_a']}",
                 "/console/reports/", "/console/reports/categories.csv"):
        before = len(audit_actions(world.app))
        assert client.get(path).status_code == 200, path
        assert len(audit_actions(world.app)) == before + 1, path
    # A note refused as too long shows the case again (decrypted): a view on the record too.
    token = csrf_token(client, f"/console/tips/{ref}")
    before = audit_actions(world.app, ref).count("tip.viewed")
    response = client.post(f"/console/tips/{ref}/notes", data={"csrf_token": token, "body": "x" * 6000,
                                                                "note_after": "0"})
    assert response.status_code == 400 and "someone said" in response.get_data(as_text=True)
    assert audit_actions(world.app, ref).count("tip.viewed") == before + 1


def test_no_console_route_changes_the_audit_record_after_the_fact(world: World, signed_in) -> None:
    """An admin pressing every button of the console appends to the record; the events before stay as they were,
    and the chain still checks."""
    tips = tips_of_both_schools(world)
    with world.app.app_context():
        audit.record("tip.viewed", tip=db.session.scalar(select(Tip).where(Tip.ref == tips["ref_a"])))
        db.session.commit()
        first = [(e.id, e.hash) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    client = signed_in("admin")
    for rule, method in staff_rules(world.app):
        if rule.endpoint in ("console.sign_out", "console.sign_out_everywhere"):
            continue  # the rest must be pressed signed in
        token = csrf_token(client, "/console/")
        url = url_for_rule(rule, ref=tips["ref_a"], attachment_id=tips["attachment_a"],
                           staff_id=world.people["counselor_a"], school_id=world.school_a)
        client.open(url, method=method, data=form_data(token, str(tips["ref_b"])))
    with world.app.app_context():
        after = [(e.id, e.hash) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert after[:len(first)] == first and len(after) > len(first)
        assert audit.verify_chain().ok


def test_no_scope_of_the_reports_shows_a_small_count(world: World, signed_in) -> None:
    """Narrowing a report to one school or one agency is no way round the small-count suppression: in every scope
    each person may pick, every table's CSV shows a count from 1 to 4 as hidden."""
    import csv
    import io

    from app.models import School
    from app.reports.tables import TABLE_KEYS

    with world.app.app_context():
        make_tip(world.school_a, urgency="critical", category="weapon")
        for _ in range(6):
            make_tip(world.school_a, urgency="medium", category="bullying")
        for _ in range(2):
            make_tip(world.school_b, urgency="low", category="bullying")
        agency_id = db.session.get(School, world.school_a).agency_id  # type: ignore[union-attr]
    scopes = {"admin": ["district", f"agency:{agency_id}", f"school:{world.school_a}", f"school:{world.school_b}"],
              "counselor_a": ["district", f"agency:{agency_id}", f"school:{world.school_a}"]}
    hidden = 0
    for who, tokens in scopes.items():
        client = signed_in(who)
        for token in tokens:
            for table in TABLE_KEYS:
                response = client.get(f"/console/reports/{table}.csv?scope={token}")
                assert response.status_code == 200, (who, token, table)
                rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
                for row in rows[1:]:
                    for cell in row[1:]:
                        assert not (cell.isdigit() and 0 < int(cell) < 5), (who, token, table, row)
                        hidden += cell == "<5"
    assert hidden >= 10  # the small counts are there, shown as hidden
