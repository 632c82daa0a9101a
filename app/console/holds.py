"""Putting a case on legal hold, and releasing it, from its case page (app/legal_hold.py holds the rules).

Who may: app/console/access.py. The reason is sealed under the tip's key; the audit events carry no content.
"""

from __future__ import annotations

from flask import abort
from werkzeug.wrappers import Response

from app.console import bp
from app.console.access import may_release_legal_hold, may_set_legal_hold, me
from app.console.case import render_case
from app.console.case_actions import flash_form_errors, refused_case_page, saved_back_to_case
from app.console.forms import HoldForm, ReleaseHoldForm
from app.console.scope import get_visible_tip_or_404
from app.crypto.errors import TipShredded
from app.legal_hold import HoldRefused, db_release_legal_hold, db_set_legal_hold
from app.models import Staff, Tip


def _refused(staff: Staff, tip: Tip, form: str, reason: str, exc: HoldRefused | TipShredded) -> tuple[str, int]:
    """Nothing changes: the hold was refused (a stale page, a shredded case); the reason comes back to copy.
    (Without the keyring, KeyringUnavailable goes on to the console's 503 page, which gives the reason back.)"""
    why = str(exc) if isinstance(exc, HoldRefused) else \
        "This case was crypto-shredded after retention: there is nothing left to hold or release."
    return refused_case_page(staff, tip, form, reason, why)


@bp.post("/tips/<ref>/hold")
def set_legal_hold(ref: str) -> Response | tuple[str, int]:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref)  # another school's tip: 404, as everywhere
    if not may_set_legal_hold(staff):
        abort(403)
    form = HoldForm()
    if not form.validate_on_submit():
        flash_form_errors(form)  # a reason too long comes back in its box, as a note does
        return render_case(staff, tip, hold_form=form), 400
    try:
        db_set_legal_hold(tip, staff, str(form.body.data).strip(), form.hold_was.data or "")
    except (HoldRefused, TipShredded) as exc:
        return _refused(staff, tip, "hold_form", str(form.body.data), exc)
    return saved_back_to_case(
        tip, "hold", "Legal hold set: this case will not be crypto-shredded until a district admin releases the hold.")


@bp.post("/tips/<ref>/hold/release")
def release_legal_hold(ref: str) -> Response | tuple[str, int]:
    staff = me()
    tip = get_visible_tip_or_404(staff, ref)
    if not may_release_legal_hold(staff):
        abort(403)
    form = ReleaseHoldForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return render_case(staff, tip, release_form=form), 400
    try:
        past_retention = db_release_legal_hold(tip, staff, str(form.body.data).strip(), form.hold_was.data or "")
    except (HoldRefused, TipShredded) as exc:
        return _refused(staff, tip, "release_form", str(form.body.data), exc)
    return saved_back_to_case(tip, "hold", "Legal hold released." + (
        " The case was closed longer ago than the retention period: the next purge crypto-shreds it."
        if past_retention else ""))
