"""No WCAG 2.1 AA violation that axe-core can find, on the reporter's pages in English and Spanish and on the
staff console's sign-in, queue, case and change-password pages, and on a 320-pixel phone along the alert SMS's link.

axe-core comes from the npm registry (package.json pins it; `npm ci --no-audit --no-fund` installs it into
node_modules/). It is read from disk and injected into the page, never fetched: the page's CSP forbids
inline scripts, so the browser context bypasses CSP for the injection only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.console import clock
from app.extensions import db
from app.models import utcnow
from tests.console.helpers import PASSWORD, FrozenClock, build_world, totp_code
from tests.e2e.conftest import PHONE, SMALL_PHONE
from tests.intake.helpers import LOOSE_LIMITS
from tests.support.tips import add_unread_reporter_message, make_tip

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
RUN_AXE = "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        reason = f"{AXE} is missing: run `npm ci --no-audit --no-fund` in the repository"
        if os.environ.get("TIPLINE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"axe-core is required (TIPLINE_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(f"accessibility test skipped: {reason}")
    return AXE.read_text()


def violations(page: Any, axe: str) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now, one readable line each."""
    page.add_script_tag(content=axe)
    result = page.evaluate(RUN_AXE, WCAG_AA)
    found = []
    for violation in result["violations"]:
        targets = [" ".join(node["target"]) for node in violation["nodes"]][:3]
        found.append(f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found



def _password_step(page: Any, world: Any, base: str) -> None:
    """On the sign-in page: the SRO's email and password, on to the code page."""
    page.get_by_label("Email").fill(world.emails["sro_a"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{base}/console/sign-in/code")

def test_reporter_and_console_pages_meet_wcag_21_aa(browser, live_server, make_app, axe_source):
    app = make_app(**LOOSE_LIMITS)
    world = build_world(app)
    with app.app_context():
        case_ref = make_tip(world.school_a, "He said he has a knife in his bag and showed it at lunch",
                            urgency="critical", category="weapon").ref
    base = live_server(app)
    found: list[str] = []

    for locale in ("en-US", "es-ES"):
        context = browser.new_context(viewport=PHONE, locale=locale, bypass_csp=True,
                                      extra_http_headers={"Accept-Language": locale})
        page = context.new_page()
        try:
            for path in ("/", "/report", "/followup", "/no-such-page"):
                page.goto(base + path)
                found += violations(page, axe_source)
            # The error state of the form too: messages tied to their fields.
            page.goto(base + "/report")
            page.evaluate("document.querySelector('form[method=post]').noValidate = true")
            page.click('form button[type="submit"]')
            found += violations(page, axe_source)
            page.select_option("#school", label="Alpha High School")
            page.fill("#description", "Someone keeps threatening a younger student at the bus stop every day.")
            page.click('form button[type="submit"]')
            page.wait_for_url(f"{base}/receipt")
            found += violations(page, axe_source)
            code = (page.text_content("#receipt-code") or "").strip()
            page.check('input[name="saved"]')
            page.click('form button[type="submit"]')
            page.wait_for_url(f"{base}/done")
            found += violations(page, axe_source)
            page.goto(base + "/followup")
            page.fill("#code", code)
            page.click('form button[type="submit"]')
            page.wait_for_url(f"{base}/followup")
            assert page.locator("#tip-ref").count() == 1
            found += violations(page, axe_source)
        finally:
            context.close()

    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(f"{base}/console/sign-in")
        found += violations(page, axe_source)
        _password_step(page, world, base)
        found += violations(page, axe_source)
        page.fill("#code", totp_code(app, world.people["sro_a"], world.secrets["sro_a"]))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/console/")
        found += violations(page, axe_source)
        page.goto(f"{base}/console/tips/{case_ref}")
        found += violations(page, axe_source)
        # On legal hold: its badge and section, and the queue's badge.
        page.fill("#hold-body", "Casper PD case 26-01234, subpoena")
        page.get_by_role("button", name="Put on legal hold").click()
        page.wait_for_url(f"{base}/console/tips/{case_ref}#hold")
        found += violations(page, axe_source)
        page.goto(f"{base}/console/?status=all")
        found += violations(page, axe_source)
        # Change password, as it comes and refused (errors tied to their boxes), from the header's "Your account".
        page.get_by_role("link", name="Your account").click()
        page.wait_for_url(f"{base}/console/account/password")
        found += violations(page, axe_source)
        page.get_by_label("Current password").fill("not the password at all")
        page.get_by_label("New password (12 characters or more)").fill("short")
        page.get_by_label("New password again").fill("short")
        page.get_by_role("button", name="Change password").click()
        page.wait_for_selector("#current-error")
        found += violations(page, axe_source)
    finally:
        context.close()
    assert not found, "WCAG 2.1 AA violations:\n" + "\n".join(found)


def test_the_sms_link_flow_meets_wcag_21_aa_on_a_small_phone(browser, live_server, make_app, axe_source,
                                                             monkeypatch) -> None:
    """The pages an SRO goes through from the alert SMS on a 320-pixel phone, where the header wraps and tables are
    cards: sign-in with its `next`, the code and recovery code pages, the case (Acknowledge first, the reporter's
    new message announced), the queue, and the page a message sent after the session ended comes back on."""
    app = make_app(**LOOSE_LIMITS)
    world = build_world(app)
    with app.app_context():
        tip = make_tip(world.school_a, "He said he has a knife in his bag and showed it at lunch",
                       urgency="critical", category="weapon")
        add_unread_reporter_message(tip, "He just left by the north gate")
        db.session.commit()
        case = f"/console/tips/{tip.ref}"
    base = live_server(app)
    found: list[str] = []
    context = browser.new_context(viewport=SMALL_PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(base + case)
        found += violations(page, axe_source)
        _password_step(page, world, base)
        found += violations(page, axe_source)
        page.get_by_role("link", name="Use a recovery code").click()
        page.wait_for_url(f"{base}/console/sign-in/code?recovery=1")
        found += violations(page, axe_source)
        page.fill("#code", totp_code(app, world.people["sro_a"], world.secrets["sro_a"]))  # a TOTP code works too
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(base + case)
        found += violations(page, axe_source)
        page.goto(f"{base}/console/")
        found += violations(page, axe_source)
        page.goto(base + case)
        frozen = FrozenClock(utcnow().replace(microsecond=0))
        monkeypatch.setattr(clock, "now", frozen)
        page.fill("#message-body", "Which bag is it in?")
        frozen.advance(minutes=40)
        page.get_by_role("button", name="Send to reporter").click()
        page.wait_for_url(f"{base}{case}/messages")
        assert page.get_by_role("link", name="Sign in again").get_attribute("href") == f"/console/sign-in?next={case}"
        found += violations(page, axe_source)
    finally:
        context.close()
    assert not found, "WCAG 2.1 AA violations:\n" + "\n".join(found)
