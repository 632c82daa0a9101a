"""A case: the decrypted tip, its notes, messages, photos, assessment and alert history.

Opening a case decrypts it, so every view is an audit event; so is every photo served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Response, abort, current_app, render_template, request, session
from sqlalchemy import select

from app import audit
from app.console import bp
from app.console.access import may_release_legal_hold, may_set_legal_hold, me
from app.console.forms import (
    OUTCOME_CHOICES,
    AssignForm,
    ConfirmForm,
    HoldForm,
    LabelForm,
    LinkForm,
    MessageForm,
    NoteForm,
    ReleaseHoldForm,
    StatusForm,
    UnlinkForm,
    as_choices,
)
from app.console.incident_close import others_to_close_with
from app.console.questions import question_choices
from app.console.scope import get_visible_tip_or_404, visible_tips
from app.console.unavailable import FORMS_WITH_TEXT
from app.crypto.errors import DecryptionFailed, KeyringUnavailable, TipShredded
from app.crypto.service import open_for_tip, open_tip_assessment, open_tip_contact, open_tip_text
from app.extensions import db
from app.legal_hold import hold_marker
from app.models import Alert, Assignment, Attachment, Role, School, Staff, Tip, utcnow
from app.retention import is_past_retention
from app.transactions import commit_before_rendering

# Served as what they are; anything else is a download of opaque bytes, never rendered.
SAFE_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
UNREADABLE = "[this part cannot be opened: the key is missing or the data was altered]"
SHREDDED = "This case was crypto-shredded after retention: its content is gone for good."
# The reporter pages' languages (config LANGUAGES), as staff read them.
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}
LANGUAGE_NOT_KEPT = "not recorded (reported before Tipline kept it)"


@dataclass
class Entry:
    """A note or a message, opened."""

    created_at: Any
    body: str
    author: str
    from_reporter: bool = False
    photo_ids: list[int] = field(default_factory=list)
    new: bool = False  # a reporter's message no staff had seen before this view


@dataclass
class CaseContent:
    text: str | None = None
    contact: str | None = None
    assessment: dict[str, Any] | None = None
    notes: list[Entry] = field(default_factory=list)
    messages: list[Entry] = field(default_factory=list)
    language: str = ""  # the reporter's, as staff read it (LANGUAGE_NAMES); "" when the tip cannot be opened
    hold_reason: str = ""  # the legal hold's, and its release's (app/legal_hold.py)
    release_reason: str = ""
    problem: str | None = None


def _open_text(tip: Tip, field_name: str, blob: bytes | None) -> str:
    if blob is None:
        return ""
    try:
        return open_for_tip(tip, field_name, blob).decode("utf-8")
    except (DecryptionFailed, UnicodeDecodeError):
        return UNREADABLE


def open_case(tip: Tip, names: dict[int, str], still_new: frozenset[int] = frozenset()) -> CaseContent:
    """The tip's content, opened. `still_new`: reporter's messages read already, but to show as new all the same
    (see `_still_new`)."""
    content = CaseContent()
    try:
        content.text = open_tip_text(tip)
        content.contact = open_tip_contact(tip)
        content.assessment = open_tip_assessment(tip)
    except TipShredded:
        content.problem = SHREDDED
        return content
    except KeyringUnavailable as exc:
        content.problem = f"The keyring is not available, so this tip cannot be opened ({exc})."
        return content
    except DecryptionFailed:
        content.problem = "This tip does not open under its key: the data was altered. Tell the district admin."
        return content
    content.language = _language_of(tip)
    content.notes = [Entry(n.created_at, _open_text(tip, f"note:{n.id}", n.body_ct), names.get(n.staff_id, "?"))
                     for n in tip.notes]
    content.hold_reason = _open_text(tip, "legal_hold", tip.legal_hold_reason_ct)
    content.release_reason = _open_text(tip, "legal_hold_release", tip.legal_hold_release_reason_ct)
    # A photo sent with a reply is shown with that reply: among the report's, it would read as sent with the tip.
    photos_of: dict[int, list[int]] = {}
    for item in tip.attachments:
        if item.message_id is not None:
            photos_of.setdefault(item.message_id, []).append(item.id)
    content.messages = [
        Entry(m.created_at, _open_text(tip, f"message:{m.id}", m.body_ct),
              "Reporter" if m.from_reporter else names.get(m.staff_id or 0, "Staff"), m.from_reporter,
              photos_of.get(m.id, []), m.from_reporter and (m.read_at is None or m.id in still_new))
        for m in tip.messages
    ]
    return content


def _language_of(tip: Tip) -> str:
    """The language of the pages the reporter sent the tip from, named for staff to answer in."""
    if tip.language_ct is None:
        return LANGUAGE_NOT_KEPT
    code = _open_text(tip, "language", tip.language_ct)
    return LANGUAGE_NAMES.get(code, code)


def counselors_of(school_id: int) -> list[Staff]:
    return list(db.session.scalars(
        select(Staff).join(Assignment, Assignment.staff_id == Staff.id)
        .where(Assignment.school_id == school_id, Staff.role == Role.COUNSELOR, Staff.active.is_(True))
        .order_by(Staff.name)
    ))


def linked_tip_ids(tip: Tip, staff: Staff | None = None) -> list[int]:
    """The ids of the other tips of the tip's incident: those `staff` may see, or every school's without `staff`
    (what an unlink changes). Linking and intake keep an incident to one school, but older data, or data written by
    hand, may hold another school's tip: the page tells nothing of it, not even that it is there."""
    if tip.incident_id is None:
        return []
    query = visible_tips(staff) if staff is not None else select(Tip)
    return list(db.session.scalars(
        query.with_only_columns(Tip.id).where(Tip.incident_id == tip.incident_id, Tip.id != tip.id)
        .order_by(Tip.id)))


def incident_marker(staff: Staff, tip: Tip) -> str:
    """What the "take out of the incident" form carries: the incident the page showed and the other tips in it that
    the page listed, of the person's schools ("none" for a tip linked to no other of them)."""
    others = linked_tip_ids(tip, staff)
    return f"{tip.incident_id}:{','.join(map(str, others))}" if others else "none"


def case_forms(staff: Staff, tip: Tip) -> dict[str, Any]:
    """The case page's forms, empty, each with what the page shows now. Never filled in from the request: a page
    answering a refused form (render_case) had every box named "body" holding its text, a hold's reason in the
    box of a message to the reporter too."""
    empty: dict[str, Any] = {"formdata": None}
    label = LabelForm(category=tip.effective_category, urgency=tip.effective_urgency,
                      labels_was=f"{tip.effective_category} {tip.effective_urgency}", **empty)
    status = StatusForm(status=tip.status, outcome=tip.outcome or "", status_was=tip.status, **empty)
    assign = AssignForm(counselor=tip.assigned_counselor_id or 0, counselor_was=str(tip.assigned_counselor_id or 0),
                        **empty)
    assign.counselor.choices = as_choices([(0, "(nobody)")] + [(c.id, c.name) for c in counselors_of(tip.school_id)])
    message = MessageForm(message_after=str(max((m.id for m in tip.messages), default=0)), **empty)
    message.template.choices = as_choices(question_choices())
    note = NoteForm(note_after=str(max((n.id for n in tip.notes), default=0)), **empty)
    hold, release = HoldForm(hold_was=hold_marker(tip), **empty), ReleaseHoldForm(hold_was=hold_marker(tip), **empty)
    return {"label_form": label, "status_form": status, "assign_form": assign, "note_form": note,
            "message_form": message, "link_form": LinkForm(**empty), "ack_form": ConfirmForm(**empty),
            "hold_form": hold, "release_form": release,
            "unlink_form": UnlinkForm(incident_was=incident_marker(staff, tip), **empty)}


# The reporter's messages the last case page showed as new (their ids: no reference, the cookie is readable), and
# whether the page asked for now follows an action sent from a case (set by case_actions.back_to_case).
SHOWN_NEW, AFTER_ACTION = "case_shown_new", "case_after_action"


def _still_new(tip: Tip) -> frozenset[int]:
    """The reporter's messages of this tip that the page an action was sent from showed as new. That page counted
    as reading them, but the action (Acknowledge, the first button of a case opened from the SMS at night) came
    before anyone scrolled down to them: the page that follows keeps their marks. A case opened afresh does not."""
    shown = session.pop(SHOWN_NEW, None)
    after_action = session.pop(AFTER_ACTION, None) is not None or request.method == "POST"
    if not after_action or not isinstance(shown, list):
        return frozenset()
    return frozenset(m.id for m in tip.messages if m.from_reporter and m.id in shown)


@bp.get("/tips/<ref>")
def case(ref: str) -> str:
    staff = me()
    return render_case(staff, get_visible_tip_or_404(staff, ref))


# The case page's forms that take text of the person's own, and what a page giving it back calls it.
TEXT_FORMS = {"note_form": FORMS_WITH_TEXT["console.add_note"], "message_form": FORMS_WITH_TEXT["console.send_message"],
              "hold_form": FORMS_WITH_TEXT["console.set_legal_hold"],
              "release_form": FORMS_WITH_TEXT["console.release_legal_hold"]}


def _form_shown(name: str, staff: Staff, tip: Tip) -> bool:
    """Whether the case page as it is now has the form `name` (case.html decides the same way)."""
    if tip.wrapped_dek is None:  # shredded: no note, message or hold
        return False
    if name == "hold_form":
        return not tip.on_legal_hold and may_set_legal_hold(staff)
    if name == "release_form":
        return tip.on_legal_hold and may_release_legal_hold(staff)
    return True


def render_case(staff: Staff, tip: Tip, kept: tuple[str, str] | None = None, **refused_forms: Any) -> str:
    """The case page (a view: decrypted, so on the record). `refused_forms` replace the page's empty forms with
    ones sent and refused, so what was typed comes back in its box beside the error. `kept` (a form's name in
    TEXT_FORMS, the text) gives text back read-only, to copy, in that form's section; so does a refused form
    whose box the page no longer has (the case shredded, or put on hold, since)."""
    for name, refused in refused_forms.items():
        if name in TEXT_FORMS and not _form_shown(name, staff, tip) and refused.body.data:
            kept = (name, str(refused.body.data))
    kept_for, kept_text = kept or ("", "")
    staff_ids = {n.staff_id for n in tip.notes} | {m.staff_id for m in tip.messages if m.staff_id}
    alerts = list(db.session.scalars(select(Alert).where(Alert.tip_id == tip.id).order_by(Alert.id)))
    staff_ids |= {a.staff_id for a in alerts if a.staff_id} | {
        i for i in (tip.acknowledged_by_id, tip.labelled_by_id, tip.assigned_counselor_id, tip.legal_hold_by_id,
                  tip.legal_hold_released_by_id) if i}
    names = {s.id: s.name for s in db.session.scalars(select(Staff).where(Staff.id.in_(staff_ids)))}
    still_new = _still_new(tip)
    content = open_case(tip, names, still_new) if tip.wrapped_dek is not None else CaseContent(problem=SHREDDED)
    related = list(db.session.scalars(
        visible_tips(staff).where(Tip.incident_id == tip.incident_id, Tip.id != tip.id).order_by(Tip.created_at)
    )) if tip.incident_id is not None else []
    school = db.session.get(School, tip.school_id)
    forms = case_forms(staff, tip) | refused_forms
    attachments = [a for a in tip.attachments if a.message_id is None]  # the report's; a reply's go with it
    close_together = others_to_close_with(staff, tip)
    audit.record("tip.viewed", actor=staff, tip=tip, decrypted=content.problem is None)
    # Whoever opens the case has seen the replies: the queue's marker goes, and the case page's "New" with it. Not
    # when nothing could be opened (the keyring missing, the data altered): nobody has read them, they stay new. (A
    # shredded case has nothing left to read: its marker goes.)
    now = utcnow()
    shown_new = [m.id for m in tip.messages if m.from_reporter and (m.read_at is None or m.id in still_new)]
    if content.problem is None and shown_new:
        session[SHOWN_NEW] = shown_new
    if content.problem in (None, SHREDDED):
        tip.reporter_reply_unread = False
        for message in tip.messages:
            if message.from_reporter and message.read_at is None:
                message.read_at = now
    commit_before_rendering()  # the view is on the record before anything is shown; the lock is free again
    return render_template(
        "console/case.html", tip=tip, content=content, alerts=alerts, names=names, related=related, school=school,
        attachments=attachments, shredded=tip.wrapped_dek is None, category=tip.effective_category,
        urgency=tip.effective_urgency, may_hold=may_set_legal_hold(staff), may_release=may_release_legal_hold(staff),
        past_retention=is_past_retention(tip), retention_days=int(current_app.config["RETENTION_DAYS"]),
        printed_at=now, kept_for=kept_for, kind=TEXT_FORMS.get(kept_for, ""), kept=kept_text,
        close_together=close_together, outcome_choices=OUTCOME_CHOICES[1:], **forms,
    )


@bp.get("/tips/<ref>/attachments/<row_id:attachment_id>")
def attachment(ref: str, attachment_id: int) -> Response:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref)
    item = db.session.scalar(select(Attachment).where(Attachment.id == attachment_id, Attachment.tip_id == tip.id))
    if item is None or item.data_ct is None:
        abort(404)
    try:
        data = open_for_tip(tip, f"attachment:{item.id}", item.data_ct)
    except (DecryptionFailed, TipShredded, KeyringUnavailable):
        abort(410)
    audit.record("attachment.viewed", actor=staff, tip=tip, attachment_id=item.id)
    # Read before the commit, which expires the row: read after it, a database refusing in that instant answered
    # 503 about a photo whose view was on the record, and the next try was a second view.
    content_type = item.content_type if item.content_type in SAFE_IMAGE_TYPES else "application/octet-stream"
    db.session.commit()
    response = Response(data, mimetype=content_type)
    # No filename from the reporter (it could identify them or carry an attack); sandboxed if opened directly.
    response.headers["Content-Disposition"] = "inline" if content_type in SAFE_IMAGE_TYPES else "attachment"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    return response
