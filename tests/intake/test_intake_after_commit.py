"""A tip, a reply or an opened report that was stored is answered as stored, even when the database refuses in
the instant after the commit (another writer taking SQLite's write lock, PostgreSQL gone): the 503 page says
"Nothing was sent", and a reporter who believed it would send the tip twice, or give up on it."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Message, Tip
from tests.intake.helpers import post_multipart, submit, submit_ok
from tests.support.forms import csrf_token
from tests.support.refused_after_commit import database_refusing_after_commit

TEXT = "A boy in my class said he will bring a knife to school tomorrow and hurt someone."


def test_a_tip_stored_is_answered_with_its_receipt_when_the_database_refuses_just_after(intake_app, schools):
    client = intake_app.test_client()
    token = csrf_token(client, "/report")
    with database_refusing_after_commit(intake_app) as after:
        response = submit(client, schools["kelly"], TEXT, csrf=token)
    assert after.commits
    assert response.status_code == 303 and response.headers["Location"] == "/receipt"
    assert 'id="receipt-code"' in client.get("/receipt").get_data(as_text=True)
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 1


def test_a_report_opened_and_a_reply_sent_are_answered_as_such_when_the_database_refuses_just_after(
        intake_app, schools):
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], TEXT)
    token = csrf_token(client, "/followup")
    with database_refusing_after_commit(intake_app) as after:
        opened = client.post("/followup", data={"code": code, "csrf_token": token})
    assert after.commits
    assert opened.status_code == 303 and opened.headers["Location"] == "/followup"
    token = csrf_token(client, "/followup")
    with database_refusing_after_commit(intake_app) as after:
        replied = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": "It is a blue car."},
                                 None)
    assert after.commits
    assert replied.status_code == 303 and replied.headers["Location"] == "/followup"
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Message.id)).where(Message.from_reporter.is_(True))) == 1
