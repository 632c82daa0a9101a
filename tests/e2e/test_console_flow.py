"""An SRO signs in with TOTP, takes the critical tip off the top of the queue, acknowledges it and asks the
reporter a question; the reporter answers on the follow-up page; the SRO sees the answer. The console runs
with JavaScript off, and nothing is fetched from another host."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

import pytest

from app.crypto.receipts import new_receipt_code
from app.models import utcnow
from tests.console.helpers import build_world
from tests.e2e.conftest import PHONE, sign_in_in_browser
from tests.intake.helpers import LOOSE_LIMITS
from tests.support.tips import make_tip

pytestmark = pytest.mark.e2e


def test_sro_works_a_critical_tip_with_the_reporter(browser, live_server, make_app) -> None:
    app = make_app(**LOOSE_LIMITS)
    world = build_world(app)
    code = new_receipt_code()
    now = utcnow()
    with app.app_context():
        make_tip(world.school_a, "kids vaping in the bathroom", urgency="low", category="drugs_alcohol",
                 created_at=now - timedelta(hours=3))
        make_tip(world.school_a, "someone keeps posting mean things", urgency="medium", category="bullying",
                 created_at=now - timedelta(hours=2))
        critical = make_tip(world.school_a, "He said he has a gun in his locker and will use it at lunch",
                            urgency="critical", category="weapon", receipt_code=code).ref
    base = live_server(app)
    hosts: set[str] = set()
    staff = browser.new_context(java_script_enabled=False)
    reporter = browser.new_context(viewport=PHONE)
    try:
        page = staff.new_page()
        page.on("request", lambda request: hosts.add(urlparse(request.url).netloc))
        page.goto(f"{base}/console/")
        sign_in_in_browser(page, world, f"{base}/console/")

        first_row = page.locator("table.queue tbody tr").first
        assert first_row.get_attribute("data-ref") == critical
        first_row.get_by_role("link", name=critical).click()
        page.wait_for_url(f"{base}/console/tips/{critical}")
        assert "gun in his locker" in page.text_content("blockquote.tip-text")
        page.get_by_role("button", name="Acknowledge (stops escalation)").click()
        assert "Acknowledged" in page.text_content(".flashes")
        page.select_option("#message-template", "where.en")
        page.get_by_role("button", name="Send to reporter").click()
        assert "Where is this happening?" in page.text_content("#messages")

        answer = reporter.new_page()
        answer.on("request", lambda request: hosts.add(urlparse(request.url).netloc))
        answer.goto(f"{base}/followup")
        answer.fill("#code", code)
        answer.click('form button[type="submit"]')
        answer.wait_for_url(f"{base}/followup")
        assert "Where is this happening?" in answer.text_content("body")
        answer.fill("#message", "Locker 214, next to the north gym")
        answer.get_by_role("button", name="Send").click()
        answer.wait_for_url(f"{base}/followup")

        page.goto(f"{base}/console/")
        assert "New reply from reporter" in page.locator(f'tr[data-ref="{critical}"]').text_content()
        page.get_by_role("link", name=critical).click()
        assert "Locker 214, next to the north gym" in page.text_content("#messages")
        assert page.locator(f'tr[data-ref="{critical}"]').count() == 0  # we are on the case page
        page.goto(f"{base}/console/")
        row = page.locator(f'tr[data-ref="{critical}"]')
        assert "New reply" not in row.text_content() and "acknowledged" in row.text_content()
    finally:
        staff.close()
        reporter.close()
    assert hosts == {urlparse(base).netloc}, hosts
