"""Receipt codes: each opens its own tip and no other, cannot be guessed, and guessing is throttled."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.crypto.receipts import (
    ALPHABET,
    ENTROPY_BITS,
    db_find_tip_by_receipt,
    format_code,
    new_receipt_code,
    normalize_code,
)
from app.extensions import db
from app.models import ReporterSession, Tip
from tests.intake.helpers import open_followup, submit_ok
from tests.support.forms import csrf_token, csrf_token_in


def test_code_has_enough_entropy_and_a_forgiving_form():
    assert ENTROPY_BITS > 80 and len(set(ALPHABET)) == 32
    code = new_receipt_code()
    assert len(code.split("-")) == 5 and all(len(g) == 4 for g in code.split("-"))
    canonical = normalize_code(code)
    assert canonical is not None
    messy = "  " + code.lower().replace("-", " ").replace("0", "o").replace("1", "l") + " "
    assert normalize_code(messy) == canonical
    assert normalize_code(code.replace("-", "\u2013")) == canonical
    assert normalize_code(code[:-1]) is None and normalize_code(code + "A") is None
    assert normalize_code("U" * 20) is None


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET, min_size=20, max_size=20), st.sampled_from(["", " ", "-", "  "]), st.booleans())
def test_any_spelling_of_a_code_normalizes_to_it(raw, separator, lower):
    typed = separator.join(raw[i:i + 4] for i in range(0, 20, 4))
    typed = typed.lower() if lower else typed
    assert normalize_code(typed.replace("0", "O").replace("1", "I")) == raw


def test_code_opens_its_own_tip_and_no_other(intake_app, schools):
    client = intake_app.test_client()
    ref_a, code_a = submit_ok(client, schools["kelly"], "Tip A: someone is planning a fight.")
    ref_b, code_b = submit_ok(client, schools["mills"], "Tip B: a student talks about hurting herself.")
    with intake_app.app_context():
        tip_a, tip_b = db_find_tip_by_receipt(code_a), db_find_tip_by_receipt(code_b)
        assert tip_a is not None and tip_a.ref == ref_a
        assert tip_b is not None and tip_b.ref == ref_b
        # The database holds only keyed hashes, never the code.
        for tip in db.session.scalars(select(Tip)):
            assert normalize_code(code_a) not in tip.receipt_hash and len(tip.receipt_hash) == 64
    page = open_followup(intake_app.test_client(), code_b).get_data(as_text=True)
    assert ref_b in page and ref_a not in page


def test_ten_thousand_random_codes_open_nothing(intake_app, schools):
    client = intake_app.test_client()
    for i in range(3):
        submit_ok(client, schools["kelly"], f"Tip {i}: there is a weapon in a backpack.")
    with intake_app.app_context():
        for _ in range(10_000):
            guess = format_code("".join(secrets.choice(ALPHABET) for _ in range(20)))
            assert db_find_tip_by_receipt(guess) is None
        assert db_find_tip_by_receipt("") is None
        assert db_find_tip_by_receipt("x" * 100) is None


def _without_csrf(page: str) -> str:
    token = csrf_token_in(page)
    return page.replace(token, "") if token else page


def test_guessing_is_throttled_and_looks_like_a_wrong_code(make_intake_app):
    app = make_intake_app(RECEIPT_RATE_LIMIT="5 per minute")
    schools = app.config["TEST_SCHOOLS"]
    reporter = app.test_client()
    _ref, code = submit_ok(reporter, schools["kelly"], "Someone brought a knife to school today.")
    guesser = app.test_client()
    token = csrf_token(guesser, "/followup")
    wrong = []
    guesses = [new_receipt_code() for _ in range(5)]
    for guess in guesses:
        response = guesser.post("/followup", data={"code": guess, "csrf_token": token})
        wrong.append((response.status_code, response.get_data(as_text=True)))
    throttled = guesser.post("/followup", data={"code": code, "csrf_token": token})  # the right code, too late
    assert throttled.status_code == wrong[0][0] == 200
    # The same page, byte for byte, but for the CSRF token, which carries the second it was signed in, and the
    # code as typed, left in the field to correct (the guesser's own input, so it tells nothing).
    throttled_page = throttled.get_data(as_text=True)
    assert f'value="{code}"' in throttled_page and f'value="{guesses[0]}"' in wrong[0][1]
    assert (_without_csrf(throttled_page).replace(code, "")
            == _without_csrf(wrong[0][1]).replace(guesses[0], ""))
    assert "could not open a report" in wrong[0][1]


def test_global_limit_throttles_all_clients(make_intake_app):
    app = make_intake_app(RECEIPT_GLOBAL_RATE_LIMIT="3 per minute")
    schools = app.config["TEST_SCHOOLS"]
    _ref, code = submit_ok(app.test_client(), schools["kelly"], "Someone brought a knife to school today.")
    for i in range(3):
        client = app.test_client()
        client.post("/followup", data={"code": new_receipt_code(), "csrf_token": csrf_token(client, "/followup")},
                    environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
    client = app.test_client()
    response = client.post("/followup", data={"code": code, "csrf_token": csrf_token(client, "/followup")},
                           environ_base={"REMOTE_ADDR": "10.0.1.1"})
    assert "could not open a report" in response.get_data(as_text=True)


def test_cookie_holds_no_code_or_reference_and_leave_ends_the_session(intake_app, schools):
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "There is a threat against the school on Snapchat.")
    page = open_followup(client, code).get_data(as_text=True)
    assert ref in page
    serializer = intake_app.session_interface.get_signing_serializer(intake_app)
    cookie = client.get_cookie(intake_app.config["SESSION_COOKIE_NAME"])
    session = serializer.loads(cookie.value)
    assert set(session) <= {"csrf_token", "f", "r", "re", "lang", "_flashes", "_fresh"}
    readable = repr(session) + cookie.value
    for secret in (ref, normalize_code(code) or "", code):
        assert secret not in readable
    token = csrf_token(client, "/followup")
    client.post("/followup/leave", data={"csrf_token": token})
    after = client.get("/followup").get_data(as_text=True)
    assert ref not in after and 'name="code"' in after
    with intake_app.app_context():
        assert db.session.scalar(select(ReporterSession).where(ReporterSession.purpose == "followup")) is None


def test_session_ends_after_fifteen_idle_minutes(intake_app, schools):
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "A student has been talking about a gun at home.")
    assert ref in open_followup(client, code).get_data(as_text=True)
    with intake_app.app_context():
        from datetime import timedelta

        from app.models import utcnow

        row = db.session.scalar(select(ReporterSession).where(ReporterSession.purpose == "followup"))
        assert row is not None and row.expires_at <= utcnow() + timedelta(minutes=15, seconds=5)
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    expired = client.get("/followup").get_data(as_text=True)
    assert ref not in expired and "could not open a report" in expired


def test_a_code_pasted_with_invisible_characters_or_typed_full_width_opens_the_report(intake_app, schools):
    """A code copied from a notes or messaging app carries zero-width spaces, narrow no-break spaces or minus signs;
    a phone keyboard in full-width mode types full-width letters. They were refused as a wrong code."""
    ref, code = submit_ok(intake_app.test_client(), schools["kelly"], "Someone brought a knife to school today.")
    full_width = "".join(chr(ord(c) + 0xFEE0) if c != "-" else "\u2212" for c in code)
    for pasted in ("\u200b" + code.replace("-", "\u202f") + "\u200b", full_width):
        page = open_followup(intake_app.test_client(), pasted).get_data(as_text=True)
        assert ref in page, ascii(pasted)
    # A genuinely wrong code, pasted the same way, gets the same non-revealing page as any wrong code.
    wrong = format_code("".join(secrets.choice(ALPHABET) for _ in range(20)))
    pasted_wrong = open_followup(intake_app.test_client(), wrong.replace("-", "\u200b\u2212"))
    assert pasted_wrong.status_code == 200
    text = pasted_wrong.get_data(as_text=True)
    assert "could not open a report" in text and ref not in text
    # Full-width symbols count as letters and digits in "a receipt code has 20 ...; the code you typed has N".
    short = open_followup(intake_app.test_client(), full_width[:-1]).get_data(as_text=True)
    assert "the code you typed has 19" in short


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "A report is deleted 365 days after its case is closed. To tell us something new, send a new report."),
    ("es", "Un reporte se borra 365 días después de cerrarse su caso. Para contarnos algo nuevo, envía un reporte "
           "nuevo."),
])
def test_a_code_of_a_report_deleted_under_retention_says_reports_are_deleted_and_what_to_do(intake_app, schools,
                                                                                          lang, words):
    """A reporter coming back a year after the case was closed, its report shredded under retention, was told only
    to check the code and try again, which they did, again and again. The page cannot say that this report was
    deleted (a wrong code would learn it too), so it says for every code it does not open that reports are deleted
    after their case is closed, and what to do then."""
    from datetime import timedelta

    from app.models import TipStatus, utcnow
    from app.retention import purge_expired_tips

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone keeps threatening my brother online.")
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert tip is not None
        tip.status, tip.outcome = TipStatus.CLOSED.value, "unfounded"
        tip.closed_at = utcnow() - timedelta(days=int(intake_app.config["RETENTION_DAYS"]) + 1)
        db.session.commit()
        assert purge_expired_tips().refs == [ref]
    client.get(f"/followup?lang={lang}")
    page = open_followup(client, code).get_data(as_text=True)
    assert words in page and ref not in page
