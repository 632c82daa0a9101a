"""The reporter's pages: what they say, the receipt step, follow-up, languages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.crypto.service import open_for_tip, seal_for_tip
from app.extensions import db
from app.models import Alert, Attachment, Message, Tip
from tests.intake.helpers import jpeg_bytes, open_followup, post_multipart, submit, submit_ok
from tests.support.forms import csrf_token


def _end_the_followup_visit(app: Any) -> None:
    """The reporter's follow-up visit ends as after 15 idle minutes: its session is past its expiry."""
    from datetime import timedelta

    from app.models import ReporterSession, utcnow

    with app.app_context():
        row = db.session.scalar(select(ReporterSession).where(ReporterSession.purpose == "followup"))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def _followup_visit_that_ended(app: Any, schools: dict[str, Any]) -> tuple[Any, str, str, str]:
    """A report sent and opened again with its receipt code, whose visit then ended while the reporter wrote: the
    client, the reference, the receipt code and the reply form's CSRF token from before the end."""
    client = app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    token = csrf_token(client, "/followup")
    _end_the_followup_visit(app)
    return client, ref, code, token


def test_home_page(intake_app):
    page = intake_app.test_client().get("/").get_data(as_text=True)
    assert "call 911" in page and "Report something" in page and "Check on a report" in page
    assert 'href="/report"' in page and 'href="/followup"' in page
    assert "<script src=\"/static/intake.js\"" in page and "http" not in page.split("<body>")[0].replace(
        "http-equiv", "")


def test_the_home_and_thank_you_pages_name_the_988_crisis_line_in_both_languages(intake_app, schools):
    # A student thinking of hurting themselves may come to a tip line first; it must not be only a place to report.
    client = intake_app.test_client()
    assert "Call or text 988, the Suicide and Crisis Lifeline" in client.get("/").get_data(as_text=True)
    submit_ok(client, schools["kelly"], "I keep thinking about ending it all, nobody would care.")
    assert "Call or text 988" in client.get("/done").get_data(as_text=True)
    spanish = {"Accept-Language": "es"}
    home = client.get("/", headers=spanish).get_data(as_text=True)
    assert "al 988, la Línea de Prevención del Suicidio y Crisis" in home and "oprime 2" in home
    assert "Línea de Prevención del Suicidio y Crisis" in client.get("/done?lang=es").get_data(as_text=True)


def test_the_home_page_says_a_school_device_or_network_may_keep_records(intake_app):
    # Tipline keeps no address, but a school laptop's monitoring software or the school's Wi-Fi may: a student who
    # wants the most privacy should know to use their own phone on mobile data.
    client = intake_app.test_client()
    assert "use your own phone on mobile data" in client.get("/").get_data(as_text=True)
    assert "usa tu propio teléfono con datos móviles" in client.get("/", headers={"Accept-Language": "es"}).get_data(
        as_text=True)


def test_report_form_groups_schools_by_town(intake_app, schools):
    page = intake_app.test_client().get("/report").get_data(as_text=True)
    assert '<optgroup label="Casper">' in page and '<optgroup label="Mills">' in page
    assert "Kelly Walsh High School" in page and "Old School" not in page
    assert 'for="description"' in page and "optional" in page


def test_tip_is_classified_and_alerts_planned(intake_app, schools):
    client = intake_app.test_client()
    ref, _ = submit_ok(client, schools["kelly"], "He said he will shoot people at school tomorrow, he has a gun.",
                       happening_now="yes")
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert tip.urgency in {"critical", "high"} and tip.urgency_rank >= 2 and tip.happening_now is True
        assert tip.model_version and 0 <= tip.confidence <= 1
        assert db.session.scalar(select(Alert).where(Alert.tip_id == tip.id)) is not None
    page = client.get("/receipt").get_data(as_text=True)
    assert tip.urgency not in page and "critical" not in page


def test_receipt_must_be_confirmed_and_is_shown_until_then(intake_app, schools):
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "A student is being bullied every day at lunch.")
    token = csrf_token(client, "/receipt")
    unconfirmed = client.post("/receipt", data={"csrf_token": token})
    page = unconfirmed.get_data(as_text=True)
    assert unconfirmed.status_code == 422 and "tick the box" in page and code in page
    home = client.get("/").get_data(as_text=True)
    assert "not confirmed that you saved your receipt code" in home and code not in home
    confirmed = client.post("/receipt", data={"csrf_token": token, "saved": "yes"})
    assert confirmed.status_code == 303 and confirmed.headers["Location"].endswith("/done")
    again = client.get("/receipt")
    assert again.status_code == 404 and code not in again.get_data(as_text=True)
    assert "no-store" in again.headers["Cache-Control"]


def test_the_unsaved_receipt_banner_ends_with_the_receipt(intake_app, schools, monkeypatch):
    """The receipt can be shown for 30 minutes; the banner "You have not confirmed that you saved your receipt code"
    outlived it, on every page until the browser closed: on a shared school computer, the next student learned that
    someone there had sent a report. Once the receipt is gone, the banner and its cookie entry go too."""
    from datetime import timedelta

    import app.intake.reporter_sessions as rs

    client = intake_app.test_client()
    submit_ok(client, schools["kelly"], "A student is being bullied every day at lunch.")
    banner = "not confirmed that you saved your receipt code"
    assert banner in client.get("/report").get_data(as_text=True)
    now = rs.utcnow()
    monkeypatch.setattr(rs, "utcnow", lambda: now + rs.RECEIPT_TTL - timedelta(seconds=5))
    assert banner in client.get("/").get_data(as_text=True)
    monkeypatch.setattr(rs, "utcnow", lambda: now + rs.RECEIPT_TTL + timedelta(seconds=5))
    for path in ("/", "/report", "/followup"):
        assert banner not in client.get(path).get_data(as_text=True), path
    with client.session_transaction() as cookie:
        assert not set(cookie) & {"r", "re"}, dict(cookie)
    assert client.get("/receipt").status_code == 404


def test_the_cookie_does_not_say_when_the_report_was_sent(intake_app, schools):
    """The session cookie is signed, not encrypted: anyone at the browser can read it. The receipt's end time kept
    there for the banner said, to the second, when the report was sent (less 30 minutes), which staff can match to
    a tip. It is sealed under a key of the server's: the cookie holds no time anyone else can read."""
    import app.intake.reporter_sessions as rs

    client = intake_app.test_client()
    submit_ok(client, schools["kelly"], "A student is being bullied every day at lunch.")
    ends = int((rs.utcnow() + rs.RECEIPT_TTL).timestamp())  # naive UTC read as local: a wide window either way
    readable = repr(intake_app.session_interface.get_signing_serializer(intake_app).loads(
        client.get_cookie(intake_app.config["SESSION_COOKIE_NAME"]).value))
    for second in range(ends - 86_400, ends + 86_400, 1):
        if str(second) in readable:
            raise AssertionError(f"the cookie holds a time: {readable}")


def test_followup_shows_status_and_questions_and_takes_replies(intake_app, schools):
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        question = Message(tip_id=tip.id, from_reporter=False)
        db.session.add(question)
        db.session.flush()
        question.body_ct = seal_for_tip(tip, f"message:{question.id}", b"Which bathroom? <b>When</b>?")
        tip.status = "investigating"
        db.session.commit()
    page = open_followup(client, code).get_data(as_text=True)
    assert "Being reviewed" in page and "Which bathroom? &lt;b&gt;When&lt;/b&gt;?" in page
    token = csrf_token(client, "/followup")
    response = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": "The one by the gym."},
                              [(jpeg_bytes(), "gym.jpg")])
    assert response.status_code == 303
    page = client.get("/followup").get_data(as_text=True)
    assert "Your message was sent" in page and "The one by the gym." in page
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert tip.reporter_reply_unread is True and tip.reporter_replied_at is not None
        reply = db.session.scalar(select(Message).where(Message.from_reporter.is_(True)))
        assert open_for_tip(tip, f"message:{reply.id}", reply.body_ct) == b"The one by the gym."
        photo = db.session.scalar(select(Attachment).where(Attachment.message_id == reply.id))
        assert photo is not None and photo.tip_id == tip.id
        staff_message = db.session.scalar(select(Message).where(Message.from_reporter.is_(False)))
        assert staff_message.read_at is not None
        tip.status = "closed"
        db.session.commit()
    assert "Closed" in client.get("/followup").get_data(as_text=True)
    empty = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": ""}, None)
    assert empty.status_code == 422 and "Write a message or add a photo" in empty.get_data(as_text=True)


def test_the_reporter_sees_which_of_their_messages_carried_photos(intake_app, schools):
    """A reply of a photo alone showed as an empty bubble, and a reply with photos as its words alone, so the
    reporter could not tell whether the photos had reached staff. Each message says how many it carried."""
    import re

    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    for message, photos in (("", [(jpeg_bytes(), "locker.jpg")]),
                            ("Both of them.", [(jpeg_bytes(), "a.jpg"), (jpeg_bytes(fmt="PNG"), "b.png")]),
                            ("No photo this time.", None)):
        sent = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                          "message": message}, photos)
        assert sent.status_code == 303
    for lang, words in (("en", ["1 photo", "2 photos"]), ("es", ["1 foto", "2 fotos"])):
        page = client.get(f"/followup?lang={lang}").get_data(as_text=True)
        mine = re.findall(r'<li class="mine">(.*?)</li>', page, re.S)
        assert len(mine) == 3
        assert words[0] in mine[0] and '<p class="body"></p>' not in mine[0]
        assert "Both of them." in mine[1] and words[1] in mine[1]
        assert "No photo this time." in mine[2] and "photo" not in mine[2].replace("No photo this time.", "")
        assert "foto" not in mine[2]


def test_a_closed_case_tells_the_reporter_it_is_closed_and_that_writing_reopens_it(intake_app, schools):
    """A closed case said 'Closed', then 'No questions yet. Staff may write to you here: please check again in a
    day or two': a reporter kept coming back for a question that would never come, and was not told that a new
    message is still read. It says what closed means, in both languages; an open case keeps its words."""
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    page = open_followup(client, code).get_data(as_text=True)
    assert "check again in a day or two" in page and "finished with this report" not in page
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        tip.status = "closed"
        db.session.commit()
    page = client.get("/followup").get_data(as_text=True)
    assert "Closed" in page and "check again in a day or two" not in page
    assert "Staff have finished with this report" in page and "the report is opened again" in page
    spanish = client.get("/followup?lang=es").get_data(as_text=True)
    assert "Cerrado" in spanish and "uno o dos días" not in spanish
    assert "terminó de atender este reporte" in spanish and "se abrirá otra vez" in spanish


def test_spanish_by_browser_and_by_switch(intake_app):
    client = intake_app.test_client()
    page = client.get("/", headers={"Accept-Language": "es-ES,es;q=0.9"}).get_data(as_text=True)
    assert 'lang="es"' in page and "llama al 911" in page
    client = intake_app.test_client()
    assert 'lang="en"' in client.get("/").get_data(as_text=True)
    switched = client.get("/?lang=es").get_data(as_text=True)
    assert "Reportar algo" in switched and 'href="/?lang=en"' in switched
    assert "¿Qué está pasando?" in client.get("/report").get_data(as_text=True)
    assert 'lang="es"' in client.get("/followup").get_data(as_text=True)


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_reporter_message_on_a_closed_case_reopens_it_for_staff(intake_app, schools, status):
    from datetime import timedelta

    from app.alerts.reporter_messages import pages_now
    from app.audit import parse_detail
    from app.console.queue import OPEN_STATUSES
    from app.models import REPLY_KIND, AuditEvent, utcnow
    from app.retention import db_purge_expired_tips

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        tip.status, tip.outcome = status, "unfounded"
        tip.closed_at = utcnow() - timedelta(days=1) if status == "closed" else None
        alerts = db.session.scalar(select(func.count(Alert.id)))
        db.session.commit()
    open_followup(client, code)
    response = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                          "message": "He is selling again, now in the gym."}, None)
    assert response.status_code == 303
    assert "Your message was sent" in client.get("/followup").get_data(as_text=True)
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert tip.status in OPEN_STATUSES and tip.reporter_reply_unread  # in the SRO's queue, marked
        assert tip.closed_at is None and tip.outcome is None
        # Reopened, it pages like any reporter's message when its urgency pages now (README, Alerts): one notice.
        notices = db.session.scalar(select(func.count(Alert.id)).where(Alert.kind == REPLY_KIND))
        assert db.session.scalar(select(func.count(Alert.id))) == alerts + notices
        assert notices == (1 if pages_now(tip, utcnow()) else 0)
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.tip_ref == ref,
                                                           AuditEvent.action == "tip.status_changed"))
        assert event is not None and event.actor_id is None and event.actor_label == "reporter"
        assert parse_detail(event) == {"before": status, "after": tip.status, "reason": "reporter_message"}
        db_purge_expired_tips(now=utcnow() + timedelta(days=400))  # the message is not shredded unread
        db.session.commit()
        reply = db.session.scalar(select(Message).where(Message.tip_id == tip.id, Message.from_reporter.is_(True)))
        assert reply.body_ct is not None


def test_reporter_message_on_an_open_case_leaves_its_status(intake_app, schools):
    from app.models import AuditEvent

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                               "message": "It was during third period."}, None)
    with intake_app.app_context():
        assert db.session.scalar(select(Tip.status).where(Tip.ref == ref)) == "new"
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "tip.status_changed")) is None


def test_a_reply_sent_after_the_session_ended_is_kept_until_the_code_is_entered_again(intake_app, schools):


    client, ref, code, token = _followup_visit_that_ended(intake_app, schools)  # the answer took over 15 minutes
    answer = "His name is on the list in his locker & he said Friday."
    ended = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": answer},
                           [(jpeg_bytes(), "locker.jpg")])
    page = ended.get_data(as_text=True)
    assert ended.status_code == 200 and ref not in page and 'name="code"' in page
    assert "not sent yet" in page and "His name is on the list in his locker &amp; he said Friday." in page
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 0
    wrong = client.post("/followup", data={"code": "0000-0000-0000-0000-0000", "message": answer,
                                           "csrf_token": csrf_token(client, "/followup")})
    assert "could not open a report" in wrong.get_data(as_text=True)
    assert "he said Friday." in wrong.get_data(as_text=True)
    opened = client.post("/followup", data={"code": code, "message": answer,
                                            "csrf_token": csrf_token(client, "/followup")}, follow_redirects=True)
    page = opened.get_data(as_text=True)
    assert opened.status_code == 200 and ref in page and "he said Friday.</textarea>" in page
    assert "not sent yet" in page
    sent = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                      "message": answer}, None)
    assert sent.status_code == 303
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        reply = db.session.scalar(select(Message).where(Message.from_reporter.is_(True)))
        assert open_for_tip(tip, f"message:{reply.id}", reply.body_ct) == answer.encode()


def test_a_reply_of_photos_alone_sent_after_the_session_ended_says_they_were_not_sent(intake_app, schools):
    """A photo with no words, sent after 15 minutes: the receipt-code page came back as if nothing had been
    sent, so the reporter believed the photo was with staff. It says the photos were not sent, in both languages,
    as does the language button's page of an ended visit with photos chosen."""


    client, ref, code, token = _followup_visit_that_ended(intake_app, schools)
    ended = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": ""},
                           [(jpeg_bytes(), "locker.jpg")])
    page = ended.get_data(as_text=True)
    assert ended.status_code == 200 and ref not in page and 'name="code"' in page
    assert "Your photos were not sent" in page and "add your photos again" in page
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 0
    spanish = client.post("/followup/language?lang=es", data={"csrf_token": csrf_token(client, "/followup"),
                                                              "message": "", "photos": "locker.jpg"})
    assert "Tus fotos no se enviaron" in spanish.get_data(as_text=True)
    plain = client.get("/followup?lang=en").get_data(as_text=True)  # nothing was sent: nothing to say
    assert "photos were not sent" not in plain


def test_a_reply_of_only_spaces_is_refused_and_does_not_reopen_the_case(intake_app, schools):
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        tip.status = "closed"
        db.session.commit()
    open_followup(client, code)
    response = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                          "message": " \r\n\t \u00a0"}, None)
    assert response.status_code == 422 and "Write a message or add a photo" in response.get_data(as_text=True)
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 0
        assert db.session.scalar(select(Tip.status).where(Tip.ref == ref)) == "closed"


def test_the_language_switch_of_a_refused_reply_opens_a_page(intake_app, schools):
    import re

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    refused = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                         "message": "Here is a picture."}, [(b"not a photo", "x.jpg")])
    assert refused.status_code == 422
    switch = re.search(r'<button[^>]*formaction="([^"]+)"[^>]*>Español</button>', refused.get_data(as_text=True))
    assert switch is not None
    spanish = client.post(switch.group(1).replace("&amp;", "&"),
                          data={"csrf_token": csrf_token(client, "/followup"), "message": "Here is a picture."})
    page = spanish.get_data(as_text=True)
    assert spanish.status_code == 200 and 'lang="es"' in page and ref in page and "Tu reporte" in page
    assert "Here is a picture.</textarea>" in page


def test_the_language_switch_of_a_page_shown_by_a_post_stays_on_that_page(intake_app, schools):
    """/receipt and /followup answer a POST with a page of their own (the box not ticked, a wrong code): the
    language link opens the same address, so the reporter keeps the receipt code in sight (a wrong code's page
    has a button instead, which keeps the code typed: see the test below)."""
    import re

    client = intake_app.test_client()
    submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    pages = {
        "/receipt": client.post("/receipt", data={"csrf_token": csrf_token(client, "/receipt")}),
        "/followup": client.post("/followup", data={"csrf_token": csrf_token(client, "/followup"), "code": ""}),
    }
    for path, page in pages.items():
        switch = re.search(r'<a href="([^"]+)" hreflang="es"', page.get_data(as_text=True))
        assert switch is not None and switch.group(1).split("?")[0] == path, (path, switch)
    spanish = client.get(re.search(r'<a href="([^"]+)" hreflang="es"', pages["/receipt"].get_data(as_text=True))
                         .group(1))  # type: ignore[union-attr]
    assert spanish.status_code == 200 and 'lang="es"' in spanish.get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/reportar", 404), ("GET", "/followup/reply", 405), ("GET", "/static/missing.css", 404)])
def test_an_address_that_is_not_a_page_gets_a_calm_page_in_the_reporters_language(intake_app, method, path, status):
    client = intake_app.test_client()
    response = client.open(path, method=method, headers={"Accept-Language": "es"})
    page = response.get_data(as_text=True)
    assert response.status_code == status and 'lang="es"' in page
    assert "Página no encontrada" in page and "llama al 911" in page and 'href="/"' in page
    if not path.startswith("/static/"):
        assert response.headers["Cache-Control"] == "no-store"
    if status == 405:
        assert response.headers["Allow"]


def test_an_unexpected_error_on_a_reporter_page_gets_a_calm_page(intake_app, schools, monkeypatch):
    import app.intake.views as views

    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "commit_before_rendering", broken)
    intake_app.config["PROPAGATE_EXCEPTIONS"] = False
    response = intake_app.test_client().get("/", headers={"Accept-Language": "es"})
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and 'lang="es"' in page and "llama al 911" in page
    assert "Algo salió mal" in page


@pytest.mark.parametrize("form_page_fails", [False, True])
def test_an_unexpected_error_on_sending_a_report_keeps_what_was_typed(intake_app, schools, monkeypatch,
                                                                      form_page_fails):
    """A bug anywhere on the way to storing a report (a 500) showed "Something went wrong" alone: the form is never
    stored (no-store), so Back showed it empty and the report was gone. It comes back as a refused report does, in its
    form, or to copy when even the form's page fails."""
    import app.intake.errors as errors
    import app.intake.views as views

    def bug(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "db_store_tip", bug)
    if form_page_fails:
        monkeypatch.setattr(errors, "schools_by_town", bug)
    intake_app.config["PROPAGATE_EXCEPTIONS"] = False
    client = intake_app.test_client()
    client.get("/?lang=es")
    response = submit(client, schools["kelly"], 'He has a knife in locker "12" & more.')
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "llama al 911" in page and "No se envió nada" in page
    assert 'He has a knife in locker &#34;12&#34; &amp; more.</textarea>' in page
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 0


def test_an_unexpected_error_on_sending_a_reply_keeps_the_message(intake_app, schools, monkeypatch):
    _ref, code = submit_ok(intake_app.test_client(), schools["kelly"], "Someone is selling pills in the bathroom.")

    def bug(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("app.intake.followup.db_add_reporter_message", bug)
    intake_app.config["PROPAGATE_EXCEPTIONS"] = False
    client = intake_app.test_client()
    open_followup(client, code)
    response = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                          "message": "It is the blue car & it is there now."}, None)
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "Nothing was sent" in page and "911" in page
    assert "It is the blue car &amp; it is there now.</textarea>" in page


def test_a_staff_address_that_is_not_a_page_never_gets_the_reporters_page(intake_app):
    console = intake_app.test_client().get("/console/no-such-page")  # the console's own (tests/console)
    assert console.status_code == 404 and "911" not in console.get_data(as_text=True)
    assert "Back to the queue" in console.get_data(as_text=True)
    hook = intake_app.test_client().get("/hooks/no-such-hook")  # Twilio's: werkzeug's plain page
    assert hook.status_code == 404 and "911" not in hook.get_data(as_text=True)
    assert "queue" not in hook.get_data(as_text=True)


def test_replies_are_rate_limited_like_reports(make_intake_app):
    app = make_intake_app(INTAKE_RATE_LIMIT="3 per minute")
    client = app.test_client()
    ref, code = submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    token = csrf_token(client, "/followup")
    sent = [post_multipart(client, "/followup/reply", {"csrf_token": token, "message": f"More detail {i}."},
                           [(jpeg_bytes(), "p.jpg")]).status_code for i in range(4)]
    assert sent[:3] == [303, 303, 303] and sent[3] == 429
    page = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": "He said <Friday>."}, None)
    text = page.get_data(as_text=True)
    assert "Many messages were sent from this connection" in text
    assert "Your message (not sent yet)" in text and "He said &lt;Friday&gt;." in text  # kept to copy, escaped
    with app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 3
    assert submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], "Another problem at the school today.")


def test_the_language_switch_of_the_report_form_keeps_what_was_typed(intake_app, schools):
    import re

    client = intake_app.test_client()
    form = client.get("/report").get_data(as_text=True)
    switch = re.search(r'<button[^>]*formaction="([^"]+)"[^>]*>Español</button>', form)
    assert switch is not None and 'form="report"' in switch.group(0) and "formnovalidate" in switch.group(0)
    typed = {"csrf_token": csrf_token(client, "/report"), "school": str(schools["mills"]),
             "description": "Mi hermano dice que un chico trae una pistola & la esconde.", "happening_now": "yes",
             "contact": "Pregunten por <Ana>"}
    response = client.post(switch.group(1).replace("&amp;", "&"), data=typed)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="es"' in page and "¿Qué está pasando?" in page
    assert "trae una pistola &amp; la esconde.</textarea>" in page and "Pregunten por &lt;Ana&gt;" in page
    assert f'value="{schools["mills"]}" selected' in page and 'value="yes" checked' in page
    assert re.search(r'<button[^>]*formaction="[^"]*lang=en"[^>]*>English</button>', page)
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 0
    assert client.post(switch.group(1).replace("&amp;", "&"), data={**typed, "csrf_token": ""}).status_code == 400


def test_conversation_times_are_the_schools_local_time_in_the_reporters_language(intake_app, schools):
    """A reporter in Casper reads when staff wrote in Casper's time, not UTC (seven hours off in winter)."""
    from datetime import datetime

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        question = Message(tip_id=tip.id, from_reporter=False, created_at=datetime(2026, 1, 15, 18, 5))
        db.session.add(question)
        db.session.flush()
        question.body_ct = seal_for_tip(tip, f"message:{question.id}", b"Which bathroom?")
        db.session.commit()
    page = open_followup(client, code).get_data(as_text=True)
    assert shown_time(page) == "Jan 15, 2026, 11:05\u202fAM" and "UTC" not in page
    assert 'datetime="2026-01-15T18:05:00Z"' in page  # the machine-readable time stays exact
    assert shown_time(client.get("/followup?lang=es").get_data(as_text=True)) == "15 ene 2026, 11:05"


def shown_time(page: str) -> str:
    import re

    found = re.search(r"<time [^>]*>([^<]*)</time>", page)
    assert found is not None
    return found.group(1)


def test_a_wrong_receipt_code_stays_in_the_field_to_correct(intake_app, schools):
    """24 characters typed on a phone with one wrong: the reporter corrects it instead of typing it all again."""
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    typo = code[:-1] + ("X" if code[-1] != "X" else "Y")
    wrong = client.post("/followup", data={"code": typo.lower() + ' "><b>',
                                           "csrf_token": csrf_token(client, "/followup")})
    page = wrong.get_data(as_text=True)
    assert wrong.status_code == 200 and "the code you typed has 21" in page  # the "b" of the tag is the 21st
    assert f'value="{typo.lower()} &#34;&gt;&lt;b&gt;"' in page


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "A receipt code has 20 letters and digits (dashes and spaces do not count); the code you typed has 19."),
    ("es", "Un código de recibo tiene 20 letras y números (los guiones y los espacios no cuentan); el que escribiste "
           "tiene 19."),
])
def test_a_receipt_code_with_a_character_missing_says_how_many_it_has(intake_app, schools, lang, words):
    """One of 20 characters left out on a phone keyboard: 'Check the code and try again' sent the reporter to
    compare the whole code again, with nothing to say where; the length is the reporter's own input, so saying it
    tells a guesser nothing. A code of the right length keeps the one answer of a wrong code, and a throttled one."""
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    client.get(f"/followup?lang={lang}")
    short = code[:7] + code[8:]  # "7KQ2-MX9-...": one left out
    page = client.post("/followup", data={"code": short, "csrf_token": csrf_token(client, "/followup")}
                       ).get_data(as_text=True)
    assert words in page and ref not in page and f'value="{short}"' in page
    the_reference = client.post("/followup", data={"code": ref, "csrf_token": csrf_token(client, "/followup")})
    assert "has 6" in the_reference.get_data(as_text=True) or "tiene 6" in the_reference.get_data(as_text=True)
    typo = code[:-1] + ("X" if code[-1] != "X" else "Y")
    wrong = client.post("/followup", data={"code": typo, "csrf_token": csrf_token(client, "/followup")})
    assert words[:20] not in wrong.get_data(as_text=True)
    assert ref in open_followup(client, code.lower().replace("-", " ")).get_data(as_text=True)


def test_the_language_switch_of_the_followup_page_keeps_the_reply_being_written(intake_app, schools):
    """The reply form is on the follow-up page: a language link would leave the answer being typed behind."""
    import re

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    page = open_followup(client, code).get_data(as_text=True)
    switch = re.search(r'<button[^>]*formaction="([^"]+)"[^>]*>Español</button>', page)
    assert switch is not None and 'form="reply"' in switch.group(0) and "formnovalidate" in switch.group(0)
    typed = {"csrf_token": csrf_token(client, "/followup"), "message": "Es el chavo de la mochila roja & <el bus 12>."}
    response = client.post(switch.group(1).replace("&amp;", "&"), data=typed)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="es"' in page and ref in page and "Tu mensaje" in page
    assert "mochila roja &amp; &lt;el bus 12&gt;.</textarea>" in page
    assert re.search(r'<button[^>]*formaction="[^"]*lang=en"[^>]*>English</button>', page)
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 0
    client.post("/followup/leave", data={"csrf_token": csrf_token(client, "/followup")})
    ended = client.post(switch.group(1).replace("&amp;", "&"),
                        data={**typed, "csrf_token": csrf_token(client, "/followup")})
    page = ended.get_data(as_text=True)
    assert ended.status_code == 200 and ref not in page and 'name="code"' in page
    assert "mochila roja &amp; &lt;el bus 12&gt;.</textarea>" in page


def test_a_refused_receipt_code_is_tied_to_its_field_for_a_screen_reader(intake_app):
    """A screen reader on the code field reads why it was refused, not only the example of a code."""
    import re

    client = intake_app.test_client()
    page = client.post("/followup", data={"code": "0000-0000-0000-0000-0000",
                                          "csrf_token": csrf_token(client, "/followup")})
    text = page.get_data(as_text=True)
    field = re.search(r'<input [^>]*id="code"[^>]*>', text)
    assert field is not None and 'aria-invalid="true"' in field.group(0)
    described = re.search(r'aria-describedby="([^"]+)"', field.group(0))
    assert described is not None
    said = " ".join(m.group(1) for i in described.group(1).split()
                    if (m := re.search(rf'id="{i}"[^>]*>([^<]*)<', text)))
    assert "We could not open a report with this code" in said and "for example" in said


def test_a_page_that_refuses_something_says_so_in_its_title(make_intake_app):
    """The title is the first thing a screen reader says of a new page, and the name of the tab: a form that
    came back refused begins 'Error:' on every reporter page, as the report form with a mistake does."""
    import re

    app = make_intake_app(INTAKE_RATE_LIMIT="1 per minute")
    school = app.config["TEST_SCHOOLS"]["kelly"]
    client = app.test_client()

    def title(response: Any) -> str:
        found = re.search(r"<title>([^<]*)</title>", response.get_data(as_text=True))
        assert found is not None
        return found.group(1)

    _ref, code = submit_ok(client, school, "Someone is selling pills in the bathroom.")
    unticked = client.post("/receipt", data={"csrf_token": csrf_token(client, "/receipt")})
    assert unticked.status_code == 422 and title(unticked).startswith("Error: ")
    throttled = submit(client, school, "Someone is selling pills in the gym too.")
    assert throttled.status_code == 429 and title(throttled).startswith("Error: ")
    open_followup(client, code)
    empty = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                       "message": " "}, None)
    assert empty.status_code == 422 and title(empty).startswith("Error: ")
    assert not title(client.get("/followup")).startswith("Error")


def test_the_language_switch_keeps_a_reply_waiting_for_the_receipt_code(intake_app, schools):
    """The session ended while the reporter wrote: the page asks for the code with the answer kept beside it.
    Switching language there must keep the answer too, not open an empty /followup."""
    import re


    client, _ref, code, token = _followup_visit_that_ended(intake_app, schools)
    answer = "Es el chavo de la mochila roja."
    ended = client.post("/followup/reply", data={"csrf_token": token, "message": answer})
    switch = re.search(r'<button[^>]*formaction="([^"]+)"[^>]*>Español</button>', ended.get_data(as_text=True))
    assert switch is not None and 'form="open"' in switch.group(0)
    spanish = client.post(switch.group(1).replace("&amp;", "&"),
                          data={"csrf_token": csrf_token(client, "/followup"), "code": "", "message": answer})
    page = spanish.get_data(as_text=True)
    assert spanish.status_code == 200 and 'lang="es"' in page and 'name="code"' in page
    assert f"{answer}</textarea>" in page and "todavía no se envió" in page


@pytest.mark.parametrize(("header", "lang"), [
    ("es-US,en;q=0.5", "es"),  # a phone in Español (Estados Unidos), English second: werkzeug chose English
    ("es-MX,es-US;q=0.9,en;q=0.8", "es"),
    ("en-US,en;q=0.9,es;q=0.8", "en"),
    ("fr-FR,es;q=0.5,en;q=0.4", "es"),
    ("es;q=0,en-GB", "en"),
    ("de", "en"),
])
def test_the_browsers_first_language_wins_whatever_its_region(intake_app, header, lang):
    page = intake_app.test_client().get("/", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page


def test_no_text_field_of_a_reporter_cuts_a_paste_short(intake_app, schools):
    """maxlength drops the end of a pasted text without a word (see the browser test); the server's check says
    how long it is instead, on the report's text and contact details and on a reply."""
    import re

    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    pages = {"/report": client.get("/report").get_data(as_text=True),
             "/followup": open_followup(client, code).get_data(as_text=True)}
    for path, page in pages.items():
        areas = re.findall(r"<textarea [^>]*>", page)
        assert areas and not [a for a in areas if "maxlength" in a], (path, areas)


def test_switching_language_says_the_photos_chosen_must_be_added_again(intake_app, schools):
    """The language button sends the form without its files (a browser sends only their names then): the form
    in the other language says so at the photo field, on the report form and on the follow-up page."""
    client = intake_app.test_client()
    typed = {"csrf_token": csrf_token(client, "/report"), "school": "", "description": "Un chico trae una pistola.",
             "photos": "threat.jpg", "contact": ""}
    page = client.post("/report/language?lang=es", data=typed).get_data(as_text=True)
    assert "Las fotos no se guardan cuando el formulario vuelve" in page
    assert "Un chico trae una pistola.</textarea>" in page
    assert "no se guardan" not in client.post("/report/language?lang=es",
                                                data={**typed, "photos": ""}).get_data(as_text=True)
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    reply = client.post("/followup/language?lang=en", data={"csrf_token": csrf_token(client, "/followup"),
                                                            "message": "Mira la foto.", "photos": "gym.jpg"})
    assert "Photos are not kept when the form comes back" in reply.get_data(as_text=True)


def test_the_language_switch_of_a_reply_refused_for_too_many_keeps_it(make_intake_app, monkeypatch):
    """A reply refused (429, or 503) is shown to copy; the language link opened /followup and left it behind."""
    import re

    app = make_intake_app(INTAKE_RATE_LIMIT="1 per minute")
    client = app.test_client()
    _ref, code = submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    token = csrf_token(client, "/followup")
    answer = "Es el chavo de la mochila roja & <el bus 12>."
    assert post_multipart(client, "/followup/reply", {"csrf_token": token, "message": "Uno."}, None).status_code == 303
    refused = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": answer}, None)
    assert refused.status_code == 429
    switch = re.search(r'<button[^>]*formaction="([^"]+)"[^>]*>Español</button>', refused.get_data(as_text=True))
    assert switch is not None
    form = re.search(r'<form id="kept"[^>]*>.*?</form>', refused.get_data(as_text=True), flags=re.S)
    assert form is not None and 'name="message"' in form.group(0)
    spanish = client.post(switch.group(1).replace("&amp;", "&"),
                          data={"csrf_token": csrf_token(client, "/followup"), "message": answer})
    page = spanish.get_data(as_text=True)
    assert spanish.status_code == 200 and 'lang="es"' in page and "Tu mensaje" in page
    assert "mochila roja &amp; &lt;el bus 12&gt;.</textarea>" in page
    # The database busy just then: the 503 page keeps showing the reply to copy.
    from sqlalchemy.exc import OperationalError

    def locked(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("BEGIN", None, Exception("database is locked"))

    token = csrf_token(client, "/followup")
    monkeypatch.setattr("app.intake.followup.rs.db_followup_tip", locked)
    busy = client.post(switch.group(1).replace("&amp;", "&"), data={"csrf_token": token, "message": answer})
    assert busy.status_code == 503 and "mochila roja &amp; &lt;el bus 12&gt;.</textarea>" in busy.get_data(as_text=True)


def test_a_reply_longer_than_the_limit_comes_back_whole_from_the_language_switch_and_an_ended_visit(
        intake_app, schools):
    """The reply form has no maxlength (it cut a long paste silently): a reply of 25,000 characters sent by the
    language button, or after the visit ended, must come back whole, so the reply form can say how long it is,
    not cut at 20,000 without a word."""


    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    pasted = "He keeps sending these messages. " * 750 + "He said Friday, at the gym."
    assert len(pasted) > 20_000
    switched = client.post("/followup/language?lang=es",
                           data={"csrf_token": csrf_token(client, "/followup"), "message": pasted})
    assert f"{pasted}</textarea>" in switched.get_data(as_text=True)
    token = csrf_token(client, "/followup")
    _end_the_followup_visit(intake_app)
    ended = client.post("/followup/reply", data={"csrf_token": token, "message": pasted})
    assert f"{pasted}</textarea>" in ended.get_data(as_text=True)
    opened = client.post("/followup", data={"code": code, "message": pasted,
                                            "csrf_token": csrf_token(client, "/followup")}, follow_redirects=True)
    assert f"{pasted}</textarea>" in opened.get_data(as_text=True)
    refused = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                         "message": pasted}, None)
    assert refused.status_code == 422 and f" {len(pasted):,})" in refused.get_data(as_text=True)


def test_the_language_switch_keeps_a_refused_receipt_code_to_correct(intake_app, schools):
    """A code refused for one wrong character stays in the field to correct; a reporter who cannot read the
    refusal on an English phone switches to Spanish, and the link opened an empty /followup instead."""
    import re

    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    typo = code[:-1] + ("X" if code[-1] != "X" else "Y")
    wrong = client.post("/followup", data={"code": typo, "csrf_token": csrf_token(client, "/followup")})
    switch = re.search(r'<button[^>]*formaction="([^"]+)"[^>]*>Español</button>', wrong.get_data(as_text=True))
    assert switch is not None and 'form="open"' in switch.group(0)
    spanish = client.post(switch.group(1).replace("&amp;", "&"),
                          data={"csrf_token": csrf_token(client, "/followup"), "code": typo, "refused": "yes"})
    page = spanish.get_data(as_text=True)
    assert spanish.status_code == 200 and 'lang="es"' in page and f'value="{typo}"' in page
    assert 'name="refused" value="yes"' in wrong.get_data(as_text=True)
    assert "No pudimos abrir un reporte con este código" in page  # the refusal, now in Spanish
