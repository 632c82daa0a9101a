"""The app's SMS transport and the text of each alert. No tip content ever goes in."""

from __future__ import annotations

import logging
import threading

from flask import Flask, current_app
from sqlalchemy import select

from app.config import ConfigError
from app.crypto.receipts import REF_LENGTH
from app.extensions import db
from app.logs import log_event
from app.models import REPLY_KIND, Alert, AlertStatus, School, Tip
from notifications import (
    SmsSettingsError,
    SmsTransport,
    TwilioNotConfigured,
    TwilioTransport,
    transport_from_settings,
)
from notifications.messages import (
    alert_text,
    folded_text,
    longest_alert_text,
    longest_base_url_for_one_segment,
    reporter_message_text,
    segments,
)

EXTENSION_KEY = "tipline_sms_transport"
PER_THREAD_KEY = "tipline_sms_transport_per_thread"
log = logging.getLogger("tipline.alerts")


def init_sms(app: Flask) -> None:
    """Choose the transport at start-up, so half-set Twilio settings stop the app instead of losing SMS: as a
    ConfigError, so a `flask` command says which setting is missing in one line instead of a traceback."""
    app.extensions[PER_THREAD_KEY] = threading.local()
    try:
        app.extensions[EXTENSION_KEY] = transport_from_settings(app.config)
    except TwilioNotConfigured as exc:
        # One sentence with the way out there is: production refuses the console transport (app/config.py).
        if app.config.get("PRODUCTION"):
            message = f"{exc} in the environment; production sends alerts only through Twilio"
        else:
            message = f"{exc}, or set SMS_TRANSPORT=console to print SMS instead while developing"
        raise ConfigError(f"{message} (README, Configuration).") from None
    except SmsSettingsError as exc:
        raise ConfigError(f"{exc} (README, Configuration)") from None
    warn_if_alerts_take_two_segments(app)


def warn_if_alerts_take_two_segments(app: Flask) -> bool:
    """Say at start-up when the longest alert, with the configured PUBLIC_BASE_URL in its link, takes more than one
    SMS segment: it then arrives in parts, possibly late or out of order, billed as two. A warning, not a refusal
    (the alerts still go out); True when it warned."""
    base_url = str(app.config["PUBLIC_BASE_URL"])
    repeats = int(app.config["ALERT_MAX_REPEATS"])
    longest = longest_alert_text(base_url, max_repeat=repeats, ref_chars=REF_LENGTH)
    parts = segments(longest)
    if parts <= 1:
        return False
    most = longest_base_url_for_one_segment(max_repeat=repeats, ref_chars=REF_LENGTH)
    log_event(log, f"OPERATOR: with PUBLIC_BASE_URL ({len(base_url)} characters) the longest alert SMS takes "
              f"{'two' if parts == 2 else parts} SMS segments, and may arrive in parts, late or out of order; "
              f"shorten PUBLIC_BASE_URL to at most {most} characters (a shorter host name) to keep each alert to one",
              logging.WARNING, longest_alert_chars=len(longest), segments=parts, public_base_url_chars=len(base_url),
              at_most=most)
    return True


def sms_transport() -> SmsTransport:
    """This thread's transport. The console transport is shared (the developer page lists what it kept), as is any
    other that is not Twilio's (the tests' recording transport); a Twilio client is made per thread, because its HTTP
    session is not promised to be thread-safe.

    The per-thread clients belong to the app, made for the shared transport they stand for (held, so the match is
    by identity of a live object). They were once kept in one table per thread, keyed by id() of the shared
    transport: the id of an app that had ended could be given to the next app's transport, which was then handed
    the old app's client, its settings and its open connection (in the tests, to the Twilio fake of a test before).
    """
    shared: SmsTransport = current_app.extensions[EXTENSION_KEY]
    if not isinstance(shared, TwilioTransport):  # the console transport; the tests' recording one
        return shared
    mine = current_app.extensions[PER_THREAD_KEY]
    if getattr(mine, "made_for", None) is not shared:
        mine.transport, mine.made_for = transport_from_settings(current_app.config), shared
    transport: SmsTransport = mine.transport
    return transport


def status_callback_url(alert_id: int, send: int | None = None) -> str:
    # The alert id rides in the (signed) URL: a callback that arrives before the SID is recorded still finds
    # its row, so an early "failed" is never dropped. So does `send`, the claim the SMS goes out under
    # (`alert.attempts`): such an early callback is taken for the send under way only, never a late one of an
    # earlier send of the row (one Twilio refused after taking it, the row queued again since).
    url = f"{current_app.config['PUBLIC_BASE_URL']}/hooks/twilio/status?alert={alert_id}"
    return url if send is None else f"{url}&send={send}"


def body_for(alert: Alert, tip: Tip, school: School, folded_count: int = 0, folded_urgency: str = "") -> str:
    base_url = current_app.config["PUBLIC_BASE_URL"]
    if alert.kind == REPLY_KIND:
        return reporter_message_text(ref=tip.ref, school=school.short_name, base_url=base_url,
                                     acknowledged=tip.acknowledged_at is not None)
    if folded_count > 1:
        return folded_text(count=folded_count, school=school.short_name, category=tip.effective_category,
                           urgency=folded_urgency or tip.effective_urgency, base_url=base_url)
    return alert_text(
        ref=tip.ref, school=school.short_name, category=tip.effective_category, urgency=tip.effective_urgency,
        base_url=base_url,
        escalated=_someone_else_had_it(alert), repeat=alert.repeat,
    )


def _someone_else_had_it(alert: Alert) -> bool:
    """Whether an earlier SMS about the tip reached someone else (who did not answer): what "ESCALATED (no ack)"
    says. Not when the people before could not be reached at all (opted out, no phone, number refused, undelivered):
    then this person is the first told, whatever their place in the chain."""
    return db.session.scalar(
        select(Alert.id).where(Alert.tip_id == alert.tip_id, Alert.id < alert.id, Alert.sent_at.isnot(None),
                               Alert.status != AlertStatus.FAILED.value, Alert.staff_id != alert.staff_id,
                               Alert.kind != REPLY_KIND).limit(1)
    ) is not None
