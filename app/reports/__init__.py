"""Quarterly analysis for staff: /console/reports (tables, charts, CSV). See README, Running in production.

A blueprint of its own, so it enforces sign-in itself: the console's guard only covers the console blueprint.
"""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy.exc import OperationalError

from app.console import require_signed_in_staff
from app.console.unavailable import database_unavailable

bp = Blueprint("reports", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
# The same rule as the console's pages, from the same function.
bp.before_request(require_signed_in_staff)
# And the same 503 page for a database locked past the busy timeout or unreachable, not werkzeug's bare 500.
bp.register_error_handler(OperationalError, database_unavailable)


from app.reports import views  # noqa: E402,F401  (register the routes)
