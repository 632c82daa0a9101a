"""Quarterly analysis for staff: /console/reports (tables, charts, CSV). See README, Running in production.

A blueprint of its own, so it enforces sign-in itself: the console's guard only covers the console blueprint.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

from app.console import session_expired
from app.console.clock import now as console_now

bp = Blueprint("reports", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


@bp.before_request
def _require_staff() -> Response | None:
    # The same rule as the console's: signed in, and the session neither idle nor too old.
    if not current_user.is_authenticated:
        session.pop("_user_id", None)
        return redirect(url_for("console.sign_in", next=request.full_path if request.method == "GET" else None))
    if session_expired():
        logout_user()
        session.clear()
        return redirect(url_for("console.sign_in"))
    session["last_seen"] = console_now().timestamp()
    return None


from app.reports import views  # noqa: E402,F401  (register the routes)
