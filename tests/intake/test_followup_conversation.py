"""The reporter's side of the conversation with staff: a reply sent twice from one page, a reply on a shredded case."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import REPLY_KIND, Alert, Attachment, Message
from tests.intake.helpers import jpeg_bytes, open_followup, post_multipart, submit_ok
from tests.support.forms import input_value

REPLY = "He is by the gym doors now, with the same backpack."


def _reply_form(client: Any) -> dict[str, str]:
    """What the follow-up page's reply form sends besides the message: its hidden fields, as a browser sends them."""
    page = client.get("/followup").get_data(as_text=True)
    form = page.split('id="reply"', 1)[1].split("</form>", 1)[0]
    fields = {}
    for name in ("csrf_token", "after"):
        value = input_value(form, name)
        if value is not None:
            fields[name] = value
    return fields


def _reporter_messages(app: Any) -> tuple[int, int, int]:
    """(reporter's messages, photos sent with them, notices of them) stored."""
    with app.app_context():
        return (db.session.scalar(select(func.count(Message.id)).where(Message.from_reporter.is_(True))) or 0,
                db.session.scalar(select(func.count(Attachment.id)).where(Attachment.message_id.isnot(None))) or 0,
                db.session.scalar(select(func.count(Alert.id)).where(Alert.kind == REPLY_KIND)) or 0)


@pytest.mark.parametrize("photos", [None, [(jpeg_bytes(), "gym.jpg")]], ids=["text", "text-and-photo"])
def test_a_reply_sent_twice_from_one_page_is_stored_once(intake_app, schools, photos):
    """A second tap on Send on a slow phone (the browser shows the second answer only), or Back to a refused
    reply's page and "send again" after it went through: the same reply from the same page is stored once, and the
    second answer says it was sent, as the first did. Staff read it once, and get one notice of it."""
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    form = {**_reply_form(client), "message": REPLY}
    first = post_multipart(client, "/followup/reply", form, photos)
    assert first.status_code == 303
    stored = _reporter_messages(intake_app)
    assert stored[0] == 1
    second = post_multipart(client, "/followup/reply", form, photos)
    assert second.status_code == 303
    page = client.get("/followup").get_data(as_text=True)
    assert "Your message was sent" in page and page.count(REPLY) == 1
    assert _reporter_messages(intake_app) == stored


def test_the_same_words_sent_again_from_a_new_page_are_a_new_message(intake_app, schools):
    """Only a form sent again counts as the same reply: "Yes." answering a second question is a message of its own,
    as is the same text with another photo."""
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    for photos in (None, None, [(jpeg_bytes((64, 48)), "a.jpg")]):
        sent = post_multipart(client, "/followup/reply", {**_reply_form(client), "message": "Yes."}, photos)
        assert sent.status_code == 303
    form = _reply_form(client)
    for photos in ([(jpeg_bytes((64, 48)), "a.jpg")], [(jpeg_bytes((80, 60)), "b.jpg")]):
        assert post_multipart(client, "/followup/reply", {**form, "message": "Yes."}, photos).status_code == 303
    assert _reporter_messages(intake_app)[:2] == (5, 3)


@pytest.mark.parametrize(("lang", "new"), [("en", "New"), ("es", "Nuevo")])
def test_a_staff_question_not_yet_seen_is_marked_new_once(intake_app, schools, lang, new):
    """A reporter coming back found staff's questions among their own messages with nothing to tell which had come
    since their last visit. A question shown for the first time is marked new, in the page's language; the next
    view shows it as read, like the rest."""
    from app.crypto.service import seal_for_tip
    from app.models import Tip

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert tip is not None
        for words in ("Which bathroom?", "What time?"):
            question = Message(tip_id=tip.id, from_reporter=False)
            db.session.add(question)
            db.session.flush()
            question.body_ct = seal_for_tip(tip, f"message:{question.id}", words.encode())
        db.session.commit()
    client.get(f"/followup?lang={lang}")
    page = open_followup(client, code).get_data(as_text=True)
    marks = page.count(f'<strong class="new">{new}</strong>')
    assert marks == 2, page
    assert f'<strong class="new">{new}</strong>' not in client.get("/followup").get_data(as_text=True)
