"""Storing a new tip: classify in memory, seal, store, plan its alerts, in one transaction."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

import triage
from app import audit
from app.alerts import db_plan_alerts_for_new_tip
from app.alerts.planning import db_alert_route
from app.alerts.reporter_messages import db_alert_for_reporter_message
from app.crypto.receipts import db_new_reference, new_receipt_code, normalize_code, receipt_hash
from app.crypto.service import db_add_sealed, db_new_tip_key, seal_for_tip
from app.database import reading
from app.extensions import db
from app.intake.photos import CleanPhoto
from app.logs import log_event
from app.models import UNRANKED_MODEL, Attachment, Message, Tip, utcnow

log = logging.getLogger("app.intake")


class TriageUnavailable(RuntimeError):
    """The triage model cannot be loaded: intake stores the tip at critical (`assess`) rather than lose it."""


@dataclass(frozen=True)
class NewTip:
    school_id: int
    text: str
    happening_now: bool | None
    contact: str
    photos: list[CleanPhoto]
    language: str | None = None  # of the pages it was sent from (app/i18n.py), for staff to answer in


def triage_model() -> triage.TriageModel:
    """The model in TRIAGE_MODEL_DIR, loaded once per process (the triage library caches it per directory)."""
    try:
        model: triage.TriageModel = triage.load_model(Path(current_app.config["TRIAGE_MODEL_DIR"]))
    except triage.ModelNotTrained as exc:
        raise TriageUnavailable(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - damaged in any way (cut short, not a zip, untrusted types): unavailable
        raise TriageUnavailable(f"The triage model cannot be loaded ({type(exc).__name__}): train it again with "
                                "`.venv/bin/python -m triage train`.") from None
    return model


# What a tip is stored with when triage cannot rank it: paged at once, like the worst the model could have said,
# for staff to read and relabel. A model that cannot be loaded or that fails on one text never turns a tip away.
UNRANKED_CATEGORY, UNRANKED_URGENCY = "other", "critical"


def unranked_assessment() -> triage.Assessment:
    return triage.Assessment(
        category=UNRANKED_CATEGORY, urgency=UNRANKED_URGENCY,
        category_probabilities={c: 0.0 for c in triage.CATEGORIES},
        urgency_probabilities={u: 0.0 for u in triage.URGENCIES},
        reasons=("triage unavailable: ranked critical until staff read it",), rules_fired=(),
        model_version=UNRANKED_MODEL)


def assess(text: str, happening_now: bool | None) -> triage.Assessment:
    """Classify the plain text in memory; it never leaves this process unsealed. When triage cannot (no model that
    loads, or the model fails on this text) the tip is still taken, at critical, and the operator is told."""
    try:
        return triage_model().assess(text, happening_now=happening_now)
    except TriageUnavailable as exc:
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - a bug on one text must not lose the tip; only its type is logged
        reason = f"the model failed on a tip ({type(exc).__name__})"
    log_event(log, "OPERATOR: triage is unavailable; the tip is stored and paged as critical", logging.CRITICAL,
              reason=reason)
    return unranked_assessment()


def db_store_tip(new: NewTip, assessment: triage.Assessment) -> tuple[Tip, str]:
    """Seal and add the tip, its photos and its alert rows; returns the tip and its receipt code.

    Who is alerted is read first, outside the writing transaction; on SQLite that transaction holds the one
    write lock, so it does only what must be atomic: the new rows.
    """
    with reading():
        route = db_alert_route(new.school_id)
    tip, code = db_new_sealed_tip(new, assessment)
    # The incident and the alert before the first flush: the tip's row is inserted once, complete.
    with db.session.no_autoflush:
        db_plan_alerts_for_new_tip(tip, route)
    db.session.add(tip)
    db.session.flush()
    db_add_photos(tip, new.photos, message=None)
    return tip, code


def db_new_sealed_tip(new: NewTip, assessment: triage.Assessment) -> tuple[Tip, str]:
    """A new tip's row, its text, contact and assessment sealed under a key of its own, and its receipt code; not
    yet in the session (intake plans its alerts first; the demo cases write their history instead)."""
    code = new_receipt_code()
    canonical = normalize_code(code)
    assert canonical is not None
    tip = Tip(
        ref=db_new_reference(), school_id=new.school_id, receipt_hash=receipt_hash(canonical),
        happening_now=new.happening_now, category=assessment.category, urgency=assessment.urgency,
        urgency_rank=triage.urgency_rank(assessment.urgency), confidence=float(assessment.confidence),
        model_version=assessment.model_version,
    )
    db_new_tip_key(tip)
    tip.text_ct = seal_for_tip(tip, "text", new.text.encode("utf-8"))
    if new.contact.strip():
        tip.contact_ct = seal_for_tip(tip, "contact", new.contact.encode("utf-8"))
    tip.assessment_ct = seal_for_tip(tip, "assessment", json.dumps(assessment.to_dict()).encode())
    if new.language:
        tip.language_ct = seal_for_tip(tip, "language", new.language.encode())
    return tip, code


def db_add_photos(tip: Tip, photos: list[CleanPhoto], message: Message | None) -> None:
    for photo in photos:
        row = Attachment(tip_id=tip.id, message_id=message.id if message else None,
                         content_type=photo.content_type, size=len(photo.data))
        db_add_sealed(tip, row, "attachment", photo.data, column="data_ct")


def db_add_reporter_message(tip: Tip, text: str, photos: list[CleanPhoto]) -> Message:
    message = Message(tip_id=tip.id, from_reporter=True)
    db_add_sealed(tip, message, "message", text.encode("utf-8"))
    db_add_photos(tip, photos, message)
    tip.reporter_replied_at = utcnow()
    tip.reporter_reply_unread = True
    if tip.is_finished:
        # New information on a resolved or closed case: back in the queue, where staff see it, and out of the
        # retention purge, which would otherwise shred the message unread. Recorded like a change by staff.
        previous = tip.reopen()
        audit.record("tip.status_changed", actor_label="reporter", tip=tip, before=previous, after=tip.status,
                     reason="reporter_message")
    # Someone must hear of it at once if the tip pages now (an acknowledged critical tip at 3 a.m.): the SMS's row
    # is written here, with the message, so that one never exists without the other.
    db_alert_for_reporter_message(tip, message)
    return message
