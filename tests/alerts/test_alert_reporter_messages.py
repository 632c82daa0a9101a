"""A reporter's new message on a case that pages reaches a person by SMS: the one who took the tip, else the chain.

At 2 a.m. a critical tip was acknowledged and its SRO went back to sleep; at 3 a.m. the reporter writes "he's outside
the school now". The notice is written with the message (one transaction), says nothing of either, is sent at most
once per ALERT_REPLY_SMS_INTERVAL_S a tip, and leaves the escalation, "1"/ACK, folding and the report alone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError

from app.alerts.acknowledge import db_acknowledge_tip
from app.alerts.dispatcher import run_once
from app.alerts.planning import db_alert_after_relabel
from app.crypto.receipts import new_receipt_code
from app.extensions import db
from app.models import REPLY_KIND, Alert, AlertStatus, Message, School, Staff, Tip, TipStatus, utcnow
from tests.alerts.conftest import TipInfo, alerts_of, chain_phones, post_sms, staff_by_phone
from tests.intake.helpers import open_followup, post_multipart
from tests.support.forms import csrf_token
from tests.support.tips import make_tip as make_sealed_tip

TIP_TEXT = "Quillfeather has a revolver and says he will do it tomorrow at the gymnasium"
MESSAGE = "Quillfeather is standing outside the north doors right now wearing a camouflage jacket"
# Wednesday 25 November 2026: 10:00 and 23:00 in Casper (MST, UTC-7); KWHS is in session 07:30-15:30.
SCHOOL_DAY = datetime(2026, 11, 25, 17, 0)
NIGHT = datetime(2026, 11, 26, 6, 0)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 4}


def _tip(urgency: str, category: str = "weapon") -> tuple[TipInfo, str]:
    """A KWHS tip with its outbox rows, as intake writes it, and its receipt code."""
    code = new_receipt_code()
    school_id = db.session.scalar(select(School.id).where(School.short_name == "KWHS"))
    tip = make_sealed_tip(school_id, TIP_TEXT, urgency=urgency, category=category, receipt_code=code,
                          plan_alerts=True)
    return TipInfo(tip.id, tip.ref, tip.incident_id), code


def _reporter_writes(app, code: str, text: str = MESSAGE) -> int:
    """The reporter opens the report with the code and sends a message on /followup; returns the HTTP status."""
    client = app.test_client()
    open_followup(client, code)
    response = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                          "message": text}, None)
    return int(response.status_code)


def _acknowledge(info: TipInfo, phone: str) -> None:
    tip = db.session.get(Tip, info.id)
    assert db_acknowledge_tip(tip, staff_by_phone(phone), via="console")
    db.session.commit()


def _told_the_chain(info: TipInfo, *, minutes_ago: int = 0, escalated: bool = False) -> None:
    """The tip's first SMS went out (and, with `escalated`, its chain ran out since)."""
    sent_at = utcnow() - timedelta(minutes=minutes_ago)
    db.session.execute(update(Alert).where(Alert.tip_id == info.id).values(
        status=AlertStatus.SENT.value, sent_at=sent_at, escalated_at=utcnow() if escalated else None))
    db.session.commit()


def _the_chain_ran_out_and_the_reporter_wrote(app) -> tuple[TipInfo, str]:
    """A critical tip of KWHS whose whole chain was told half an hour ago, nobody answering; then its reporter
    writes again (stored: 303). The tip and its receipt code."""
    with app.app_context():
        info, code = _tip("critical")
        _told_the_chain(info, minutes_ago=30, escalated=True)
    assert _reporter_writes(app, code) == 303
    return info, code


def _notices(info: TipInfo) -> list[Alert]:
    return [a for a in alerts_of(info.ref) if a.kind == REPLY_KIND]


def _at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    for module in ("app.alerts.reporter_messages", "app.alerts.planning"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: when)


def test_a_message_on_an_acknowledged_critical_tip_texts_whoever_took_it_and_nothing_of_what_was_written(
    alert_app, fake_twilio
):
    with alert_app.app_context():
        primary, backup = chain_phones("KWHS")[:2]
        info, code = _tip("critical")
        run_once("w")
        _acknowledge(info, backup)  # the backup SRO took it in the console: the person working the case
    assert len(fake_twilio.wait_for(1)) == 1
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        (notice,) = _notices(info)
        assert notice.status == AlertStatus.PENDING.value and notice.staff_id == staff_by_phone(backup).id
        run_once("w")
        assert db.session.get(Alert, notice.id).status == AlertStatus.SENT.value
    sms = fake_twilio.wait_for(2)[-1]
    assert sms.to == backup and sms.to != primary
    assert f"#{info.ref}" in sms.body and f"/console/tips/{info.ref}" in sms.body
    assert "NEW MESSAGE from reporter" in sms.body and "No reply needed." in sms.body
    leaked = (_words(TIP_TEXT) | _words(MESSAGE)) & set(re.findall(r"[a-z]+", sms.body.lower()))
    assert not leaked, f"tip or message words in the SMS: {leaked}"


def test_five_messages_in_a_row_are_one_sms_and_the_next_window_gets_another(alert_app, fake_twilio):
    with alert_app.app_context():
        primary = chain_phones("KWHS")[0]
        info, code = _tip("critical")
        run_once("w")
        _acknowledge(info, primary)
    for n in range(3):
        assert _reporter_writes(alert_app, code, f"message number {n}") == 303
    with alert_app.app_context():
        assert len(_notices(info)) == 1
        assert db.session.scalar(select(func.count()).select_from(Message).where(Message.tip_id == info.id)) == 3
        run_once("w")
        # The window has passed since the notice was written: the next message is told again.
        (first,) = _notices(info)
        first.created_at = utcnow() - timedelta(seconds=alert_app.config["ALERT_REPLY_SMS_INTERVAL_S"] + 1)
        db.session.commit()
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        assert len(_notices(info)) == 2
        run_once("w")
    assert [m.to for m in fake_twilio.wait_for(3)] == [primary] * 3


def _open_the_case_in_the_console(app, phone: str, ref: str) -> None:
    """The person of `phone` signs in (password, then code) and opens the case, as the notice's link leads."""
    import pyotp

    from app.crypto.staff_secrets import seal_totp_secret
    from tests.console.helpers import PASSWORD_HASH, World, sign_in

    with app.app_context():
        staff = staff_by_phone(phone)
        secret = pyotp.random_base32()
        staff.password_hash = PASSWORD_HASH
        seal_totp_secret(staff, secret)
        db.session.commit()
        world = World(app, 0, 0, {"me": staff.id}, {"me": secret}, {"me": staff.email})
    client = app.test_client()
    assert sign_in(client, world, "me").status_code == 302
    assert client.get(f"/console/tips/{ref}").status_code == 200


def test_an_answer_after_the_last_notice_was_read_is_told_at_once(alert_app, fake_twilio):
    """2 a.m.: the SRO read the reporter's first message (its SMS led to the case), asked "where are you now?" and
    waits, phone in hand; the case page does not change by itself. The answer came two minutes later, inside the
    window of the first notice, and no SMS said so: the window held back the notice of a message nobody had seen.
    The window is for messages typed in a row before anyone reads them; once the case was opened since, the next
    message is news and is told."""
    with alert_app.app_context():
        primary = chain_phones("KWHS")[0]
        info, code = _tip("critical")
        run_once("w")
        _acknowledge(info, primary)
    assert _reporter_writes(alert_app, code, "I am in the library") == 303
    with alert_app.app_context():
        run_once("w")
    _open_the_case_in_the_console(alert_app, primary, info.ref)
    assert _reporter_writes(alert_app, code, "he is leaving by the north gate now") == 303
    assert _reporter_writes(alert_app, code, "he has a grey hoodie") == 303  # typed in a row: no third SMS
    with alert_app.app_context():
        assert len(_notices(info)) == 2
        run_once("w")
    assert [m.to for m in fake_twilio.wait_for(3)] == [primary] * 3


def test_the_window_is_the_setting(alert_app, fake_twilio):
    alert_app.config["ALERT_REPLY_SMS_INTERVAL_S"] = 0  # every message is told
    with alert_app.app_context():
        info, code = _tip("critical")
        _acknowledge(info, chain_phones("KWHS")[0])
    assert _reporter_writes(alert_app, code) == 303
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        assert len(_notices(info)) == 2


def test_a_notice_that_could_not_go_out_does_not_hold_back_the_next(alert_app, fake_twilio):
    with alert_app.app_context():
        info, code = _tip("critical")
        _acknowledge(info, chain_phones("KWHS")[0])
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        (notice,) = _notices(info)
        notice.status, notice.error_code = AlertStatus.FAILED.value, "30003"
        db.session.commit()
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        assert len(_notices(info)) == 2


def test_a_notice_that_failed_before_someone_acknowledged_does_not_hold_back_the_next(alert_app, fake_twilio):
    """Acknowledging marks every sent row of the tip, a failed one too, as acknowledged: the notice that never reached
    the chain's first person then counted as told, and the next message, minutes later, reached nobody, not even
    the person who had just taken the tip."""
    info, code = _the_chain_ran_out_and_the_reporter_wrote(alert_app)
    with alert_app.app_context():
        primary, backup = chain_phones("KWHS")[:2]
        (notice,) = _notices(info)
        assert notice.staff_id == staff_by_phone(primary).id
        notice.status, notice.error_code = AlertStatus.FAILED.value, "30003"  # undelivered: the primary's phone is off
        notice.sent_at = utcnow()
        db.session.commit()
        _acknowledge(info, backup)  # the backup SRO saw the case in the console and took it
        assert db.session.get(Alert, notice.id).status == AlertStatus.ACKNOWLEDGED.value
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        first, second = _notices(info)
        assert second.staff_id == staff_by_phone(backup).id and second.status == AlertStatus.PENDING.value


def test_acknowledging_the_tip_does_not_cancel_a_notice_not_yet_sent(alert_app, fake_twilio):
    """Acknowledging cancelled every unsent row of the tip, the notice of the reporter's message too: the primary,
    woken by the chain's last SMS, answered "1" while the notice waited (a retry after a Twilio error, a busy
    worker), took the tip, and never heard that the reporter had written "he's outside now"."""
    info, _ = _the_chain_ran_out_and_the_reporter_wrote(alert_app)
    with alert_app.app_context():
        primary = chain_phones("KWHS")[0]
        (notice,) = _notices(info)
        assert notice.staff_id == staff_by_phone(primary).id and notice.status == AlertStatus.PENDING.value
    assert f"Acknowledged #{info.ref}" in post_sms(alert_app, fake_twilio.auth_token, primary, "1")
    with alert_app.app_context():
        assert db.session.get(Tip, info.id).acknowledged_by_id == staff_by_phone(primary).id
        assert db.session.get(Alert, notice.id).status == AlertStatus.PENDING.value
        run_once("w")
        assert db.session.get(Alert, notice.id).status == AlertStatus.SENT.value
    (sms,) = fake_twilio.wait_for(1)
    assert sms.to == primary and "NEW MESSAGE from reporter" in sms.body and "No reply needed." in sms.body


def test_medium_pages_in_school_hours_only_and_low_never(alert_app, fake_twilio, monkeypatch):
    with alert_app.app_context():
        medium, medium_code = _tip("medium", "bullying")
        low, low_code = _tip("low", "other")
        _told_the_chain(medium)
    _at(monkeypatch, NIGHT)
    assert _reporter_writes(alert_app, medium_code) == 303
    assert _reporter_writes(alert_app, low_code) == 303
    with alert_app.app_context():
        assert _notices(medium) == [] and _notices(low) == []
    _at(monkeypatch, SCHOOL_DAY)
    assert _reporter_writes(alert_app, medium_code) == 303
    assert _reporter_writes(alert_app, low_code) == 303
    with alert_app.app_context():
        # Nobody took the medium tip and its SMS asked for no answer: the chain's first person hears of it.
        (notice,) = _notices(medium)
        assert notice.staff_id == staff_by_phone(chain_phones("KWHS")[0]).id
        assert _notices(low) == []


def test_an_unacknowledged_tip_still_escalating_gets_no_extra_sms(alert_app, fake_twilio):
    with alert_app.app_context():
        waiting, waiting_code = _tip("critical")  # its first SMS not out yet
        sent, sent_code = _tip("high", "fighting")
        _told_the_chain(sent)  # out, and escalated at its timeout
    assert _reporter_writes(alert_app, waiting_code) == 303
    assert _reporter_writes(alert_app, sent_code) == 303
    with alert_app.app_context():
        assert _notices(waiting) == [] and _notices(sent) == []
        assert [a.kind for a in alerts_of(waiting.ref)] == ["initial"]


def test_a_tip_whose_chain_ran_out_tells_the_primary_and_the_notice_never_escalates(alert_app, fake_twilio):
    info, _ = _the_chain_ran_out_and_the_reporter_wrote(alert_app)
    with alert_app.app_context():
        primary = chain_phones("KWHS")[0]
        run_once("w")
        (notice,) = _notices(info)
        assert notice.staff_id == staff_by_phone(primary).id and notice.status == AlertStatus.SENT.value
        notice.sent_at = utcnow() - timedelta(minutes=10)  # long past the critical timeout
        db.session.commit()
        run_once("w")
        # A notice is no step of the chain: the escalation, which had finished, writes nothing after it.
        assert [a.kind for a in alerts_of(info.ref)] == ["initial", REPLY_KIND]
    (sms,) = fake_twilio.wait_for(1)
    assert sms.to == primary and f"Reply 1 or ACK {info.ref}" in sms.body  # nobody has it: say how to take it
    assert f"Acknowledged #{info.ref}" in post_sms(alert_app, fake_twilio.auth_token, primary, "1")
    with alert_app.app_context():
        assert db.session.get(Tip, info.id).acknowledged_by_id == staff_by_phone(primary).id


def test_a_deactivated_acknowledger_is_replaced_by_the_chains_first_person(alert_app, fake_twilio):
    with alert_app.app_context():
        primary, backup = chain_phones("KWHS")[:2]
        info, code = _tip("critical")
        _told_the_chain(info)
        _acknowledge(info, backup)
        staff_by_phone(backup).active = False
        db.session.commit()
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        (notice,) = _notices(info)
        assert notice.staff_id == staff_by_phone(primary).id


def test_an_acknowledger_who_opted_out_or_has_no_phone_is_replaced_too(alert_app, fake_twilio):
    with alert_app.app_context():
        primary, backup = chain_phones("KWHS")[:2]
        info, code = _tip("critical")
        _acknowledge(info, backup)
        staff_by_phone(backup).sms_opted_out = True
        db.session.commit()
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        assert [n.staff_id for n in _notices(info)] == [staff_by_phone(primary).id]


def test_an_acknowledger_taken_off_the_school_is_replaced_too(alert_app, fake_twilio):
    """Moved to another school since taking the tip: the case is no longer theirs to open (the notice's link would
    be a 404), so the chain's first person is told."""
    from app.models import Assignment

    with alert_app.app_context():
        primary, backup = chain_phones("KWHS")[:2]
        info, code = _tip("critical")
        _acknowledge(info, backup)
        tip = db.session.get(Tip, info.id)
        db.session.execute(delete(Assignment).where(Assignment.staff_id == staff_by_phone(backup).id,
                                                    Assignment.school_id == tip.school_id))
        db.session.commit()
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        assert [n.staff_id for n in _notices(info)] == [staff_by_phone(primary).id]


def test_a_message_reopening_a_closed_critical_case_pages_whoever_took_it(alert_app, fake_twilio):
    with alert_app.app_context():
        backup = chain_phones("KWHS")[1]
        info, code = _tip("critical")
        _acknowledge(info, backup)
        tip = db.session.get(Tip, info.id)
        tip.status, tip.closed_at, tip.outcome = TipStatus.CLOSED.value, utcnow(), "unfounded"
        db.session.commit()
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        assert db.session.get(Tip, info.id).status == TipStatus.INVESTIGATING.value
        assert [n.staff_id for n in _notices(info)] == [staff_by_phone(backup).id]
        run_once("w")
    assert fake_twilio.wait_for(1)[0].to == backup


def test_a_failure_storing_the_message_leaves_no_notice(alert_app, fake_twilio, monkeypatch):
    from app.intake.submit import db_add_reporter_message

    with alert_app.app_context():
        info, code = _tip("critical")
        _acknowledge(info, chain_phones("KWHS")[0])

    def stored_then_locked(*args, **kwargs):
        db_add_reporter_message(*args, **kwargs)  # the message and its notice are in the session...
        db.session.flush()
        raise OperationalError("COMMIT", None, Exception("database is locked"))  # ...and never committed

    monkeypatch.setattr("app.intake.followup.db_add_reporter_message", stored_then_locked)
    assert _reporter_writes(alert_app, code) == 503
    with alert_app.app_context():
        assert _notices(info) == []
        assert db.session.scalar(select(func.count()).select_from(Message).where(Message.tip_id == info.id)) == 0


def test_a_failure_writing_the_notice_stores_no_message(alert_app, fake_twilio, monkeypatch):
    with alert_app.app_context():
        info, code = _tip("critical")
        _acknowledge(info, chain_phones("KWHS")[0])

    def locked(*_args, **_kwargs):
        raise OperationalError("INSERT", None, Exception("database is locked"))

    monkeypatch.setattr("app.alerts.reporter_messages.db_recipient_for_reply", locked)
    assert _reporter_writes(alert_app, code) == 503  # "Nothing was sent", the message given back to send again
    with alert_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message).where(Message.tip_id == info.id)) == 0
        assert _notices(info) == []


def test_a_1_answering_a_notice_on_a_taken_tip_does_not_acknowledge_another_alert(alert_app, fake_twilio):
    with alert_app.app_context():
        primary = chain_phones("KWHS")[0]
        taken, code = _tip("critical")
        _acknowledge(taken, primary)
        other, _ = _tip("high", "fighting")
        run_once("w")  # the other tip's SMS: open, unanswered
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        run_once("w")  # the notice, the newest SMS the phone has
    assert len(fake_twilio.wait_for(2)) == 2
    answer = post_sms(alert_app, fake_twilio.auth_token, primary, "1")
    assert f"#{taken.ref} was already acknowledged" in answer
    with alert_app.app_context():
        assert db.session.get(Tip, other.id).acknowledged_at is None  # still escalating to the next person
    # With the reference, the other tip is taken as before.
    assert f"Acknowledged #{other.ref}" in post_sms(alert_app, fake_twilio.auth_token, primary, f"ACK {other.ref}")


def test_a_notice_does_not_hold_back_a_new_tip_of_the_incident_to_fold_it(alert_app, fake_twilio):
    with alert_app.app_context():
        primary = chain_phones("KWHS")[0]
        first, code = _tip("high")
        _told_the_chain(first, minutes_ago=2)  # its own SMS too long ago to fold the next tip into one
        _acknowledge(first, primary)
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        run_once("w")  # the notice goes to the same person
        second, _ = _tip("high")  # same school, category and hour: the same incident
        assert second.incident_id == first.incident_id
        run_once("w")
        (alert,) = alerts_of(second.ref)
        assert (alert.kind, alert.status) == ("initial", AlertStatus.SENT.value)  # at once, not folded a minute on
    assert len(fake_twilio.wait_for(2)) == 2


def test_relabelling_to_critical_pages_although_a_notice_is_on_its_way(alert_app, fake_twilio, monkeypatch):
    _at(monkeypatch, SCHOOL_DAY)
    with alert_app.app_context():
        info, code = _tip("medium", "bullying")
        _told_the_chain(info)
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        assert len(_notices(info)) == 1  # pending: not an answer to the page a critical tip calls for
        tip = db.session.get(Tip, info.id)
        tip.label_urgency = "critical"
        page = db_alert_after_relabel(tip, before="medium")
        assert page is not None and page.kind == "initial"


def test_the_report_counts_no_notice_as_an_escalation_and_keeps_the_time_to_acknowledge(alert_app, fake_twilio):
    from app.reports.figures import db_quarter_figures, db_row_keys
    from app.reports.quarters import Quarter

    with alert_app.app_context():
        info, code = _tip("critical")
        run_once("w")
        _acknowledge(info, chain_phones("KWHS")[0])
        acknowledged_at = db.session.get(Tip, info.id).acknowledged_at
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        run_once("w")
        assert [a.kind for a in alerts_of(info.ref)] == ["initial", REPLY_KIND]
        assert db.session.get(Tip, info.id).acknowledged_at == acknowledged_at
        quarter = Quarter.containing(utcnow())
        categories, outcomes = db_row_keys([quarter], None)
        critical = db_quarter_figures(quarter, None, 1, categories, outcomes).response["critical"]
        assert (critical.tips, critical.acknowledged, critical.tips_escalated, critical.escalation_sms) == (1, 1, 0, 0)


def test_nobody_reachable_writes_no_notice_and_says_so(alert_app, fake_twilio, caplog):
    with alert_app.app_context():
        info, code = _tip("critical")
        _told_the_chain(info, escalated=True)
        for staff in db.session.scalars(select(Staff)):
            staff.phone = None
        db.session.commit()
    assert _reporter_writes(alert_app, code) == 303
    with alert_app.app_context():
        assert _notices(info) == []
    assert any("no reachable person" in r.getMessage() for r in caplog.records)
