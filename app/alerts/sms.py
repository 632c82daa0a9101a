"""The app's SMS transport (one per process) and the text of each alert. No tip content ever goes in."""

from __future__ import annotations

from flask import Flask, current_app

from app.models import Alert, School, Tip
from notifications import SmsTransport, transport_from_settings
from notifications.messages import alert_text, folded_text

EXTENSION_KEY = "tipline_sms_transport"


def init_sms(app: Flask) -> None:
    """Choose the transport at start-up, so half-set Twilio settings stop the app instead of losing SMS."""
    app.extensions[EXTENSION_KEY] = transport_from_settings(app.config)


def sms_transport() -> SmsTransport:
    transport: SmsTransport = current_app.extensions[EXTENSION_KEY]
    return transport


def status_callback_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/hooks/twilio/status"


def body_for(alert: Alert, tip: Tip, school: School, folded_count: int = 0) -> str:
    base_url = current_app.config["PUBLIC_BASE_URL"]
    if folded_count > 1:
        return folded_text(count=folded_count, school=school.short_name, category=tip.category, base_url=base_url)
    return alert_text(
        ref=tip.ref, school=school.short_name, category=tip.category, urgency=tip.urgency, base_url=base_url,
        escalated=alert.chain_position > 1, repeat=alert.repeat,
    )
