"""District admins: correcting a person's sign-in email (a typo at creation, a changed name).

Only here, behind `admin_required`: nobody changes their own email, so an account's sign-in name is always one a
district admin gave it, and the change is on the audit record with the address it replaced.
"""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from werkzeug.wrappers import Response

from app import audit
from app.accounts import service
from app.console import bp
from app.console.access import admin_required, me
from app.console.admin import staff_page
from app.console.forms import EmailChangeForm
from app.extensions import db
from app.models import Staff


@bp.post("/admin/staff/<row_id:staff_id>/email")
@admin_required
def admin_staff_email(staff_id: int) -> str | Response:
    # The row is locked and read afresh, as the person's other saves are: of two changes at once the second waits
    # and is checked against what the first made.
    person = db.session.get(Staff, staff_id, with_for_update=service.ACCOUNT_ROW_LOCK,
                            populate_existing=True) or abort(404)
    form = EmailChangeForm()
    back = redirect(url_for("console.admin_staff_edit", staff_id=person.id, _anchor="email"))
    if not form.validate_on_submit():
        return staff_page(person, email_form=form)
    if form.email_was.data and form.email_was.data != person.email:
        flash("This person's sign-in email changed since this page was opened: nothing was saved. The page shows it "
              "as it is now.", "error")
        return back
    try:
        before = service.db_change_email(person, str(form.email.data))
    except service.AccountError as exc:
        form.email.errors = [str(exc)[:1].upper() + str(exc)[1:]]
        return staff_page(person, email_form=form)
    if before is None:
        flash("Nothing changed: that is the person's sign-in email already.", "info")
        return back
    audit.record("staff.email_changed", actor=me(), target_id=person.id, target=person.email, before=before,
                 after=person.email)
    db.session.commit()
    # No email in the flash: flashes travel in the (readable) session cookie.
    flash("Sign-in email changed. Tell the person: they sign in with the new address from now on, with the same "
          "password and authenticator; their sessions go on.", "info")
    return back
