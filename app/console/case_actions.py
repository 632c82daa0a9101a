"""What staff do on a case: acknowledge, correct the labels, change status, assign, note, message, link, unlink.

Each action changes the tip and writes one audit event in the same transaction.
"""

from __future__ import annotations

from flask import flash, redirect, request, session, url_for
from sqlalchemy import select, update
from werkzeug.wrappers import Response

from app import audit
from app.alerts import db_alert_after_relabel, wake_dispatcher
from app.alerts.acknowledge import db_acknowledge_tip
from app.console import bp
from app.console.access import me
from app.console.case import AFTER_ACTION, counselors_of, incident_marker, linked_tip_ids, render_case
from app.console.forms import (
    AssignForm,
    ConfirmForm,
    LabelForm,
    LinkForm,
    MessageForm,
    NoteForm,
    StatusForm,
    UnlinkForm,
    as_choices,
)
from app.console.questions import READY_QUESTIONS, question_choices
from app.console.queue import read_reference
from app.console.scope import get_visible_tip, get_visible_tip_or_404
from app.crypto.errors import DecryptionFailed, KeyringUnavailable, TipShredded
from app.crypto.service import db_add_sealed, open_for_tip
from app.extensions import db
from app.models import Incident, Message, Note, Outcome, Staff, Tip, TipStatus, utcnow
from app.models.tips import FINISHED_STATUSES, REOPENED_STATUS
from app.small_ints import parse_small_int
from app.transactions import commit_before_rendering
from triage import urgency_rank

STATUS_ORDER = [s.value for s in TipStatus]


def back_to_case(tip: Tip, anchor: str = "") -> Response:
    session[AFTER_ACTION] = True  # the page that follows keeps the reporter's messages it showed as new marked new
    return redirect(url_for("console.case", ref=tip.ref) + (f"#{anchor}" if anchor else ""))


def saved_back_to_case(tip: Tip, anchor: str, message: str) -> Response:
    """Commit the action, say so and go back to the case. The answer is made before the commit, which expires the
    tip: reading `tip.ref` after it began a new transaction, and a lock taken by another writer in that instant (or
    PostgreSQL gone) answered "nothing was saved, try again" about a change that was saved, done twice then. The
    message is flashed after the commit: a commit refused must not leave "saved" for the next page to show."""
    back = back_to_case(tip, anchor)
    db.session.commit()
    flash(message, "info")
    return back


def _add_sealed_or_refuse(staff: Staff, tip: Tip, row: Note | Message, kind: str, text: str,
                          form: str) -> tuple[str, int] | None:
    """Add `row` with `text` sealed under the tip's key; or, when the tip was shredded (its key is gone, nothing
    new can be sealed for it), roll back and return the case page saying so, with the text given back to copy.
    Without the keyring (missing, or not this database's) KeyringUnavailable goes on to the console's 503 page
    (app/console/unavailable.py), which gives the text back in a form to save again."""
    if tip.wrapped_dek is None:
        return refused_case_page(staff, tip, form, text, SHREDDED_NOTHING_ADDED)
    try:
        db_add_sealed(tip, row, kind, text.encode("utf-8"))
    except TipShredded:
        return refused_case_page(staff, tip, form, text, SHREDDED_NOTHING_ADDED)
    return None


SHREDDED_NOTHING_ADDED = "This case was crypto-shredded after retention: nothing can be added to it."


def refused_case_page(staff: Staff, tip: Tip, form: str, text: str, why: str) -> tuple[str, int]:
    """A note, a message or a hold's reason refused because of what the case is now (shredded, its hold changed):
    nothing saved, the case as it is now, and the text given back to copy in the form's section (never put in a
    live form: the case changed, and one tap must not send it where it was not meant). A 409: the text travels in
    this answer only, never in a flash or an address."""
    db.session.rollback()  # the new row, or the hold's columns, must not ride along with the view's commit
    flash(f"{why} What you typed is given back below, to copy.", "error")
    return render_case(staff, tip, kept=(form, text)), 409


def _sent_already(tip: Tip, model: type[Note] | type[Message], staff: Staff, after: str | None, text: str) -> bool:
    """True when `staff` added this very text to the tip after the page's newest note or message (`after`):
    the same form sent twice. Attempts take turns on the tip's row (PostgreSQL; SQLite's write lock already
    does), so two taps at the same moment do not both find nothing."""
    newest = parse_small_int(after)
    if newest is None and after != "0":
        return False  # a page from before this field: sent as before
    db.session.execute(select(Tip.id).where(Tip.id == tip.id).with_for_update(key_share=True))
    kind = "note" if model is Note else "message"
    rows: list[Note | Message] = list(db.session.scalars(
        select(model).where(model.tip_id == tip.id, model.id > (newest or 0), model.staff_id == staff.id)))
    for row in rows:
        try:
            if row.body_ct is not None and open_for_tip(tip, f"{kind}:{row.id}", row.body_ct) == text.encode():
                return True
        except (DecryptionFailed, TipShredded, KeyringUnavailable):
            continue
    return False


def flash_form_errors(form: object) -> None:
    for errors in getattr(form, "errors", {}).values():
        for error in errors:
            flash(str(error), "error")


def _refused_with_text(staff: Staff, tip: Tip, form: NoteForm | MessageForm, name: str) -> Response | tuple[str, int]:
    """A note or message refused (too long): the case page again with the text in its box, where a redirect
    lost it. (A bad CSRF token never gets here: CSRFProtect refuses it first.)"""
    flash_form_errors(form)
    return render_case(staff, tip, **{name: form}), 400


# Where each form of the case page sits on it: a form's address opened with GET goes back there.
FORM_ANCHORS = {"acknowledge": "", "label": "labels", "status": "status", "assign": "assign", "notes": "notes",
                "messages": "messages", "link": "related", "unlink": "related", "hold": "hold",
                "hold/release": "hold"}


def case_form_address(ref: str) -> Response:
    """A form's address opened again with GET (a refused note's page reloaded by a phone, the busy-database page's
    address sent to a colleague): werkzeug's bare "Method Not Allowed". The case instead, at that form."""
    form = str(request.url_rule.rule if request.url_rule else "").split("/<ref>/", 1)[-1]
    back = back_to_case(get_visible_tip_or_404(me(), ref), FORM_ANCHORS.get(form, ""))  # another school's: 404
    commit_before_rendering()  # a read: the write lock is free again
    return back


for _form in FORM_ANCHORS:  # one endpoint: the form is read from the path, so the rules take no other argument
    bp.add_url_rule(f"/tips/<ref>/{_form}", "case_form_address", case_form_address, methods=["GET"])


@bp.post("/tips/<ref>/acknowledge")
def acknowledge(ref: str) -> Response:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref)
    if ConfirmForm().validate_on_submit():
        if db_acknowledge_tip(tip, staff, via="console"):  # it writes the audit event itself
            return saved_back_to_case(tip, "", "Acknowledged: escalation stopped.")
        return saved_back_to_case(tip, "", "This tip was acknowledged already.")
    return back_to_case(tip)


@bp.post("/tips/<ref>/label")
def relabel(ref: str) -> Response:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref, for_update=True)
    form = LabelForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_case(tip, "labels")
    before = {"category": tip.effective_category, "urgency": tip.effective_urgency}
    category, urgency = str(form.category.data), str(form.urgency.data)
    if form.labels_was.data and form.labels_was.data != f"{before['category']} {before['urgency']}":
        if (category, urgency) == (before["category"], before["urgency"]):
            # The same correction sent twice (a second tap on a slow phone), or made by someone else meanwhile:
            # done. "Nothing was changed" read as the correction lost.
            flash(f"The category and urgency are {category.replace('_', ' ')}, {urgency} already.", "info")
            return back_to_case(tip, "labels")
        flash(f"The category and urgency changed to {before['category'].replace('_', ' ')}, {before['urgency']} "
              "while you had this case open: nothing was changed. Check them and correct again.", "error")
        return back_to_case(tip, "labels")
    # The model's prediction stays in Tip.category/urgency; the correction is the label (see labels.py).
    tip.label_category = category
    tip.label_urgency = urgency
    tip.urgency_rank = urgency_rank(urgency)
    tip.labelled_by_id = staff.id
    tip.labelled_at = utcnow()
    # Raised to an urgency that pages someone: the chain is told exactly as if the model had said so. Before the
    # audit chain's lock: a medium tip's SMS reads the school's hours, which may wait for a save of new hours.
    paged = db_alert_after_relabel(tip, before=before["urgency"])
    audit.record("tip.relabelled", actor=staff, tip=tip, before=before,
                 after={"category": category, "urgency": urgency},
                 predicted={"category": tip.category, "urgency": tip.urgency})
    back = saved_back_to_case(tip, "labels", "Category and urgency saved."
                              + (" The school's SRO is being alerted." if paged else ""))
    if paged is not None:
        wake_dispatcher()  # never raises, and reads nothing of the session
    return back


def allowed_transition(current: str, new: str) -> bool:
    """Forward along new > acknowledged > investigating > resolved > closed; resolved or closed may reopen."""
    if new == current:
        return False
    if new == REOPENED_STATUS and current in FINISHED_STATUSES:
        return True
    return STATUS_ORDER.index(new) > STATUS_ORDER.index(current)


@bp.post("/tips/<ref>/status")
def change_status(ref: str) -> Response:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref, for_update=True)
    form = StatusForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_case(tip, "status")
    new, outcome = str(form.status.data), str(form.outcome.data or "")
    if tip.wrapped_dek is None:
        # Shredded after retention: nothing is left to investigate, and reopening would put an empty case back in
        # the queue for good and wipe the outcome and closing date that the quarterly figures keep.
        flash(f"This case was crypto-shredded after retention: its status stays {tip.status}.", "error")
        return back_to_case(tip, "status")
    if new == tip.status and (new != TipStatus.CLOSED.value or outcome == tip.outcome):
        # The same change sent twice (a second tap on a slow phone: the browser shows the second answer only), or
        # made by someone else meanwhile: done. The stale page's "nothing was changed" read as the close lost.
        shown = f" ({outcome.replace('_', ' ')})" if new == TipStatus.CLOSED.value else ""
        flash(f"This case is {new} already{shown}.", "info")
        return back_to_case(tip, "status")
    if form.status_was.data and (form.status_was.data in FINISHED_STATUSES) != tip.is_finished:
        # Chosen on a page someone else's change has outdated: 'investigating' picked while the case was
        # acknowledged would reopen it if it was closed since, and 'closed' would close a case the reporter's
        # new message reopened unread. Nothing changes; the page shows the status now. (An acknowledgement by SMS
        # meanwhile changes nothing that matters: the choice still moves the case on.)
        flash(f"The status changed to {tip.status} while you had this case open: nothing was changed. "
              "Check the case and choose again.", "error")
        return back_to_case(tip, "status")
    if new == tip.status == TipStatus.CLOSED.value:  # with another outcome (the same one is answered above)
        flash(f"This case is closed already ({(tip.outcome or '').replace('_', ' ')}). To change its outcome, "
              f"reopen it ({REOPENED_STATUS}), then close it with the right one.", "error")
        return back_to_case(tip, "status")
    if not allowed_transition(tip.status, new):
        flash(f"A tip cannot go from {tip.status} to {new}.", "error")
        return back_to_case(tip, "status")
    if new == TipStatus.CLOSED.value and outcome not in {o.value for o in Outcome}:
        flash("Choose an outcome to close the case.", "error")
        return back_to_case(tip, "status")
    previous = tip.status
    if tip.acknowledged_at is None:
        db_acknowledge_tip(tip, staff, via="console")  # moving the case on means someone has it: stop escalation
    if new == REOPENED_STATUS and tip.is_finished:
        tip.reopen()
    else:
        tip.status = new
    if new == TipStatus.CLOSED.value:
        tip.outcome = outcome
        tip.closed_at = utcnow()
    detail = {"before": previous, "after": new}
    if new == TipStatus.CLOSED.value:
        detail["outcome"] = outcome
    audit.record("tip.closed" if new == TipStatus.CLOSED.value else "tip.status_changed", actor=staff, tip=tip,
                 **detail)
    return saved_back_to_case(tip, "status", f"Status: {new}.")


@bp.post("/tips/<ref>/assign")
def assign(ref: str) -> Response:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref, for_update=True)
    form = AssignForm()
    counselors = {c.id: c for c in counselors_of(tip.school_id)}
    form.counselor.choices = as_choices([(0, "(nobody)")] + [(c.id, c.name) for c in counselors.values()])
    if not form.validate_on_submit():
        picked = parse_small_int(request.form.get("counselor"))
        if form.counselor.errors and picked and picked not in counselors:
            # A counselor the page offered, deactivated or taken off the school (or given another role) since:
            # "Not a valid choice." said neither why nor whether anyone was assigned. (No name: see below.)
            flash("The counselor you chose can no longer be assigned to this case (deactivated, or no longer a "
                  "counselor of this school) since you opened it: nothing was assigned. Choose again from the list "
                  "as it is now.", "error")
        else:
            flash_form_errors(form)
        return back_to_case(tip, "assign")
    chosen = int(form.counselor.data or 0)
    current = tip.assigned_counselor_id or 0
    if form.counselor_was.data and form.counselor_was.data != str(current) and chosen != current:
        # Chosen on a page someone else's assignment has outdated: it would take the case from the counselor
        # given it meanwhile, without a word. Nothing changes; the page shows the assignment now (not the name
        # here: flashes travel in the readable session cookie).
        flash("The counselor was changed by someone else while you had this case open: nothing was changed. The "
              "case shows whom it is assigned to now; check it and assign again.", "error")
        return back_to_case(tip, "assign")
    tip.assigned_counselor_id = chosen or None
    audit.record("tip.assigned", actor=staff, tip=tip, counselor_id=chosen or None)
    return saved_back_to_case(tip, "assign", "Counselor assigned." if chosen else "Assignment removed.")


@bp.post("/tips/<ref>/notes")
def add_note(ref: str) -> Response | tuple[str, int]:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref)
    form = NoteForm()
    if not form.validate_on_submit():
        return _refused_with_text(staff, tip, form, "note_form")
    if _sent_already(tip, Note, staff, form.note_after.data, str(form.body.data)):
        flash("This note was sent already: it is below, once.", "info")
        return back_to_case(tip, "notes")
    note = Note(tip=tip, staff_id=staff.id)
    refused = _add_sealed_or_refuse(staff, tip, note, "note", str(form.body.data), "note_form")
    if refused is not None:
        return refused
    audit.record("note.added", actor=staff, tip=tip, note_id=note.id)
    return saved_back_to_case(tip, "notes", "Note added.")


@bp.post("/tips/<ref>/messages")
def send_message(ref: str) -> Response | tuple[str, int]:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref)
    form = MessageForm()
    form.template.choices = as_choices(question_choices())
    if not form.validate_on_submit():
        return _refused_with_text(staff, tip, form, "message_form")
    template = str(form.template.data or "")
    body = (form.body.data or "").strip() or READY_QUESTIONS.get(template, "")
    if not body:
        flash("Pick a ready-made question or write a message.", "error")
        return back_to_case(tip, "messages")
    if _sent_already(tip, Message, staff, form.message_after.data, body):
        flash("This message was sent already: the reporter gets it once.", "info")
        return back_to_case(tip, "messages")
    message = Message(tip=tip, from_reporter=False, staff_id=staff.id)
    refused = _add_sealed_or_refuse(staff, tip, message, "message", body, "message_form")
    if refused is not None:
        return refused
    # The ready-made question only when it is what was sent: words of one's own, typed as well, are sent instead.
    sent_template = template if template and body == READY_QUESTIONS.get(template) else None
    audit.record("message.sent", actor=staff, tip=tip, message_id=message.id, template=sent_template)
    return saved_back_to_case(tip, "messages",
                              "Message sent: the reporter sees it when they come back with their receipt code.")


@bp.post("/tips/<ref>/link")
def link(ref: str) -> Response:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref)
    form = LinkForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_case(tip, "related")
    other = get_visible_tip(staff, read_reference(str(form.other_ref.data)))  # "7KQ-2MX", as the queue's box
    if other is None or other.id == tip.id:
        flash("No other tip with that reference among your schools.", "error")
        return back_to_case(tip, "related")
    if other.school_id != tip.school_id:
        flash("Tips of different schools cannot be one incident.", "error")
        return back_to_case(tip, "related")
    if tip.incident_id is not None and tip.incident_id == other.incident_id:
        flash("These tips are one incident already.", "info")
        return back_to_case(tip, "related")
    incident, merged_from, followers = db_merge_incidents(tip, other)
    audit.record("tip.linked", actor=staff, tip=tip, other_ref=other.ref, incident_id=incident.id,
                 merged_incident_id=merged_from)
    # Every other tip that changed incident is on the record too, under its own reference.
    for moved in [other, *followers]:
        audit.record("tip.linked", actor=staff, tip=moved, other_ref=tip.ref, incident_id=incident.id)
    # No reference in the flash: flashes travel in the (readable) session cookie.
    return saved_back_to_case(tip, "related", "Linked.")


@bp.post("/tips/<ref>/unlink")
def unlink(ref: str) -> Response:
    """Take a tip linked by mistake (or into the wrong incident) out of its incident: it gets an incident of its
    own, as every tip has from intake, and the other tips stay together. Alerts already written stay as they are."""
    staff = me()
    tip = get_visible_tip_or_404(staff, ref, for_update=True)
    form = UnlinkForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_case(tip, "related")
    left = db.session.get(Incident, tip.incident_id, with_for_update=True) if tip.incident_id is not None else None
    others = linked_tip_ids(tip) if left is not None else []  # read under the incident's lock: unlinks take turns
    if left is None or not linked_tip_ids(tip, staff):  # none the page could show (another school's are not)
        # Sent twice (a second tap on a slow phone: the browser shows the second answer only), or done by someone
        # else meanwhile: done. "Nothing was changed" read as the change lost.
        flash("This tip is out of the incident already: it is linked to no other tip.", "info")
        return back_to_case(tip, "related")
    if form.incident_was.data and form.incident_was.data != incident_marker(staff, tip):
        # Chosen on a page someone else's link has outdated: the tip would be taken away from tips the page did not
        # show beside it. Nothing changes; the page shows the related tips now.
        flash("The tips linked to this one changed while you had this case open: nothing was changed. Check them "
              "and take it out again if it does not belong.", "error")
        return back_to_case(tip, "related")
    own = Incident(school_id=tip.school_id, category=tip.effective_category, opened_at=utcnow(),
                   last_tip_at=tip.created_at)
    db.session.add(own)
    db.session.flush()
    tip.incident = own
    # The incident left behind ends at its own latest tip: intake joins a new tip to the incident of the same school
    # and category by when its last tip came, and the tip taken out is not its tip any more.
    remaining = list(db.session.scalars(select(Tip).where(Tip.id.in_(others)).order_by(Tip.created_at)))
    left.last_tip_at = min(left.last_tip_at, remaining[-1].created_at)
    audit.record("tip.unlinked", actor=staff, tip=tip, incident_id=left.id, new_incident_id=own.id,
                 taken_out=tip.ref)
    # The tips left behind lost a related tip: on their record too, under their own reference, as a link's are.
    for other in remaining:
        audit.record("tip.unlinked", actor=staff, tip=other, incident_id=left.id, taken_out=tip.ref)
    # No reference in the flash: flashes travel in the (readable) session cookie.
    return saved_back_to_case(tip, "related", "Taken out of the incident: this tip is linked to no other tip now.")


def db_merge_incidents(tip: Tip, other: Tip) -> tuple[Incident, int | None, list[Tip]]:
    """Put both tips, and every tip already linked to `tip`, into one incident (the other tip's, if any).

    Moving only `tip` would split its incident: the tips it was linked to before would stay behind.
    Returns the incident, the id of the incident merged into it (now empty) if there was one, and the tips
    that followed `tip` from that incident.
    """
    incident = other.incident or tip.incident
    if incident is None:
        incident = Incident(school_id=other.school_id, category=other.effective_category, opened_at=utcnow(),
                            last_tip_at=max(tip.created_at, other.created_at))
        db.session.add(incident)
        db.session.flush()
    merged_from = tip.incident_id if tip.incident_id not in (None, incident.id) else None
    followers: list[Tip] = []
    if merged_from is not None:
        followers = list(db.session.scalars(select(Tip).where(Tip.incident_id == merged_from, Tip.id != tip.id)))
        db.session.execute(update(Tip).where(Tip.incident_id == merged_from).values(incident_id=incident.id),
                           execution_options={"synchronize_session": "fetch"})
    other.incident = incident
    tip.incident = incident
    latest = max(tip.created_at, other.created_at)
    if incident.last_tip_at < latest:
        incident.last_tip_at = latest
    db.session.flush()
    return incident, merged_from, followers
