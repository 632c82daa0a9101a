"""Photos in the console: each shown where the reporter sent it, the report's with the report, a reply's with it."""

from __future__ import annotations

from app.crypto.service import db_add_sealed
from app.extensions import db
from app.intake.submit import db_add_reporter_message
from app.models import Attachment
from tests.console.helpers import World
from tests.support.tips import make_tip

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_a_photo_sent_with_a_reply_is_shown_with_that_reply_not_with_the_report(world: World, signed_in) -> None:
    # The reply "Here is the note he left" came with its photo; shown among the report's photos instead, staff
    # read the reply without it and took the photo for one sent with the tip.
    with world.app.app_context():
        tip = make_tip(world.school_a, photo=PNG)
        report_photo = tip.attachments[0].id
        reply = db_add_reporter_message(tip, "Here is the note he left in my locker.", [])
        item = Attachment(tip_id=tip.id, message_id=reply.id, content_type="image/png", size=len(PNG))
        db_add_sealed(tip, item, "attachment", PNG, column="data_ct")
        db.session.commit()
        ref, reply_photo = tip.ref, item.id
    page = signed_in("counselor_a").get(f"/console/tips/{ref}").get_data(as_text=True)
    report = page[page.index('id="h-report"'):page.index('id="h-triage"')]
    messages = page[page.index('id="h-messages"'):page.index('id="h-notes"')]
    url = f"/console/tips/{ref}/attachments/"
    assert f'{url}{report_photo}"' in report and f'{url}{reply_photo}"' not in report
    reply_at = messages.index("Here is the note he left in my locker.")
    assert messages.index(f'{url}{reply_photo}"') > reply_at
    assert f'{url}{report_photo}"' not in messages
