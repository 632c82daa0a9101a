"""The same inbound SMS delivered again (Twilio retrying, or a captured signed request replayed): the same answer,
and nothing changes, whatever happened since."""

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent
from notifications import messages
from tests.alerts.conftest import alerts_of, chain_phones, make_tip, post_sms, staff_by_phone

STOP_SID, START_SID, SECOND_STOP_SID = "SM" + "1" * 32, "SM" + "2" * 32, "SM" + "3" * 32


def _opted_out(phone: str) -> bool:
    return staff_by_phone(phone).sms_opted_out


def _events(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)) or 0


def test_a_stop_delivered_again_after_start_does_not_opt_the_person_out_again(alert_app, fake_twilio):
    """The SRO sent STOP, then START: a replay of the STOP (or Twilio posting it again late) opted them out again
    without a word to them, and the next critical tip skipped them."""
    token = fake_twilio.auth_token
    with alert_app.app_context():
        primary = chain_phones("NCHS")[0]
    first = post_sms(alert_app, token, primary, "STOP", message_sid=STOP_SID)
    assert "on again" in post_sms(alert_app, token, primary, "START", message_sid=START_SID)
    assert post_sms(alert_app, token, primary, "STOP", message_sid=STOP_SID) == first  # the same answer
    with alert_app.app_context():
        assert _opted_out(primary) is False
        assert (_events("staff.sms_opted_out"), _events("staff.sms_opted_in")) == (1, 1)
        (alert,) = alerts_of(make_tip("NCHS", "critical").ref)
        assert alert.chain_position == 1  # the SRO is paged, not skipped


def test_a_start_delivered_again_after_stop_does_not_turn_alerts_back_on(alert_app, fake_twilio):
    token = fake_twilio.auth_token
    with alert_app.app_context():
        primary = chain_phones("NCHS")[0]
    post_sms(alert_app, token, primary, "STOP", message_sid=STOP_SID)
    assert "on again" in post_sms(alert_app, token, primary, "START", message_sid=START_SID)
    post_sms(alert_app, token, primary, "STOP", message_sid=SECOND_STOP_SID)
    assert "on again" in post_sms(alert_app, token, primary, "START", message_sid=START_SID)
    with alert_app.app_context():
        assert _opted_out(primary) is True
        assert _events("staff.sms_opted_in") == 1


def test_a_start_that_changed_nothing_delivered_again_after_stop_changes_nothing(alert_app, fake_twilio):
    """"Yes" (a START word) from a number that had not opted out is answered with how to acknowledge and changes
    nothing; the same SMS posted again after the person sent STOP must not turn their alerts back on."""
    token = fake_twilio.auth_token
    help_text = messages.help_reply(alert_app.config["PUBLIC_BASE_URL"])
    with alert_app.app_context():
        primary = chain_phones("NCHS")[0]
    first = post_sms(alert_app, token, primary, "YES", message_sid=START_SID)
    assert "Reply ACK" in first
    post_sms(alert_app, token, primary, "STOP", message_sid=SECOND_STOP_SID)
    assert post_sms(alert_app, token, primary, "YES", message_sid=START_SID) == first
    assert help_text.split(" Cases:")[0] in first
    with alert_app.app_context():
        assert _opted_out(primary) is True
        assert _events("staff.sms_opted_in") == 0
