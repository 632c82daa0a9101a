"""Choosing the SMS transport from settings (the app passes its config mapping)."""

from __future__ import annotations

from collections.abc import Mapping

from notifications.console_transport import ConsoleTransport
from notifications.transport import SmsTransport
from notifications.twilio_transport import TWILIO_API_BASE_URL, TwilioTransport

TWILIO_KEYS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER",
"TWILIO_MESSAGING_SERVICE_SID")


class SmsSettingsError(ValueError):
    """The SMS settings contradict each other.

    Raised at start-up, so a half-configured Twilio never goes live.
    """


class TwilioNotConfigured(SmsSettingsError):
    """Twilio is asked for (SMS_TRANSPORT=twilio) and none of its settings is set: the caller knows whether the
    console transport is a way out (development) or not (production), and says so."""


def transport_from_settings(settings: Mapping[str, object]) -> SmsTransport:
    """The SMS transport the settings ask for.

    Twilio when TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER or
    TWILIO_MESSAGING_SERVICE_SID are set; the console transport when none of them is.

    Optional keys: SMS_TRANSPORT = "auto" (default) | "twilio" | "console" (a production config sets "twilio",
    so missing credentials stop the start instead of silently printing alerts); TWILIO_API_BASE_URL (a fake
    Twilio in tests); TWILIO_TIMEOUT_S (default 10); SMS_CONSOLE_KEEP (default 50). Empty values count as
    unset.
    """
    values = {key: _text(settings.get(key)) for key in TWILIO_KEYS}
    choice = (_text(settings.get("SMS_TRANSPORT")) or "auto").lower()
    if choice not in ("auto", "twilio", "console"):
        raise SmsSettingsError("SMS_TRANSPORT must be auto, twilio or console")
    if choice == "console":
        return ConsoleTransport(keep=_number(settings, "SMS_CONSOLE_KEEP", 50))

    account_sid, auth_token, from_number, service_sid = (values[key] for key in TWILIO_KEYS)
    complete = bool(account_sid and auth_token and (from_number or service_sid))
    if complete:
        return TwilioTransport(
            account_sid=account_sid,
            auth_token=auth_token,
            from_number=from_number or None,
            messaging_service_sid=service_sid or None,
            api_base_url=_text(settings.get("TWILIO_API_BASE_URL")) or TWILIO_API_BASE_URL,
            timeout_s=float(_number(settings, "TWILIO_TIMEOUT_S", 10)),
        )
    present = [key for key in TWILIO_KEYS if values[key]]
    if not present and choice == "twilio":
        raise TwilioNotConfigured(
            "No Twilio settings are set: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER"
            " (or TWILIO_MESSAGING_SERVICE_SID)"
        )
    if present:
        missing = [key for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not values[key]]
        if not from_number and not service_sid:
            missing.append("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        # Names only: never echo a value, one of them is a secret.
        raise SmsSettingsError(
            f"Twilio settings are incomplete: {', '.join(present)} set,"
            f" missing {', '.join(missing)}"
        )
    return ConsoleTransport(keep=_number(settings, "SMS_CONSOLE_KEEP", 50))


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _number(settings: Mapping[str, object], key: str, default: int) -> int:
    raw = _text(settings.get(key))
    if not raw:
        return default
    try:
        number = int(float(raw))
    except ValueError:
        raise SmsSettingsError(f"{key} must be a number") from None
    if number <= 0:
        raise SmsSettingsError(f"{key} must be positive")
    return number
