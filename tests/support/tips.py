"""Tips as the tests need them: sealed through the real encryption service, like intake stores them."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from app.alerts import db_plan_alerts_for_new_tip
from app.crypto.receipts import db_new_reference, new_receipt_code, normalize_code, receipt_hash
from app.crypto.service import db_add_sealed, db_new_tip_key, seal_for_tip
from app.extensions import db
from app.models import Attachment, Message, Tip, utcnow
from triage import urgency_rank


def make_tip(
    school_id: int, text: str = "someone said they will bring a gun tomorrow", *, urgency: str = "high",
    category: str = "threat_of_violence", contact: str | None = None, created_at: datetime | None = None,
    photo: bytes | None = None, incident_id: int | None = None, receipt_code: str | None = None,
    plan_alerts: bool = False,
) -> Tip:
    """A sealed tip through the real encryption service (inside an app context; commits).

    `plan_alerts`: also write its outbox rows in the same transaction, as intake does.
    """
    code = normalize_code(receipt_code or new_receipt_code())
    assert code is not None
    tip = Tip(ref=db_new_reference(), school_id=school_id, receipt_hash=receipt_hash(code), category=category,
              urgency=urgency, urgency_rank=urgency_rank(urgency), confidence=0.8, model_version="test",
              created_at=created_at or utcnow(), incident_id=incident_id)
    db_new_tip_key(tip)
    tip.text_ct = seal_for_tip(tip, "text", text.encode())
    if contact:
        tip.contact_ct = seal_for_tip(tip, "contact", contact.encode())
    assessment = {"category_probs": {category: 0.8, "other": 0.2}, "urgency_probs": {urgency: 0.9, "low": 0.1},
                  "reasons": ["mentions a weapon", "says when"]}
    tip.assessment_ct = seal_for_tip(tip, "assessment", json.dumps(assessment).encode())
    db.session.add(tip)
    db.session.flush()
    if photo is not None:
        item = Attachment(tip=tip, content_type="image/png", size=len(photo))
        db_add_sealed(tip, item, "attachment", photo, column="data_ct")
    if plan_alerts:
        db_plan_alerts_for_new_tip(tip)
    db.session.commit()
    return tip


def tip_by_ref(ref: str) -> Tip:
    """The tip of this reference (inside an app context); the test fails if there is none."""
    tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
    assert tip is not None, ref
    return tip


def add_unread_reporter_message(tip: Tip, text: str) -> None:
    """The reporter wrote again on the case, sealed as follow-up stores it, and nobody has read it yet (the caller
    commits)."""
    reply = Message(tip=tip, from_reporter=True)
    db.session.add(reply)
    db.session.flush()
    reply.body_ct = seal_for_tip(tip, f"message:{reply.id}", text.encode())
    tip.reporter_reply_unread = True
