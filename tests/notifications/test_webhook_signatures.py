"""Webhook signatures: what the fake Twilio signs validates; anything tampered with does not."""

from __future__ import annotations

import pytest

from notifications.signatures import compute_signature, is_valid_signature
from notifications.twilio_transport import TwilioTransport
from tests.fakes.fake_twilio import FakeTwilio, send_inbound_sms
from tests.fakes.webhook_receiver import WebhookReceiver

SRO_PHONE = "+13075550101"


def test_fake_status_callbacks_validate_and_tampering_is_caught(
    transport: TwilioTransport, fake_twilio: FakeTwilio, receiver: WebhookReceiver
) -> None:
    transport.send(SRO_PHONE, "x", status_callback=f"{receiver.url}/hooks/sms/status?alert=7")
    fake_twilio.wait_for_callbacks(2)
    callback = receiver.received[-1]
    token = fake_twilio.auth_token
    assert is_valid_signature(token, callback.url, callback.params, callback.signature)
    tampered = {**callback.params, "MessageStatus": "delivered" if callback.params["MessageStatus"] != "delivered"
                else "failed"}
    assert not is_valid_signature(token, callback.url, tampered, callback.signature)
    assert not is_valid_signature(token, callback.url.replace("alert=7", "alert=8"), callback.params,
                                  callback.signature)
    assert not is_valid_signature("other-token", callback.url, callback.params, callback.signature)
    assert not is_valid_signature(token, callback.url, callback.params, None)
    assert not is_valid_signature(token, callback.url, callback.params, "")


def test_previous_token_is_accepted_during_rotation() -> None:
    params = {"Body": "ACK 7KQ2MX", "From": SRO_PHONE}
    signature = compute_signature("old-token", "https://tipline.test/hooks/sms", params)
    assert is_valid_signature("new-token", "https://tipline.test/hooks/sms", params, signature,
                              previous_auth_token="old-token")
    assert not is_valid_signature("new-token", "https://tipline.test/hooks/sms", params, signature)


@pytest.mark.parametrize(
    ("mode", "status"), [("valid", 204), ("missing", 403), ("wrong_token", 403), ("tampered", 403)]
)
def test_inbound_sms_helper_signs_like_twilio(receiver: WebhookReceiver, mode: str, status: int) -> None:
    response = send_inbound_sms(f"{receiver.url}/hooks/sms", SRO_PHONE, "ACK 7KQ2MX", receiver.auth_token,
                                signature=mode)  # type: ignore[arg-type]
    assert response.status == status
    [received] = receiver.received
    assert received.params["Body"] == "ACK 7KQ2MX" and received.params["From"] == SRO_PHONE
    assert received.params["MessageSid"].startswith("SM")
