"""Replies from staff phones: a number several accounts share, and a tip someone else already took."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import Alert, AlertStatus, Staff, Tip, utcnow
from notifications import messages
from tests.alerts.conftest import TipInfo, chain_phones, make_tip, post_sms, post_status, staff_by_phone
from tests.conftest import on_postgres

DESK = "+13075550111"  # CPD Dispatch's number, given to NCSO Dispatch too: one consolidated desk


def _share_the_desk() -> tuple[int, int]:
    cpd = db.session.scalar(select(Staff).where(Staff.email == "dispatch@cpd.example"))
    ncso = db.session.scalar(select(Staff).where(Staff.email == "dispatch@ncso.example"))
    ncso.phone = DESK  # the admin form accepts it: phones are not unique
    db.session.commit()
    return cpd.id, ncso.id


def _sent_to(info: TipInfo, staff_id: int, position: int, minutes_ago: int = 0) -> None:
    """The chain got as far as `staff_id` (what escalation writes and the dispatcher sends)."""
    sent_at = utcnow() - timedelta(minutes=minutes_ago)
    db.session.add(Alert(tip_id=info.id, staff_id=staff_id, chain_position=position, kind="escalation",
                         status=AlertStatus.SENT.value, sent_at=sent_at, due_at=sent_at))
    db.session.commit()


def _acknowledged_by(info: TipInfo) -> int | None:
    tip = db.session.get(Tip, info.id)
    return tip.acknowledged_by_id


def test_ack_from_a_shared_phone_acknowledges_the_tip_for_the_account_it_was_sent_to(alert_app, fake_twilio):
    with alert_app.app_context():
        cpd, ncso = _share_the_desk()
        city, rural = make_tip("KWHS", "critical"), make_tip("MES", "critical")
        _sent_to(city, cpd, 4)
        _sent_to(rural, ncso, 4)
    assert f"Acknowledged #{rural.ref}" in post_sms(alert_app, fake_twilio.auth_token, DESK, f"ACK {rural.ref}")
    assert f"Acknowledged #{city.ref}" in post_sms(alert_app, fake_twilio.auth_token, DESK, f"ACK {city.ref}")
    with alert_app.app_context():
        assert (_acknowledged_by(rural), _acknowledged_by(city)) == (ncso, cpd)


def test_reply_1_from_a_shared_phone_acknowledges_the_newest_alert_of_any_of_its_accounts(alert_app, fake_twilio):
    with alert_app.app_context():
        cpd, ncso = _share_the_desk()
        city, rural = make_tip("KWHS", "critical"), make_tip("MES", "critical")
        _sent_to(rural, ncso, 4, minutes_ago=1)
        _sent_to(city, cpd, 4, minutes_ago=5)
    assert f"Acknowledged #{rural.ref}" in post_sms(alert_app, fake_twilio.auth_token, DESK, "1")
    assert f"Acknowledged #{city.ref}" in post_sms(alert_app, fake_twilio.auth_token, DESK, "1")
    with alert_app.app_context():
        assert (_acknowledged_by(rural), _acknowledged_by(city)) == (ncso, cpd)


def test_stop_and_start_from_a_shared_phone_apply_to_every_account_with_it(alert_app, fake_twilio):
    with alert_app.app_context():
        _share_the_desk()
    post_sms(alert_app, fake_twilio.auth_token, DESK, "STOP")
    with alert_app.app_context():
        assert [s.sms_opted_out for s in db.session.scalars(select(Staff).where(Staff.phone == DESK))] == [True, True]
    post_sms(alert_app, fake_twilio.auth_token, DESK, "START")
    with alert_app.app_context():
        assert [s.sms_opted_out for s in db.session.scalars(select(Staff).where(Staff.phone == DESK))] == [False, False]


@pytest.mark.parametrize("reply", ["ACK {ref}", "1"])
def test_a_reply_for_a_tip_someone_else_already_acknowledged_says_so(alert_app, fake_twilio, reply):
    """README: for a tip someone already acknowledged the reply says so. The primary SRO, woken at night, replies
    after the backup took the tip: to a plain 1, 'Nothing to acknowledge: no open alert for this number' read as if
    the alert had been a mistake; the reply now names the tip as taken."""
    with alert_app.app_context():
        info = make_tip("KWHS", "critical")
        run_once("w")
        primary, backup = chain_phones("KWHS")[:2]
        backup_id = staff_by_phone(backup).id
        _sent_to(info, backup_id, 2)
    text = reply.format(ref=info.ref)
    assert f"Acknowledged #{info.ref}" in post_sms(alert_app, fake_twilio.auth_token, backup, text)
    late = post_sms(alert_app, fake_twilio.auth_token, primary, text)
    assert f"#{info.ref} was already acknowledged" in late and "thank you" not in late
    with alert_app.app_context():
        assert _acknowledged_by(info) == backup_id


@pytest.mark.parametrize("first", ["console", "sms"])
def test_a_1_after_taking_the_tip_oneself_says_it_is_acknowledged(alert_app, fake_twilio, first):
    """2 a.m.: the SRO opened the SMS's link, pressed Acknowledge on the case, then replied "1" to the SMS as it asks
    (or sent "1" twice, the first answer slow to come). The answer was 'Nothing to acknowledge: no open alert for
    this number', which reads as if the alert had been a mistake or the acknowledgement lost. It now says the tip
    is acknowledged, and nothing is changed."""
    from app.alerts.acknowledge import db_acknowledge_tip

    with alert_app.app_context():
        info = make_tip("KWHS", "critical")
        run_once("w")
        primary = chain_phones("KWHS")[0]
        primary_id = staff_by_phone(primary).id
        if first == "console":
            assert db_acknowledge_tip(db.session.get(Tip, info.id), staff_by_phone(primary), via="console")
            db.session.commit()
    if first == "sms":
        assert f"Acknowledged #{info.ref}" in post_sms(alert_app, fake_twilio.auth_token, primary, "1")
    again = post_sms(alert_app, fake_twilio.auth_token, primary, "1")
    assert f"#{info.ref} was already acknowledged. Nothing was changed." in again, again
    with alert_app.app_context():
        assert _acknowledged_by(info) == primary_id


def test_the_already_acknowledged_reply_fits_one_gsm7_segment():
    text = messages.already_acknowledged_reply("7kq2mx")
    assert messages.is_gsm7(text) and messages.segments(text) == 1, text


def _two_alerts_and_a_signed_1(alert_app, fake_twilio, message_sid: str):  # noqa: ANN001, ANN202
    """Two critical tips of one school, both sent to its primary SRO, and that SRO's "1" as Twilio posts it
    (parameters and signed headers), ready to be delivered more than once."""
    from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FAKE_SENDER
    from tests.fakes.twilio_webhooks import inbound_sms_params, signed_headers

    with alert_app.app_context():
        older, newer = make_tip("KWHS", "critical"), make_tip("KWHS", "critical", "threat_of_violence")
        primary = chain_phones("KWHS")[0]
        run_once("w")
    fake_twilio.wait_for(2)
    params = inbound_sms_params(primary, "1", to=FAKE_SENDER, account_sid=FAKE_ACCOUNT_SID, message_sid=message_sid)
    headers = signed_headers("http://127.0.0.1:9/hooks/twilio/sms", params, fake_twilio.auth_token)
    return older, newer, params, headers


def test_a_reply_1_delivered_twice_acknowledges_one_tip_not_the_next(alert_app, fake_twilio):
    """Twilio may post the same inbound SMS again (a retry after a slow answer), and a captured signed request
    can be replayed: neither may acknowledge the person's next open alert, which would stop its escalation."""
    older, newer, params, headers = _two_alerts_and_a_signed_1(alert_app, fake_twilio, "SM" + "5" * 32)
    replies = [alert_app.test_client().post("/hooks/twilio/sms", data=params, headers=headers,
                                            base_url="http://127.0.0.1:9").get_data(as_text=True) for _ in range(2)]
    assert f"Acknowledged #{newer.ref}" in replies[0] and f"#{newer.ref}" in replies[1]
    with alert_app.app_context():
        assert _acknowledged_by(newer) is not None
        assert _acknowledged_by(older) is None  # still escalating


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every request takes the write lock at BEGIN, so the two "
                    "deliveries already take turns")
def test_a_reply_1_delivered_twice_at_once_acknowledges_one_tip_not_the_next(alert_app, fake_twilio, monkeypatch):
    """The same SMS posted twice at the same moment (two web processes on PostgreSQL): the second looked for an
    earlier acknowledgement by this SMS before the first had committed, found none, and then, the first's tip
    being taken by then, acknowledged the person's next open alert, whose escalation stopped. The second now
    waits for the first before it looks."""
    import threading

    from app.hooks import views

    older, newer, params, headers = _two_alerts_and_a_signed_1(alert_app, fake_twilio, "SM" + "6" * 32)
    first_done, second_looked = threading.Event(), threading.Event()
    looked_up = views.acknowledged_by_sms

    def look_then_let_the_first_finish(message_sid: str) -> object:
        found = looked_up(message_sid)
        if threading.current_thread().name == "second":
            second_looked.set()
            first_done.wait(5)
        return found

    monkeypatch.setattr(views, "acknowledged_by_sms", look_then_let_the_first_finish)
    replies: dict[str, str] = {}

    def deliver(name: str) -> None:
        if name == "first":
            second_looked.wait(5)
        replies[name] = alert_app.test_client().post("/hooks/twilio/sms", data=params, headers=headers,
                                                     base_url="http://127.0.0.1:9").get_data(as_text=True)
        if name == "first":
            first_done.set()

    threads = [threading.Thread(target=deliver, args=(name,), name=name) for name in ("second", "first")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert f"#{newer.ref}" in replies["first"] and f"#{newer.ref}" in replies["second"], replies
    with alert_app.app_context():
        assert _acknowledged_by(newer) is not None
        assert _acknowledged_by(older) is None  # still escalating


@pytest.mark.parametrize("status", ["sent", "delivered"])
def test_a_reply_1_acknowledges_an_sms_whose_worker_died_before_recording_it(alert_app, fake_twilio, status):
    """The worker was killed (or lost the database) after Twilio took the SMS and before it recorded the send:
    the SRO has the alert, and Twilio's delivery report says so. "1" must acknowledge it, not answer 'Nothing to
    acknowledge' while the chain goes on escalating."""
    from app.alerts.claims import db_claim_due_alerts
    from app.alerts.sms import sms_transport, status_callback_url

    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=3600)
    with alert_app.app_context():
        info = make_tip("KWHS", "critical")
        primary = chain_phones("KWHS")[0]
        (claimed,) = db_claim_due_alerts("w", 5)
        alert_id = claimed.id
        db.session.commit()
        # What send_one does between its claim and its record of the send; then the worker dies.
        sms_transport().send(primary, "TIPLINE CRITICAL weapon", status_callback=status_callback_url(alert_id))
    (sms,) = fake_twilio.wait_for(1)
    assert post_status(alert_app, fake_twilio.auth_token, alert_id, sms.sid, status, 0) == 204
    assert f"Acknowledged #{info.ref}" in post_sms(alert_app, fake_twilio.auth_token, primary, "1")
    with alert_app.app_context():
        assert _acknowledged_by(info) == staff_by_phone(primary).id
        assert db.session.get(Alert, alert_id).twilio_sid == sms.sid


def test_ack_with_a_letter_typed_for_a_digit_of_the_reference_acknowledges_that_tip(alert_app, fake_twilio):
    """References never hold O, I or L (app/crypto/receipts.py ALPHABET), as receipt codes do not, so an SRO who
    reads "#K0Q1M5" on a lock screen at night and types "ack koqlm5" means that tip, as the receipt form already
    understands."""
    with alert_app.app_context():
        info = make_tip("KWHS", "critical")
        db.session.get(Tip, info.id).ref = "K0Q1M5"
        db.session.commit()
        run_once("w")
        primary = chain_phones("KWHS")[0]
    assert "Acknowledged #K0Q1M5" in post_sms(alert_app, fake_twilio.auth_token, primary, "ack koqlm5")
    with alert_app.app_context():
        assert _acknowledged_by(info) == staff_by_phone(primary).id


def test_yes_from_someone_who_never_opted_out_says_how_to_acknowledge(alert_app, fake_twilio):
    """"Yes" is one of Twilio's START words, and also what an SRO woken by an alert may answer. From a number that
    never replied STOP it turned nothing back on, yet answered 'TIPLINE alerts are on again for this number' (and
    wrote an opt-in event for each account), and the chain went on to the backup with the SRO none the wiser. It
    now answers with how to acknowledge, and records nothing."""
    from app.models import AuditEvent

    with alert_app.app_context():
        info = make_tip("KWHS", "critical")
        run_once("w")
        primary = chain_phones("KWHS")[0]
    reply = post_sms(alert_app, fake_twilio.auth_token, primary, "Yes")
    assert "on again" not in reply and "Reply ACK and the reference, or 1" in reply
    with alert_app.app_context():
        assert _acknowledged_by(info) is None
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "staff.sms_opted_in")) is None


@pytest.mark.parametrize("first_answer", ["already_acknowledged", "nothing_to_acknowledge"])
def test_a_reply_1_that_took_nothing_delivered_again_does_not_take_a_newer_alert(alert_app, fake_twilio,
                                                                                first_answer):
    """A "1" that acknowledged nothing (someone else had taken the tip, or nothing was open) and was delivered
    again later (a captured signed request replayed, or Twilio posting it again) acknowledged whatever alert had
    reached the phone since: a tip the SRO never read stopped escalating. The same SMS now gets the same answer
    again and changes nothing."""
    from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FAKE_SENDER
    from tests.fakes.twilio_webhooks import inbound_sms_params, signed_headers

    with alert_app.app_context():
        primary, backup = chain_phones("KWHS")[:2]
        if first_answer == "already_acknowledged":
            taken = make_tip("KWHS", "critical")
            run_once("w")
            fake_twilio.wait_for(1)
            from app.alerts.acknowledge import db_acknowledge_tip

            db_acknowledge_tip(db.session.get(Tip, taken.id), staff_by_phone(backup), via="console")
            db.session.commit()
    params = inbound_sms_params(primary, "1", to=FAKE_SENDER, account_sid=FAKE_ACCOUNT_SID, message_sid="SM" + "7" * 32)
    headers = signed_headers("http://127.0.0.1:9/hooks/twilio/sms", params, fake_twilio.auth_token)

    def deliver() -> str:
        return alert_app.test_client().post("/hooks/twilio/sms", data=params, headers=headers,
                                            base_url="http://127.0.0.1:9").get_data(as_text=True)

    answer = deliver()
    if first_answer == "already_acknowledged":
        assert f"#{taken.ref} was already acknowledged" in answer
    else:
        assert messages.nothing_to_ack_reply() in answer
    with alert_app.app_context():
        unread = make_tip("KWHS", "critical", "threat_of_violence")
        run_once("w")
    fake_twilio.wait_for(2 if first_answer == "already_acknowledged" else 1)
    again = deliver()
    with alert_app.app_context():
        assert _acknowledged_by(unread) is None  # still escalating
    assert again == answer
