"""A delivery the carrier reports failed: every tip that SMS stood for escalates, and no reply acknowledges it."""

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

import app.alerts.dispatcher as dispatcher
import app.alerts.planning as planning
from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import Alert, AlertStatus, Tip, utcnow
from tests.alerts.conftest import TipInfo, alerts_of, chain_phones, make_tip, post_sms, post_status
from tests.conftest import on_postgres

IN_HOURS = datetime(2026, 11, 23, 17, 0)  # a Monday, 10:00 in Casper: medium tips are due at once


def _fold_two_tips(urgency: str) -> tuple[TipInfo, TipInfo]:
    """One SMS of an incident, then two more tips of it sent as one "+2 related tips" SMS."""
    make_tip("KWHS", urgency, "bullying")
    run_once("w")
    second, third = make_tip("KWHS", urgency, "bullying"), make_tip("KWHS", urgency, "bullying")
    assert run_once("w").get("postponed") == 2
    db.session.execute(update(Alert).where(Alert.kind == "folded").values(due_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    return second, third


@pytest.mark.parametrize("urgency", ["medium", "high"])
def test_tips_folded_into_an_undelivered_sms_escalate_with_it(alert_app, fake_twilio, monkeypatch, urgency):
    alert_app.config.update(ALERT_ACK_TIMEOUT_HIGH_S=3600)  # only the failure can escalate during the test
    monkeypatch.setattr(planning, "utcnow", lambda: IN_HOURS)
    with alert_app.app_context():
        second, third = _fold_two_tips(urgency)
        run_once("w")
        assert "+2 related tips" in fake_twilio.messages[-1].body
        (carrier,) = [a for a in alerts_of(second.ref) + alerts_of(third.ref) if a.twilio_sid]
        carrier_id, sid = carrier.id, carrier.twilio_sid
    assert post_status(alert_app, fake_twilio.auth_token, carrier_id, sid, "undelivered", 30003) == 204
    with alert_app.app_context():
        run_once("w")
        for info in (second, third):
            rows = [(a.chain_position, a.status) for a in alerts_of(info.ref)]
            assert rows[0] == (1, AlertStatus.FAILED.value) and rows[1][0] == 2, rows


def _folded_sms_that_fails_before_it_is_recorded(alert_app, fake_twilio, monkeypatch, code: int):
    """Two high tips waiting to go as one "+2 related tips" SMS (their acknowledgement an hour away), and the
    worker's transport, until monkeypatch.undo(): Twilio takes each SMS and reports it failed with `code` before
    the worker has recorded the send (a fast report, or the worker waiting for a locked database)."""
    alert_app.config.update(ALERT_ACK_TIMEOUT_HIGH_S=3600)
    with alert_app.app_context():
        folded = _fold_two_tips("high")
        real = dispatcher.sms_transport()

    class FailsBeforeTheSidIsRecorded:
        def send(self, to, body, *, status_callback, validity_period_s=None):
            result = real.send(to, body, status_callback=status_callback, validity_period_s=validity_period_s)
            alert_id = int(parse_qs(urlsplit(status_callback).query)["alert"][0])
            assert post_status(alert_app, fake_twilio.auth_token, alert_id, result.sid, "failed", code,
                               callback_url=status_callback) == 204
            return result

    monkeypatch.setattr(dispatcher, "sms_transport", FailsBeforeTheSidIsRecorded)
    return folded


def test_a_failure_callback_that_beats_the_folded_send_still_escalates_its_folded_tips(alert_app, fake_twilio,
                                                                                         monkeypatch):
    second, third = _folded_sms_that_fails_before_it_is_recorded(alert_app, fake_twilio, monkeypatch, 30005)
    with alert_app.app_context():
        run_once("w")
        monkeypatch.undo()
        run_once("w")
        for info in (second, third):
            assert [(a.chain_position, a.status) for a in alerts_of(info.ref)][0] == (1, AlertStatus.FAILED.value)
            assert [a.chain_position for a in alerts_of(info.ref)] == [1, 2]


def test_reply_1_never_acknowledges_a_tip_whose_sms_was_undelivered(alert_app, fake_twilio):
    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=3600)  # no timeout escalation during the test
    with alert_app.app_context():
        read = make_tip("KWHS", "critical", "weapon")
        run_once("w")
        unseen = make_tip("KWHS", "critical", "threat_of_violence")
        run_once("w")
        primary = chain_phones("KWHS")[0]
        (row,) = alerts_of(unseen.ref)
        row_id, sid = row.id, row.twilio_sid
    # The newer SMS never reached the phone; the primary answers the one they read, as it says: "Reply 1".
    assert post_status(alert_app, fake_twilio.auth_token, row_id, sid, "undelivered", 30007) == 204
    token = fake_twilio.auth_token
    assert f"Acknowledged #{read.ref}" in post_sms(alert_app, token, primary, "1")
    assert f"#{read.ref} was already acknowledged" in post_sms(alert_app, token, primary, "1")
    with alert_app.app_context():
        assert db.session.get(Tip, unseen.id).acknowledged_at is None
    # Naming the tip is deliberate (they learned the reference somewhere): that still acknowledges it.
    assert f"Acknowledged #{unseen.ref}" in post_sms(alert_app, token, primary, f"ACK {unseen.ref}")


@pytest.mark.parametrize(("code", "repeated"),
                         [("30500", True), ("undelivered", True), ("30006", False), ("no_phone", False)])
def test_the_last_person_is_tried_again_after_a_passing_failure(alert_app, code, repeated):
    """At the end of the chain a carrier's passing trouble must not end the repeats: the last person is tried
    again after a timeout. A number that failed for good is not (it would only burn the repeats)."""
    from app.alerts.escalation import db_next_alert
    from app.alerts.planning import ack_timeout_for, chain_of

    with alert_app.app_context():
        info = make_tip("DMMS", "critical")
        tip = db.session.get(Tip, info.id)
        assert tip is not None
        position, staff = chain_of(tip.school_id)[-1]
        last = Alert(tip_id=tip.id, staff_id=staff.id, chain_position=position, kind="escalation",
                     status=AlertStatus.FAILED.value, error_code=code, repeat=0)
        now = utcnow()
        following = db_next_alert(last, tip, now)
        if not repeated:
            assert following is None
            return
        assert following is not None and following.kind == "repeat" and following.staff_id == staff.id
        assert following.due_at == following.created_at == now + ack_timeout_for("critical")


@pytest.mark.parametrize("code", [30034, 30032, 30002])
def test_a_delivery_refused_for_our_sender_is_retried_not_failed_through_the_chain(alert_app, fake_twilio, monkeypatch,
                                                                                  caplog, code):
    """An unregistered or unverified sender, or a suspended account, is reported in the status callback, after
    Twilio took the message. Every number fails alike, so the alert is sent again to the same person once the
    operator has fixed it, instead of failing the whole chain in seconds."""
    monkeypatch.setattr(dispatcher, "backoff_for", lambda failures: timedelta(0))
    with alert_app.app_context():
        tip = make_tip("NCHS", "critical")
        primary = chain_phones("NCHS")[0]
        run_once("w")
        (alert,) = alerts_of(tip.ref)
        alert_id, sid = alert.id, alert.twilio_sid
    assert post_status(alert_app, fake_twilio.auth_token, alert_id, sid, "failed", code) == 204
    assert any("OPERATOR:" in r.getMessage() for r in caplog.records)
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert (alert.status, alert.send_failures, alert.error_code) == (AlertStatus.PENDING.value, 1, str(code))
        assert run_once("w").get("sent") == 1
        (alert,) = alerts_of(tip.ref)  # nobody else was told in its place
        assert alert.status == AlertStatus.SENT.value and alert.twilio_sid != sid
    assert [m.to for m in fake_twilio.wait_for(2)] == [primary, primary]


def test_tips_folded_into_a_refused_delivery_go_out_again_with_it(alert_app, fake_twilio, monkeypatch):
    alert_app.config.update(ALERT_ACK_TIMEOUT_HIGH_S=3600)
    monkeypatch.setattr(planning, "utcnow", lambda: IN_HOURS)
    monkeypatch.setattr(dispatcher, "backoff_for", lambda failures: timedelta(0))
    with alert_app.app_context():
        second, third = _fold_two_tips("high")
        run_once("w")
        (carrier,) = [a for a in alerts_of(second.ref) + alerts_of(third.ref) if a.twilio_sid]
        carrier_id, sid = carrier.id, carrier.twilio_sid
    assert post_status(alert_app, fake_twilio.auth_token, carrier_id, sid, "undelivered", 30034) == 204
    with alert_app.app_context():
        rows = [(a.status, a.sent_at) for a in alerts_of(second.ref) + alerts_of(third.ref)]
        assert rows == [(AlertStatus.PENDING.value, None)] * 2  # no "1" can acknowledge what nobody received
        run_once("w")
        assert "+2 related tips" in fake_twilio.messages[-1].body
        rows = [(a.chain_position, a.status) for a in alerts_of(second.ref) + alerts_of(third.ref)]
        assert sorted(rows) == [(1, AlertStatus.FOLDED.value), (1, AlertStatus.SENT.value)], rows
    assert len({m.to for m in fake_twilio.messages}) == 1


def test_quarterly_report_counts_an_escalation_sent_folded_as_escalated(alert_app, fake_twilio):
    """Both tips of an undelivered "+2 related tips" SMS escalate; the second one's escalation goes folded into
    the first one's SMS (kind "folded"), and the report must still count that tip as escalated."""
    from app.reports.figures import db_quarter_figures, db_row_keys
    from app.reports.quarters import Quarter

    alert_app.config.update(ALERT_ACK_TIMEOUT_HIGH_S=3600)  # only the failure escalates during the test
    with alert_app.app_context():
        second, third = _fold_two_tips("high")
        run_once("w")
        (carrier,) = [a for a in alerts_of(second.ref) + alerts_of(third.ref) if a.twilio_sid]
        carrier_id, sid = carrier.id, carrier.twilio_sid
    assert post_status(alert_app, fake_twilio.auth_token, carrier_id, sid, "undelivered", 30003) == 204
    with alert_app.app_context():
        run_once("w")
        escalations = [a.kind for info in (second, third) for a in alerts_of(info.ref)[1:]]
        assert sorted(escalations) == ["escalation", "folded"], escalations  # the case this test is about
        quarter = Quarter.containing(utcnow())
        categories, outcomes = db_row_keys([quarter], None)
        high = db_quarter_figures(quarter, None, 1, categories, outcomes).response["high"]
        # Both tips needed an escalation; one SMS has gone out, the folded one waits behind it (a minute).
        assert (high.tips, high.tips_escalated, high.escalation_sms) == (3, 2, 1)
        waiting = [a for info in (second, third) for a in alerts_of(info.ref)[1:] if a.kind == "folded"]
        assert [a.status for a in waiting] == [AlertStatus.PENDING.value]
        waiting[0].due_at = utcnow()
        db.session.commit()
        run_once("w")
        high = db_quarter_figures(quarter, None, 1, categories, outcomes).response["high"]
        assert (high.tips, high.tips_escalated, high.escalation_sms) == (3, 2, 2)


def test_a_refused_delivery_callback_that_beats_the_folded_send_sends_its_folded_tips_again(alert_app, fake_twilio,
                                                                                            monkeypatch):
    """Twilio reports that it refused our sender (30034) before the worker recorded the "+2 related tips" SMS (a
    fast report, or the worker waiting for a locked database). The SMS went to nobody: it is sent again with both
    tips, as when the report comes later. Before, the late record marked the tips told (folded, with a send time
    that a "1" could acknowledge) and the SMS went out again for one tip only."""
    monkeypatch.setattr(dispatcher, "backoff_for", lambda failures: timedelta(0))
    second, third = _folded_sms_that_fails_before_it_is_recorded(alert_app, fake_twilio, monkeypatch, 30034)
    with alert_app.app_context():
        run_once("w")
        monkeypatch.undo()
        rows = [(a.status, a.sent_at, a.twilio_sid) for a in alerts_of(second.ref) + alerts_of(third.ref)]
        assert rows == [(AlertStatus.PENDING.value, None, None)] * 2, rows
        run_once("w")
        assert "+2 related tips" in fake_twilio.messages[-1].body
        rows = [a.status for a in alerts_of(second.ref) + alerts_of(third.ref)]
        assert sorted(rows) == [AlertStatus.FOLDED.value, AlertStatus.SENT.value], rows


@pytest.mark.skipif(not on_postgres(), reason="on SQLite the callback takes the write lock at BEGIN, before it reads")
def test_a_failure_callback_racing_the_record_of_a_folded_send_still_escalates_its_folded_tips(alert_app, fake_twilio,
                                                                                               monkeypatch):
    """PostgreSQL: the "+2 related tips" SMS failed and its report read the row before the worker committed it as
    sent, then waited for the worker's row lock. It wrote its own send time over the worker's, and the tips folded
    into the SMS, tied to it by that time, were no longer found: they waited for their acknowledgement timeout
    (30 minutes for a high tip) instead of escalating at once."""
    import threading

    alert_app.config.update(ALERT_ACK_TIMEOUT_HIGH_S=3600)
    with alert_app.app_context():
        second, third = _fold_two_tips("high")
    record = dispatcher.db_record_sent
    callbacks: list[threading.Thread] = []

    def record_while_a_callback_waits(alert_id, owner, body, companion_ids, sid, twilio_status, **kwargs):
        record(alert_id, owner, body, companion_ids, sid, twilio_status, **kwargs)  # not committed: the row is locked
        callback = threading.Thread(target=post_status,
                                    args=(alert_app, fake_twilio.auth_token, alert_id, sid, "undelivered", 30003))
        callback.start()
        callbacks.append(callback)
        callback.join(1.0)  # it has read the row as "sending" and now waits for the lock
        assert callback.is_alive()

    monkeypatch.setattr(dispatcher, "db_record_sent", record_while_a_callback_waits)
    with alert_app.app_context():
        run_once("w")
    callbacks[0].join(10)
    monkeypatch.undo()
    with alert_app.app_context():
        run_once("w")
        for info in (second, third):
            rows = [(a.chain_position, a.status) for a in alerts_of(info.ref)]
            assert rows[0] == (1, AlertStatus.FAILED.value) and [r[0] for r in rows] == [1, 2], rows


def test_a_chain_never_ends_on_another_tips_failure_while_its_own_sms_went_out(alert_app):
    """Every number of the chain had failed for good for another tip when this critical tip's last SMS came to its
    timeout, sent and unanswered. That other tip's verdict ended this chain: no repeat, nobody paged again, and,
    its own newest SMS not failed, not counted among the unreached tips on /healthz. Its own SMS decides: the
    last person gets the repeat, and only when that fails for good too does the chain end, counted as unreached."""
    from app.alerts.escalation import count_unreached_tips, db_next_alert
    from app.alerts.planning import chain_of

    with alert_app.app_context():
        tip = db.session.get(Tip, make_tip("DMMS", "critical").id)
        other = db.session.get(Tip, make_tip("DMMS", "high").id)
        assert tip is not None and other is not None
        db.session.execute(update(Alert).values(status=AlertStatus.CANCELLED.value))
        chain = chain_of(tip.school_id)
        now = utcnow()
        position, last_staff = chain[-1]
        own = Alert(tip_id=tip.id, staff_id=last_staff.id, chain_position=position, kind="escalation",
                    status=AlertStatus.SENT.value, sent_at=now - timedelta(minutes=5), twilio_sid="SMown")
        db.session.add(own)
        for place, staff in chain:  # afterwards, the other tip's SMS to each of them failed for good
            db.session.add(Alert(tip_id=other.id, staff_id=staff.id, chain_position=place, kind="escalation",
                                 status=AlertStatus.FAILED.value, error_code="30005", twilio_sid=f"SM{place}",
                                 sent_at=now - timedelta(minutes=4), due_at=now - timedelta(minutes=3)))
        db.session.flush()

        repeat = db_next_alert(own, tip, now)
        assert repeat is not None, "the chain ended on another tip's failure"
        assert (repeat.kind, repeat.staff_id, repeat.repeat, repeat.due_at) == ("repeat", last_staff.id, 1, now)

        # The repeat fails for good too: now the chain ends on its own SMS, and health counts the tip unreached.
        own.escalated_at = now
        repeat.status, repeat.error_code, repeat.sent_at = AlertStatus.FAILED.value, "30005", now
        db.session.add(repeat)
        db.session.flush()
        assert db_next_alert(repeat, tip, now + timedelta(minutes=1)) is None
        repeat.escalated_at = now + timedelta(minutes=1)
        db.session.flush()
        assert count_unreached_tips() == 1
        db.session.rollback()
