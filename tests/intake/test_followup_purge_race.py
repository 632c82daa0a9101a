"""A reporter's reply arriving while the retention purge shreds the same case (PostgreSQL, where the two run
side by side): the reply must neither fail with a 500 nor be sealed under a key that is being destroyed."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.crypto.receipts import db_find_tip_by_receipt
from app.extensions import db
from app.models import Message, Tip, TipStatus, utcnow
from app.retention import db_purge_expired_tips
from tests.conftest import on_postgres
from tests.intake.helpers import open_followup, post_multipart, submit_ok
from tests.support.forms import csrf_token

REPLY = "He messaged me again last night, same account, I saved the screenshots"


def _closed_long_ago(app: Flask, code: str) -> int:
    with app.app_context():
        tip = db_find_tip_by_receipt(code)
        assert tip is not None
        tip.status = TipStatus.CLOSED.value
        tip.closed_at = utcnow() - timedelta(days=int(app.config["RETENTION_DAYS"]) + 1)
        db.session.commit()
        return tip.id


@pytest.mark.skipif(not on_postgres(), reason="on SQLite the reply's request holds the write lock from BEGIN, so the "
                    "purge cannot run beside it")
def test_reply_during_the_purge_of_its_case_is_refused_with_the_text_kept(intake_app: Flask,
                                                                          schools: dict[str, int]) -> None:
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "A man online keeps asking my little sister for pictures")
    tip_id = _closed_long_ago(intake_app, code)
    assert open_followup(client, code).status_code == 200
    token = csrf_token(client, "/followup")

    shredded, release = threading.Event(), threading.Event()
    purge_errors: list[BaseException] = []

    def purge() -> None:
        try:
            with intake_app.app_context():
                assert db_purge_expired_tips().refs  # the tip is shredded, the transaction still open
                shredded.set()
                release.wait(30)
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001  (asserted below)
            purge_errors.append(exc)
            shredded.set()

    replies: list[Any] = []
    purger = threading.Thread(target=purge)
    purger.start()
    assert shredded.wait(30)
    replier = threading.Thread(target=lambda: replies.append(post_multipart(
        client, "/followup/reply", {"csrf_token": token, "message": REPLY}, None)))
    replier.start()
    time.sleep(1.0)  # the reply reaches the tip's row and waits on the purge's lock
    release.set()
    purger.join(30)
    replier.join(30)
    assert not purge_errors, purge_errors

    (response,) = replies
    assert response.status_code == 200  # not a 500, and not "Thank you. Your message was sent."
    page = response.get_data(as_text=True)
    assert REPLY in page  # kept in the form, for the reporter to send again or copy
    assert "Your message was sent" not in page
    with intake_app.app_context():
        tip = db.session.get(Tip, tip_id)
        assert tip is not None and tip.shredded_at is not None and tip.wrapped_dek is None
        assert tip.status == TipStatus.CLOSED.value  # not reopened as an empty, unreadable case
        assert db.session.scalar(select(func.count()).select_from(Message).where(
            Message.tip_id == tip_id, Message.from_reporter.is_(True))) == 0
