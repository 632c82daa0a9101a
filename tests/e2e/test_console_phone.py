"""An SRO opens the console on a phone (360 and 320 pixels), JavaScript off: the queue and a case (three photos, a
long link, an alert) fit the screen's width (nothing to scroll sideways to reach a column, a photo or the end of a
line), and the links of the alert SMS lead through the sign-in to what they are about."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.crypto.service import db_add_sealed
from app.extensions import db
from app.models import Alert, Attachment, utcnow
from tests.console.helpers import PASSWORD, build_world, totp_code
from tests.e2e.conftest import PHONE, SMALL_PHONE, sign_in_in_browser
from tests.intake.helpers import LOOSE_LIMITS
from tests.support.tips import add_unread_reporter_message, make_tip

pytestmark = pytest.mark.e2e

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00"
       b"\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


def test_queue_and_case_fit_a_phone(browser, live_server, make_app) -> None:
    app = make_app(**LOOSE_LIMITS)
    world = build_world(app)
    with app.app_context():
        make_tip(world.school_a, "someone keeps posting mean things", urgency="medium", category="bullying",
                 created_at=utcnow() - timedelta(hours=30))
        tip = make_tip(world.school_a, "He posted it here https://www.instagram.com/p/Cxyz0123456789abcdefghijklmnop"
                       "qrstuvwxyz/?igsh=MWQ1ZGUxMzBkMA== and says lunch", urgency="critical", category="weapon",
                       photo=PNG, created_at=utcnow() - timedelta(minutes=20))
        for _ in range(2):  # three photos in all, as many as a report takes
            db_add_sealed(tip, Attachment(tip=tip, content_type="image/png", size=len(PNG)), "attachment", PNG,
                          column="data_ct")
        db.session.add(Alert(tip_id=tip.id, staff_id=world.people["sro_a"], chain_position=1, status="delivered",
                             sent_at=utcnow(), delivered_at=utcnow(), error_code="30003"))
        db.session.commit()
        ref = tip.ref
    base = live_server(app)
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{base}/console/tips/{ref}")
        sign_in_in_browser(page, world, f"{base}/console/tips/{ref}")
        widths = {"case": page.evaluate("document.documentElement.scrollWidth")}
        page.goto(f"{base}/console/")
        widths["queue"] = page.evaluate("document.documentElement.scrollWidth")
        assert widths == {"case": PHONE["width"], "queue": PHONE["width"]}
    finally:
        context.close()


# What the page looks like to the person holding it: anything wider than the screen, and any box whose text is
# under 16 px (iOS zooms the page into such a box when it is tapped, and the buttons go off the screen).
LAYOUT = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('main *, header *')].filter(el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && (box.right > width + 0.5 || box.left < -0.5);
  }).map(el => el.outerHTML.slice(0, 80));
  const small = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(el => parseFloat(getComputedStyle(el).fontSize) < 16).map(el => el.outerHTML.slice(0, 80));
  return {scroll: document.documentElement.scrollWidth - width, wide, small};
}"""


def _fits(page, seen: dict) -> None:
    page.wait_for_load_state("load")  # the style sheet applied
    seen[page.url.split("/console", 1)[1]] = page.evaluate(LAYOUT)


@pytest.mark.parametrize("viewport", [SMALL_PHONE, {"width": 375, "height": 667}], ids=["320", "375"])
def test_the_alert_links_flow_fits_a_small_phone(browser, live_server, make_app, viewport) -> None:
    """At 3 a.m. on a 320-pixel phone, signed out, the SRO taps the alert SMS's link: sign-in (password, then the
    code on a number pad, as the SMS app offers it), the case, Acknowledge, a message to the reporter, and the
    queue of the '+N related tips' SMS. Nothing is wider than the screen ('Sign out everywhere' hung off its edge)
    and no box makes iOS zoom in (the queue's reference box had 13-pixel text)."""
    app = make_app(**LOOSE_LIMITS)
    world = build_world(app)
    with app.app_context():
        ref = make_tip(world.school_a, "He said he has a knife in his bag and showed it at lunch. " * 30,
                       urgency="critical", category="weapon").ref
    base = live_server(app)
    context = browser.new_context(viewport=viewport, is_mobile=True, has_touch=True, java_script_enabled=False)
    seen: dict[str, dict] = {}
    try:
        page = context.new_page()
        page.goto(f"{base}/console/tips/{ref}")
        _fits(page, seen)
        page.get_by_label("Email").fill(world.emails["sro_a"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{base}/console/sign-in/code")
        _fits(page, seen)
        code = page.locator("#code")
        assert (code.get_attribute("inputmode"), code.get_attribute("autocomplete")) == ("numeric", "one-time-code")
        code.fill(totp_code(world.app, world.people["sro_a"], world.secrets["sro_a"]))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/console/tips/{ref}")
        _fits(page, seen)
        acknowledge = page.get_by_role("button", name="Acknowledge (stops escalation)")
        # On the first screen, before the tip's text however long it is: not to be hunted for (the hint on printing
        # came first, seven lines at 320 pixels, and pushed it below the screen's bottom).
        box = acknowledge.bounding_box()
        assert box["y"] + box["height"] <= viewport["height"]
        assert box["y"] < page.locator("blockquote.tip-text").bounding_box()["y"]
        acknowledge.tap()
        page.wait_for_url(f"{base}/console/tips/{ref}")
        assert "Acknowledged" in page.text_content(".flashes")
        page.fill("#message-body", "Which bag? Is he in class now? You can answer here at any time.")
        page.get_by_role("button", name="Send to reporter").tap()
        page.wait_for_url(f"{base}/console/tips/{ref}#messages")
        assert "Which bag?" in page.text_content("#messages")
        _fits(page, seen)
        page.goto(f"{base}/console/")
        _fits(page, seen)
    finally:
        context.close()
    assert seen == {path: {"scroll": 0, "wide": [], "small": []} for path in seen}, seen
    assert len(seen) == 5


def test_the_reporter_message_link_shows_the_new_message_on_a_phone(browser, live_server, make_app) -> None:
    """'TIPLINE NEW MESSAGE from reporter ... Read it: <link>' opened the case at its top; on a 320-pixel phone the
    message was five screens down, past the tip, the triage, the status forms and the legal hold, with nothing to
    say it was there. The first screen now says so, with a link to it."""
    app = make_app(**LOOSE_LIMITS)
    world = build_world(app)
    with app.app_context():
        tip = make_tip(world.school_a, "He said he has a knife in his bag and showed it at lunch. " * 10,
                       urgency="critical", category="weapon")
        add_unread_reporter_message(tip, "He just left by the north gate")
        db.session.commit()
        ref = tip.ref
    base = live_server(app)
    context = browser.new_context(viewport=SMALL_PHONE, is_mobile=True, has_touch=True, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{base}/console/tips/{ref}")
        sign_in_in_browser(page, world, f"{base}/console/tips/{ref}")
        notice = page.get_by_role("link", name="New message from the reporter")
        box = notice.bounding_box()
        assert box is not None and box["y"] + box["height"] <= SMALL_PHONE["height"]
        notice.tap()
        message = page.get_by_text("He just left by the north gate")
        box = message.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= SMALL_PHONE["height"]
    finally:
        context.close()
