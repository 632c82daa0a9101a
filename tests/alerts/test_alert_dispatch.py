"""Sending, acknowledging and escalating, with the real twilio client against the fake Twilio."""

import time

import pytest

from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import AlertStatus, Tip
from tests.alerts.conftest import CLOSED_PORT_URL, alerts_of, chain_phones, make_tip, staff_by_phone
from tests.fakes.fake_twilio import Fault, send_inbound_sms
from tests.support.live_server import LiveServer


def _round(app):
    with app.app_context():
        return run_once("test-worker")


def test_critical_alert_reaches_the_primary_sro_with_callback_and_validity(alert_app, fake_twilio):
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        primary = chain_phones("KWHS")[0]
    assert _round(alert_app)["sent"] == 1
    (sms,) = fake_twilio.wait_for(1)
    assert sms.to == primary
    assert f"#{tip.ref}" in sms.body and "KWHS" in sms.body and "Reply 1 or ACK" in sms.body
    assert sms.status_callback == f"{CLOSED_PORT_URL}/hooks/twilio/status?alert=1&send=1"  # its first claim
    assert sms.validity_period == str(1)  # the critical acknowledgement timeout of this app
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.SENT.value and alert.twilio_sid == sms.sid


def test_ack_by_sms_stops_the_escalation(alert_app, fake_twilio):
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        primary = chain_phones("KWHS")[0]
    with LiveServer(alert_app) as url:
        _round(alert_app)
        fake_twilio.wait_for(1)
        response = send_inbound_sms(f"{url}/hooks/twilio/sms", primary, "1", fake_twilio.auth_token)
        assert response.status == 200 and f"Acknowledged #{tip.ref}" in response.text
        time.sleep(1.2)  # past the acknowledgement timeout
        _round(alert_app)
    assert len(fake_twilio.messages) == 1
    with alert_app.app_context():
        acked = db.session.get(Tip, tip.id)
        assert acked.status == "acknowledged" and acked.acknowledged_by_id == staff_by_phone(primary).id
        assert {a.status for a in alerts_of(tip.ref)} == {AlertStatus.ACKNOWLEDGED.value}


def test_without_a_reply_the_whole_chain_is_told_in_order(alert_app, fake_twilio):
    with alert_app.app_context():
        tip = make_tip("DMMS", "critical")
        chain = chain_phones("DMMS")
    assert len(chain) == 4
    for expected in range(1, 6):  # four people, then one repeat to the last (ALERT_MAX_REPEATS=1)
        deadline = time.monotonic() + 5
        while len(fake_twilio.messages) < expected and time.monotonic() < deadline:
            _round(alert_app)
            time.sleep(0.2)
    time.sleep(1.2)
    _round(alert_app)
    assert [m.to for m in fake_twilio.messages] == chain + [chain[-1]]
    assert "ESCALATED" in fake_twilio.messages[1].body and "REPEAT 1" in fake_twilio.messages[4].body
    with alert_app.app_context():
        assert [a.chain_position for a in alerts_of(tip.ref)] == [1, 2, 3, 4, 4]


def test_medium_tip_at_night_waits_and_low_sends_nothing(alert_app, fake_twilio, monkeypatch):
    from datetime import datetime

    import app.alerts.planning as planning

    monkeypatch.setattr(planning, "utcnow", lambda: datetime(2026, 11, 25, 8, 0))  # 01:00 in Casper
    with alert_app.app_context():
        make_tip("KWHS", "medium", "bullying")
        make_tip("KWHS", "low", "other")
    monkeypatch.setattr("app.alerts.claims.utcnow", lambda: datetime(2026, 11, 25, 8, 5))
    _round(alert_app)
    assert fake_twilio.messages == []
    monkeypatch.setattr("app.alerts.claims.utcnow", lambda: datetime(2026, 11, 25, 14, 31))  # 07:31 local
    _round(alert_app)
    assert len(fake_twilio.wait_for(1)) == 1


def test_transient_faults_retry_until_delivered(alert_app, fake_twilio, monkeypatch):
    monkeypatch.setattr("app.alerts.dispatcher.backoff_for", lambda attempts: __import__("datetime").timedelta(0))
    fake_twilio.script(Fault.server_error(), Fault.too_many_requests(), Fault.drop_connection(),
                       Fault.server_error(503))
    with alert_app.app_context():
        tip = make_tip("NCHS", "high")
    outcomes = [_round(alert_app) for _ in range(5)]
    assert sum(o.get("retry", 0) for o in outcomes) == 4
    assert len(fake_twilio.wait_for(1)) == 1
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.SENT.value and alert.attempts == 5


def test_backoff_grows_with_failed_sends_not_with_claims_of_a_killed_worker(alert_app, fake_twilio, monkeypatch):
    """A worker killed after claiming a row never sent it: nobody refused the SMS, so the row's next wait after
    a real failure is the first failure's, not one stretched by the claims that came to nothing."""
    from datetime import timedelta

    from app.alerts.claims import db_claim_due_alerts
    from app.models import utcnow

    asked: list[int] = []
    monkeypatch.setattr("app.alerts.dispatcher.backoff_for", lambda failures: asked.append(failures) or timedelta(0))
    with alert_app.app_context():
        tip = make_tip("NCHS", "high")
        for minutes, dead in ((0, "killed-1"), (30, "killed-2")):  # claimed; the worker died before sending
            assert len(db_claim_due_alerts(dead, 10, now=utcnow() + timedelta(minutes=minutes))) == 1
            db.session.commit()
        (alert,) = alerts_of(tip.ref)
        assert alert.attempts == 2 and alert.send_failures == 0
        alert.lease_until = utcnow() - timedelta(seconds=1)  # the dead worker's lease has run out
        db.session.commit()
    fake_twilio.script(Fault.server_error(), Fault.too_many_requests())
    assert _round(alert_app).get("retry") == 1
    assert _round(alert_app).get("retry") == 1
    assert _round(alert_app).get("sent") == 1
    assert asked == [1, 2]
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.SENT.value
        assert (alert.attempts, alert.send_failures) == (5, 2)


def test_alerts_status_shows_the_rows_retrying_after_failed_sends(alert_app, fake_twilio):
    fake_twilio.script(Fault.too_many_requests())
    with alert_app.app_context():
        make_tip("NCHS", "high")
        make_tip("KWHS", "high")
    assert _round(alert_app) == {"retry": 1, "sent": 1, "claimed": 2}
    output = alert_app.test_cli_runner().invoke(args=["alerts", "status"]).output
    assert "retrying after failed sends: 1 (last error 20429, up to 1 failures)" in output
    assert "pending        1" in output and "sent           1" in output


def test_a_row_postponed_to_fold_after_a_failed_send_is_not_listed_as_retrying(alert_app, fake_twilio, monkeypatch):
    from datetime import timedelta

    monkeypatch.setattr("app.alerts.dispatcher.backoff_for", lambda failures: timedelta(0))
    fake_twilio.script(Fault.too_many_requests())  # the first tip's SMS fails; the second's goes through
    with alert_app.app_context():
        first = make_tip("NCHS", "high", "threat_of_violence")
        make_tip("NCHS", "high", "threat_of_violence")
    assert _round(alert_app) == {"retry": 1, "sent": 1, "claimed": 2}
    assert _round(alert_app).get("postponed") == 1  # within a minute of the incident's last SMS: folded
    with alert_app.app_context():
        (alert,) = alerts_of(first.ref)
        assert (alert.status, alert.kind) == (AlertStatus.PENDING.value, "folded")
        assert alert.error_code is None and alert.send_failures == 0
    assert "retrying" not in alert_app.test_cli_runner().invoke(args=["alerts", "status"]).output


def test_timeout_is_transient(alert_app, fake_twilio, monkeypatch):
    monkeypatch.setattr("app.alerts.dispatcher.backoff_for", lambda attempts: __import__("datetime").timedelta(0))
    fake_twilio.script(Fault.delay(1.5))  # longer than the client's 1 s timeout
    with alert_app.app_context():
        tip = make_tip("NCHS", "high")
    assert _round(alert_app).get("retry") == 1
    with alert_app.app_context():
        assert alerts_of(tip.ref)[0].status == AlertStatus.PENDING.value


def test_opted_out_number_fails_at_once_and_the_backup_is_told(alert_app, fake_twilio):
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        primary, backup = chain_phones("KWHS")[:2]
    fake_twilio.reject_number(primary, 21610)
    _round(alert_app)
    _round(alert_app)
    assert [m.to for m in fake_twilio.wait_for(1)] == [backup]
    with alert_app.app_context():
        first, second = alerts_of(tip.ref)
        assert first.status == AlertStatus.FAILED.value and first.error_code == "21610"
        assert second.chain_position == 2
        assert staff_by_phone(primary).sms_opted_out is True


@pytest.mark.parametrize("primary_is", ["opted_out_before", "refused_by_twilio"])
def test_the_backup_told_first_is_not_told_the_primary_did_not_answer(alert_app, fake_twilio, primary_is):
    """The primary SRO could not be reached at all (opted out, or Twilio refused the number): the backup is the first
    person told, and 'ESCALATED (no ack)' would say the primary had the alert and let it go."""
    with alert_app.app_context():
        primary, backup = chain_phones("KWHS")[:2]
        if primary_is == "opted_out_before":
            staff_by_phone(primary).sms_opted_out = True
            db.session.commit()
        tip = make_tip("KWHS", "critical")
    fake_twilio.reject_number(primary, 21610)
    _round(alert_app)
    _round(alert_app)
    (sms,) = fake_twilio.wait_for(1)
    assert sms.to == backup and f"#{tip.ref}" in sms.body and "ESCALATED" not in sms.body, sms.body


def test_undelivered_status_callback_escalates(alert_app, fake_twilio):
    with alert_app.app_context():
        tip = make_tip("RHS", "critical")
        primary, backup = chain_phones("RHS")[:2]
    fake_twilio.set_outcome(primary, "undelivered", 30005)
    with LiveServer(alert_app):
        _round(alert_app)
        fake_twilio.wait_for_callbacks(2)
        deadline = time.monotonic() + 5
        while len(fake_twilio.messages) < 2 and time.monotonic() < deadline:
            _round(alert_app)
            time.sleep(0.1)
    assert [m.to for m in fake_twilio.messages] == [primary, backup]
    with alert_app.app_context():
        assert alerts_of(tip.ref)[0].error_code == "30005"


def test_delivered_status_callback_is_recorded(alert_app, fake_twilio):
    with alert_app.app_context():
        tip = make_tip("CCA", "high")
    with LiveServer(alert_app):
        _round(alert_app)
        fake_twilio.wait_for_callbacks(2)
        time.sleep(0.2)
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.DELIVERED.value and alert.delivered_at is not None


def test_related_tips_are_folded_into_one_sms(alert_app, fake_twilio):
    with alert_app.app_context():
        make_tip("NCHS", "high", "threat_of_violence")
    _round(alert_app)
    with alert_app.app_context():
        for _ in range(3):
            make_tip("NCHS", "high", "threat_of_violence")
        critical = make_tip("NCHS", "critical", "threat_of_violence")
    _round(alert_app)
    # The critical one goes at once; the three high ones wait for the one-minute fold.
    assert len(fake_twilio.messages) == 2 and f"#{critical.ref}" in fake_twilio.messages[1].body
    from datetime import timedelta

    from app.models import utcnow

    later = utcnow() + timedelta(seconds=61)
    import app.alerts.claims as claims
    import app.alerts.dispatcher as dispatcher

    orig = claims.utcnow
    claims.utcnow = dispatcher.utcnow = lambda: later
    try:
        _round(alert_app)
    finally:
        claims.utcnow = dispatcher.utcnow = orig
    assert len(fake_twilio.messages) == 3
    assert "+3 related tips at NCHS (HIGH threat)" in fake_twilio.messages[2].body


def test_a_folded_sms_says_the_highest_urgency_of_the_tips_it_stands_for(alert_app, fake_twilio, monkeypatch):
    """The "+N related tips" SMS took the urgency of the one row that carried it, which may be the least urgent."""
    from datetime import timedelta

    import app.alerts.claims as claims
    import app.alerts.dispatcher as dispatcher
    from app.models import utcnow

    with alert_app.app_context():
        make_tip("NCHS", "high", "threat_of_violence")
    _round(alert_app)
    with alert_app.app_context():
        refs = [make_tip("NCHS", "high", "threat_of_violence").ref for _ in range(3)]
    _round(alert_app)  # all three wait for the one-minute fold
    with alert_app.app_context():
        for ref in refs[:2]:  # lowered in the console while they waited: still SMS urgencies
            db.session.scalar(db.select(Tip).where(Tip.ref == ref)).label_urgency = "medium"
        later = utcnow() + timedelta(seconds=61)
        # The most urgent due row is claimed first and would carry the SMS: the high one is due a moment after.
        (high,) = alerts_of(refs[2])
        high.due_at = later + timedelta(seconds=1)
        db.session.commit()
    monkeypatch.setattr(claims, "utcnow", lambda: later)
    monkeypatch.setattr(dispatcher, "utcnow", lambda: later)
    _round(alert_app)
    assert len(fake_twilio.messages) == 2
    assert "+3 related tips at NCHS (HIGH threat)" in fake_twilio.messages[1].body
    with alert_app.app_context():
        (carrier,) = [a for ref in refs for a in alerts_of(ref) if a.status != AlertStatus.FOLDED.value]
        assert db.session.get(Tip, carrier.tip_id).label_urgency == "medium"  # the carrier alone says MEDIUM


def test_our_account_refused_keeps_the_alert_and_sends_it_once_fixed(alert_app, fake_twilio, monkeypatch, caplog):
    """A wrong auth token (or a suspended account) fails every number alike: the alert is not failed through the
    whole chain in seconds, it is retried, the operator is told, and it goes out once the settings work."""
    monkeypatch.setattr("app.alerts.dispatcher.backoff_for", lambda failures: __import__("datetime").timedelta(0))
    fake_twilio.script(Fault.rejected(20003, status=401), Fault.rejected(20003, status=401))
    with alert_app.app_context():
        tip = make_tip("NCHS", "critical")
    assert _round(alert_app).get("retry") == 1
    assert _round(alert_app).get("retry") == 1
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)  # nobody else was alerted in its place, and it is not given up
        assert (alert.status, alert.send_failures, alert.error_code) == (AlertStatus.PENDING.value, 2, "20003")
    assert any("OPERATOR: Twilio refused our account or sender" in r.getMessage() for r in caplog.records)
    assert _round(alert_app).get("sent") == 1  # the settings work again
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.SENT.value
    assert len(fake_twilio.wait_for(1)) == 1


def test_our_sender_queue_full_is_retried_not_failed_through_the_chain(alert_app, fake_twilio, monkeypatch):
    """21611: our From number has more than its queue holds. Every number fails alike until the queue drains, so
    the alert waits and retries instead of failing the primary, the backup and the rest in seconds."""
    monkeypatch.setattr("app.alerts.dispatcher.backoff_for", lambda failures: __import__("datetime").timedelta(0))
    fake_twilio.script(Fault.rejected(21611))
    with alert_app.app_context():
        tip = make_tip("NCHS", "critical")
        primary = chain_phones("NCHS")[0]
    assert _round(alert_app).get("retry") == 1
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert (alert.status, alert.error_code) == (AlertStatus.PENDING.value, "21611")
    assert _round(alert_app).get("sent") == 1
    assert [m.to for m in fake_twilio.wait_for(1)] == [primary]


def test_a_twilio_that_does_not_answer_holds_a_round_for_one_timeout_not_one_per_alert(alert_app, fake_twilio):
    """Twilio not answering: trying every due row would wait TWILIO_TIMEOUT_S for each (50 rows, 8 minutes at the
    default) while no overdue alert escalates and no new tip is claimed. The round claims no more once it has spent
    one timeout: the rows not tried stay in the outbox, due and claimed by nobody, for the next round."""
    from app.models import utcnow

    with alert_app.app_context():
        tips = [make_tip(school, "critical") for school in ("KWHS", "NCHS", "RHS")]
    fake_twilio.script(*[Fault.delay(1.5)] * 3)  # longer than the client's timeout of 1 s
    started = time.monotonic()
    counts = _round(alert_app)
    assert counts == {"retry": 1, "budget_spent": 1, "claimed": 1} and time.monotonic() - started < 2.5, counts
    with alert_app.app_context():
        waiting = [row for tip in tips for row in alerts_of(tip.ref) if row.send_failures == 0]
        assert len(waiting) == 2
        assert all(row.status == AlertStatus.PENDING.value and row.lease_owner is None and row.due_at <= utcnow()
                   for row in waiting)


def test_after_a_long_outage_the_last_person_gets_one_sms_not_one_per_timeout_at_once(alert_app, fake_twilio,
                                                                                         monkeypatch):
    """Twilio down for longer than the whole chain and its repeats: each repeat to the last person used to wait in
    the outbox beside the one before it, and the person got them all in the same minute when Twilio came back.
    A repeat stands for the last person's SMS that has not gone out yet."""
    alert_app.config.update(ALERT_MAX_REPEATS=3)
    monkeypatch.setattr("app.alerts.dispatcher.backoff_for", lambda failures: __import__("datetime").timedelta(0))
    fake_twilio.random_faults, fake_twilio.fail_rate = (Fault.server_error(503),), 1.0  # the outage
    with alert_app.app_context():
        tip = make_tip("DMMS", "critical")
        chain = chain_phones("DMMS")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the chain and its three repeats run out, one timeout (1 s) each
        _round(alert_app)
        with alert_app.app_context():
            if max(a.repeat for a in alerts_of(tip.ref)) == 3:
                break
        time.sleep(0.3)
    fake_twilio.fail_rate = 0.0  # Twilio is back
    _round(alert_app)
    sent = [m.to for m in fake_twilio.messages]
    assert sorted(sent) == sorted(chain), sent  # each person once, the last one too
    last = [m.body for m in fake_twilio.messages if m.to == chain[-1]]
    assert "REPEAT 3" in last[0]


def test_a_proxy_refusing_the_way_to_twilio_is_retried_not_failed_through_the_chain(alert_app, fake_twilio,
                                                                                     monkeypatch):
    monkeypatch.setattr("app.alerts.dispatcher.backoff_for", lambda failures: __import__("datetime").timedelta(0))
    # Three rounds on a loaded machine may outlast the fixture's 1 s timeout, which would rightly escalate.
    alert_app.config["ALERT_ACK_TIMEOUT_CRITICAL_S"] = 60
    fake_twilio.script(Fault.proxy_page(403), Fault.proxy_page(407))
    with alert_app.app_context():
        tip = make_tip("NCHS", "critical")
        primary = chain_phones("NCHS")[0]
    assert _round(alert_app).get("retry") == 1
    assert _round(alert_app).get("retry") == 1
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)  # nobody else was failed in its place
        assert (alert.status, alert.send_failures, alert.error_code) == (AlertStatus.PENDING.value, 2, "407")
    assert _round(alert_app).get("sent") == 1
    assert [m.to for m in fake_twilio.wait_for(1)] == [primary]


def test_an_sms_twilio_took_is_recorded_after_a_moments_database_error_not_sent_twice(alert_app, fake_twilio,
                                                                                       monkeypatch):
    """The SMS went out, then writing "sent" met a database locked past the busy timeout (or a dropped
    connection): the row stayed "sending" and went out again when its claim lease ended, a second SMS though no
    worker died. Recording it is tried again within the lease."""
    from datetime import timedelta

    from sqlalchemy.exc import OperationalError

    import app.alerts.dispatcher as dispatcher
    from app.models import utcnow

    record = dispatcher.db_record_sent
    failures: list[str] = []

    def locked_once(*args, **kwargs):
        if not failures:
            failures.append("locked")
            raise OperationalError("UPDATE alert", None, Exception("database is locked"))
        return record(*args, **kwargs)

    monkeypatch.setattr(dispatcher, "db_record_sent", locked_once)
    monkeypatch.setattr(dispatcher, "RECORD_RETRY_PAUSE_S", 0.01)
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
    try:
        _round(alert_app)
    except OperationalError:
        pass  # the worker loop pauses and goes on
    (sms,) = fake_twilio.wait_for(1)
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        if alert.status == AlertStatus.SENDING.value:  # the claim's lease ends, as it would a minute later
            alert.lease_until = utcnow() - timedelta(seconds=1)
            db.session.commit()
    _round(alert_app)
    time.sleep(0.3)
    assert len(fake_twilio.messages) == 1 and failures == ["locked"]
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.SENT.value and alert.twilio_sid == sms.sid


def test_recording_an_sms_is_not_retried_past_its_claims_lease(alert_app, fake_twilio, monkeypatch):
    """Recording "sent" after a database error is retried 'within the lease', but the retries were counted from the
    end of the send, a whole lease more: with a slow send (the lease covers twice Twilio's timeout) they ran on
    after the lease had ended, when another worker may have claimed the row and sent it again, and a late record
    then wrote over that worker's claim. They now stop when the lease taken for the send (claimed just before it)
    ends."""
    from sqlalchemy.exc import OperationalError

    import app.alerts.dispatcher as dispatcher

    lease_s, send_s = 2.0, 1.0
    alert_app.config["ALERT_CLAIM_LEASE_S"] = lease_s
    claimed: list[float] = []
    tries: list[float] = []
    claim, transport_of = dispatcher._db_claim_next, dispatcher.sms_transport

    def claim_noted(*args, **kwargs):
        claimed.append(time.monotonic())
        return claim(*args, **kwargs)

    class SlowTransport:
        def __init__(self, inner):
            self.inner = inner

        def send(self, *args, **kwargs):
            time.sleep(send_s)
            return self.inner.send(*args, **kwargs)

    def always_locked(*_args, **_kwargs):
        tries.append(time.monotonic())
        raise OperationalError("UPDATE alert", None, Exception("database is locked"))

    monkeypatch.setattr(dispatcher, "_db_claim_next", claim_noted)
    monkeypatch.setattr(dispatcher, "sms_transport", lambda: SlowTransport(transport_of()))
    monkeypatch.setattr(dispatcher, "db_record_sent", always_locked)
    monkeypatch.setattr(dispatcher, "RECORD_RETRY_PAUSE_S", 0.05)
    with alert_app.app_context():
        make_tip("KWHS", "critical")
    with pytest.raises(OperationalError):
        _round(alert_app)
    assert len(claimed) == 1 and len(tries) > 1
    assert max(tries) < claimed[0] + lease_s


def test_a_batch_broken_off_by_a_database_error_is_sent_at_the_next_round_not_a_lease_later(alert_app, fake_twilio,
                                                                                            monkeypatch):
    """A database error in the middle of a round (SQLite locked past the busy timeout, a PostgreSQL connection cut)
    ended the round with a row claimed and not sent (the rest of the batch, when a round claimed it whole): it waited
    for its claim lease (ALERT_CLAIM_LEASE_S, a minute) though the database was back a second later and the worker
    alive. Between two rounds nothing of the worker is in flight, so its next round takes its own claims again at
    once."""
    from sqlalchemy.exc import OperationalError

    import app.alerts.dispatcher as dispatcher

    plan = dispatcher._plan
    cut: list[int] = []

    def cut_once(alert_id, owner, now):  # the row is claimed: the look at it before its send fails
        if not cut:
            cut.append(alert_id)
            raise OperationalError("SELECT alert", None, Exception("server closed the connection unexpectedly"))
        return plan(alert_id, owner, now)

    monkeypatch.setattr(dispatcher, "_plan", cut_once)
    with alert_app.app_context():
        tips = [make_tip(school, "critical") for school in ("KWHS", "NCHS", "RHS")]
    with pytest.raises(OperationalError):
        _round(alert_app)
    assert fake_twilio.messages == []
    assert _round(alert_app).get("sent") == 3  # the next round, a pause later: not a lease later
    assert len(fake_twilio.wait_for(3)) == 3
    with alert_app.app_context():
        assert [row.status for tip in tips for row in alerts_of(tip.ref)] == [AlertStatus.SENT.value] * 3


def test_another_workers_claim_is_left_to_its_lease(alert_app, fake_twilio):
    """Only a worker's own claims come back at once: a row another worker holds may be on its way to Twilio."""
    from app.alerts.claims import db_claim_due_alerts

    with alert_app.app_context():
        make_tip("KWHS", "critical")
        assert len(db_claim_due_alerts("other-worker", 10)) == 1
        db.session.commit()
    assert _round(alert_app).get("claimed") == 0
    assert fake_twilio.messages == []


def _sent_then_not_recorded_past_the_lease(alert_app, fake_twilio, monkeypatch):  # noqa: ANN001, ANN202
    """A critical tip's SMS that Twilio took while the database refused to record "sent" until the claim's lease
    (1 s here) had ended: returns (the tip, the SMS as Twilio got it, a function that brings the database back)."""
    from sqlalchemy.exc import OperationalError

    import app.alerts.dispatcher as dispatcher

    alert_app.config["ALERT_CLAIM_LEASE_S"] = 1.0
    alert_app.config["ALERT_ACK_TIMEOUT_CRITICAL_S"] = 60  # not escalated meanwhile: the SMS went out a second ago
    record = dispatcher.db_record_sent
    locked = [True]

    def locked_for_a_while(*args, **kwargs):
        if locked[0]:
            raise OperationalError("UPDATE alert", None, Exception("database is locked"))
        return record(*args, **kwargs)

    monkeypatch.setattr(dispatcher, "db_record_sent", locked_for_a_while)
    monkeypatch.setattr(dispatcher, "RECORD_RETRY_PAUSE_S", 0.05)
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
    with pytest.raises(OperationalError):
        _round(alert_app)
    (sms,) = fake_twilio.wait_for(1)
    return tip, sms, lambda: locked.__setitem__(0, False)


def test_an_sms_whose_sent_could_not_be_written_within_its_lease_is_recorded_not_sent_again(alert_app, fake_twilio,
                                                                                            monkeypatch):
    """Twilio took the SMS, then the database stayed locked past the claim's lease (a `flask` command or a backup
    holding SQLite's write lock a minute, a PostgreSQL failover): recording "sent" was given up and the worker's next
    round took its own claim again and sent the SMS a second time, though no worker died and no request timed out.
    The worker keeps what Twilio answered and records it at its next round, before it claims anything."""
    tip, sms, database_back = _sent_then_not_recorded_past_the_lease(alert_app, fake_twilio, monkeypatch)
    database_back()
    time.sleep(1.1)  # the claim's lease has ended too
    _round(alert_app)
    time.sleep(0.3)
    assert len(fake_twilio.messages) == 1
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.SENT.value and alert.twilio_sid == sms.sid
        assert alert.lease_owner is None and alert.sent_at is not None


def test_an_sms_recorded_late_keeps_the_time_it_went_out(alert_app, fake_twilio, monkeypatch):
    """Recorded at the worker's next round, the SMS was stamped sent then, not when Twilio took it: a critical tip's
    acknowledgement timeout, and with it the page to the next person, counted from the end of the database outage
    (minutes later for SQLite held by a command), not from the SMS the person had had since."""
    from app.models import utcnow

    tip, _, database_back = _sent_then_not_recorded_past_the_lease(alert_app, fake_twilio, monkeypatch)
    gone_out_by = utcnow()
    database_back()
    time.sleep(1.1)
    _round(alert_app)
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.SENT.value
        assert alert.sent_at is not None and alert.sent_at <= gone_out_by


def test_a_worker_that_gave_up_recording_a_send_records_it_before_another_worker_may_send_it_again(
        alert_app, fake_twilio, monkeypatch):
    """A worker gave up writing "sent" (its database connection refused it) with a second of its claim's lease
    left, then paused five seconds before its next round: the database came back meanwhile, the lease ended, and
    another worker (PostgreSQL, or a SQLite standby) claimed the row and sent the SMS a second time, though the first
    worker was alive and could have recorded it. It now gives up with room for its next round inside the lease, and
    pauses a second only after such a round, so it records the send before the lease lets anyone else take the row."""
    import threading

    from sqlalchemy.exc import OperationalError

    import app.alerts.dispatcher as dispatcher
    from app.alerts.worker import run_worker
    from app.models import utcnow

    alert_app.config.update(ALERT_CLAIM_LEASE_S=3, ALERT_ACK_TIMEOUT_CRITICAL_S=60)  # 3 s > twice Twilio's 1 s
    record = dispatcher.db_record_sent
    refused = threading.Event()
    refused.set()

    def refused_while_faulty(*args, **kwargs):
        if refused.is_set():
            raise OperationalError("UPDATE alert", None, Exception("server closed the connection unexpectedly"))
        return record(*args, **kwargs)

    monkeypatch.setattr(dispatcher, "db_record_sent", refused_while_faulty)
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(alert_app,), kwargs={"stop": stop, "poll_s": 1.0,
                                                                              "purge": False})
    worker.start()
    try:
        deadline = time.monotonic() + 15
        while not any(dispatcher._UNRECORDED.values()):  # the worker has given up recording in its round
            assert time.monotonic() < deadline and worker.is_alive()
            time.sleep(0.01)
        refused.clear()  # the database is back, for every worker
        while True:  # another worker's next round comes the moment the lease allows, or after the row is recorded
            with alert_app.app_context():
                (alert,) = alerts_of(tip.ref)
                if alert.status != AlertStatus.SENDING.value or alert.lease_until < utcnow():
                    break
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with alert_app.app_context():
            run_once("another-worker")
    finally:
        stop.set()
        worker.join(15)
    time.sleep(0.3)
    assert len(fake_twilio.messages) == 1
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.SENT.value and alert.twilio_sid == fake_twilio.messages[0].sid


def test_a_sqlite_worker_whose_lease_a_standby_took_still_records_what_it_sent_and_gives_back_its_claims(
        alert_app, fake_twilio, monkeypatch):
    """SQLite: a round that retried writing "sent" for most of the claim's lease (a minute) outlasted the worker's
    own lease (15 s), and a standby took that over. The worker's next rounds only waited for the lease: the SMS it had
    sent was never recorded, and the standby sent it again when the claim's lease ended; the rest of its batch, never
    sent, waited for that lease too. It now records what it sent and gives back what it claimed and did not send."""
    import threading
    from datetime import timedelta

    import app.alerts.worker as worker
    from app.models import WorkerLease, utcnow
    from tests.conftest import on_postgres

    if on_postgres():
        pytest.skip("the single worker's lease is SQLite's; PostgreSQL workers share the outbox")
    tip, sms, database_back = _sent_then_not_recorded_past_the_lease(alert_app, fake_twilio, monkeypatch)
    monkeypatch.setattr(worker, "worker_id", lambda: "test-worker")
    with alert_app.app_context():
        claimed_not_sent = make_tip("NCHS", "critical")
        (row,) = alerts_of(claimed_not_sent.ref)  # the rest of the batch the error broke off, claimed and not sent
        row.status, row.lease_owner, row.lease_until, row.attempts = (
            AlertStatus.SENDING.value, "test-worker", utcnow() + timedelta(seconds=60), 1)
        lease = db.session.get(WorkerLease, "alerts") or WorkerLease(name="alerts")
        lease.owner, lease.expires_at = "standby", utcnow() + timedelta(seconds=60)
        db.session.merge(lease)
        db.session.commit()
    database_back()
    worker.run_worker(alert_app, stop=threading.Event(), poll_s=0.01, max_rounds=1, purge=False)
    with alert_app.app_context():
        (alert,) = alerts_of(tip.ref)
        assert alert.status == AlertStatus.SENT.value and alert.twilio_sid == sms.sid
        (waiting,) = alerts_of(claimed_not_sent.ref)
        assert waiting.status == AlertStatus.PENDING.value and waiting.lease_owner is None
    time.sleep(1.1)  # the claim's lease (1 s here) has ended: the standby's round
    with alert_app.app_context():
        assert run_once("standby").get("sent") == 1
    time.sleep(0.3)
    assert [m.to for m in fake_twilio.messages].count(sms.to) == 1


def test_an_idle_round_takes_one_turn_at_the_sqlite_write_lock(alert_app, monkeypatch):
    """The round's lease, escalation and claims are one turn at SQLite's write lock, which the intake needs too.
    Looking for test SMS to send, with none asked for, took a second turn every round (every poll and every tip's
    wake-up); it now looks in a read-only transaction and takes a turn only when one is due."""
    import app.database as database
    from tests.conftest import on_postgres

    if on_postgres():
        pytest.skip("the write lock of BEGIN IMMEDIATE is SQLite's")
    begun: list[str] = []
    original = database.begin_statement

    def counting() -> str:
        begun.append(original())
        return begun[-1]

    monkeypatch.setattr(database, "begin_statement", counting)
    with alert_app.app_context():
        assert run_once("w") == {"claimed": 0}
    assert begun.count("BEGIN IMMEDIATE") == 1, begun
