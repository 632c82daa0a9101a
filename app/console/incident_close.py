"""Closing the open tips of an incident together, from one of its cases: a prank flood (a group chat sending 40 tips
about one teacher, folded by intake into one incident) closed one tip at a time was two page loads a tip, while every
unacknowledged high prank kept escalating through the chain.

Each tip is closed as "Status: closed" closes one (app/console/case_actions.py): its own row lock and checks, its
acknowledgement (which stops its escalation), its own `tip.closed` event, and its own transaction, so one tip refused
or failing undoes none of the others. Only the tips the confirmation page showed, of the person's schools, and only
as they were then: a tip changed since (acknowledged, a reporter's new message, closed or reopened, taken out of the
incident) is left for a person to look at, and named.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import abort, current_app, g, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from app import audit
from app.alerts.acknowledge import db_acknowledge_tip
from app.console import bp
from app.console.access import me
from app.console.forms import CloseIncidentForm
from app.console.queue import OPEN_STATUSES
from app.console.scope import get_visible_tip, get_visible_tip_or_404, visible_tips
from app.database import db_error_reason
from app.extensions import db
from app.logs import log_event
from app.models import Outcome, Staff, Tip, TipStatus, utcnow
from app.transactions import commit_before_rendering, commit_keeping_loaded

log = logging.getLogger("app.console")
CLOSED = TipStatus.CLOSED.value
SINCE = "since you opened the confirmation"


def open_tips_of_incident(staff: Staff, tip: Tip) -> list[Tip]:
    """The open tips of a tip's incident that a person may close (oldest first): of their schools only. Linking and
    intake keep an incident to one school; a tip of another school in it (older data, or written by hand) is left
    alone and not even counted, as everywhere in the console."""
    if tip.incident_id is None:
        return []
    is_open = (Tip.incident_id == tip.incident_id) & Tip.status.in_(OPEN_STATUSES)
    return list(db.session.scalars(visible_tips(staff).where(is_open).order_by(Tip.created_at, Tip.id)))


def others_to_close_with(staff: Staff, tip: Tip) -> int:
    """How many other open tips the case page offers to close with this one: 0 when the tip itself is finished (or
    shredded), or is the only open tip of its incident among the person's schools."""
    if tip.status not in OPEN_STATUSES or tip.wrapped_dek is None:
        return 0
    return sum(1 for other in open_tips_of_incident(staff, tip) if other.id != tip.id)


def close_marker(tip: Tip) -> str:
    """What the confirmation showed of a tip, carried by its form: reference, status, acknowledged or not, the
    reporter's latest message, incident. Metadata only (the form is a staff page's)."""
    replied = tip.reporter_replied_at.strftime("%Y%m%d%H%M%S%f") if tip.reporter_replied_at else "-"
    return f"{tip.ref}:{tip.status}:{'a' if tip.acknowledged_at else '-'}:{replied}:{tip.incident_id or '-'}"


def _parse_markers(value: str) -> list[tuple[str, str]]:
    """(reference, marker) pairs of the form, in order, each reference once; a malformed form is a 400."""
    pairs: dict[str, str] = {}
    for marker in value.split():
        parts = marker.split(":")
        if len(parts) != 5 or not parts[0].isalnum():
            abort(400, description="The confirmation form was damaged in transit. Nothing was closed.")
        pairs.setdefault(parts[0], marker)
    return list(pairs.items())


def _what_changed(was: str, tip: Tip) -> str:
    """Why a tip is not closed: what changed since the confirmation showed it, in words."""
    _, status, acked, replied, incident = was.split(":")
    _, status_now, acked_now, replied_now, incident_now = close_marker(tip).split(":")
    reasons = []
    if incident_now != incident:
        reasons.append("it was taken out of this incident")
    if status_now != status:
        shown = f" ({tip.outcome.replace('_', ' ')})" if tip.outcome else ""
        reasons.append(f"it is {status_now} now{shown}")
    if replied_now != replied:
        reasons.append("the reporter wrote again: read it first")
    if acked_now != acked:
        reasons.append("someone acknowledged it")
    return f"changed {SINCE}: " + "; ".join(reasons) + ". Open it to check it."


@dataclass
class Result:
    outcome: str
    closed: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    not_closed: list[tuple[str, str]] = field(default_factory=list)  # (reference, why)

    def forget(self, ref: str) -> None:
        """The tip's transaction was rolled back: whatever it was going to say of the tip no longer holds."""
        self.closed = [r for r in self.closed if r != ref]
        self.already = [r for r in self.already if r != ref]
        self.not_closed = [(r, why) for r, why in self.not_closed if r != ref]


def _db_close_one(staff: Staff, ref: str, was: str, outcome: str, origin_ref: str, result: Result) -> None:
    """Close one tip as the confirmation showed it, in the current transaction (the caller commits or rolls back)."""
    tip = get_visible_tip(staff, ref, for_update=True)  # locked and read afresh, as a single close reads it
    if tip is None:
        result.not_closed.append((ref, "not among your schools' tips."))
        return
    if tip.status == CLOSED and tip.outcome == outcome:
        result.already.append(ref)  # the same confirmation sent twice, or closed alike by someone meanwhile
        return
    if close_marker(tip) != was:
        result.not_closed.append((ref, _what_changed(was, tip)))
        return
    if tip.wrapped_dek is None:
        result.not_closed.append((ref, "crypto-shredded after retention: its status stays."))
        return
    if tip.status not in OPEN_STATUSES:  # a form written by hand: only open tips are shown
        result.not_closed.append((ref, f"it is {tip.status}, not open."))
        return
    previous = tip.status
    if tip.acknowledged_at is None:
        db_acknowledge_tip(tip, staff, via="console")  # closing means someone has it: stop escalation
    tip.status, tip.outcome, tip.closed_at = CLOSED, outcome, utcnow()
    audit.record("tip.closed", actor=staff, tip=tip, before=previous, after=CLOSED, outcome=outcome,
                 closed_together_from=origin_ref)
    result.closed.append(ref)


def _confirmation_page(staff: Staff, tip: Tip, outcome: str, status: int = 200,
                       error: str = "") -> tuple[str, int]:
    together = open_tips_of_incident(staff, tip)
    form = CloseIncidentForm(outcome=outcome, tips_was=" ".join(close_marker(t) for t in together))
    refs, ref = [t.ref for t in together], tip.ref
    commit_before_rendering()  # a read: the write lock is free again
    return render_template("console/close_incident.html", ref=ref, refs=refs, form=form, error=error), status


def _valid_outcome(value: str | None) -> str:
    return value if value in {o.value for o in Outcome} else ""


@bp.get("/tips/<ref>/close-incident")
def close_incident_confirmation(ref: str) -> tuple[str, int]:
    """The confirmation: how many tips, their references (nothing of what they say), the outcome. Changes nothing."""
    staff = me()
    tip = get_visible_tip_or_404(staff, ref)
    return _confirmation_page(staff, tip, _valid_outcome(request.args.get("outcome")))


@bp.post("/tips/<ref>/close-incident")
def close_incident(ref: str) -> tuple[str, int]:
    staff = me()
    origin = get_visible_tip_or_404(staff, ref)
    form = CloseIncidentForm()
    outcome = _valid_outcome(request.form.get("outcome"))
    if not form.validate_on_submit() or not outcome:
        return _confirmation_page(staff, origin, "", 400, "Choose an outcome to close these tips: nothing was closed.")
    markers = _parse_markers(str(form.tips_was.data or ""))
    origin_ref, incident_id = origin.ref, origin.incident_id
    commit_keeping_loaded()  # the read ends here: each tip is its own transaction, and lets intake write between
    result = Result(outcome)
    for tip_ref, was in markers:
        try:
            _db_close_one(staff, tip_ref, was, outcome, origin_ref, result)
            commit_keeping_loaded()
        except SQLAlchemyError as exc:  # this tip only: the ones closed before stay closed, the next are tried
            db.session.rollback()
            result.forget(tip_ref)
            result.not_closed.append((tip_ref, "the database did not answer (busy or unreachable): it was not "
                                               "closed. Try again in a minute."))
            log_event(log, "OPERATOR: closing a tip of an incident failed, the database is locked or unreachable; "
                      "that tip was not closed", logging.ERROR, tip=tip_ref, error=db_error_reason(exc))
    return _result_page(staff, result, origin_ref, incident_id, {r for r, _ in markers})


def _result_page(staff: Staff, result: Result, origin_ref: str, incident_id: int | None,
                 listed: set[str]) -> tuple[str, int]:
    """Which tips were closed and which not, and why; and what of the incident (of the person's schools) was not on
    the confirmation."""
    joined = 0
    bare = False
    try:
        if incident_id is not None:
            is_open = (Tip.incident_id == incident_id) & Tip.status.in_(OPEN_STATUSES)
            mine = [r for r in db.session.scalars(visible_tips(staff).with_only_columns(Tip.ref).where(is_open))]
            joined = sum(1 for r in mine if r not in listed)
        commit_before_rendering()
    except SQLAlchemyError:
        # What was closed is closed: the answer says so without asking the database again (not even who is
        # signed in), as the busy-database page does.
        db.session.rollback()
        g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
        bare = True
    return render_template("console/close_incident_result.html", result=result, origin_ref=origin_ref,
                           joined=joined, bare=bare), 200
