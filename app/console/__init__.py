"""The staff console: sign-in, the queue, cases, messages to reporters, administration and the audit record.

Every route is behind `_require_staff` below except the sign-in and enrolment pages, so a route added later
is private by default.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import chain

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

from app.console import clock

bp = Blueprint("console", __name__, template_folder="templates")
# Every time a console or reports page shows, in the school's or the district's time zone: `at|wall(zone)`.
bp.add_app_template_filter(clock.on_the_wall, "wall")
# Beside a case's times, on the screen only: `at|ago` ("17 min ago").
bp.add_app_template_filter(clock.ago, "ago")

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
PUBLIC_ENDPOINTS = frozenset({"console.sign_in", "console.second_factor", "console.enrol"})


def session_expired() -> bool:
    """True when the signed-in session has been idle too long or has lasted too long in all."""
    now = clock.seconds(clock.now())
    signed_in_at = session.get("signed_in_at")
    last_seen = session.get("last_seen")
    if not isinstance(signed_in_at, (int, float)) or not isinstance(last_seen, (int, float)):
        return True
    return (now - last_seen > IDLE_TIMEOUT.total_seconds()
            or now - signed_in_at > ABSOLUTE_TIMEOUT.total_seconds())


def require_signed_in_staff() -> Response | tuple[str, int] | None:
    """The guard of every staff page (the console's and the reports' blueprints): signed in, and the session
    neither idle nor too old; otherwise back to the sign-in page."""
    # Back to this page after signing in: the case link of an SMS, opened signed out or after the session ended.
    # A form sent from a case (Acknowledge at 3 a.m., after reading it and going to look) leads back to that case,
    # not to the queue where it is one among many.
    here: str | None
    if request.method == "GET":
        here = request.full_path if request.query_string else request.path
    else:
        ref = (request.view_args or {}).get("ref")
        here = url_for("console.case", ref=ref) if isinstance(ref, str) else None
    if not current_user.is_authenticated:
        session.pop("_user_id", None)
        return _typed_text_not_saved() or redirect(url_for("console.sign_in", next=here))
    if session_expired():
        logout_user()
        session.clear()
        kept_page = _typed_text_not_saved()
        if kept_page is not None:
            return kept_page
        flash("Your session ended. Please sign in again." if request.method == "GET" else
              "Your session ended. Nothing was saved: please sign in again, then do it again.", "info")
        return redirect(url_for("console.sign_in", next=here))
    session["last_seen"] = clock.seconds(clock.now())
    return None


def _typed_text_not_saved() -> tuple[str, int] | None:
    """A note or a message to the reporter sent after the session ended (written through a long meeting) went to
    the sign-in page and was gone: it comes back to copy, with a sign-in link that leads back to the case."""
    from app.console.unavailable import typed_text

    kind, kept = typed_text()
    if not kept.strip():
        return None
    ref = (request.view_args or {}).get("ref")
    back = url_for("console.case", ref=ref) if isinstance(ref, str) else url_for("console.queue")
    return render_template("console/session_ended.html", kind=kind, kept=kept,
                           sign_in=url_for("console.sign_in", next=back)), 401


@bp.before_request
def refuse_nul_characters() -> None:
    """No console field takes a NUL character, and PostgreSQL refuses text holding one: a sign-in email, a tip
    reference or an audit filter with one was a 500 once it reached a query. Refused first, for everyone.
    The Twilio webhooks (app/hooks) refuse it with the same rule."""
    values = chain([request.path], *request.args.listvalues(), *request.form.listvalues())
    if any("\x00" in value for value in values):
        abort(400, description="The request holds a NUL character, which no field accepts.")


@bp.before_request
def _require_staff() -> Response | tuple[str, int] | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return require_signed_in_staff()


from app.console import (  # noqa: E402,F401,E501  (register the routes)
    account,
    admin,
    agencies,
    audit_views,
    auth,
    case,
    case_actions,
    dev_sms,
    errors,
    holds,
    incident_close,
    queue,
    staff_email,
    unavailable,
)
