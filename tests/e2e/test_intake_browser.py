"""A reporter on a 360-pixel phone: sends a tip with a photo, saves the receipt, comes back with it.
With JavaScript, without it, and in Spanish; nothing is ever fetched from another host."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import pytest
from PIL import Image

from tests.e2e.conftest import PHONE
from tests.intake.helpers import LOOSE_LIMITS, seed_schools, submit_ok

pytestmark = pytest.mark.e2e


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(("javascript", "locale", "words"), [
    (True, "en-US", {"status": "Received", "saved": "I have saved my receipt code"}),
    (False, "en-US", {"status": "Received", "saved": "I have saved my receipt code"}),
    (True, "es-ES", {"status": "Recibido", "saved": "Ya guardé mi código de recibo"}),
], ids=["javascript", "no-javascript", "spanish"])
def test_reporter_sends_a_tip_and_comes_back(browser, live_server, make_app, javascript, locale, words):
    app = make_app(**LOOSE_LIMITS)
    with app.app_context():
        seed_schools()
    base = live_server(app)
    context = browser.new_context(viewport=PHONE, java_script_enabled=javascript, locale=locale,
                                  extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).netloc))
    try:
        page.goto(f"{base}/")
        assert page.locator("html").get_attribute("lang") == locale[:2]
        assert "911" in page.text_content("body")
        page.click('a[href="/report"]')
        page.select_option("#school", label="Mills Elementary")
        page.fill("#description", "A student keeps threatening others on the bus, every morning.")
        page.check("#happening_now-no")
        page.set_input_files("#photos", files=[{"name": "bus.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
        page.click('form button[type="submit"]')
        page.wait_for_url(f"{base}/receipt")
        code = (page.text_content("#receipt-code") or "").strip()
        ref = (page.text_content("#tip-ref") or "").strip()
        assert len(code) == 24 and len(ref) == 6
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # Leaving without ticking the box is not possible: the page says so and shows the code again.
        page.click('form button[type="submit"]')
        assert page.url.endswith("/receipt")
        page.get_by_label(words["saved"]).check()
        page.click('form button[type="submit"]')
        page.wait_for_url(f"{base}/done")

        page.goto(f"{base}/followup")
        page.fill("#code", code.lower().replace("-", " "))
        page.click('form button[type="submit"]')
        page.wait_for_url(f"{base}/followup")
        assert (page.text_content("#tip-ref") or "").strip() == ref
        assert (page.text_content("#tip-status") or "").strip() == words["status"]
        page.click("form.leave button")
        page.wait_for_url(f"{base}/")
        assert code not in page.content() and ref not in page.content()
    finally:
        context.close()
    assert hosts == {urlparse(base).netloc}, hosts


def test_language_switch_works_without_javascript(browser, live_server, make_app):
    app = make_app(**LOOSE_LIMITS)
    base = live_server(app)
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{base}/")
        page.click('a[hreflang="es"]')
        assert page.locator("html").get_attribute("lang") == "es"
        page.click('a[href="/followup"]')  # the choice is kept for the rest of the visit
        assert page.locator("html").get_attribute("lang") == "es"
        assert "Consultar un reporte" in (page.text_content("h1") or "")
    finally:
        context.close()


def test_switching_language_on_the_report_form_keeps_what_was_typed(browser, live_server, make_app):
    app = make_app(**LOOSE_LIMITS)
    base = live_server(app)
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{base}/report")
        page.fill("#description", "My brother says a boy brings a gun to the bus stop.")
        page.fill("#contact", "Ask for Ana")
        page.click("nav.lang button")
        assert page.locator("html").get_attribute("lang") == "es"
        assert page.input_value("#description") == "My brother says a boy brings a gun to the bus stop."
        assert page.input_value("#contact") == "Ask for Ana"
        page.click("nav.lang button")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.input_value("#description") == "My brother says a boy brings a gun to the bus stop."
    finally:
        context.close()


def test_enter_sends_the_form_not_the_language_button(browser, live_server, make_app):
    """The language button in the header is a submit button of the form below it, and the first in the page: the
    Enter key (a phone's "Go") pressed it. A reporter who corrected a refused receipt code and pressed Enter got the
    refusal again in Spanish instead of the report; Enter on an answer of the report form switched the language and
    dropped the photos. Enter now does what the form's own button does."""
    app = make_app(**LOOSE_LIMITS)
    with app.app_context():
        schools = seed_schools()
    _ref, code = submit_ok(app.test_client(), schools["kelly"], "Someone is selling pills in the bathroom.")
    base = live_server(app)
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{base}/followup")
        page.fill("#code", code[:-1] + ("1" if code[-1] == "0" else "0"))
        page.press("#code", "Enter")
        page.wait_for_load_state("load")
        assert "could not open a report" in (page.text_content("#error-summary") or "")
        page.fill("#code", code)
        page.press("#code", "Enter")
        page.wait_for_url(f"{base}/followup")
        assert page.locator("html").get_attribute("lang") == "en" and page.text_content("#tip-ref")
        page.goto(f"{base}/report")
        page.select_option("#school", label="Mills Elementary")
        page.fill("#description", "A student keeps threatening others on the bus, every morning.")
        page.check("#happening_now-no")
        page.press("#happening_now-no", "Enter")
        page.wait_for_url(f"{base}/receipt")
    finally:
        context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_the_receipt_box_not_ticked_is_explained_in_the_pages_language(browser, live_server, make_app, javascript):
    """A reporter who chose Spanish on a phone set to English: pressing Terminar without ticking the box gets the
    page's own Spanish sentence, tied to the box, not the browser's English bubble ("Please check this box")."""
    app = make_app(**LOOSE_LIMITS)
    with app.app_context():
        seed_schools()
    base = live_server(app)
    context = browser.new_context(viewport=PHONE, java_script_enabled=javascript, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{base}/report?lang=es")
        page.select_option("#school", label="Mills Elementary")
        page.fill("#description", "Un muchacho amenaza a los demás en el autobús todas las mañanas.")
        page.click('form#report button[type="submit"]')
        page.wait_for_url(f"{base}/receipt")
        page.click('form button[type="submit"]')
        page.wait_for_load_state("load")
        assert page.url.endswith("/receipt")
        assert "Marca la casilla para confirmar" in (page.text_content("#error-summary") or "")
        described = (page.get_attribute("#saved", "aria-describedby") or "").split()
        assert any("Marca la casilla" in (page.text_content(f"#{i}") or "") for i in described)
        assert page.text_content("#receipt-code")  # the code is still in sight
    finally:
        context.close()


@pytest.mark.parametrize(("width", "text_size"), [(360, 100), (320, 130), (360, 150)])
def test_the_receipt_code_is_whole_on_screen_with_larger_text(browser, live_server, make_app, width, text_size):
    """A small phone, or text made larger in the phone's settings: the receipt code, shown once, must be whole on
    the screen, never cut off or behind a sideways scroll; it stays on one line where it fits."""
    app = make_app(**LOOSE_LIMITS)
    with app.app_context():
        seed_schools()
    base = live_server(app)
    context = browser.new_context(viewport={"width": width, "height": 640}, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(f"{base}/report")
        page.select_option("#school", label="Mills Elementary")
        page.fill("#description", "A student keeps threatening others on the bus, every morning.")
        page.click('form#report button[type="submit"]')
        page.wait_for_url(f"{base}/receipt")
        page.add_style_tag(content=f"html {{ font-size: {text_size}% !important; }}")  # the phone's text size
        code = page.locator("#receipt-code")
        box, section = code.bounding_box(), page.locator("section.receipt").bounding_box()
        assert box is not None and section is not None
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert box["x"] + box["width"] <= section["x"] + section["width"]
        assert len((code.text_content() or "").strip()) == 24
        lines = page.evaluate("(() => { const r = document.createRange();"
                              " r.selectNodeContents(document.getElementById('receipt-code'));"
                              " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; })()")
        assert lines == 1 if text_size == 100 else lines >= 1
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/", "/report", "/followup", "/no-such-page"])
def test_pages_fit_a_phone_with_text_at_twice_its_size(browser, live_server, make_app, path):
    """Text doubled in the phone's settings (WCAG 1.4.4): a long Spanish word in a heading ('encontrada',
    'Cuéntaselo') wraps inside the screen instead of pushing the page sideways."""
    app = make_app(**LOOSE_LIMITS)
    base = live_server(app)
    context = browser.new_context(viewport=PHONE, bypass_csp=True, locale="es-ES",
                                  extra_http_headers={"Accept-Language": "es"})
    page = context.new_page()
    try:
        page.goto(base + path)
        page.add_style_tag(content="html { font-size: 200% !important; }")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/", "/report", "/followup"])
def test_the_language_switch_is_big_enough_for_a_thumb(browser, live_server, make_app, path):
    """English/Español is the one control a Spanish-speaking parent must hit first, on a small phone: at least
    44 by 44 CSS pixels (WCAG 2.5.5), not a 19-pixel line of text."""
    app = make_app(**LOOSE_LIMITS)
    base = live_server(app)
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="en-US")
    page = context.new_page()
    try:
        page.goto(base + path)
        switch = page.locator("nav.lang a, nav.lang button")
        assert switch.count() == 1
        box = switch.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, box
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()


def test_a_pasted_text_longer_than_the_limit_is_not_cut_silently(browser, live_server, make_app):
    """A long chat pasted into the report: the browser's maxlength dropped its end without a word, and the tip
    went out without it (often the part that matters). Now the form says how long it is and keeps all of it."""
    app = make_app(**LOOSE_LIMITS)
    with app.app_context():
        seed_schools()
    base = live_server(app)
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="en-US")
    page = context.new_page()
    pasted = "He keeps sending these messages. " * 320 + "He said he will bring his dad's gun on Friday."
    try:
        page.goto(base + "/report")
        page.select_option("#school", label="Mills Elementary")
        page.focus("#description")
        page.keyboard.insert_text(pasted)  # what a paste does
        page.click('form#report button[type="submit"]')
        page.wait_for_load_state("load")
        assert page.url.endswith("/report"), "the tip was sent cut short"
        assert f"it has {len(pasted):,}" in (page.text_content("#error-summary") or "")
        assert page.input_value("#description") == pasted
    finally:
        context.close()
