"""The signed-in person's own account: changing their password."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask_login import logout_user
from werkzeug.wrappers import Response

from app import audit
from app.accounts import service
from app.accounts.session import db_end_session
from app.client_keys import client_key
from app.console import ABSOLUTE_TIMEOUT, bp, clock
from app.console.access import me
from app.console.auth import LOCKED, log_in_this_session, signin_rate_limit
from app.console.forms import ChangePasswordForm
from app.extensions import db, limiter
from app.transactions import commit_before_rendering, commit_keeping_loaded


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit(signin_rate_limit, methods=["POST"])
def change_password() -> str | Response:
    staff = me()
    form = ChangePasswordForm()
    valid = form.validate_on_submit()
    if valid and form.password.data != form.confirm.data:
        # Nothing is checked, the current password included: there is nothing to change yet.
        form.confirm.errors = ["The two new passwords differ."]
    elif valid:
        now = clock.now()
        result = service.db_change_own_password(staff, form.current.data or "", form.password.data or "", now,
                                                client_key())
        if result.changed:
            audit.record("staff.password_changed", actor=staff)
            # Kept loaded: this session is given the new generation from the row as saved, without reading it again
            # (a refusal of the database then answered 503 about a changed password, and signed this session out).
            commit_keeping_loaded()
            # The generation went up, ending every session of the person: this one carries the new generation.
            log_in_this_session(staff)
            flash("Your password is changed. Your other sessions have ended; use the new password from now on.",
                  "info")
            return redirect(url_for("console.change_password"))
        if result.locked or result.current_wrong:
            audit.record("signin.failed", actor=staff, step="password_change",
                         reason="locked" if result.locked or result.locked_now else "password")
            commit_keeping_loaded()  # the page below shows the person's name: not read again after the commit
        if result.locked_now:
            # This session's own guesses locked the account: it ends, so the guessing stops here (signing in
            # again takes the password and the authenticator).
            db_end_session(now, ABSOLUTE_TIMEOUT)
            db.session.commit()
            logout_user()
            session.clear()
            flash(f"{LOCKED} You are signed out.", "error")
            return redirect(url_for("console.sign_in"))
        if result.locked:
            flash(f"{LOCKED} Your password was not changed.", "error")
        if result.current_wrong:
            form.current.errors = ["That is not your current password."]
        if result.problems:
            form.password.errors = list(result.problems)
    commit_before_rendering()
    return render_template("console/change_password.html", form=form)
