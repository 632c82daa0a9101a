"""Development only: the SMS the console transport would have sent, so `make run` shows the whole flow."""

from __future__ import annotations

from flask import abort, current_app, render_template

from app.alerts.sms import sms_transport
from app.console import bp
from notifications import ConsoleTransport


@bp.get("/dev/sms")
def dev_sms() -> str:
    transport = sms_transport()
    # Never in production, and only when SMS really go to the console (with Twilio there is nothing to list).
    if current_app.config["PRODUCTION"] or not isinstance(transport, ConsoleTransport):
        abort(404)
    return render_template("console/dev_sms.html", messages=transport.recent())
