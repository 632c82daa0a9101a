"""Putting a case on legal hold, and releasing it, from its case page (app/legal_hold.py holds the rules).

Who may: app/console/access.py. The reason is sealed under the tip's key; the audit events carry no content.
"""

from __future__ import annotations

from flask import abort, flash
from werkzeug.wrappers import Response

from app.console import bp
from app.console.access import may_release_legal_hold, may_set_legal_hold, me
from app.console.case import render_case
from app.console.case_actions import back_to_case, flash_form_errors, saved_back_to_case
from app.console.forms import HoldForm, ReleaseHoldForm
from app.console.scope import get_visible_tip_or_404
from app.crypto.errors import KeyringUnavailable, TipShredded
from app.extensions import db
from app.legal_hold import HoldRefused, db_release_legal_hold, db_set_legal_hold
from app.models import Tip

NO_KEYRING = ("The keyring is not available, so the reason cannot be sealed for this tip now. Nothing was saved; "
              "tell the district admin.")


def _refused(tip: Tip, exc: Exception) -> Response:
    """Nothing changes: the hold was refused (a stale page, a shredded case) or its reason cannot be sealed."""
    db.session.rollback()
    if isinstance(exc, KeyringUnavailable):
        flash(NO_KEYRING, "error")
    elif isinstance(exc, HoldRefused):
        flash(str(exc), "error")
    else:
        flash("This case was crypto-shredded after retention: there is nothing left to hold or release.", "error")
    return back_to_case(tip, "hold")


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
    except (HoldRefused, TipShredded, KeyringUnavailable) as exc:
        return _refused(tip, exc)
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
    except (HoldRefused, TipShredded, KeyringUnavailable) as exc:
        return _refused(tip, exc)
    return saved_back_to_case(tip, "hold", "Legal hold released." + (
        " The case was closed longer ago than the retention period: the next purge crypto-shreds it."
        if past_retention else ""))
