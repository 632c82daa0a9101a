"""The whole way of an urgent tip: the reporter's form, the outbox, the fake Twilio, the SRO's reply."""

import re
import time

from sqlalchemy import select

from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import School, Tip
from tests.alerts.conftest import alerts_of, chain_phones
from tests.fakes.fake_twilio import send_inbound_sms
from tests.intake.helpers import LOOSE_LIMITS, submit_ok
from tests.support.live_server import LiveServer

TIP_TEXT = ("Marcus Quillfeather showed me a loaded pistol in his backpack at Kelly Walsh right now, "
            "he is in the cafeteria near the vending machines and said people will see today")


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 4} - {"kelly", "walsh"}


def test_critical_tip_from_the_form_reaches_the_primary_sro_and_an_ack_stops_it(alert_app, fake_twilio):
    alert_app.config.update(LOOSE_LIMITS)
    with alert_app.app_context():
        kwhs = db.session.scalar(select(School.id).where(School.short_name == "KWHS"))
        primary = chain_phones("KWHS")[0]
    client = alert_app.test_client()
    ref, _code = submit_ok(client, kwhs, TIP_TEXT, happening_now="yes")
    with alert_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert tip.urgency == "critical" and tip.category in {"weapon", "threat_of_violence"}
        assert len(alerts_of(ref)) == 1  # written in the intake transaction
        run_once("test")
    (sms,) = fake_twilio.wait_for(1)
    assert sms.to == primary and f"#{ref}" in sms.body
    leaked = _words(TIP_TEXT) & set(re.findall(r"[a-z]+", sms.body.lower()))
    assert not leaked, f"tip words in the SMS: {leaked}"
    with LiveServer(alert_app) as url:
        reply = send_inbound_sms(f"{url}/hooks/twilio/sms", primary, "1", fake_twilio.auth_token)
        assert f"Acknowledged #{ref}" in reply.text
    time.sleep(1.2)  # past this app's critical acknowledgement timeout
    with alert_app.app_context():
        run_once("test")
    assert len(fake_twilio.messages) == 1  # nothing more after the acknowledgement
