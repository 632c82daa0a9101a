"""GET /healthz and GET /metrics."""

from __future__ import annotations

import hmac

from flask import abort, current_app, jsonify, request
from flask_login import current_user
from werkzeug.wrappers import Response

from app.console import session_expired
from app.database import reads_only
from app.models import Role
from app.ops import bp
from app.ops.health import FAIL, run_checks
from app.ops.metrics import db_render_metrics


# Both only read: on SQLite their transactions take no write lock, so probes (public and not rate limited)
# never queue the writers that store tips, and a writer holding the lock never makes the node look dead.
@bp.get("/healthz")
@reads_only
def healthz() -> tuple[Response, int]:
    report = run_checks(current_app._get_current_object())  # type: ignore[attr-defined]
    return jsonify(report), 503 if report["status"] == FAIL else 200


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
