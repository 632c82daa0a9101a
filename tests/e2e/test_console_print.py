"""A case printed (or saved as PDF) to hand on to the police or a threat assessment team: what prints is the case,
not the console's header, buttons and forms, and the sheet says who printed it and when."""

from __future__ import annotations

import pytest

from tests.console.helpers import build_world
from tests.e2e.conftest import sign_in_in_browser
from tests.intake.helpers import LOOSE_LIMITS
from tests.support.tips import make_tip

pytestmark = pytest.mark.e2e


def test_a_printed_case_holds_the_case_and_who_printed_it_not_the_forms(browser, live_server, make_app) -> None:
    app = make_app(**LOOSE_LIMITS)
    world = build_world(app)
    with app.app_context():
        ref = make_tip(world.school_a, "he showed the gun in his backpack at the bus stop", urgency="critical",
                       category="weapon").ref
    base = live_server(app)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{base}/console/tips/{ref}")
        sign_in_in_browser(page, world, f"{base}/console/tips/{ref}")
        printed_by = page.locator(".print-only")
        assert not printed_by.is_visible()  # on screen: only the hint
        assert page.get_by_role("button", name="Acknowledge (stops escalation)").is_visible()
        assert page.locator("main form:visible").count() >= 6  # acknowledge, labels, status, assign, message, note

        page.emulate_media(media="print")
        assert printed_by.is_visible() and "Printed from Tipline by" in printed_by.inner_text()
        assert page.get_by_text("gun in his backpack at the bus stop").is_visible()
        assert page.get_by_role("heading", name="Alert history").is_visible()
        assert not page.get_by_role("button", name="Acknowledge (stops escalation)").is_visible()
        assert page.locator("main form:visible").count() == 0
        assert page.locator("button:visible, input:visible, select:visible, textarea:visible").count() == 0
        assert not page.get_by_role("navigation", name="Console").is_visible()
        assert not page.get_by_text("print it or save it as PDF").is_visible()
    finally:
        context.close()
