"""The reporter's pages as an attacker, or the next person on a shared phone or school computer, meets them."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.intake.helpers import open_followup, submit_ok
from tests.support.forms import csrf_token

PUBLIC = "https://tips.example-district.org/"


def as_a_browser_resolves(href: str) -> str:
    """The host a browser goes to for `href` on one of our pages: it drops tabs and line breaks from a URL and
    reads a backslash as a slash (WHATWG URL parsing), which Python's urljoin does not."""
    cleaned = re.sub(r"[\t\n\r]", "", href).replace("\\", "/")
    return urlsplit(urljoin(PUBLIC, cleaned)).netloc


@pytest.mark.parametrize("path", ["/%5Cevil.example/tipline", "/%09/evil.example/tipline",
                                  "/%5C%5Cevil.example", "/%0A/evil.example"])
def test_the_language_link_of_a_page_not_found_stays_on_this_site(intake_app, path):
    """A link to a mistyped-looking address on the genuine site must not make its "Español" link lead to another
    host (a phishing copy of the form, in the reporter's language)."""
    response = intake_app.test_client().get(path)
    assert response.status_code == 404
    links = re.findall(r'<a href="([^"]*)" hreflang="es"', response.get_data(as_text=True))
    assert links, response.get_data(as_text=True)[:1500]
    for href in links:
        assert as_a_browser_resolves(href) == urlsplit(PUBLIC).netloc, href


def test_leave_ends_the_receipt_of_the_report_left_too(intake_app, schools):
    """A reporter who opens the report with its code before ticking "I have saved my receipt code", then presses
    Leave, is told nothing stays in this browser: the next person at the computer must not get the code back."""
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    assert ref in open_followup(client, code).get_data(as_text=True)
    left = client.post("/followup/leave", data={"csrf_token": csrf_token(client, "/followup")},
                       follow_redirects=True)
    assert "Nothing about it stays in this browser" in left.get_data(as_text=True)
    assert "You have not confirmed that you saved your receipt code" not in left.get_data(as_text=True)
    receipt = client.get("/receipt")
    assert receipt.status_code == 404
    assert code not in receipt.get_data(as_text=True) and ref not in receipt.get_data(as_text=True)
    assert ref not in client.get("/followup").get_data(as_text=True)


def test_leave_keeps_the_unsaved_receipt_of_another_report(intake_app, schools):
    """Leaving one report does not throw away the only showing of another report's code not saved yet."""
    client = intake_app.test_client()
    _old_ref, old_code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    client.post("/receipt", data={"csrf_token": csrf_token(client, "/receipt"), "saved": "yes"})
    new_ref, new_code = submit_ok(client, schools["mills"], "A fight is planned after school on Friday.")
    open_followup(client, old_code)
    client.post("/followup/leave", data={"csrf_token": csrf_token(client, "/followup")})
    receipt = client.get("/receipt").get_data(as_text=True)
    assert new_code in receipt and new_ref in receipt


def test_entering_the_code_again_with_a_kept_reply_leaves_no_post_in_the_history(intake_app, schools):
    """The code typed again after a visit ended, with the reply kept beside it, opens the report by a redirect:
    answered with a page, the POST holding the code stayed in the browser's history, and after Leave the next
    person pressing Back and "send again" had the report, its conversation and its reply form."""
    from datetime import timedelta

    from sqlalchemy import select

    from app.extensions import db
    from app.models import ReporterSession, utcnow

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    with intake_app.app_context():  # the reporter took more than 15 minutes to write the answer
        row = db.session.scalar(select(ReporterSession).where(ReporterSession.purpose == "followup"))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    answer = "His name is on the list in his locker & he said Friday."
    opened = client.post("/followup", data={"code": code, "message": answer,
                                            "csrf_token": csrf_token(client, "/followup")})
    assert opened.status_code == 303 and opened.headers["Location"] == "/followup"
    assert code not in opened.get_data(as_text=True) and ref not in opened.get_data(as_text=True)
    with intake_app.app_context():  # sealed in the visit's row, under the reporter's token: not readable here
        sealed = db.session.scalar(select(ReporterSession.sealed).where(ReporterSession.purpose == "followup"))
        assert sealed is not None and b"locker" not in sealed
    page = client.get("/followup").get_data(as_text=True)
    assert ref in page and "he said Friday.</textarea>" in page and "not sent yet" in page
    again = client.get("/followup").get_data(as_text=True)  # shown once: a reload is the plain report page
    assert ref in again and "he said Friday." not in again


def test_after_leave_sending_a_refused_reply_again_from_the_history_shows_nothing(intake_app, schools):
    """A reply refused with its form shown again (here a file that is not a photo) leaves its POST in the browser's
    history. After Leave, Back and "send again" by the next person at the computer must not show the reply's
    text (it came back in the "not sent yet" box as if the visit had only timed out)."""
    from tests.intake.helpers import post_multipart

    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    client.post("/receipt", data={"csrf_token": csrf_token(client, "/receipt"), "saved": "yes"})
    open_followup(client, code)
    token = csrf_token(client, "/followup")
    refused_reply = {"csrf_token": token, "message": "It is Sam Carter, locker 214."}
    refused = post_multipart(client, "/followup/reply", refused_reply, [(b"not a photo", "x.jpg")])
    assert refused.status_code == 422
    sent = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": "It is Sam Carter."}, None)
    assert sent.status_code == 303
    client.post("/followup/leave", data={"csrf_token": token})
    replayed = post_multipart(client, "/followup/reply", refused_reply, [(b"not a photo", "x.jpg")])
    assert "Sam Carter" not in replayed.get_data(as_text=True)
    assert open_followup(client, code).status_code == 200  # the reporter can come back as before


def test_once_a_report_is_sent_its_forms_sent_again_from_the_history_show_and_store_nothing(intake_app, schools):
    """The report form's language button and a refused report leave POSTs holding the whole report in the
    browser's history. Once the report is stored, Back and "send again" by the next person at a shared computer
    showed its text and contact details again, or stored it a second time and showed them its receipt code."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Tip
    from tests.intake.helpers import submit

    client = intake_app.test_client()
    typed = {"csrf_token": csrf_token(client, "/report"), "school": str(schools["mills"]),
             "description": "Mi hermano dice que un chico trae una pistola.", "contact": "Ana, 307-555-0142"}
    switched = client.post("/report/language?lang=es", data=typed)
    assert "trae una pistola" in switched.get_data(as_text=True)
    too_short = client.post("/report", data={**typed, "description": "pistola"})
    assert too_short.status_code == 422
    assert submit(client, schools["mills"], typed["description"], contact=typed["contact"]).status_code == 303
    client.post("/receipt", data={"csrf_token": csrf_token(client, "/receipt"), "saved": "yes"})

    for path, data in (("/report/language?lang=es", typed), ("/report", {**typed, "description": "pistola"}),
                       ("/report", typed)):
        replayed = client.post(path, data=data)
        page = replayed.get_data(as_text=True)
        assert "pistola" not in page and "307-555-0142" not in page, path
        assert replayed.status_code == 400, path
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 1


def test_leave_after_the_visit_idled_out_still_ends_the_receipt_of_that_report(intake_app, schools):
    """The visit ends after 15 minutes idle, the unsaved receipt after 30: a reporter who opened the report, left
    the phone for a while, then pressed Leave was told nothing stays, and the receipt page still gave the next
    person at the computer the reference and the receipt code."""
    from datetime import timedelta

    from sqlalchemy import select

    from app.extensions import db
    from app.models import ReporterSession, utcnow

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    token = csrf_token(client, "/followup")
    with intake_app.app_context():  # 16 minutes later: the visit is over, the receipt not yet
        row = db.session.scalar(select(ReporterSession).where(ReporterSession.purpose == "followup"))
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    left = client.post("/followup/leave", data={"csrf_token": token}, follow_redirects=True)
    assert "Nothing about it stays in this browser" in left.get_data(as_text=True)
    receipt = client.get("/receipt")
    assert receipt.status_code == 404
    assert code not in receipt.get_data(as_text=True) and ref not in receipt.get_data(as_text=True)
