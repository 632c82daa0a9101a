"""The audit record is a hash chain: editing or deleting any event is found and named."""

from __future__ import annotations

import pyotp
import pytest
from flask import Flask
from sqlalchemy import delete, select, update

from app import audit
from app.console import clock
from app.extensions import db
from app.models import AuditEvent
from tests.conftest import on_postgres
from tests.console.helpers import World, audit_actions
from tests.support.forms import csrf_token
from tests.support.tips import make_tip


def _events(app: Flask, n: int) -> list[int]:
    with app.app_context():
        ids = [audit.record("test.event", actor_label="tester", n=i).id for i in range(n)]
        db.session.commit()
        return ids


def test_chain_links_each_event_to_the_one_before(app: Flask) -> None:
    ids = _events(app, 3)
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [e.id for e in events] == ids
        assert events[0].prev_hash == audit.GENESIS_HASH
        assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
        assert audit.verify_chain().ok


def test_audit_refuses_content_in_its_detail(app: Flask) -> None:
    with app.app_context(), pytest.raises(audit.AuditDetailRefused):
        audit.record("tip.viewed", actor_label="x", text="the tip itself")


def test_editing_an_event_makes_verify_fail_and_name_it(app: Flask) -> None:
    ids = _events(app, 5)
    with app.app_context():
        db.session.execute(update(AuditEvent).where(AuditEvent.id == ids[2]).values(actor_label="someone else"))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit event {ids[2]}" in result.output and "edited" in result.output


def test_deleting_an_event_makes_verify_fail_and_name_the_next(app: Flask) -> None:
    ids = _events(app, 5)
    with app.app_context():
        db.session.execute(delete(AuditEvent).where(AuditEvent.id == ids[1]))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and f"audit event {ids[2]}" in result.output


def test_rehashing_an_edited_event_still_breaks_the_link(app: Flask) -> None:
    ids = _events(app, 4)
    with app.app_context():
        event = db.session.get(AuditEvent, ids[1])
        assert event is not None
        event.action = "nothing.to.see"
        event.hash = audit.event_hash(event)  # a forger who recomputes this event's hash
        db.session.commit()
        report = audit.verify_chain()
        assert not report.ok and report.first_broken_id == ids[2]


def test_verify_passes_on_an_intact_record(app: Flask) -> None:
    _events(app, 3)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "3 audit events" in result.output


def test_case_work_leaves_the_expected_trail(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/label", data={"csrf_token": token, "category": "weapon", "urgency": "high"})
    client.post(f"/console/tips/{ref}/status", data={"csrf_token": token, "status": "closed", "outcome": "unfounded"})
    assert audit_actions(world.app, ref) == ["tip.viewed", "tip.relabelled", "tip.acknowledged", "tip.closed"]
    with world.app.app_context():
        closed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "tip.closed"))
        assert closed is not None and closed.actor_id == world.people["sro_a"]
        assert audit.parse_detail(closed) == {"before": "new", "after": "closed", "outcome": "unfounded"}
        assert audit.verify_chain().ok


def test_admin_reads_and_filters_the_record(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    signed_in("sro_a").get(f"/console/tips/{ref}")
    admin = signed_in("admin")
    page = admin.get(f"/console/admin/audit?tip_ref={ref}").get_data(as_text=True)
    assert "tip.viewed" in page and "sro_a@district.example" in page and "1 events" in page
    # The action filter reads alike on SQLite (LIKE ignores case) and PostgreSQL (it does not).
    page = admin.get(f"/console/admin/audit?tip_ref={ref}&action=Tip.VIEW").get_data(as_text=True)
    assert "tip.viewed" in page and "1 events" in page
    token = csrf_token(admin, "/console/admin/audit")
    assert "The chain holds" in admin.post("/console/admin/audit/verify", data={"csrf_token": token}).get_data(
        as_text=True)


def test_concurrent_writers_do_not_fork_the_chain(app: Flask) -> None:
    import threading

    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with app.app_context():
                for i in range(10):
                    audit.record("test.concurrent", actor_label=f"writer{n}", i=i)
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with app.app_context():
        report = audit.verify_chain()
        assert report.ok and report.checked == 60


def test_checking_the_chain_is_a_post_and_a_get_changes_nothing(world: World, signed_in) -> None:
    admin = signed_in("admin")
    before = audit_actions(world.app)
    page = admin.get("/console/admin/audit?verify=1").get_data(as_text=True)
    assert "The chain holds" not in page and audit_actions(world.app) == before
    assert admin.post("/console/admin/audit/verify", data={}).status_code == 400  # no CSRF token
    token = csrf_token(admin, "/console/admin/audit")
    page = admin.post("/console/admin/audit/verify?action=signin", data={"csrf_token": token}).get_data(as_text=True)
    assert "The chain holds" in page and audit_actions(world.app)[-1] == "audit.verified"
    assert 'value="signin"' in page  # the filters stay


@pytest.mark.parametrize("page", ["²", "0", "-3", "x", "9" * 30])
def test_a_bad_page_number_keeps_the_other_filters(world: World, signed_in, page: str) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    signed_in("sro_a").get(f"/console/tips/{ref}")
    admin = signed_in("admin")
    response = admin.get(f"/console/admin/audit?tip_ref={ref}&page={page}")
    assert response.status_code == 200
    assert "1 events" in response.get_data(as_text=True)  # only the tip's view, not every sign-in


@pytest.mark.parametrize("query", ["endpoint=x", "_method=GET", "_external=1&_scheme=javascript"])
def test_query_names_of_url_building_are_not_a_500(world: World, signed_in, query: str) -> None:
    # The verify form and the page links used to pass the whole query to url_for(), whose own arguments these are.
    admin = signed_in("admin")
    response = admin.get(f"/console/admin/audit?action=signin&{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'action="/console/admin/audit/verify?action=signin"' in page


def test_linking_is_on_the_record_of_every_tip_it_moves(world: World, signed_in) -> None:
    # Filtering the record by a tip's reference must show that someone put it into another incident.
    from app.models import Incident

    with world.app.app_context():
        old, new = Incident(school_id=world.school_a, category="weapon"), \
            Incident(school_id=world.school_a, category="weapon")
        db.session.add_all([old, new])
        db.session.flush()
        first, follower = make_tip(world.school_a, incident_id=old.id).ref, make_tip(world.school_a,
                                                                                  incident_id=old.id).ref
        other = make_tip(world.school_a, incident_id=new.id).ref
    client = signed_in("sro_a")
    client.post(f"/console/tips/{first}/link", data={"csrf_token": csrf_token(client, f"/console/tips/{first}"),
                                                     "other_ref": other})
    assert audit_actions(world.app, first)[-1] == "tip.linked"
    assert audit_actions(world.app, other) == ["tip.linked"]
    assert audit_actions(world.app, follower) == ["tip.linked"]
    with world.app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "tip.linked")).all()
        assert {e.actor_id for e in events} == {world.people["sro_a"]}
        assert audit.parse_detail(next(e for e in events if e.tip_ref == other))["other_ref"] == first
        assert audit.verify_chain().ok


def test_a_change_of_role_or_schools_says_what_it_was_and_became(world: World, signed_in) -> None:
    # Who could see which school's tips, and since when, must be answerable from the record.
    admin = signed_in("admin")
    token = csrf_token(admin, "/console/admin/staff")
    admin.post(f"/console/admin/staff/{world.people['counselor_a']}", data={
        "csrf_token": token, "name": "Counselor A", "role": "supervisor", "phone": "", "active": "y",
        "schools": [str(world.school_a), str(world.school_b)]})
    with world.app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.updated"))
        assert event is not None
        detail = audit.parse_detail(event)
        assert detail["before"] == {"role": "counselor", "school_ids": [world.school_a]}
        assert detail["after"] == {"role": "supervisor", "school_ids": sorted([world.school_a, world.school_b])}



@pytest.mark.skipif(not on_postgres(), reason="row locks and the chain's advisory lock are PostgreSQL's; SQLite's "
                    "write lock, taken at BEGIN, makes whole transactions take turns")
def test_a_sign_in_and_an_event_of_the_same_person_at_once_do_not_deadlock(world: World,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A sign-in attempt locks the account's row (FOR UPDATE) and then records on the chain; an event whose actor
    is the same person (a case viewed on another device, an SMS "1") holds the chain's lock and inserts a row
    that refers to the account, which needs a share lock on that row that FOR UPDATE refuses. Each waited for
    the other until PostgreSQL failed one (a 500). The account's row is now locked FOR NO KEY UPDATE, which
    still makes attempts take turns but lets rows that refer to the account be written."""
    import threading

    from sqlalchemy.exc import OperationalError

    from app.accounts import service
    from app.accounts.totp import db_check_totp
    from app.models import Staff

    lock_chain = audit._lock_chain
    account_locked, chain_locked = threading.Event(), threading.Event()

    def lock_chain_in_turn() -> None:
        if threading.current_thread().name == "sign-in":
            chain_locked.wait(3)
            lock_chain()
        else:
            account_locked.wait(3)
            lock_chain()
            chain_locked.set()

    monkeypatch.setattr(audit, "_lock_chain", lock_chain_in_turn)
    errors: list[BaseException] = []

    def sign_in_attempt(check: str) -> None:
        with world.app.app_context():
            try:
                staff = db.session.get(Staff, world.people["sro_a"])
                if check == "turn":
                    service.db_take_turn(staff)
                else:
                    db_check_totp(staff, pyotp.TOTP(world.secrets["sro_a"]).now(), clock.now())
                account_locked.set()
                audit.record("signin.failed", actor=staff, step="second_factor", reason="bad_code")
                db.session.commit()
            except OperationalError as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    def event_of_the_same_person() -> None:
        with world.app.app_context():
            try:
                audit.record("tip.viewed", actor=db.session.get(Staff, world.people["sro_a"]))
                db.session.commit()
            except OperationalError as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    for check in ("turn", "totp"):
        account_locked.clear()
        chain_locked.clear()
        threads = [threading.Thread(target=sign_in_attempt, args=(check,), name="sign-in"),
                   threading.Thread(target=event_of_the_same_person, name="elsewhere")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert [type(getattr(exc, "orig", exc)).__name__ for exc in errors] == [], check
    with world.app.app_context():
        assert audit.verify_chain().ok and audit_actions(world.app).count("tip.viewed") == 2


def test_filtering_by_a_tip_finds_the_export_that_decrypted_it(world: World, signed_in, tmp_path) -> None:
    # `flask triage export-labels` decrypts many tips in one event that names them in its detail; an admin asking
    # the record "who has read this tip?" must find that export, not only the console's views.
    with world.app.app_context():
        exported = make_tip(world.school_a, "there is a knife in his backpack")
        exported.label_category, exported.label_urgency = "weapon", "high"
        untouched = make_tip(world.school_a)
        db.session.commit()
        ref, other = exported.ref, untouched.ref
    result = world.app.test_cli_runner().invoke(args=["triage", "export-labels", "--out", str(tmp_path / "l.jsonl")])
    assert result.exit_code == 0, result.output
    admin = signed_in("admin")
    page = admin.get(f"/console/admin/audit?tip_ref={ref.lower()}").get_data(as_text=True)
    assert "labels.exported" in page and "1 events" in page
    page = admin.get(f"/console/admin/audit?tip_ref={other}").get_data(as_text=True)
    assert "labels.exported" not in page and "0 events" in page


def test_filtering_by_a_tip_reads_its_reference_as_the_rest_of_the_console_does(world: World, signed_in,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # "Who has opened this tip?" asked with the reference as read out on the phone or copied from a note ("7kq-2mo",
    # an O for the 0) found no event, so the record seemed to say nobody had; the queue's box and the case link
    # read the same reference as the tip's (O as 0, I and L as 1, spaces and dashes ignored).
    import tests.support.tips

    monkeypatch.setattr(tests.support.tips, "db_new_reference", lambda: "7KQ1M0")
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    typed = "7kq-lmo"
    assert signed_in("sro_a").get(f"/console/?ref={typed}").headers["Location"].endswith(f"/console/tips/{ref}")
    signed_in("sro_a").get(f"/console/tips/{ref}")
    admin = signed_in("admin")
    for asked in (typed, "7KQ IMO", ref):
        page = admin.get("/console/admin/audit", query_string={"tip_ref": asked}).get_data(as_text=True)
        assert page.count("<td>tip.viewed</td>") == 1 and "1 events" in page, asked
