"""GET /healthz and GET /metrics."""

from __future__ import annotations

import hmac
import json
import logging

from flask import abort, current_app, request
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from werkzeug.wrappers import Response

from app.console import session_expired
from app.database import db_error_reason, reads_only
from app.extensions import db
from app.logs import log_event
from app.models import Role
from app.ops import bp
from app.ops.health import FAIL, run_checks
from app.ops.metrics import db_render_metrics

log = logging.getLogger("app.ops")


# Both only read: on SQLite their transactions take no write lock, so probes (public and not rate limited)
# never queue the writers that store tips, and a writer holding the lock never makes the node look dead.
@bp.get("/healthz")
@reads_only
def healthz() -> tuple[Response, int]:
    report = run_checks(current_app._get_current_object())  # type: ignore[attr-defined]
    # As README shows it (Installing, step 7; Health and metrics): the verdict first, then each check in the
    # order it runs, not jsonify's sorted, compact keys that put "status" last.
    body = current_app.response_class(json.dumps(report) + "\n", mimetype="application/json")
    return body, 503 if report["status"] == FAIL else 200


def _bearer_ok() -> bool:
    token = str(current_app.config.get("METRICS_TOKEN") or "")
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    # Constant time: the comparison must not tell a guesser how many leading characters were right.
    return hmac.compare_digest(header[len("Bearer "):].strip().encode(), token.encode())


def _admin_signed_in() -> bool:
    return bool(current_user.is_authenticated and getattr(current_user, "role", None) == Role.DISTRICT_ADMIN
                and not session_expired())


@bp.get("/metrics")
@reads_only
def metrics() -> Response:
    if not (_bearer_ok() or _admin_signed_in()):
        if current_app.config.get("METRICS_TOKEN"):
            return Response("authentication required\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'},
                            mimetype="text/plain")
        abort(404)  # no token configured: the endpoint does not exist for anyone but a signed-in admin
    return Response(db_render_metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")


@bp.errorhandler(OperationalError)
def database_unavailable(exc: OperationalError) -> Response:
    # /metrics on a database locked past the busy timeout (held exclusively: WAL lets reads past a writer) or not
    # answering: one plain line for the scraper (Prometheus counts the scrape failed, `up` 0), not werkzeug's
    # HTML 500. /healthz answers its own JSON 503 and never gets here. No SQL and no values are logged.
    db.session.rollback()
    log_event(log, "OPERATOR: a metrics scrape failed, the database is locked or unreachable", logging.ERROR,
              endpoint=request.endpoint or "", error=db_error_reason(exc))
    return Response("database unavailable: locked or not answering\n", 503, {"Retry-After": "30"},
                    mimetype="text/plain")
