"""Regressions found in review: slow batches, early callbacks, relabelling, removed staff, broken rows."""

import threading
from datetime import timedelta

from sqlalchemy import select, update

from app.alerts import db_alert_after_relabel
from app.alerts.claims import db_claim_due_alerts
from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import Alert, AlertStatus, Assignment, Tip
from tests.alerts.conftest import alerts_of, chain_phones, make_tip, staff_by_phone
from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, Fault
from tests.fakes.twilio_webhooks import signed_headers


def test_a_slow_batch_is_never_sent_twice_by_two_workers(alert_app, fake_twilio):
    """Sends slower than the claim lease: the second worker takes over rows the first has not reached,
    and the first, finding its lease gone, leaves them alone."""
    # A claim lease shorter than a batch of slow sends (not a valid start-up value); no escalation meanwhile.
    alert_app.config.update(ALERT_CLAIM_LEASE_S=1, ALERT_ACK_TIMEOUT_CRITICAL_S=3600)
    with alert_app.app_context():
        refs = [make_tip(school, "critical").ref for school in ("KWHS", "NCHS", "RHS", "CYMS", "CMS", "MES")]
    fake_twilio.script(*[Fault.delay(0.4)] * 30)

    def worker(name: str) -> None:
        with alert_app.app_context():
            run_once(name, batch=10)

    first = threading.Thread(target=worker, args=("w1",))
    first.start()
    threading.Event().wait(1.3)  # w1's claim on the rows it has not sent yet has expired
    second = threading.Thread(target=worker, args=("w2",))
    second.start()
    first.join(30)
    second.join(30)
    # A round stops starting sends after TWILIO_TIMEOUT_S and gives back the rows it did not try: on a slow
    # machine some are still waiting, for the next rounds (bounded here). None may be sent twice.
    with alert_app.app_context():
        for _ in range(10):
            if all(any(f"#{ref}" in m.body for m in fake_twilio.messages) for ref in refs):
                break
            run_once("w3", batch=10)
    sent = [m.body for m in fake_twilio.messages]
    for ref in refs:
        assert sum(f"#{ref}" in body for body in sent) == 1, sent


def test_a_failure_callback_that_beats_the_sid_still_escalates(alert_app, fake_twilio):
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        (claimed,) = db_claim_due_alerts("w1", 5)
        alert_id = claimed.id
        db.session.commit()
    url = f"http://127.0.0.1:9/hooks/twilio/status?alert={alert_id}"
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", "ErrorCode": "30005",
              "AccountSid": FAKE_ACCOUNT_SID}
    client = alert_app.test_client()
    response = client.post(f"/hooks/twilio/status?alert={alert_id}", data=params,
                           headers=signed_headers(url, params, fake_twilio.auth_token), base_url="http://127.0.0.1:9")
    assert response.status_code == 204
    with alert_app.app_context():
        assert db.session.get(Alert, alert_id).status == AlertStatus.FAILED.value
        run_once("w2")
        positions = [a.chain_position for a in alerts_of(tip.ref)]
    assert positions == [1, 2]


def test_relabelling_a_low_tip_to_critical_pages_the_chain(alert_app, fake_twilio):
    with alert_app.app_context():
        info = make_tip("NCHS", "low", "other")
        tip = db.session.get(Tip, info.id)
        tip.label_urgency, tip.label_category = "critical", "weapon"
        assert db_alert_after_relabel(tip) is not None
        assert db_alert_after_relabel(tip) is None  # once
        db.session.commit()
        run_once("w")
    (sms,) = fake_twilio.wait_for(1)
    assert "CRITICAL weapon" in sms.body and f"#{info.ref}" in sms.body


def test_a_tip_relabelled_to_critical_at_a_school_with_nobody_reachable_makes_health_degraded(alert_app, fake_twilio):
    """A low tip raised to critical where nobody of the chain can get an SMS reaches no one, as a new critical tip
    there would; a new tip records that (an alert failed with 'no_recipient'), and health turns degraded until
    someone takes it. The relabel recorded nothing: no SMS, no line in the log, and health said all was well."""
    from app.alerts.escalation import count_unreached_tips
    from app.models import School

    with alert_app.app_context():
        info = make_tip("NCHS", "low", "other")
        school_id = db.session.scalar(select(School.id).where(School.short_name == "NCHS"))
        db.session.execute(update(Assignment).where(Assignment.school_id == school_id).values(chain_position=None))
        tip = db.session.get(Tip, info.id)
        tip.label_urgency, tip.label_category = "critical", "weapon"
        assert db_alert_after_relabel(tip, before="low") is None  # nobody is being paged
        db.session.commit()
        run_once("w")
        assert [(a.status, a.error_code) for a in alerts_of(info.ref)] == [(AlertStatus.FAILED.value, "no_recipient")]
        assert count_unreached_tips() == 1
        tip = db.session.get(Tip, info.id)
        tip.label_urgency = "high"  # corrected again while nobody can be reached: recorded once, not at each change
        assert db_alert_after_relabel(tip, before="critical") is None
        db.session.commit()
        assert len(alerts_of(info.ref)) == 1
    assert fake_twilio.messages == []


def test_staff_taken_off_the_school_are_skipped_and_cannot_acknowledge(alert_app, fake_twilio):
    with alert_app.app_context():
        primary, backup = chain_phones("EVES")[:2]
        info = make_tip("EVES", "critical")
        staff = staff_by_phone(primary)
        db.session.execute(Assignment.__table__.delete().where(Assignment.staff_id == staff.id))
        db.session.commit()
        run_once("w")
        run_once("w")
        first, second = alerts_of(info.ref)
        assert first.error_code == "not_assigned" and second.chain_position == 2
    assert [m.to for m in fake_twilio.messages] == [backup]


def test_one_broken_row_does_not_stop_the_others(alert_app, fake_twilio, monkeypatch):
    import app.alerts.dispatcher as dispatcher

    with alert_app.app_context():
        bad = make_tip("KWHS", "critical")
        good = make_tip("NCHS", "critical")
    real_body_for = dispatcher.body_for

    def body_for(alert, tip, school, **kwargs):
        if tip.ref == bad.ref:
            raise ValueError("a bug in one message")
        return real_body_for(alert, tip, school, **kwargs)

    monkeypatch.setattr(dispatcher, "body_for", body_for)
    with alert_app.app_context():
        counts = run_once("w")
        assert counts.get("internal_error") == 1
        assert alerts_of(bad.ref)[0].error_code == "internal"
    assert any(f"#{good.ref}" in m.body for m in fake_twilio.messages)


def test_every_link_in_an_sms_is_a_real_page(alert_app):
    from notifications.messages import QUEUE_PATH, TIP_PATH

    adapter = alert_app.url_map.bind("tipline.test")
    assert adapter.match(QUEUE_PATH)[0] == "console.queue"
    assert adapter.match(TIP_PATH + "ABC234")[0] == "console.case"


def test_medium_escalation_after_a_failure_waits_for_school_hours(alert_app, fake_twilio, monkeypatch):
    from datetime import datetime

    import app.alerts.escalation as escalation
    import app.alerts.planning as planning

    night = datetime(2026, 11, 25, 8, 0)  # 01:00 in Casper
    monkeypatch.setattr(planning, "utcnow", lambda: night)
    with alert_app.app_context():
        info = make_tip("KWHS", "medium", "bullying")
        (alert,) = alerts_of(info.ref)
        alert.status, alert.error_code = AlertStatus.FAILED.value, "30005"
        db.session.commit()
        escalation.db_escalate_overdue(now=night)
        db.session.commit()
        follow = db.session.scalar(select(Alert).where(Alert.tip_id == info.id, Alert.chain_position == 2))
        assert follow.due_at == datetime(2026, 11, 25, 14, 30)
        assert follow.due_at - night > timedelta(hours=6)


def test_a_backlog_of_open_alerts_never_hides_an_overdue_critical_one(alert_app):
    """Escalation reads at most `limit` rows a round: they must be rows that are due, not merely open ones."""
    from app.alerts.escalation import db_escalate_overdue
    from app.models import utcnow

    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=300, ALERT_ACK_TIMEOUT_HIGH_S=3600)
    with alert_app.app_context():
        backlog = [make_tip("KWHS", "medium", "bullying") for _ in range(8)]  # older ids, never overdue
        critical = make_tip("NCHS", "critical")
        (open_row,) = alerts_of(critical.ref)
        open_row.status, open_row.sent_at = AlertStatus.SENT.value, utcnow() - timedelta(minutes=10)
        db.session.commit()
        assert db_escalate_overdue(limit=3) == 1
        db.session.commit()
        following = alerts_of(critical.ref)
        assert [a.chain_position for a in following] == [1, 2]
        assert all(len(alerts_of(info.ref)) == 1 for info in backlog)


def test_an_urgent_tip_its_whole_chain_failed_to_reach_makes_health_degraded(alert_app, fake_twilio):
    """Every number of the chain failed for good (or the school has nobody): the tip reaches no one, which the
    operator's health check must say until someone takes the tip."""
    from app.alerts.acknowledge import db_acknowledge_tip
    from app.alerts.claims import db_take_worker_lease
    from app.models import Role, Staff

    with alert_app.app_context():
        for phone in chain_phones("CYMS"):
            fake_twilio.reject_number(phone, 21211)
        tip = make_tip("CYMS", "critical")
        for _ in range(8):
            run_once("w")
        assert all(a.status == AlertStatus.FAILED.value and a.escalated_at for a in alerts_of(tip.ref))
    body = alert_app.test_client().get("/healthz").get_json()
    assert body["status"] == "degraded"
    # Said before a missing worker (none holds the lease here): a tip that needs a person now comes first.
    assert body["checks"]["alerts"]["reason"] == "unreached" and body["checks"]["alerts"]["unreached_tips"] == 1
    with alert_app.app_context():
        assert db_take_worker_lease("w")  # a worker runs again
        admin = db.session.scalar(select(Staff).where(Staff.role == Role.DISTRICT_ADMIN))
        assert db_acknowledge_tip(db.session.get(Tip, tip.id), admin, via="console")
        db.session.commit()
    alerts = alert_app.test_client().get("/healthz").get_json()["checks"]["alerts"]
    assert alerts["status"] == "ok" and alerts["unreached_tips"] == 0  # counted in every answer


def test_a_row_for_someone_replaced_before_it_went_out_goes_to_the_new_holder_of_that_place(alert_app, fake_twilio):
    """An SMS written for the primary SRO has not gone out yet (a medium tip waits overnight for the school day)
    when the SRO leaves (deactivated) and a new primary takes that place of the chain. The SMS goes to the new
    primary, not on to the backup as if the primary had been told and had not answered."""
    from app.models import Role, School, Staff

    with alert_app.app_context():
        primary = chain_phones("NCHS")[0]
        info = make_tip("NCHS", "critical")
        leaver = staff_by_phone(primary)
        school = db.session.scalar(select(School).where(School.short_name == "NCHS"))
        place = db.session.scalar(select(Assignment).where(Assignment.staff_id == leaver.id,
                                                           Assignment.school_id == school.id))
        leaver.active, position, place.chain_position = False, place.chain_position, None
        newcomer = Staff(email="new.sro@cpd.example", name="New SRO", role=Role.SRO, phone="+13075550199")
        db.session.add(newcomer)
        db.session.flush()
        db.session.add(Assignment(staff_id=newcomer.id, school_id=school.id, chain_position=position))
        db.session.commit()
        run_once("w")
        run_once("w")
        rows = [(a.chain_position, a.staff_id, a.status) for a in alerts_of(info.ref)]
        assert rows[0][2] == AlertStatus.FAILED.value and rows[1][:2] == (position, newcomer.id), rows
    assert [m.to for m in fake_twilio.messages] == ["+13075550199"]
    assert "ESCALATED" not in fake_twilio.messages[0].body


def _an_hour_ago(ref: str) -> None:
    """The SMS sent so far about the tip went out an hour ago, unanswered."""
    for alert in alerts_of(ref):
        if alert.sent_at is not None:
            alert.sent_at -= timedelta(hours=1)
    db.session.commit()


def test_the_last_of_the_chain_deactivated_before_their_sms_the_repeats_go_to_the_new_last(alert_app, fake_twilio):
    """Nobody answered the first three of the chain; the fourth, agency dispatch, is deactivated (or taken off the
    school, or loses the phone) before its SMS went out. The repeats after the last person now go to whoever is
    last now, the third, as they would had the fourth never been there; before, escalation ended with nobody
    told again ('escalation exhausted')."""
    from app.alerts.escalation import db_escalate_overdue

    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=3600)
    with alert_app.app_context():
        info = make_tip("DMMS", "critical")
        *_, third, fourth = chain_phones("DMMS")
        run_once("w")
        for _ in range(2):  # nobody answers the first two: the chain reaches the third
            _an_hour_ago(info.ref)
            run_once("w")
        _an_hour_ago(info.ref)
        assert db_escalate_overdue() == 1  # the fourth's row, not sent yet
        staff_by_phone(fourth).active = False
        db.session.commit()
        run_once("w")
        run_once("w")
        rows = [(a.chain_position, a.kind, a.repeat, a.status) for a in alerts_of(info.ref)]
        assert len(rows) == 5 and rows[3][3] == AlertStatus.FAILED.value and rows[4][:3] == (3, "repeat", 1), rows
    assert [m.to for m in fake_twilio.messages][-1] == third
    assert "REPEAT 1" in fake_twilio.messages[-1].body


def test_the_last_of_the_chain_whose_number_fails_for_good_the_repeats_go_to_the_last_who_can_be_reached(
        alert_app, fake_twilio):
    """Nobody answered the first three of the chain; the fourth, agency dispatch, has a number that fails for good
    (a landline, a mistyped number). The repeats after the last person go to the third, the last whose number
    works, as they would had the fourth been deactivated or opted out; before, escalation ended there, after one
    SMS to each of the first three, and health called a tip three people had read 'reaching no one'."""
    from app.alerts.escalation import count_unreached_tips

    alert_app.config.update(ALERT_ACK_TIMEOUT_CRITICAL_S=3600, ALERT_MAX_REPEATS=2)
    with alert_app.app_context():
        *_, third, fourth = chain_phones("DMMS")
        fake_twilio.reject_number(fourth, 21211)
        info = make_tip("DMMS", "critical")
        run_once("w")
        for _ in range(3):  # nobody answers: the chain reaches the fourth, whose SMS is refused for good
            _an_hour_ago(info.ref)
            run_once("w")
        run_once("w")
        rows = [(a.chain_position, a.kind, a.repeat, a.status) for a in alerts_of(info.ref)]
        assert rows[3][0] == 4 and rows[3][3] == AlertStatus.FAILED.value, rows
        assert rows[4][:3] == (3, "repeat", 1), rows
        assert count_unreached_tips() == 0
        for _ in range(3):  # the repeats stay with the third, bounded, and the fourth is not tried again meanwhile
            _an_hour_ago(info.ref)
            run_once("w")
        rows = [(a.chain_position, a.kind, a.repeat) for a in alerts_of(info.ref)]
        assert rows[4:] == [(3, "repeat", 1), (3, "repeat", 2)], rows
    assert [m.to for m in fake_twilio.messages][-2:] == [third, third]
    assert "REPEAT 2" in fake_twilio.messages[-1].body
