"""Everything that faces HTTP: blueprints, proxy handling, security headers, error pages."""

from __future__ import annotations

from flask import Flask, redirect, url_for
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wrappers import Response

from app.security import install_security_headers
from app.small_ints import MAX_DIGITS


class RowIdConverter(IntegerConverter):
    """`<row_id:name>` in a route: a row's id, 1 to 9 digits (app/small_ints.py). A longer number is no such
    page (404); as `<int:...>` it reached the query and overflowed the database's integers (a 500)."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=10**MAX_DIGITS - 1)


def install_web(app: Flask) -> None:
    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    if hops:
        # Trust X-Forwarded-* for exactly the configured number of proxies, never more.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    install_security_headers(app)
    app.url_map.converters["row_id"] = RowIdConverter  # before the blueprints that use it are registered

    from app.console import bp as console_bp
    from app.hooks import bp as hooks_bp
    from app.intake import bp as intake_bp

    app.register_blueprint(intake_bp)
    app.register_blueprint(console_bp, url_prefix="/console")
    app.register_blueprint(hooks_bp, url_prefix="/hooks")

    from app.extensions import csrf, limiter
    from app.ops import bp as ops_bp
    from app.reports import bp as reports_bp

    app.register_blueprint(reports_bp, url_prefix="/console/reports")
    # Health and metrics only read; a flood of the reporter pages must not lock out the load balancer's probe.
    csrf.exempt(ops_bp)
    limiter.exempt(ops_bp)
    app.register_blueprint(ops_bp)

    # Browsers ask for /favicon.ico on their own; without it every first page of a visit also cost a 404 page.
    @app.get("/favicon.ico")
    @limiter.exempt
    def favicon() -> Response:
        return redirect(url_for("static", filename="favicon.ico"), code=301)
