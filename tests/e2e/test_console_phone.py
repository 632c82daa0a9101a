"""An SRO opens the console on a 360-pixel phone, JavaScript off: the queue and a case (three photos, a long
link, an alert) fit the screen's width (nothing to scroll sideways to reach a column, a photo or the end of a
line)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.crypto.service import db_add_sealed
from app.extensions import db
from app.models import Alert, Attachment, utcnow
from tests.console.helpers import build_world
from tests.e2e.conftest import PHONE, sign_in_in_browser
from tests.intake.helpers import LOOSE_LIMITS
from tests.support.tips import make_tip

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
