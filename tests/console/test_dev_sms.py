"""The developer's SMS page under `make run`: lists what the console transport printed, never in production."""

import secrets

from app.alerts.dispatcher import run_once
from app.console import clock
from app.extensions import db
from app.models import Staff
from tests.alerts.conftest import make_tip


def sign_in_as(client, app, email):
    """Straight into the session: the sign-in itself is tested in test_auth.py."""
    with app.app_context():
        staff = db.session.query(Staff).filter_by(email=email).one()
        session_id = staff.get_id()
    now = clock.seconds(clock.now())
    with client.session_transaction() as session:
        session.update({"_user_id": session_id, "_fresh": True, "signed_in_at": now, "last_seen": now,
                        "sid": secrets.token_urlsafe(16)})


def test_dev_page_lists_console_sms(demo):
    with demo.app_context():
        tip = make_tip("KWHS", "critical")
        run_once("dev")
    client = demo.test_client()
    sign_in_as(client, demo, "d.ortiz@cpd.example")
    page = client.get("/console/dev/sms")
    assert page.status_code == 200
    assert f"#{tip.ref}".encode() in page.data


def test_dev_page_shows_staff_only_their_own_sms(demo):
    # The SMS name a tip's reference, school, category and urgency: someone of another school must not read them
    # here either. District admins see every one.
    with demo.app_context():
        tip = make_tip("KWHS", "critical")
        run_once("dev")
    rural = demo.test_client()
    sign_in_as(rural, demo, "k.brandt@ncso.example")
    page = rural.get("/console/dev/sms")
    assert page.status_code == 200 and f"#{tip.ref}".encode() not in page.data
    admin = demo.test_client()
    sign_in_as(admin, demo, "admin@ncsd.example")
    assert f"#{tip.ref}".encode() in admin.get("/console/dev/sms").data


def test_dev_page_is_gone_with_twilio(make_app):
    app = make_app(TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="t" * 32, TWILIO_FROM_NUMBER="+15005550006")
    from app.demo_data import seed_demo

    with app.app_context():
        seed_demo()
    client = app.test_client()
    sign_in_as(client, app, "d.ortiz@cpd.example")
    assert client.get("/console/dev/sms").status_code == 404
