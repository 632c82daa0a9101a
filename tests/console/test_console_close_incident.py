"""Closing the open tips of an incident together: a prank flood (a group chat sends 40 tips about one teacher, folded
into one incident) was closed one tip at a time, two page loads each, while every unacknowledged high prank went on
escalating through the chain."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from app import audit
from app.alerts.acknowledge import db_acknowledge_tip
from app.alerts.dispatcher import run_once
from app.crypto.receipts import new_receipt_code
from app.extensions import db
from app.models import Alert, Assignment, AuditEvent, Incident, Staff, Tip, utcnow
from tests.alerts.conftest import CLOSED_PORT_URL, twilio_settings
from tests.console.helpers import World, audit_actions, build_world, sign_in
from tests.fakes.fake_twilio import FakeTwilio
from tests.intake.helpers import open_followup
from tests.support.forms import csrf_token_in, input_value
from tests.support.tips import make_tip, tip_by_ref

TEXT = "prank: mr smith has a gun in his desk"


def _offer(count: int) -> str:
    return f"Close this tip and the {count} other open tip{'s' if count != 1 else ''} of its incident"


def _incident(world: World, count: int, *, school: str = "A", codes: list[str] | None = None,
              plan_alerts: bool = False) -> tuple[int, list[str]]:
    """An incident of `count` high tips of a school, oldest first: its id and their references."""
    school_id = world.school_a if school == "A" else world.school_b
    with world.app.app_context():
        now = utcnow()
        incident = Incident(school_id=school_id, category="threat_of_violence", opened_at=now, last_tip_at=now)
        db.session.add(incident)
        db.session.flush()
        incident_id = incident.id
        refs = [make_tip(school_id, TEXT, incident_id=incident_id, created_at=now - timedelta(minutes=count - i),
                         receipt_code=codes[i] if codes else None, plan_alerts=plan_alerts).ref
                for i in range(count)]
        return incident_id, refs


def _confirmation(client: FlaskClient, ref: str, outcome: str = "false_report") -> str:
    response = client.get(f"/console/tips/{ref}/close-incident", query_string={"outcome": outcome})
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _confirm(client: FlaskClient, page: str, ref: str, outcome: str | None = None) -> Any:
    """Press "Close" on the confirmation page as the browser sends it: its token, the tips it showed, the outcome."""
    chosen = outcome if outcome is not None else _selected(page) or ""
    return client.post(f"/console/tips/{ref}/close-incident", data={
        "csrf_token": csrf_token_in(page), "tips_was": input_value(page, "tips_was"), "outcome": chosen})


def _selected(page: str) -> str | None:
    """The outcome the confirmation page's box shows chosen, as the browser would send it."""
    match = re.search(r'<option selected value="([^"]*)"', page)
    return match.group(1) if match else None


def _section(page: str, heading: str) -> str:
    """The text of the result page's list under `heading` (up to the next heading)."""
    match = re.search(rf"<h2[^>]*>{heading}.*?</h2>(.*?)(?=<h2|</main>|$)", page, re.S)
    return match.group(1) if match else ""


def _status(ref: str) -> tuple[str, str | None]:
    tip = tip_by_ref(ref)
    return tip.status, tip.outcome


def test_a_flood_of_one_incident_is_closed_in_one_step_after_a_confirmation(world: World, signed_in) -> None:
    _, refs = _incident(world, 4)
    origin = refs[0]
    client = signed_in("sro_a")
    case = client.get(f"/console/tips/{origin}").get_data(as_text=True)
    assert _offer(3) in case
    page = _confirmation(client, origin)
    # The count and the references, nothing of what the tips say.
    assert "4 tips" in page and all(ref in page for ref in refs) and "gun" not in page and "smith" not in page
    assert "false report" in page
    with world.app.app_context():
        assert {_status(ref) for ref in refs} == {("new", None)}  # the confirmation changed nothing
    assert not {"tip.acknowledged", "tip.closed"} & set(audit_actions(world.app))
    response = _confirm(client, page, origin)
    assert response.status_code == 200
    result = response.get_data(as_text=True)
    closed = _section(result, "Closed")
    assert all(ref in closed for ref in refs) and "Not closed" not in result
    with world.app.app_context():
        sro = world.people["sro_a"]
        for ref in refs:
            tip = tip_by_ref(ref)
            assert (tip.status, tip.outcome) == ("closed", "false_report") and tip.closed_at is not None
            assert tip.acknowledged_at is not None and tip.acknowledged_by_id == sro
    # Gone from the queue.
    assert not any(ref in client.get("/console/").get_data(as_text=True) for ref in refs)


def test_the_outcome_must_be_chosen_and_nothing_closes_without_one(world: World, signed_in) -> None:
    _, refs = _incident(world, 3)
    client = signed_in("sro_a")
    page = _confirmation(client, refs[0], outcome="")
    assert _selected(page) in (None, "")  # no outcome chosen for the person
    refused = _confirm(client, page, refs[0], outcome="")
    assert refused.status_code == 400 and "Choose an outcome" in refused.get_data(as_text=True)
    bogus = _confirm(client, page, refs[0], outcome="resolved_by_magic")
    assert bogus.status_code == 400
    with world.app.app_context():
        assert {_status(ref) for ref in refs} == {("new", None)}
    assert "tip.closed" not in audit_actions(world.app)


def test_reporters_of_the_tips_closed_together_see_closed(world: World, signed_in) -> None:
    codes = [new_receipt_code(), new_receipt_code()]
    _, refs = _incident(world, 2, codes=codes)
    client = signed_in("counselor_a")  # whoever may close a case: counselors too
    _confirm(client, _confirmation(client, refs[0]), refs[0])
    for code in codes:
        reporter = world.app.test_client()
        page = open_followup(reporter, code).get_data(as_text=True)
        assert "Closed" in page and "Staff have finished with this report" in page


def test_tips_of_the_incident_at_another_school_are_left_alone_and_not_counted(world: World, signed_in) -> None:
    """Intake and linking keep an incident to one school, but the rule is the person's schools, whatever the data:
    another school's tip is neither closed nor told of, not even as a count."""
    incident_id, mine = _incident(world, 2)
    with world.app.app_context():
        theirs = make_tip(world.school_b, TEXT, incident_id=incident_id).ref
    client = signed_in("sro_a")
    assert _offer(1) in client.get(f"/console/tips/{mine[0]}").get_data(as_text=True)
    page = _confirmation(client, mine[0])
    assert theirs not in page and "2 tips" in page
    assert "not assigned" not in page and "left alone" not in page
    # Its reference put into the form by hand is not closed either.
    forged = input_value(page, "tips_was")
    assert forged is not None
    forged += " " + forged.split(" ")[0].replace(mine[0], theirs)
    result = client.post(f"/console/tips/{mine[0]}/close-incident", data={
        "csrf_token": csrf_token_in(page), "tips_was": forged, "outcome": "false_report"}).get_data(as_text=True)
    assert theirs not in _section(result, "Closed") and "not assigned" not in result and "left alone" not in result
    with world.app.app_context():
        assert _status(theirs) == ("new", None) and tip_by_ref(theirs).acknowledged_at is None
        assert [_status(ref) for ref in mine] == [("closed", "false_report")] * 2
    assert audit_actions(world.app, theirs) == []


def test_a_tip_changed_since_the_confirmation_was_opened_is_skipped_and_named(world: World, signed_in) -> None:
    from app.intake.submit import db_add_reporter_message

    _, refs = _incident(world, 5)
    origin, acked, wrote, closed_meanwhile, untouched = refs
    client = signed_in("sro_a")
    page = _confirmation(client, origin)
    with world.app.app_context():
        counselor = db.session.get(Staff, world.people["counselor_a"])
        assert counselor is not None
        assert db_acknowledge_tip(tip_by_ref(acked), counselor, via="sms")  # someone has it now
        db_add_reporter_message(tip_by_ref(wrote), "it is not a prank, he showed me", [])
        other = tip_by_ref(closed_meanwhile)
        other.status, other.outcome, other.closed_at = "closed", "unfounded", utcnow()
        db.session.commit()
    result = _confirm(client, page, origin).get_data(as_text=True)
    closed, not_closed = _section(result, "Closed"), _section(result, "Not closed")
    assert origin in closed and untouched in closed
    for ref in (acked, wrote, closed_meanwhile):
        assert ref not in closed and ref in not_closed
    assert "acknowledged" in not_closed and "the reporter wrote" in not_closed and "closed" in not_closed
    with world.app.app_context():
        assert _status(acked) == ("acknowledged", None)
        assert _status(wrote) == ("new", None) and tip_by_ref(wrote).acknowledged_at is None
        assert _status(closed_meanwhile) == ("closed", "unfounded")
        assert [_status(ref) for ref in (origin, untouched)] == [("closed", "false_report")] * 2
    assert "tip.closed" not in audit_actions(world.app, wrote)


def test_each_tip_closed_together_has_its_own_audit_events(world: World, signed_in) -> None:
    _, refs = _incident(world, 3)
    origin = refs[1]
    client = signed_in("sro_a")
    _confirm(client, _confirmation(client, origin, "duplicate"), origin)
    with world.app.app_context():
        for ref in refs:
            events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.tip_ref == ref).order_by(
                AuditEvent.id)))
            changes = [e for e in events if e.action != "tip.viewed"]
            assert [e.action for e in changes] == ["tip.acknowledged", "tip.closed"]
            assert {e.actor_id for e in changes} == {world.people["sro_a"]}
            assert audit.parse_detail(changes[0]) == {"via": "console"}
            assert audit.parse_detail(changes[1]) == {"before": "new", "after": "closed", "outcome": "duplicate",
                                                      "closed_together_from": origin}
        assert audit.verify_chain().ok


def test_the_same_confirmation_sent_twice_closes_each_tip_once(world: World, signed_in) -> None:
    """A second tap on a slow phone, or the result page reloaded: each tip is closed (and on the record) once, and the
    second answer says they are closed already rather than that someone else changed them."""
    _, refs = _incident(world, 3)
    client = signed_in("sro_a")
    page = _confirmation(client, refs[0])
    _confirm(client, page, refs[0])
    again = _confirm(client, page, refs[0])
    assert again.status_code == 200
    text = again.get_data(as_text=True)
    assert "closed already" in text and "changed since" not in text
    with world.app.app_context():
        assert [_status(ref) for ref in refs] == [("closed", "false_report")] * 3
    assert audit_actions(world.app).count("tip.closed") == 3
    assert audit_actions(world.app).count("tip.acknowledged") == 3


def test_one_tip_that_fails_is_named_and_the_others_stay_closed(world: World, signed_in, monkeypatch) -> None:
    import app.console.incident_close as incident_close

    _, refs = _incident(world, 3)
    broken = refs[1]
    real = incident_close.db_acknowledge_tip

    def failing(tip: Tip, *args: Any, **kwargs: Any) -> bool:
        if tip.ref == broken:
            raise OperationalError("UPDATE tip", {}, Exception("database is locked"))
        return real(tip, *args, **kwargs)

    monkeypatch.setattr(incident_close, "db_acknowledge_tip", failing)
    client = signed_in("sro_a")
    result = _confirm(client, _confirmation(client, refs[0]), refs[0]).get_data(as_text=True)
    assert broken in _section(result, "Not closed") and broken not in _section(result, "Closed")
    assert "database" in _section(result, "Not closed")
    with world.app.app_context():
        assert _status(broken) == ("new", None) and tip_by_ref(broken).acknowledged_at is None
        assert [_status(ref) for ref in (refs[0], refs[2])] == [("closed", "false_report")] * 2
    assert "tip.closed" not in audit_actions(world.app, broken)
    assert "tip.acknowledged" not in audit_actions(world.app, broken)


def test_tips_closed_are_said_closed_when_the_database_fails_after_them(world: World, signed_in, monkeypatch) -> None:
    """The result page reads the incident again (tips of the person's schools that joined it) after every tip's
    commit: a database failing then must not turn the tips closed into the 503 "nothing was saved"."""
    import app.console.incident_close as incident_close

    _, refs = _incident(world, 3)
    client = signed_in("sro_a")
    page = _confirmation(client, refs[0])

    def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("SELECT tip", {}, Exception("database is locked"))

    monkeypatch.setattr(incident_close, "visible_tips", failing)  # only the result page's read uses it
    response = _confirm(client, page, refs[0])
    result = response.get_data(as_text=True)
    assert response.status_code == 200 and "Nothing was saved" not in result
    assert all(ref in _section(result, "Closed") for ref in refs) and "Not closed" not in result
    with world.app.app_context():
        assert {_status(ref) for ref in refs} == {("closed", "false_report")}


def test_a_tip_on_legal_hold_is_closed_as_a_single_close_would_and_stays_held(world: World, signed_in) -> None:
    _, refs = _incident(world, 2)
    with world.app.app_context():
        held = tip_by_ref(refs[1])
        held.legal_hold_at, held.legal_hold_by_id = utcnow(), world.people["sro_a"]
        db.session.commit()
    client = signed_in("sro_a")
    _confirm(client, _confirmation(client, refs[0]), refs[0])
    with world.app.app_context():
        assert _status(refs[1]) == ("closed", "false_report") and tip_by_ref(refs[1]).on_legal_hold


def test_not_offered_without_other_open_tips_nor_on_a_finished_case(world: World, signed_in) -> None:
    with world.app.app_context():
        alone = make_tip(world.school_a).ref
    _, refs = _incident(world, 2)
    client = signed_in("sro_a")
    assert "other open tip" not in client.get(f"/console/tips/{alone}").get_data(as_text=True)
    with world.app.app_context():
        tip = tip_by_ref(refs[1])
        tip.status, tip.outcome, tip.closed_at = "closed", "unfounded", utcnow()
        db.session.commit()
    assert "other open tip" not in client.get(f"/console/tips/{refs[0]}").get_data(as_text=True)
    assert "other open tip" not in client.get(f"/console/tips/{refs[1]}").get_data(as_text=True)


@pytest.mark.parametrize("who", ["sro_a", "counselor_a", "admin"])
def test_everyone_who_may_close_a_case_may_close_its_incident(world: World, signed_in, who: str) -> None:
    _, refs = _incident(world, 2)
    client = signed_in(who)
    _confirm(client, _confirmation(client, refs[0]), refs[0])
    with world.app.app_context():
        assert [_status(ref) for ref in refs] == [("closed", "false_report")] * 2


def test_staff_of_another_school_get_404_and_close_nothing(world: World, signed_in) -> None:
    _, refs = _incident(world, 2)
    own = signed_in("sro_a")
    page = _confirmation(own, refs[0])
    stranger = signed_in("counselor_b")
    assert stranger.get(f"/console/tips/{refs[0]}/close-incident").status_code == 404
    token = csrf_token_in(stranger.get("/console/").get_data(as_text=True))
    response = stranger.post(f"/console/tips/{refs[0]}/close-incident", data={
        "csrf_token": token, "tips_was": input_value(page, "tips_was"), "outcome": "false_report"})
    assert response.status_code == 404
    with world.app.app_context():
        assert {_status(ref) for ref in refs} == {("new", None)}


def test_without_the_csrf_token_nothing_is_closed(world: World, signed_in) -> None:
    _, refs = _incident(world, 2)
    client = signed_in("sro_a")
    page = _confirmation(client, refs[0])
    response = client.post(f"/console/tips/{refs[0]}/close-incident", data={
        "tips_was": input_value(page, "tips_was"), "outcome": "false_report"})
    assert response.status_code == 400
    with world.app.app_context():
        assert {_status(ref) for ref in refs} == {("new", None)}


def test_closing_the_incident_stops_the_escalation_of_every_tip(make_app: Callable[..., Flask]) -> None:
    """Worker rounds past the acknowledgement timeout: the tips closed together page nobody else, while a tip of the
    school that was not closed does escalate to the next person of the chain."""
    with FakeTwilio(callback_delay_s=0.05) as fake:
        app = make_app(**twilio_settings(fake), PUBLIC_BASE_URL=CLOSED_PORT_URL, ALERT_ACK_TIMEOUT_HIGH_S=60,
                       ALERT_ACK_TIMEOUT_CRITICAL_S=60)
        world = build_world(app)
        with app.app_context():
            backup = db.session.scalar(select(Assignment).where(
                Assignment.staff_id == world.people["counselor_a"], Assignment.school_id == world.school_a))
            assert backup is not None
            backup.chain_position = 2  # the next person told when nobody answers
            backup_phone = db.session.get(Staff, world.people["counselor_a"]).phone  # type: ignore[union-attr]
            db.session.commit()
            control = make_tip(world.school_a, "a fight after school", category="bullying", plan_alerts=True).ref
        _, refs = _incident(world, 3, plan_alerts=True)
        with app.app_context():
            for _ in range(3):
                run_once("w")
        assert fake.messages and not any(m.to == backup_phone for m in fake.messages)
        sent_before = len(fake.messages)
        client = app.test_client()
        assert sign_in(client, world, "sro_a").status_code == 302
        _confirm(client, _confirmation(client, refs[0]), refs[0])
        with app.app_context():
            past = utcnow() - timedelta(hours=1)
            db.session.execute(update(Alert).values(created_at=past, sent_at=past, due_at=past))
            db.session.commit()
            for _ in range(3):
                run_once("w")
            paged_about = {db.session.get(Tip, a.tip_id).ref for a in db.session.scalars(  # type: ignore[union-attr]
                select(Alert).where(Alert.staff_id == world.people["counselor_a"]))}
        assert paged_about == {control}  # the worker did escalate: the control tip, and nothing closed together
        backup_sms = [m for m in fake.messages if m.to == backup_phone]
        assert len(backup_sms) == 1 and control in backup_sms[0].body
        assert not any(ref in m.body for m in fake.messages[sent_before:] for ref in refs)  # to nobody at all
