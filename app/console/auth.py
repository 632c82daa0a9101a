"""Sign-in (password, then a TOTP or recovery code), enrolment, sign-out and sign-out everywhere."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from app import audit
from app.accounts import service
from app.accounts.policy import password_problems
from app.accounts.session import db_end_session, start_session_id
from app.accounts.totp import (
    db_check_totp,
    db_use_recovery_code,
    is_totp_code,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    qr_svg,
)
from app.client_keys import client_key
from app.console import ABSOLUTE_TIMEOUT, bp, clock, session_expired
from app.console.access import me
from app.console.forms import ConfirmForm, EnrolForm, SecondFactorForm, SignInForm
from app.console.unavailable import typed_text
from app.crypto.staff_secrets import open_totp_secret, seal_totp_secret
from app.extensions import db, limiter
from app.models import Staff
from app.transactions import commit_before_rendering

PENDING_FOR_S = 300  # between a right password and the second factor
LOCKED = "Too many failed attempts: this account is locked for 10 minutes."


def _safe_next(target: str | None) -> str:
    # Only our own console pages: an open redirect would make a convincing phishing link. No control
    # characters either: a line break in the Location header was a 500 just after the code was accepted.
    if (target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target
            and target.isprintable()):
        return target
    return url_for("console.queue")


def signin_rate_limit() -> str:
    return str(current_app.config["SIGNIN_RATE_LIMIT"])


def log_in_this_session(staff: Staff) -> None:
    """Make this session the person's (Flask-Login), carrying their current session generation. login_user() also
    stores "_id", a hash of the address and user agent, even with session protection off (app/extensions.py): the
    cookie is readable, and nothing here checks it, so it goes."""
    login_user(staff)
    session.pop("_id", None)


@bp.errorhandler(TooManyRequests)
def _too_many_attempts(_error: TooManyRequests) -> tuple[str, int]:
    return render_template("console/too_many.html"), 429


SIGN_OUT_BUTTONS = {"console.sign_out": "Sign out", "console.sign_out_everywhere": "Sign out everywhere"}


@bp.errorhandler(CSRFError)
def _form_expired(_error: CSRFError) -> tuple[str, int]:
    """A form whose token is not this session's (it was opened before signing in again, or signing out): say so in
    words, with the way back, rather than werkzeug's bare '400 Bad Request: The CSRF tokens do not match.'"""
    if request.endpoint in SIGN_OUT_BUTTONS and current_user.is_authenticated and not session_expired():
        # "Sign out" pressed on a page from before signing in again (another tab): "nothing was saved" read as
        # done, on a shared computer still signed in. Said plainly, with a button of this session.
        return render_template("console/form_expired.html", still_signed_in=True, action=url_for(request.endpoint),
                               label=SIGN_OUT_BUTTONS[request.endpoint]), 400
    ref = (request.view_args or {}).get("ref")
    if isinstance(ref, str) and current_user.is_authenticated:
        back, label = url_for("console.case", ref=ref), "Open the case again"
    elif current_user.is_authenticated:
        back, label = url_for("console.queue"), "Back to the queue"
    else:  # still leading where it was going: the case of the form, or the SMS link's of the sign-in page
        target = url_for("console.case", ref=ref) if isinstance(ref, str) else request.args.get("next")
        back, label = url_for("console.sign_in", next=_safe_next(target) if target else None), "Sign in"
    # The page it came from is behind us and no-store (Back shows it empty): a note or message comes back to copy.
    kind, kept = typed_text()
    return render_template("console/form_expired.html", back=back, back_label=label, kind=kind,
                           kept=kept if kept.strip() else ""), 400


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(signin_rate_limit, methods=["POST"])
def sign_in() -> str | Response:
    form = SignInForm()
    if form.validate_on_submit():
        now = clock.now()
        email = form.email.data or ""
        check = service.db_check_password(email, form.password.data or "", now, client_key())
        if check.ok and check.staff is not None:
            next_url = request.args.get("next")
            session.clear()  # a fresh session: nothing from before the sign-in survives it
            session["pending"] = {"id": check.staff.id, "gen": check.staff.session_generation,
                                  "at": clock.seconds(now), "next": _safe_next(next_url)}
            db.session.commit()
            return redirect(url_for("console.second_factor"))
        reason = _failure_reason(check)
        audit.record("signin.failed", actor=check.staff, actor_label=service.typed_email_for_audit(email),
                     step="password", reason=reason)
        db.session.commit()
        if check.locked:
            flash(LOCKED, "error")
        else:
            # Under the password box, which describes it (the email box keeps what was typed).
            form.password.errors = ["That email and password do not match an active account."]
    return render_template("console/sign_in.html", form=form)


def _failure_reason(check: service.PasswordCheck) -> str:
    """Why a password step failed, for the audit record only (the page says the same for all): a deactivated or
    not yet enrolled account is no wrong password, and an admin reading the record must tell them apart. So is an
    email of no account, though it is answered "locked" as an account is after as many wrong passwords."""
    if check.staff is None:
        return "unknown_account"
    if not check.staff.active:
        return "inactive"
    if not check.staff.password_hash:
        return "not_enrolled"
    return "locked" if check.locked else "password"


def _pending_staff() -> Staff | None:
    pending = session.get("pending")
    if not isinstance(pending, dict):
        return None
    if clock.seconds(clock.now()) - float(pending.get("at", 0)) > PENDING_FOR_S:
        return None
    staff = db.session.get(Staff, int(pending.get("id", 0)))
    if staff is None or not staff.active or staff.session_generation != pending.get("gen"):
        return None
    return staff


def _sign_in_again() -> str:
    """Back to the first step, the pending sign-in forgotten, still leading where it was going: the case of the
    SMS link, when finding the authenticator took longer than PENDING_FOR_S."""
    pending = session.pop("pending", None)
    target = pending.get("next") if isinstance(pending, dict) else None
    if isinstance(target, str) and target != url_for("console.queue"):
        return url_for("console.sign_in", next=_safe_next(target))
    return url_for("console.sign_in")


@bp.route("/sign-in/code", methods=["GET", "POST"])
@limiter.limit(signin_rate_limit, methods=["POST"])
def second_factor() -> str | Response:
    staff = _pending_staff()
    if staff is None:
        back = _sign_in_again()
        flash("Please sign in with your email and password first.", "info")
        return redirect(back)
    form = SecondFactorForm()
    if form.validate_on_submit():
        now = clock.now()
        code = (form.code.data or "").strip()
        service.db_take_turn(staff)
        if service.is_locked(staff, now):
            ok, method = False, "locked"
        elif is_totp_code(code):
            ok, method = db_check_totp(staff, code, now), "totp"
        else:
            ok, method = db_use_recovery_code(staff, code), "recovery_code"
        if ok:
            next_url = session["pending"].get("next")
            session.clear()  # rotate again: the session that proved the password is not the signed-in one
            service.db_sign_in_succeeded(staff, now)
            log_in_this_session(staff)
            session["signed_in_at"] = session["last_seen"] = clock.seconds(now)
            start_session_id()
            audit.record("signin", actor=staff, method=method)
            # Counted before the commit, which expires the row: read after it, a refusal of the database in that
            # instant answered 503 to a sign-in that was made, with the code spent.
            left = len(staff.recovery_codes.split("\n")) if staff.recovery_codes else 0
            db.session.commit()
            if method == "recovery_code":
                # Most likely a lost phone: say so while codes are left, not when the last one has gone.
                flash(f"You signed in with a recovery code: {left} {'is' if left == 1 else 'are'} left. If your phone "
                      "is lost, ask a district admin to reset your sign-in.", "error" if left <= 3 else "info")
            return redirect(_safe_next(next_url))
        locked = method != "locked" and service.db_register_failure(staff, now)
        audit.record("signin.failed", actor=staff, step="second_factor", reason=method if method == "locked"
                     else "bad_code")
        db.session.commit()
        if locked or method == "locked":
            back = _sign_in_again()
            flash(LOCKED, "error")
            return redirect(back)
        form.code.errors = ["That code is not valid (a code works once; wait for the next one)."]
    recovery = request.args.get("recovery") == "1"  # the lost-phone way: a keyboard with letters
    if recovery:
        form.code.label.text = "Recovery code"
    commit_before_rendering()
    return render_template("console/second_factor.html", form=form, recovery=recovery)


@bp.post("/sign-out")
def sign_out() -> Response:
    form = ConfirmForm()
    if form.validate_on_submit():
        audit.record("signout", actor=me())
        db_end_session(clock.now(), ABSOLUTE_TIMEOUT)
        db.session.commit()
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
    return redirect(url_for("console.sign_in"))


@bp.post("/sign-out-everywhere")
def sign_out_everywhere() -> Response:
    form = ConfirmForm()
    if form.validate_on_submit():
        staff = me()
        service.db_sign_out_everywhere(staff)
        audit.record("signout.everywhere", actor=staff)
        db.session.commit()
        logout_user()
        session.clear()
        flash("You are signed out on every device.", "info")
    return redirect(url_for("console.sign_in"))


@bp.route("/enrol/<token>", methods=["GET", "POST"])
def enrol(token: str) -> str | Response:
    now = clock.now()
    staff = service.staff_for_enrolment(token, now)
    if staff is None:
        db.session.rollback()
        return render_template("console/enrol_invalid.html"), 404  # type: ignore[return-value]
    secret = open_totp_secret(staff)  # no keyring: the 503 page (keys_unavailable), nothing written
    if secret is None:
        # Kept on the row, sealed (not in the readable session cookie), so a reload shows the same, already
        # scanned code.
        secret = new_totp_secret()
        seal_totp_secret(staff, secret)
        staff.totp_last_counter = None
        commit_before_rendering()
    form = EnrolForm()
    errors: list[str] = []
    if form.validate_on_submit():
        password = form.password.data or ""
        errors = password_problems(password, email=staff.email)
        if password != form.confirm.data:
            errors.append("The two passwords differ.")
        if not errors and not db_check_totp(staff, form.code.data or "", now):
            errors.append("That code is not valid: check the time on your phone and try the next code.")
        if not errors:
            service.db_set_password(staff, password)
            # The wrong passwords and codes before a reset (a forgotten password, a lost phone) are not this
            # password's: they must not lock the person out of the account just set up.
            service.db_clear_lockout(staff)
            codes, hashes = new_recovery_codes()
            staff.recovery_codes = hashes
            service.db_finish_enrolment(staff)
            audit.record("staff.enrolled", actor=staff)
            # Committed keeping what was loaded: the codes are shown only here, and the page must not read the
            # database after the commit. Its header names whoever is signed in in this browser, whom Flask-Login
            # loads on first use: loaded now, before the commit.
            _ = current_user.is_authenticated
            commit_before_rendering()
            return render_template("console/recovery_codes.html", codes=codes, staff=staff)
    uri = provisioning_uri(staff, secret)
    commit_before_rendering()
    return render_template("console/enrol.html", form=form, staff=staff, qr=qr_svg(uri), uri=uri, secret=secret,
                           errors=errors, district=current_app.config["DISTRICT_NAME"])
