"""A district admin checks that a school's chain is reached: a test SMS asked for on the school's page, sent by the
alert worker through the official twilio client (the fake Twilio on 127.0.0.1), its delivery shown on the page."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.alerts.dispatcher import run_once
from app.extensions import db
from app.models import Alert, AuditEvent, SmsCheck, Staff, Tip
from tests.alerts.conftest import CLOSED_PORT_URL, twilio_settings
from tests.console.helpers import World, an_sms_refused_five_minutes_ago, build_world, sign_in
from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FakeTwilio
from tests.fakes.twilio_webhooks import signed_headers
from tests.support.forms import csrf_token


def _world(make_app: Callable[..., Flask], fake: FakeTwilio) -> tuple[World, FlaskClient]:
    app = make_app(**twilio_settings(fake), PUBLIC_BASE_URL=CLOSED_PORT_URL)
    world = build_world(app)
    admin = app.test_client()
    assert sign_in(admin, world, "admin").status_code == 302
    return world, admin


def _ask(world: World, admin: FlaskClient, key: str) -> str:
    path = f"/console/admin/schools/{world.school_a}"
    return admin.post(f"{path}/test-sms", data={"csrf_token": csrf_token(admin, path),
                                                "staff_id": str(world.people[key])},
                      follow_redirects=True).get_data(as_text=True)


def _report(app: Flask, fake: FakeTwilio, callback: str, sid: str, status: str, error_code: str = "") -> int:
    params = {"MessageSid": sid, "MessageStatus": status, "ErrorCode": error_code, "AccountSid": FAKE_ACCOUNT_SID}
    return app.test_client().post(callback.removeprefix(CLOSED_PORT_URL), data=params, base_url=CLOSED_PORT_URL,
                                  headers=signed_headers(callback, params, fake.auth_token)).status_code


def test_a_test_sms_goes_through_the_worker_and_its_delivery_shows_on_the_school_page(make_app) -> None:
    """There was no way to see that a school's chain is reached short of a made-up tip, which pages the whole chain
    for real and stays in the quarterly figures."""
    with FakeTwilio() as fake:
        world, admin = _world(make_app, fake)
        page = _ask(world, admin, "sro_a")
        assert "Test SMS queued" in page and "waiting for the alert worker" in page
        assert fake.messages == []  # never from the web request
        with world.app.app_context():
            event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.test_requested")).one()
            assert world.emails["sro_a"] in event.detail and str(world.school_a) in event.detail
            assert run_once("w").get("tests") == 1
            assert db.session.scalar(select(Tip.id)) is None and db.session.scalar(select(Alert.id)) is None
            phone = db.session.get(Staff, world.people["sro_a"]).phone  # type: ignore[union-attr]
        (message,) = fake.messages
        assert message.to == phone and message.body.startswith("TIPLINE TEST for AHS")
        assert len(message.body) <= 160 and message.validity_period
        assert "handed to Twilio" in admin.get(f"/console/admin/schools/{world.school_a}").get_data(as_text=True)
        assert message.status_callback is not None
        assert _report(world.app, fake, message.status_callback, "SMwrong", "delivered") == 204  # another SMS
        assert _report(world.app, fake, message.status_callback, message.sid, "delivered") == 204
        page = admin.get(f"/console/admin/schools/{world.school_a}").get_data(as_text=True)
        assert "delivered to the phone" in page
        # A late "failed" replayed after "delivered" does not move it back.
        assert _report(world.app, fake, message.status_callback, message.sid, "undelivered", "30003") == 204
        with world.app.app_context():
            assert db.session.scalars(select(SmsCheck.status)).all() == ["delivered"]


def test_a_number_the_carrier_cannot_reach_reads_failed_with_the_reason(make_app) -> None:
    with FakeTwilio() as fake:
        world, admin = _world(make_app, fake)
        with world.app.app_context():
            phone = db.session.get(Staff, world.people["sro_a"]).phone  # type: ignore[union-attr]
        fake.reject_number(phone, 21614)  # not a mobile number
        _ask(world, admin, "sro_a")
        with world.app.app_context():
            run_once("w")
        page = admin.get(f"/console/admin/schools/{world.school_a}").get_data(as_text=True)
        assert "<strong>failed: " in page


def test_a_test_sms_is_refused_to_someone_it_cannot_reach_or_not_of_the_school(make_app) -> None:
    with FakeTwilio() as fake:
        world, admin = _world(make_app, fake)
        assert "not assigned to this school" in _ask(world, admin, "sro_b")
        with world.app.app_context():
            person = db.session.get(Staff, world.people["counselor_a"])
            assert person is not None
            person.phone = None
            db.session.commit()
        assert "cannot be sent an SMS (no phone)" in _ask(world, admin, "counselor_a")
        assert "Test SMS queued" in _ask(world, admin, "sro_a")
        assert "on its way already" in _ask(world, admin, "sro_a")  # pressed twice: one SMS
        with world.app.app_context():
            assert db.session.query(SmsCheck).count() == 1
            run_once("w")
        assert len(fake.messages) == 1


def test_test_sms_wait_while_twilio_fails_alerts(make_app) -> None:
    """A tip's SMS comes first: while Twilio fails them, no test is sent in the round."""
    from tests.fakes.twilio_api import Fault
    from tests.support.tips import make_tip

    with FakeTwilio() as fake:
        world, admin = _world(make_app, fake)
        _ask(world, admin, "sro_a")
        fake.script(Fault.server_error(503))
        with world.app.app_context():
            make_tip(world.school_a, urgency="critical", plan_alerts=True)
            counts = run_once("w")
            assert counts.get("retry") == 1 and "tests" not in counts
            assert db.session.scalars(select(SmsCheck.status)).all() == ["pending"]


def test_a_test_sms_delivered_after_a_number_was_corrected_clears_unreachable_and_one_refused_sets_it(
        make_app) -> None:
    """The Schools list marks a person "unreachable" after their newest SMS failed for good, "until an SMS to them
    gets through": the admin corrected the mistyped number and saw the test SMS delivered, but the mark stayed until
    the next real tip. A test SMS now counts as such an SMS, delivered or refused for good alike."""
    with FakeTwilio() as fake:
        world, admin = _world(make_app, fake)
        an_sms_refused_five_minutes_ago(world, "sro_a")
        assert "(unreachable: invalid To number)" in admin.get("/console/admin/schools").get_data(as_text=True)
        _ask(world, admin, "sro_a")
        with world.app.app_context():
            run_once("w")
        (message,) = fake.messages
        assert message.status_callback is not None
        _report(world.app, fake, message.status_callback, message.sid, "delivered")
        assert "unreachable" not in admin.get("/console/admin/schools").get_data(as_text=True)
        fake.reject_number(message.to, 21614)
        _ask(world, admin, "sro_a")
        with world.app.app_context():
            run_once("w")
        assert "(unreachable: " in admin.get("/console/admin/schools").get_data(as_text=True)
