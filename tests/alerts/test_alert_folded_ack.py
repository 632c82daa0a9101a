"""A "1" to a "+N related tips" SMS acknowledges every tip that SMS told of, and a folded critical or high tip that
nobody answers escalates like any other.

Before, "1" took the newest open alert of the phone: one tip of the fold (the row with the highest id), the reply
naming a reference the SRO had never seen. The other high tips went on escalating to the backup SRO while the SRO
believed the incident taken; the medium ones stayed unacknowledged in the queue (a medium tip is not paged again)."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

import app.alerts.planning as planning
from app.alerts.acknowledge import db_acknowledge_tip
from app.alerts.dispatcher import run_once
from app.alerts.escalation import db_escalate_overdue
from app.extensions import db
from app.models import Alert, AlertStatus, AuditEvent, Tip, utcnow
from notifications import messages
from tests.alerts.conftest import TipInfo, alerts_of, chain_phones, make_tip, post_sms, staff_by_phone

IN_HOURS = datetime(2026, 11, 23, 17, 0)  # a Monday, 10:00 in Casper: medium tips are due at once


def _fold(*urgencies: str) -> tuple[TipInfo, list[TipInfo]]:
    """The first tip of an incident sent on its own, then one tip per urgency sent as one "+N related tips" SMS to the
    primary SRO of KWHS. Returns (first, folded)."""
    first = make_tip("KWHS", urgencies[0], "bullying")
    run_once("w")
    folded = [make_tip("KWHS", urgency, "bullying") for urgency in urgencies]
    assert run_once("w").get("postponed") == len(folded)
    db.session.execute(update(Alert).where(Alert.kind == "folded").values(due_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    run_once("w")
    return first, folded


def _acknowledged_by(info: TipInfo) -> int | None:
    return db.session.get(Tip, info.id).acknowledged_by_id


def _acks_by_sms(message_sid: str) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.tip_ref).where(
        AuditEvent.action == "tip.acknowledged", AuditEvent.detail.contains(message_sid)).order_by(AuditEvent.id)))


def _escalated_positions(info: TipInfo) -> list[int]:
    return [a.chain_position for a in alerts_of(info.ref)]


@pytest.fixture
def folding_app(alert_app, monkeypatch):
    alert_app.config.update(ALERT_ACK_TIMEOUT_HIGH_S=3600)  # nothing escalates unless the test says when
    monkeypatch.setattr(planning, "utcnow", lambda: IN_HOURS)
    return alert_app


@pytest.mark.parametrize("urgencies", [("high", "high", "high"), ("medium", "medium", "medium"),
                                       ("medium", "high", "medium")])
def test_a_1_to_a_folded_sms_acknowledges_every_tip_it_told_of(folding_app, fake_twilio, urgencies):
    with folding_app.app_context():
        first, folded = _fold(*urgencies)
        assert "+3 related tips" in fake_twilio.messages[-1].body
        primary = chain_phones("KWHS")[0]
        primary_id = staff_by_phone(primary).id
    answer = post_sms(folding_app, fake_twilio.auth_token, primary, "1", message_sid="SM" + "a" * 32)
    assert messages.folded_ack_confirmed_reply(3, 3) in answer, answer
    with folding_app.app_context():
        assert [_acknowledged_by(info) for info in folded] == [primary_id] * 3
        assert _acknowledged_by(first) is None  # its own SMS, its own answer
        # Each tip its own audit event, each keeping the SMS that took it.
        assert sorted(_acks_by_sms("SM" + "a" * 32)) == sorted(info.ref for info in folded)
        # Nobody else is paged about them.
        db_escalate_overdue(utcnow() + timedelta(hours=2))
        db.session.commit()
        assert [_escalated_positions(info) for info in folded] == [[1]] * 3


def test_the_folded_sms_says_how_to_acknowledge_them_all(folding_app, fake_twilio):
    with folding_app.app_context():
        _fold("high", "high")
    assert "Reply 1 to acknowledge all" in fake_twilio.messages[-1].body


def test_a_folded_1_delivered_again_answers_alike_and_takes_nothing_more(folding_app, fake_twilio):
    """Twilio posts one inbound SMS again after a slow answer (or a signed request is replayed): the same answer, no
    second audit event, and no alert that reached the phone since is taken."""
    sid = "SM" + "b" * 32
    with folding_app.app_context():
        first, folded = _fold("high", "high")
        primary = chain_phones("KWHS")[0]
    answer = post_sms(folding_app, fake_twilio.auth_token, primary, "1", message_sid=sid)
    assert messages.folded_ack_confirmed_reply(2, 2) in answer, answer
    again = post_sms(folding_app, fake_twilio.auth_token, primary, "1", message_sid=sid)
    assert again == answer
    with folding_app.app_context():
        assert len(_acks_by_sms(sid)) == 2
        assert _acknowledged_by(first) is None  # its SMS is still open: the replay did not take it


def test_a_folded_tip_taken_in_the_console_meanwhile_is_left_as_it_was(folding_app, fake_twilio):
    with folding_app.app_context():
        _, folded = _fold("high", "high", "high")
        primary, backup = chain_phones("KWHS")[:2]
        backup_id, primary_id = staff_by_phone(backup).id, staff_by_phone(primary).id
        assert db_acknowledge_tip(db.session.get(Tip, folded[1].id), staff_by_phone(backup), via="console")
        db.session.commit()
    sid = "SM" + "c" * 32
    answer = post_sms(folding_app, fake_twilio.auth_token, primary, "1", message_sid=sid)
    assert messages.folded_ack_confirmed_reply(2, 3) in answer, answer
    assert "2 of the 3" in answer and "1 was already acknowledged" in answer
    with folding_app.app_context():
        assert [_acknowledged_by(info) for info in folded] == [primary_id, backup_id, primary_id]
        assert sorted(_acks_by_sms(sid)) == sorted([folded[0].ref, folded[2].ref])
    assert post_sms(folding_app, fake_twilio.auth_token, primary, "1", message_sid=sid) == answer


def test_ack_with_the_reference_of_one_folded_tip_takes_that_tip_only(folding_app, fake_twilio):
    with folding_app.app_context():
        _, folded = _fold("high", "high")
        primary = chain_phones("KWHS")[0]
    assert f"Acknowledged #{folded[0].ref}" in post_sms(folding_app, fake_twilio.auth_token, primary,
                                                         f"ACK {folded[0].ref}")
    with folding_app.app_context():
        assert _acknowledged_by(folded[0]) is not None and _acknowledged_by(folded[1]) is None


def test_without_an_answer_every_folded_high_tip_escalates_and_medium_ones_wait_in_the_queue(folding_app,
                                                                                             fake_twilio):
    with folding_app.app_context():
        _, folded = _fold("medium", "high", "high")
        assert db_escalate_overdue(utcnow() + timedelta(hours=2)) == 2
        db.session.commit()
        assert [_escalated_positions(info) for info in folded] == [[1], [1, 2], [1, 2]]
        statuses = {a.status for info in folded for a in alerts_of(info.ref)[:1]}
        assert statuses <= {AlertStatus.SENT.value, AlertStatus.FOLDED.value, AlertStatus.DELIVERED.value}


def test_a_1_to_a_folded_sms_whose_tips_were_all_taken_says_so_without_naming_one(folding_app, fake_twilio):
    """Every tip was taken in the console before the SRO answered: the answer speaks of the SMS they read, not of
    one reference it never showed, and the same SMS posted again is answered alike."""
    with folding_app.app_context():
        first, folded = _fold("high", "high")
        primary, backup = chain_phones("KWHS")[:2]
        for info in (first, *folded):
            assert db_acknowledge_tip(db.session.get(Tip, info.id), staff_by_phone(backup), via="console")
        db.session.commit()
    sid = "SM" + "d" * 32
    answer = post_sms(folding_app, fake_twilio.auth_token, primary, "1", message_sid=sid)
    assert messages.folded_already_acknowledged_reply(2) in answer, answer
    assert post_sms(folding_app, fake_twilio.auth_token, primary, "1", message_sid=sid) == answer
    with folding_app.app_context():
        assert {_acknowledged_by(info) for info in folded} == {staff_by_phone(backup).id}


def test_on_postgresql_a_1_to_a_folded_sms_takes_turns_with_a_close_of_one_of_its_tips(folding_app, fake_twilio):
    """A "1" to a "+N related tips" SMS acknowledges its tips one after the other, each on the audit record: it held
    the audit chain's lock from the first tip's event while it took the next tip's row, and a close of that tip in
    the console (its row locked, then its event recorded) waited for the "1" while the "1" waited for it: PostgreSQL
    rolled one of the two back (the SRO told "not recorded, send it again", or the tip "not closed"). The "1" now
    locks every tip it takes before it records any."""
    import threading

    from sqlalchemy import text

    from app.extensions import ADVISORY_KEY_SQL
    from tests.conftest import on_postgres

    if not on_postgres():
        pytest.skip("on SQLite the write lock, taken at BEGIN IMMEDIATE, lets one writer in at a time")
    with folding_app.app_context():
        _, folded = _fold("high", "high")
        primary = chain_phones("KWHS")[0]
        primary_id = staff_by_phone(primary).id
        closing = db.engine.connect()
    last = max(info.id for info in folded)  # acknowledged last: the tips are taken in the order of their ids
    closing.execute(text("SELECT id FROM tip WHERE id = :id FOR UPDATE"), {"id": last})  # a close under way
    answers: list[str] = []
    try:
        reply = threading.Thread(target=lambda: answers.append(post_sms(
            folding_app, fake_twilio.auth_token, primary, "1", message_sid="SM" + "c" * 32)))
        reply.start()
        reply.join(1.5)
        waited = reply.is_alive()
        # The close records its event next, under the audit chain's lock (app/audit.py).
        closing.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_KEY_SQL})"), {"name": "audit chain"})
        closing.commit()
    finally:
        closing.close()
    reply.join(15)
    assert waited, "the 1 did not wait for the close under way"
    assert answers and messages.folded_ack_confirmed_reply(2, 2) in answers[0], answers
    with folding_app.app_context():
        assert [_acknowledged_by(info) for info in folded] == [primary_id] * 2


def test_a_late_or_repeated_failure_report_of_a_delivered_folded_sms_escalates_none_of_its_tips(folding_app,
                                                                                                fake_twilio):
    """The "+2 related tips" SMS was delivered; a failure report of it after that (out of order, Twilio posting it
    again, a replay) must not fail it and page the next person about tips the SRO has read; "1" then takes them all."""
    from tests.alerts.conftest import post_status

    token = fake_twilio.auth_token
    with folding_app.app_context():
        _, folded = _fold("high", "high")
        (carrier,) = [a for info in folded for a in alerts_of(info.ref) if a.twilio_sid]
        carrier_id, sid = carrier.id, carrier.twilio_sid
        primary = chain_phones("KWHS")[0]
    for status, code in (("delivered", 0), ("sent", 0), ("failed", 30003), ("undelivered", 30005),
                         ("delivered", 0), ("undelivered", 30005)):
        assert post_status(folding_app, token, carrier_id, sid, status, code) == 204
    with folding_app.app_context():
        rows = [(a.status, a.twilio_status, a.error_code) for info in folded for a in alerts_of(info.ref)]
        assert sorted(rows) == [(AlertStatus.DELIVERED.value, "delivered", None),
                                (AlertStatus.FOLDED.value, None, None)], rows
        run_once("w")
        assert [_escalated_positions(info) for info in folded] == [[1], [1]]
    assert messages.folded_ack_confirmed_reply(2, 2) in post_sms(folding_app, token, primary, "1")
