"""Choosing the transport from settings."""

from __future__ import annotations

import pytest

from notifications import (
    ConsoleTransport,
    SmsSettingsError,
    TwilioNotConfigured,
    TwilioTransport,
    transport_from_settings,
)

TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "auth-token-value-secret",
    "TWILIO_FROM_NUMBER": "+15005550006",
}


def test_console_when_nothing_is_set() -> None:
    assert isinstance(transport_from_settings({}), ConsoleTransport)
    assert isinstance(transport_from_settings({"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": None}),
                      ConsoleTransport)


def test_twilio_when_complete() -> None:
    settings = {**TWILIO, "TWILIO_API_BASE_URL": "http://127.0.0.1:9", "TWILIO_TIMEOUT_S": "3"}
    transport = transport_from_settings(settings)
    assert isinstance(transport, TwilioTransport)
    assert transport.api_base_url == "http://127.0.0.1:9" and transport.timeout_s == 3


def test_messaging_service_is_enough_as_sender() -> None:
    settings = {**TWILIO, "TWILIO_FROM_NUMBER": "", "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32}
    transport = transport_from_settings(settings)
    assert isinstance(transport, TwilioTransport) and transport.from_number is None


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"])
def test_half_set_twilio_is_an_error_that_names_keys_not_values(missing: str) -> None:
    settings = {k: v for k, v in TWILIO.items() if k != missing}
    with pytest.raises(SmsSettingsError) as caught:
        transport_from_settings(settings)
    assert missing in str(caught.value)
    assert "auth-token-value-secret" not in str(caught.value)


def test_forced_choices() -> None:
    assert isinstance(transport_from_settings({**TWILIO, "SMS_TRANSPORT": "console"}), ConsoleTransport)
    with pytest.raises(SmsSettingsError):
        transport_from_settings({"SMS_TRANSPORT": "twilio"})
    with pytest.raises(SmsSettingsError):
        transport_from_settings({"SMS_TRANSPORT": "pigeon"})
    with pytest.raises(SmsSettingsError):
        transport_from_settings({"SMS_CONSOLE_KEEP": "many"})


def test_no_twilio_setting_at_all_says_which_to_set_in_one_sentence() -> None:
    """It read "Twilio settings are incomplete: none set, missing TWILIO_ACCOUNT_SID, ...": half a sentence about
    a half-filled set that was not half filled."""
    with pytest.raises(TwilioNotConfigured) as caught:
        transport_from_settings({"SMS_TRANSPORT": "twilio", "TWILIO_ACCOUNT_SID": " "})  # blank counts as unset
    message = str(caught.value)
    assert message == ("No Twilio settings are set: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER "
                       "(or TWILIO_MESSAGING_SERVICE_SID)")
    assert isinstance(caught.value, SmsSettingsError)
