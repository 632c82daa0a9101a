"""The 429 page says how long to wait, from the limiter's reset time: "in a few minutes" sent a reporter whose
hourly limit was used up back again and again for close to an hour. In English and Spanish; what they typed stays
on the page, and so does the 911 line."""

from __future__ import annotations

import pytest

from tests.intake.helpers import open_followup, post_multipart, submit, submit_ok
from tests.support.forms import csrf_token

TEXT = "Someone is threatening people in the cafeteria."
AGAIN = "Someone is threatening people in the cafeteria, again."

WAIT = {
    ("en", 1): "send it again in 1 minute,",
    ("en", 60): "send it again in 60 minutes,",
    ("es", 1): "envíalo otra vez dentro de 1 minuto y",
    ("es", 60): "envíalo otra vez dentro de 60 minutos y",
}
REPLY_WAIT = {
    ("en", 1): "Please try again in 1 minute.",
    ("en", 60): "Please try again in 60 minutes.",
    ("es", 1): "Inténtalo de nuevo dentro de 1 minuto.",
    ("es", 60): "Inténtalo de nuevo dentro de 60 minutos.",
}
DANGER = {"en": "If someone is in danger right now, call 911.", "es": "llama al 911"}


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize(("limit", "minutes"), [
    ("2 per minute", 1),
    ("2 per hour", 60),
    # Both used up: the minute's limit refuses first, but sending again in a minute would only be refused again.
    ("2 per minute;2 per hour", 60),
    ("30 per hour;2 per minute", 1),
], ids=["minute", "hour", "minute-and-hour", "default-shape"])
def test_a_throttled_report_says_how_long_to_wait(make_intake_app, lang, limit, minutes):
    app = make_intake_app(INTAKE_RATE_LIMIT=limit)
    school = app.config["TEST_SCHOOLS"]["kelly"]
    client = app.test_client()
    for _ in range(2):
        submit_ok(client, school, TEXT)
    client.get(f"/report?lang={lang}")  # the visit's language
    refused = submit(client, school, AGAIN)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and f'lang="{lang}"' in page
    assert WAIT[(lang, minutes)] in page, page
    assert "a few minutes" not in page and "unos minutos" not in page
    assert f"{AGAIN}</textarea>" in page and DANGER[lang] in page


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize(("limit", "minutes"), [("1 per minute", 1), ("1 per hour", 60)], ids=["minute", "hour"])
def test_a_throttled_reply_says_how_long_to_wait_and_keeps_it(make_intake_app, lang, limit, minutes):
    # The report itself is counted apart from replies ("INTAKE_RATE_LIMIT too, counted apart from reports").
    app = make_intake_app(INTAKE_RATE_LIMIT=limit)
    client = app.test_client()
    _ref, code = submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    token = csrf_token(client, "/followup")
    assert post_multipart(client, "/followup/reply", {"csrf_token": token, "message": "One."}, None).status_code == 303
    client.get(f"/followup?lang={lang}")  # the visit's language
    refused = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": "He said <Friday>."}, None)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert REPLY_WAIT[(lang, minutes)] in page, page
    assert "He said &lt;Friday&gt;.</textarea>" in page and DANGER[lang] in page


def test_the_page_still_answers_when_the_reset_time_cannot_be_read(make_intake_app, monkeypatch):
    """The wait is a courtesy: a limiter that cannot say it gives the page as before, never an error page."""
    from app.intake import throttle

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("storage gone")

    monkeypatch.setattr(throttle, "_limit_resets_at", broken)
    app = make_intake_app(INTAKE_RATE_LIMIT="1 per hour")
    school = app.config["TEST_SCHOOLS"]["kelly"]
    client = app.test_client()
    submit_ok(client, school, TEXT)
    refused = submit(client, school, AGAIN)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "in a few minutes" in page and f"{AGAIN}</textarea>" in page


CRISIS = {
    "en": "Call or text 988, the Suicide and Crisis Lifeline",
    "es": "al 988, la Línea de Prevención del Suicidio",
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_refused_report_or_reply_names_the_988_crisis_line(make_intake_app, lang):
    """A student who came to say they are thinking of ending it, refused by the limiter, was told only to wait and
    to call 911 if someone is in danger: the 988 line is on the home page, which they may never have read."""
    app = make_intake_app(INTAKE_RATE_LIMIT="1 per hour")
    school = app.config["TEST_SCHOOLS"]["kelly"]
    client = app.test_client()
    _ref, code = submit_ok(client, school, "I don't want to be here anymore.")
    client.get(f"/report?lang={lang}")
    refused_report = submit(client, school, "I really don't want to be here anymore.")
    assert refused_report.status_code == 429 and CRISIS[lang] in refused_report.get_data(as_text=True)
    open_followup(client, code)
    token = csrf_token(client, "/followup")
    assert post_multipart(client, "/followup/reply", {"csrf_token": token, "message": "One."}, None).status_code == 303
    refused_reply = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": "Two."}, None)
    assert refused_reply.status_code == 429 and CRISIS[lang] in refused_reply.get_data(as_text=True)
    too_large = client.get("/too-large")  # the page nginx shows for a body over its limit
    assert CRISIS[lang] in too_large.get_data(as_text=True)
