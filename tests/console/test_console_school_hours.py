"""A school's hours and time zone, changed on its page, and its escalation chain's form."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Alert, AlertStatus, Assignment, AuditEvent, School
from tests.console.helpers import FrozenClock, World
from tests.support.forms import csrf_token, csrf_token_in, input_value
from tests.support.tips import make_tip

# Wednesday 25 Nov 2026, 08:00 UTC: 01:00 in Casper (America/Denver, UTC-7), 03:00 in New York (UTC-5).
NIGHT = datetime(2026, 11, 25, 8, 0)
DENVER_0730 = datetime(2026, 11, 25, 14, 30)
NEW_YORK_0800 = datetime(2026, 11, 25, 13, 0)


def _alert(tip_id: int, staff_id: int, due: datetime, *, status: str = AlertStatus.PENDING.value,
           kind: str = "initial", send_failures: int = 0) -> int:
    alert = Alert(tip_id=tip_id, staff_id=staff_id, chain_position=1, kind=kind, status=status, due_at=due,
                  created_at=NIGHT - timedelta(hours=1), send_failures=send_failures)
    db.session.add(alert)
    db.session.commit()
    return alert.id


def _school_form(admin, path: str) -> dict[str, str]:
    page = admin.get(path).get_data(as_text=True)
    return {"csrf_token": csrf_token(admin, path), "school_was": input_value(page, "school_was") or "",
            "name": "Alpha High School", "short_name": "AHS", "town": "Casper", "day_start": "07:30",
            "day_end": "16:00", "timezone": "America/Denver", "active": "y"}


def test_new_hours_or_zone_replan_the_alerts_waiting_for_the_school_day(world: World, signed_in,
                                                                        frozen_clock: FrozenClock) -> None:
    """A medium tip's SMS written at night waits for the start of the school day as the school's hours and zone
    then said; the school's page changing them left it at that time, an hour or more early or late (in the night,
    for a zone put right). The save now re-plans the school's alerts waiting for the school day, in its own
    transaction, and says how many; an urgent tip's alert (due at once), an SMS retrying after a failure, one
    claimed by the worker or sent, and another school's, keep theirs."""
    frozen_clock.now = NIGHT
    admin = signed_in("admin")
    sro = world.people["sro_a"]
    with world.app.app_context():
        medium = make_tip(world.school_a, urgency="medium", category="bullying", created_at=NIGHT)
        waiting = _alert(medium.id, sro, DENVER_0730)
        escalated = _alert(medium.id, sro, DENVER_0730, kind="escalation")
        retrying = _alert(medium.id, sro, NIGHT + timedelta(seconds=30), send_failures=1)
        claimed = _alert(medium.id, sro, DENVER_0730, status=AlertStatus.SENDING.value)
        sent = _alert(medium.id, sro, DENVER_0730, status=AlertStatus.SENT.value)
        critical = make_tip(world.school_a, urgency="critical", created_at=NIGHT)
        urgent = _alert(critical.id, sro, NIGHT)
        other = make_tip(world.school_b, urgency="medium", category="bullying", created_at=NIGHT)
        other_school = _alert(other.id, world.people["sro_b"], DENVER_0730)
    path = f"/console/admin/schools/{world.school_a}"
    response = admin.post(path, data=_school_form(admin, path) | {"timezone": "America/New_York",
                                                                  "day_start": "08:00"}, follow_redirects=True)
    assert "2 alerts waiting for the school day" in response.get_data(as_text=True)
    with world.app.app_context():
        due = {a.id: a.due_at for a in db.session.scalars(select(Alert))}
        assert due[waiting] == due[escalated] == NEW_YORK_0800
        assert due[retrying] == NIGHT + timedelta(seconds=30)
        assert due[claimed] == due[sent] == due[other_school] == DENVER_0730
        assert due[urgent] == NIGHT
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "school.updated")).one()
        assert json.loads(event.detail)["replanned_alerts"] == 2

    # In session under the new hours (07:15 in New York, the day starting at 07:00): what waited for it goes now.
    frozen_clock.now = datetime(2026, 11, 25, 12, 15)
    admin = signed_in("admin")  # hours later: signed in again
    form = _school_form(admin, path) | {"timezone": "America/New_York", "day_start": "07:00"}
    response = admin.post(path, data=form, follow_redirects=True)
    assert "2 alerts waiting for the school day" in response.get_data(as_text=True)
    with world.app.app_context():
        assert db.session.get(Alert, waiting).due_at == frozen_clock.now  # type: ignore[union-attr]
    # Only the town changed: nothing is re-planned, and the page says nothing of alerts.
    response = admin.post(path, data=_school_form(admin, path) | {
        "timezone": "America/New_York", "day_start": "07:00", "town": "Mills"}, follow_redirects=True)
    assert "alerts waiting" not in response.get_data(as_text=True)
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and school.town == "Mills"


def _selected(page: str, position: int) -> str | None:
    select_ = re.search(rf'<select id="position_{position}".*?</select>', page, re.S)
    assert select_ is not None, position
    chosen = re.search(r'<option value="(\d*)" selected', select_.group(0))
    return None if chosen is None else chosen.group(1)


def test_one_person_chosen_for_two_places_of_the_chain_keeps_the_choices_and_says_where(world: World,
                                                                                         signed_in) -> None:
    """Choosing one person for two places of a school's chain sent the admin back to the page as it was, every
    choice lost, with only "One person can hold only one position" at the top. The page now comes back with what
    was chosen, and says beside the second place who is chosen twice and where else; nothing is saved."""
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    page = admin.get(path).get_data(as_text=True)
    sro, counselor = str(world.people["sro_a"]), str(world.people["counselor_a"])
    form = {"csrf_token": csrf_token_in(page) or "", "chain_was": input_value(page, "chain_was") or ""}
    response = admin.post(f"{path}/chain", data=form | {"position_1": counselor, "position_2": sro,
                                                        "position_3": counselor})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert [_selected(page, p) for p in (1, 2, 3, 4)] == [counselor, sro, counselor, None]
    error = re.search(r'<p class="error" id="position_3-error">(.*?)</p>', page, re.S)
    assert error is not None and "Counselor A" in error.group(1) and "1 (primary SRO)" in error.group(1)
    assert 'aria-describedby="position_3-error"' in page and "position_1-error" not in page
    with world.app.app_context():
        chain = {a.staff_id: a.chain_position for a in db.session.scalars(
            select(Assignment).where(Assignment.school_id == world.school_a))}
    assert chain == {world.people["sro_a"]: 1, world.people["counselor_a"]: None}
    # Put right on the page it came back as: saved.
    form = {"csrf_token": csrf_token_in(page) or "", "chain_was": input_value(page, "chain_was") or ""}
    response = admin.post(f"{path}/chain", data=form | {"position_1": counselor, "position_2": sro},
                          follow_redirects=True)
    assert "Escalation chain saved." in response.get_data(as_text=True)
    with world.app.app_context():
        chain = {a.staff_id: a.chain_position for a in db.session.scalars(
            select(Assignment).where(Assignment.school_id == world.school_a))}
    assert chain == {world.people["sro_a"]: 2, world.people["counselor_a"]: 1}


def test_a_tip_arriving_while_new_hours_are_saved_waits_for_the_start_the_new_hours_say(
        world: World, signed_in, frozen_clock: FrozenClock, monkeypatch) -> None:
    """Intake read the school's hours before its write, to keep SQLite's write lock short: an admin's save of new
    hours in between re-planned the alerts already written, not the new tip's, which was then written with the
    start the old hours said (an hour or more off, for good). Its school-day start is now read in its write, which
    takes turns with the save (SQLite's write lock; the school's row, shared, on PostgreSQL)."""
    import dataclasses

    import app.intake.submit as submit_module
    from app.intake.submit import unranked_assessment
    from tests.intake.helpers import submit

    frozen_clock.now = NIGHT
    monkeypatch.setattr("app.alerts.planning.utcnow", lambda: NIGHT)
    medium = dataclasses.replace(unranked_assessment(), category="bullying", urgency="medium", model_version="test")
    monkeypatch.setattr("app.intake.views.assess", lambda _text, _happening: medium)
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    form = _school_form(admin, path) | {"day_start": "08:00"}
    saves: list = []
    read_before_the_write = submit_module.db_alert_route

    def hours_saved_just_after_the_read(school_id: int):
        route = read_before_the_write(school_id)  # 07:30, as the hours are now
        saves.append(admin.post(path, data=form))  # the admin's save, before the tip's write
        return route

    monkeypatch.setattr(submit_module, "db_alert_route", hours_saved_just_after_the_read)
    reporter = world.app.test_client()
    response = submit(reporter, world.school_a, "Kids keep taking my lunch and pushing me in the hall every day.",
                      csrf=csrf_token(reporter, "/report"))
    assert response.status_code == 303
    assert [s.status_code for s in saves] == [302]
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and school.day_start.strftime("%H:%M") == "08:00"
        (alert,) = db.session.scalars(select(Alert))
        assert alert.due_at == DENVER_0730 + timedelta(minutes=30)  # 08:00 in Casper, not 07:30


def test_on_postgresql_a_tip_waits_for_a_save_of_new_hours_under_way(world: World, frozen_clock: FrozenClock,
                                                                      monkeypatch) -> None:
    """PostgreSQL does not make writers take turns: a save of new hours that had re-planned the alerts waiting, not
    yet committed, let a medium tip read the old hours and be written with them. The tip's write now reads the
    school's row FOR SHARE, which waits for the save's lock, then reads the hours saved."""
    import dataclasses
    import threading

    import pytest
    from sqlalchemy import text

    from app.intake.submit import unranked_assessment
    from tests.conftest import on_postgres
    from tests.intake.helpers import submit

    if not on_postgres():
        pytest.skip("on SQLite the write lock, taken at BEGIN, makes the save and the tip's write take turns")
    monkeypatch.setattr("app.alerts.planning.utcnow", lambda: NIGHT)
    medium = dataclasses.replace(unranked_assessment(), category="bullying", urgency="medium", model_version="test")
    monkeypatch.setattr("app.intake.views.assess", lambda _text, _happening: medium)
    reporter = world.app.test_client()
    token = csrf_token(reporter, "/report")
    answers: list = []
    with world.app.app_context():
        saving = db.engine.connect()
    try:  # the admin's save, under way: the school's row locked and changed, its alerts re-planned (none yet)
        saving.execute(text("UPDATE school SET day_start = '08:00' WHERE id = :id"), {"id": world.school_a})
        tip = threading.Thread(target=lambda: answers.append(submit(
            reporter, world.school_a, "Kids keep taking my lunch and pushing me in the hall.", csrf=token)))
        tip.start()
        tip.join(1.5)
        waited = tip.is_alive()
        saving.commit()
    finally:
        saving.close()
    tip.join(10)
    assert waited, "the tip did not wait for the save under way"
    assert answers[0].status_code == 303
    with world.app.app_context():
        (alert,) = db.session.scalars(select(Alert))
        assert alert.due_at == DENVER_0730 + timedelta(minutes=30)  # 08:00 in Casper, not 07:30


def test_two_accounts_sharing_one_phone_cannot_hold_two_places_of_one_chain(world: World, signed_in) -> None:
    """A dispatch desk's phone is shared by its day and night accounts. Both put on a school's chain were saved
    without a word, and a critical tip unacknowledged at the desk 'escalated' to the same desk phone: another
    timeout before anyone new was told. Refused as one person chosen twice is, beside the second place, with
    every choice kept; nothing is saved."""
    with world.app.app_context():
        from app.models import Staff

        counselor = db.session.get(Staff, world.people["counselor_a"])
        sro = db.session.get(Staff, world.people["sro_a"])
        assert counselor is not None and sro is not None
        counselor.phone = sro.phone
        db.session.commit()
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    page = admin.get(path).get_data(as_text=True)
    sro_id, counselor_id = str(world.people["sro_a"]), str(world.people["counselor_a"])
    form = {"csrf_token": csrf_token_in(page) or "", "chain_was": input_value(page, "chain_was") or ""}
    response = admin.post(f"{path}/chain", data=form | {"position_1": sro_id, "position_4": counselor_id})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert [_selected(page, p) for p in (1, 2, 3, 4)] == [sro_id, None, None, counselor_id]
    error = re.search(r'<p class="error" id="position_4-error">(.*?)</p>', page, re.S)
    assert error is not None, page
    assert "same phone" in error.group(1) and "Sro A" in error.group(1) and "1 (primary SRO)" in error.group(1)
    assert "Escalation chain saved." not in page
    with world.app.app_context():
        chain = {a.staff_id: a.chain_position for a in db.session.scalars(
            select(Assignment).where(Assignment.school_id == world.school_a))}
    assert chain == {world.people["sro_a"]: 1, world.people["counselor_a"]: None}


def test_a_zone_without_daylight_saving_time_or_a_clock_not_written_hh_mm_is_refused_with_why(
        world: World, signed_in) -> None:
    """"MST" and "UTC" are names the server knows, so the page saved them: under MST (no summer time) a Wyoming
    school's hours were an hour off from March to November, under UTC six or seven, and medium tips paged the SRO
    in the night. Both are refused beside the box with the zone to write. And "7:30" (as `flask schools create`
    takes it) answered "Invalid input."; "3:15" for a quarter past three in the afternoon did not say the clock
    is a 24-hour one. Nothing is saved, and what was typed stays in the boxes."""
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    for zone in ("MST", "UTC", "Etc/GMT+7", "EST"):
        response = admin.post(path, data=_school_form(admin, path) | {"timezone": zone})
        assert response.status_code == 200, zone
        page = response.get_data(as_text=True)
        error = re.search(r'id="timezone-error"[^>]*>(.*?)</', page, re.S)
        assert error is not None and "daylight saving" in error.group(1) and "America/Denver" in error.group(1)
        assert f'value="{zone}"' in page
    response = admin.post(path, data=_school_form(admin, path) | {"day_start": "7:30", "day_end": "3:15"})
    page = response.get_data(as_text=True)
    error = re.search(r'id="day_end-error"[^>]*>(.*?)</', page, re.S)
    assert error is not None and "24-hour" in error.group(1) and "15:15" in error.group(1), page
    assert "Invalid input" not in page
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and (school.timezone, school.day_start.hour, school.day_end.hour) == (
            "America/Denver", 7, 16)
    # A clock written H:MM is taken, as the command takes it.
    response = admin.post(path, data=_school_form(admin, path) | {"day_start": "7:45", "day_end": "15:15"},
                          follow_redirects=True)
    assert "School saved." in response.get_data(as_text=True)
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and (school.day_start.hour, school.day_start.minute) == (7, 45)


def test_a_school_stored_with_a_zone_without_summer_time_says_to_choose_it_again(world: World, signed_in) -> None:
    """Before the page refused them, MST or UTC were saved (and `flask schools create` took them): such a school
    kept its zone without a word, its hours an hour or more off from March to November. Its page and the list of
    schools now say so, with the zone to choose; once chosen again, nothing more is said."""
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None
        school.timezone = "MST"
        db.session.commit()
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    page = admin.get(path).get_data(as_text=True)
    warning = re.search(r'<p class="flash error" id="zone-warning">(.*?)</p>', page, re.S)
    assert warning is not None, page
    assert "'MST'" in html.unescape(warning.group(1)) and "daylight saving" in warning.group(1)
    assert "America/Denver" in warning.group(1) and 'href="#timezone"' in warning.group(1)
    listing = admin.get("/console/admin/schools").get_data(as_text=True)
    alpha, beta = (re.search(rf"<tr>\s*<td><a[^>]*>{short}:.*?</tr>", listing, re.S) for short in ("AHS", "BMS"))
    assert alpha is not None and beta is not None, listing
    assert "choose its time zone again" in alpha.group(0) and "America/Denver" in alpha.group(0)
    assert "choose its time zone again" not in beta.group(0)
    response = admin.post(path, data=_school_form(admin, path), follow_redirects=True)  # America/Denver
    assert 'id="zone-warning"' not in response.get_data(as_text=True)
    assert "choose its time zone again" not in admin.get("/console/admin/schools").get_data(as_text=True)


def _save_of_new_hours_under_way(world: World):
    """An admin's save of 08:00 as the start of school A's day, under way on a connection of its own: the school's
    row locked and changed, its waiting alerts re-planned, not yet committed (commit it, then close it)."""
    from sqlalchemy import text

    with world.app.app_context():
        saving = db.engine.connect()
    saving.execute(text("UPDATE school SET day_start = '08:00' WHERE id = :id"), {"id": world.school_a})
    return saving


def test_on_postgresql_a_tip_relabelled_to_medium_waits_for_a_save_of_new_hours_under_way(
        world: World, signed_in, frozen_clock: FrozenClock, monkeypatch) -> None:
    """The case page's correction to medium planned the tip's SMS for the start of the school day from the hours
    read without a lock: a save of new hours under way, not yet committed, did not see the relabel's new row to
    re-plan it, and the relabel read the old hours (07:30 kept for good, not the 08:00 saved). Its write now reads
    the school's row FOR SHARE, as intake does, and before the audit chain's lock, which the save takes after the
    school's row: the other way round the two would wait for each other."""
    import threading

    import pytest
    from sqlalchemy import text

    from app.extensions import ADVISORY_KEY_SQL
    from tests.conftest import on_postgres

    if not on_postgres():
        pytest.skip("on SQLite the relabel's write lock, taken at BEGIN IMMEDIATE before it reads the tip, makes the "
                    "save and the relabel take turns")
    frozen_clock.now = NIGHT
    monkeypatch.setattr("app.alerts.planning.utcnow", lambda: NIGHT)
    with world.app.app_context():
        ref = make_tip(world.school_a, urgency="low", category="bullying", created_at=NIGHT).ref
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    answers: list = []
    saving = _save_of_new_hours_under_way(world)
    try:
        relabel = threading.Thread(target=lambda: answers.append(client.post(f"/console/tips/{ref}/label", data={
            "csrf_token": token, "category": "bullying", "urgency": "medium"})))
        relabel.start()
        relabel.join(1.5)
        waited = relabel.is_alive()
        # The save records its change next, under the audit chain's lock (app/audit.py).
        saving.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_KEY_SQL})"), {"name": "audit chain"})
        saving.commit()
    finally:
        saving.close()
    relabel.join(10)
    assert waited, "the relabel did not wait for the save under way"
    assert answers[0].status_code == 302
    with world.app.app_context():
        (alert,) = db.session.scalars(select(Alert))
        assert (alert.staff_id, alert.status) == (world.people["sro_a"], AlertStatus.PENDING.value)
        assert alert.due_at == DENVER_0730 + timedelta(minutes=30)  # 08:00 in Casper, not 07:30


def test_on_postgresql_the_next_persons_sms_of_a_medium_tip_waits_for_a_save_of_new_hours_under_way(
        world: World) -> None:
    """A medium tip's SMS that failed for good is followed by the next person's, which waits for the school day
    too (the worker's escalation). Planned from the hours read without a lock, a save of new hours under way did
    not see it to re-plan it, and it kept the start the old hours said. It now reads them as intake does."""
    import threading

    import pytest

    from app.alerts.escalation import db_escalate_overdue
    from tests.conftest import on_postgres

    if not on_postgres():
        pytest.skip("on SQLite the worker's write lock, taken at BEGIN IMMEDIATE before it reads the failed SMS, makes "
                    "the save and the escalation take turns")
    with world.app.app_context():
        second = db.session.scalar(select(Assignment).where(Assignment.school_id == world.school_a,
                                                            Assignment.staff_id == world.people["counselor_a"]))
        assert second is not None
        second.chain_position = 2
        db.session.commit()
        tip = make_tip(world.school_a, urgency="medium", category="bullying", created_at=NIGHT)
        failed = _alert(tip.id, world.people["sro_a"], NIGHT, status=AlertStatus.FAILED.value)
        db.session.get(Alert, failed).error_code = "30006"  # a landline: failed for good
        db.session.commit()
    written: list[int] = []

    def escalate() -> None:
        with world.app.app_context():
            written.append(db_escalate_overdue(NIGHT))
            db.session.commit()

    saving = _save_of_new_hours_under_way(world)
    try:
        worker = threading.Thread(target=escalate)
        worker.start()
        worker.join(1.5)
        waited = worker.is_alive()
        saving.commit()
    finally:
        saving.close()
    worker.join(10)
    assert waited, "the escalation did not wait for the save under way"
    assert written == [1]
    with world.app.app_context():
        following = db.session.scalar(select(Alert).where(Alert.id != failed))
        assert following is not None
        assert (following.staff_id, following.kind) == (world.people["counselor_a"], "escalation")
        assert following.due_at == DENVER_0730 + timedelta(minutes=30)  # 08:00 in Casper, not 07:30


def test_a_chain_saved_with_one_phone_twice_before_that_was_refused_is_flagged(world: World, signed_in) -> None:
    """The chain's save and the staff page now refuse one phone in two places of a chain, but a chain saved before
    (a dispatch desk's day and night accounts) kept it without a word: an unanswered critical tip "escalated" to
    the same phone. The school's page and the list of schools now say who shares it, until one is changed."""
    with world.app.app_context():
        from app.models import Staff

        counselor = db.session.get(Staff, world.people["counselor_a"])
        sro = db.session.get(Staff, world.people["sro_a"])
        assert counselor is not None and sro is not None
        counselor.phone = sro.phone
        assignment = db.session.scalar(select(Assignment).where(Assignment.school_id == world.school_a,
                                                                Assignment.staff_id == counselor.id))
        assert assignment is not None
        assignment.chain_position = 4
        db.session.commit()
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    warning = re.search(r'<p class="flash error" id="phone-twice">(.*?)</p>', admin.get(path).get_data(as_text=True),
                        re.S)
    assert warning is not None
    assert "Counselor A" in warning.group(1) and "Sro A" in warning.group(1) and "same phone" in warning.group(1)
    listing = admin.get("/console/admin/schools").get_data(as_text=True)
    alpha, beta = (re.search(rf"<tr>\s*<td><a[^>]*>{short}:.*?</tr>", listing, re.S) for short in ("AHS", "BMS"))
    assert alpha is not None and beta is not None, listing
    assert "same phone as Sro A" in alpha.group(0) and "same phone" not in beta.group(0)
    with world.app.app_context():
        from app.models import Staff

        counselor = db.session.get(Staff, world.people["counselor_a"])
        assert counselor is not None
        counselor.phone = "+13075550999"
        db.session.commit()
    assert 'id="phone-twice"' not in admin.get(path).get_data(as_text=True)
    assert "same phone" not in admin.get("/console/admin/schools").get_data(as_text=True)
