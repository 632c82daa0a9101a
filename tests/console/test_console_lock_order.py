"""The order in which a staff action and the alert worker take their locks on PostgreSQL: two writers that take the
same two locks in opposite orders deadlock, and PostgreSQL rolls one back (a staff action answered "nothing was
saved", or a worker round lost). SQLite's write lock, taken at BEGIN IMMEDIATE, lets one writer in at a time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from app.alerts.escalation import db_escalate_overdue
from app.extensions import ADVISORY_KEY_SQL, db
from app.models import Alert, AlertStatus, Assignment, Tip
from tests.conftest import on_postgres
from tests.console.helpers import World
from tests.support.forms import csrf_token
from tests.support.tips import make_tip

# Wednesday 25 Nov 2026, 08:00 UTC: 01:00 in Casper (America/Denver), out of school hours.
NIGHT = datetime(2026, 11, 25, 8, 0)


def _needs_postgres() -> None:
    if not on_postgres():
        pytest.skip("on SQLite the write lock, taken at BEGIN IMMEDIATE, lets one writer in at a time")


def test_on_postgresql_a_status_change_and_the_workers_escalation_of_the_same_tip_take_turns(
        world: World, signed_in) -> None:
    """The worker's escalation locks a tip's failed SMS, then writes the next person's row, which references the tip
    (PostgreSQL checks that reference under a key-share lock on the tip's row). A status change in the console locks
    the tip's row FOR UPDATE, then acknowledges the tip, which marks that failed SMS acknowledged: each held the lock
    the other waited for, and PostgreSQL rolled one back. Here the worker is held between the two by a save of new
    hours under way (a medium tip's next SMS reads the school's hours), the window in which the console comes."""
    _needs_postgres()
    with world.app.app_context():
        second = db.session.scalar(select(Assignment).where(Assignment.school_id == world.school_a,
                                                            Assignment.staff_id == world.people["counselor_a"]))
        assert second is not None
        second.chain_position = 2
        tip = make_tip(world.school_a, urgency="medium", category="bullying", created_at=NIGHT)
        failed = Alert(tip_id=tip.id, staff_id=world.people["sro_a"], chain_position=1, kind="initial",
                       status=AlertStatus.FAILED.value, due_at=NIGHT, created_at=NIGHT - timedelta(hours=1),
                       error_code="30006")  # a landline: failed for good
        db.session.add(failed)
        db.session.commit()
        ref, tip_id, failed_id = tip.ref, tip.id, failed.id
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    written: list[int] = []
    errors: list[BaseException] = []
    answers: list[Any] = []

    def escalate() -> None:
        with world.app.app_context():
            try:
                written.append(db_escalate_overdue(NIGHT))
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - the test reports it
                errors.append(exc)
                db.session.rollback()

    with world.app.app_context():
        saving = db.engine.connect()
    saving.execute(text("UPDATE school SET day_start = '08:00' WHERE id = :id"), {"id": world.school_a})
    try:
        worker = threading.Thread(target=escalate)
        worker.start()
        worker.join(1.0)
        assert worker.is_alive(), "the escalation did not wait for the save under way"
        console = threading.Thread(target=lambda: answers.append(client.post(f"/console/tips/{ref}/status", data={
            "csrf_token": token, "status": "investigating", "status_was": "new"})))
        console.start()
        console.join(1.0)
        saving.commit()
    finally:
        saving.close()
    worker.join(15)
    console.join(15)
    assert not errors, f"the worker's round failed: {errors[0]!r}"
    assert written == [1]
    assert answers and answers[0].status_code == 302, "the status change was not saved"
    with world.app.app_context():
        saved = db.session.get(Tip, tip_id)
        assert saved is not None and saved.status == "investigating" and saved.acknowledged_at is not None
        following = db.session.scalar(select(Alert).where(Alert.id != failed_id))
        assert following is not None and following.staff_id == world.people["counselor_a"]
        # Written before the tip was taken, and answered by it: nobody is woken for a tip someone has.
        assert following.status == AlertStatus.CANCELLED.value


def test_on_postgresql_a_counselor_deactivated_while_one_of_her_cases_is_acted_on_takes_turns_with_it(
        world: World, signed_in) -> None:
    """Deactivating a counselor gives her open cases back to nobody. The save recorded the change under the audit
    chain's lock, then locked her cases' rows; every action on a case locks its row, then records under that lock.
    A case acted on at that moment held the lock the save waited for and waited for the save's: one of the two was
    rolled back. The save now locks the cases before it records."""
    _needs_postgres()
    with world.app.app_context():
        tip = make_tip(world.school_a)
        tip.assigned_counselor_id = world.people["counselor_a"]
        db.session.commit()
        tip_id = tip.id
    admin = signed_in("admin")
    token = csrf_token(admin, "/console/admin/staff")
    answers: list[Any] = []
    with world.app.app_context():
        acting = db.engine.connect()
    acting.execute(text("SELECT id FROM tip WHERE id = :id FOR UPDATE"), {"id": tip_id})  # a case action under way
    try:
        save = threading.Thread(target=lambda: answers.append(admin.post(
            f"/console/admin/staff/{world.people['counselor_a']}", data={
                "csrf_token": token, "name": "Counselor A", "role": "counselor", "phone": "",
                "schools": [str(world.school_a)]})))  # "active" unticked
        save.start()
        save.join(1.5)
        waited = save.is_alive()
        # The case action records what it did next, under the audit chain's lock (app/audit.py).
        acting.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_KEY_SQL})"), {"name": "audit chain"})
        acting.commit()
    finally:
        acting.close()
    save.join(15)
    assert waited, "the save did not wait for the case action under way"
    assert answers and answers[0].status_code == 302, "the save was not made"
    with world.app.app_context():
        released = db.session.get(Tip, tip_id)
        assert released is not None and released.assigned_counselor_id is None
