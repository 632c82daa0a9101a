"""Operations endpoints: GET /healthz (no auth, for load balancers and uptime checks) and GET /metrics
(Prometheus; a bearer token or a signed-in district admin). Neither changes anything, so both are exempt
from CSRF, and neither may be starved by a rate limit while someone floods the reporter pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ops", __name__)

from app.ops import views  # noqa: E402,F401  (register the routes)
