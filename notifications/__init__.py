"""SMS for Tipline: message text and transports.

A plain library: no Flask, no database, never imports `app`.
"""

from notifications.console_transport import ConsoleMessage, ConsoleTransport
from notifications.errors import (
    PermanentSendError,
    SendError,
    TransientSendError,
    classify_twilio_error,
    delivery_outcome,
)
from notifications.factory import SmsSettingsError, TwilioNotConfigured, transport_from_settings
from notifications.recording_transport import RecordedSms, RecordingTransport
from notifications.replies import InboundReply, parse_reply
from notifications.transport import SendResult, SmsTransport
from notifications.twilio_transport import TwilioTransport

__all__ = [
    "ConsoleMessage",
    "ConsoleTransport",
    "InboundReply",
    "PermanentSendError",
    "RecordedSms",
    "RecordingTransport",
    "SendError",
    "SendResult",
    "SmsSettingsError",
    "SmsTransport",
    "TransientSendError",
    "TwilioNotConfigured",
    "TwilioTransport",
    "classify_twilio_error",
    "delivery_outcome",
    "parse_reply",
    "transport_from_settings",
]
