"""Alert tests: the real twilio client against the fake Twilio REST server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Alert, School, Staff, Tip
from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FAKE_SENDER, FakeTwilio
from tests.support.tips import make_tip as make_sealed_tip

CLOSED_PORT_URL = "http://127.0.0.1:9"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(callback_delay_s=0.05) as fake:
        yield fake


def twilio_settings(fake: FakeTwilio) -> dict[str, Any]:
    return {
        "TWILIO_ACCOUNT_SID": FAKE_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": FAKE_SENDER, "TWILIO_API_BASE_URL": fake.url, "TWILIO_TIMEOUT_S": 1,
    }


@pytest.fixture
def alert_app(make_app: Callable[..., Flask], fake_twilio: FakeTwilio) -> Flask:
    """The demo district with SMS going to the fake Twilio."""
    from app.demo_data import seed_demo

    # Status callbacks go to PUBLIC_BASE_URL: a closed loopback port unless a test serves the app (LiveServer).
    app = make_app(**twilio_settings(fake_twilio), ALERT_ACK_TIMEOUT_CRITICAL_S=1, ALERT_ACK_TIMEOUT_HIGH_S=2,
                   ALERT_MAX_REPEATS=1, PUBLIC_BASE_URL=CLOSED_PORT_URL)
    with app.app_context():
        seed_demo()
    return app


@dataclass(frozen=True)
class TipInfo:
    id: int
    ref: str
    incident_id: int | None


def make_tip(school_short: str, urgency: str, category: str = "weapon") -> TipInfo:
    """A sealed tip of the school and its outbox rows, written in one transaction as intake writes them."""
    school_id = db.session.scalar(select(School.id).where(School.short_name == school_short))
    assert school_id is not None
    tip = make_sealed_tip(school_id, urgency=urgency, category=category, plan_alerts=True)
    return TipInfo(tip.id, tip.ref, tip.incident_id)


def chain_phones(school_short: str) -> list[str]:
    from app.alerts.planning import chain_of

    school = db.session.scalar(select(School).where(School.short_name == school_short))
    assert school is not None
    return [staff.phone for _, staff in chain_of(school.id) if staff.phone]


def alerts_of(tip_ref: str) -> list[Alert]:
    return list(db.session.scalars(select(Alert).join(Tip).where(Tip.ref == tip_ref).order_by(Alert.id)))


def staff_by_phone(phone: str) -> Staff:
    staff = db.session.scalar(select(Staff).where(Staff.phone == phone))
    assert staff is not None
    return staff


def post_status(app: Flask, token: str, alert_id: int, sid: str, status: str, error_code: int, *,
                callback_url: str | None = None) -> int:
    """A signed delivery-status callback for one alert, as Twilio posts it; returns the HTTP status.

    `callback_url`: the StatusCallback the worker gave Twilio with that SMS (`ReceivedMessage.status_callback`);
    by default the alert's URL without the send's number."""
    from tests.fakes.twilio_webhooks import signed_headers

    url = callback_url or f"{CLOSED_PORT_URL}/hooks/twilio/status?alert={alert_id}"
    assert url.startswith(CLOSED_PORT_URL), url
    params = {"MessageSid": sid, "MessageStatus": status, "ErrorCode": str(error_code), "AccountSid": FAKE_ACCOUNT_SID}
    response = app.test_client().post(url.removeprefix(CLOSED_PORT_URL), data=params,
                                      headers=signed_headers(url, params, token), base_url=CLOSED_PORT_URL)
    return int(response.status_code)


def post_sms(app: Flask, token: str, from_: str, body: str, *, message_sid: str | None = None) -> str:
    """A signed inbound SMS, as Twilio posts it; returns the reply (TwiML) the app answers with. The same
    `message_sid` twice is one SMS delivered twice (Twilio retrying, or a captured request replayed)."""
    from tests.fakes.twilio_webhooks import inbound_sms_params, signed_headers

    url = f"{CLOSED_PORT_URL}/hooks/twilio/sms"
    params = inbound_sms_params(from_, body, to=FAKE_SENDER, account_sid=FAKE_ACCOUNT_SID, message_sid=message_sid)
    response = app.test_client().post("/hooks/twilio/sms", data=params, headers=signed_headers(url, params, token),
                                      base_url=CLOSED_PORT_URL)
    return response.get_data(as_text=True)
