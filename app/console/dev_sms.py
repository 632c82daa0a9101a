"""Development only: the SMS the console transport would have sent, so `make run` shows the whole flow."""

from __future__ import annotations

from flask import abort, current_app, render_template

from app.alerts.sms import sms_transport
from app.console import bp
from app.console.access import me
from app.console.scope import sees_all_schools
from notifications import ConsoleTransport


@bp.get("/dev/sms")
def dev_sms() -> str:
    transport = sms_transport()
    # Never in production, and only when SMS really go to the console (with Twilio there is nothing to list).
    if current_app.config["PRODUCTION"] or not isinstance(transport, ConsoleTransport):
        abort(404)
    staff = me()
    messages = transport.recent()
    own_only = not sees_all_schools(staff)
    if own_only:
        # An SMS names a tip's reference, school and category: each person sees what their own phone would get.
        messages = [m for m in messages if staff.phone and m.to == staff.phone]
    return render_template("console/dev_sms.html", messages=messages, own_only=own_only)
