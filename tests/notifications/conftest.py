"""Fixtures for the notifications tests: a fake Twilio, a transport wired to it, a webhook receiver.

Test modules import no names from here (pytest imports conftest files under their own names); shared
helpers live in tests/fakes/.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from notifications.twilio_transport import TwilioTransport
from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FAKE_SENDER, FakeTwilio
from tests.fakes.webhook_receiver import WebhookReceiver

# Short, so the timeout tests stay fast; the fake answers in well under a millisecond otherwise.
CLIENT_TIMEOUT_S = 0.3


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(callback_delay_s=0.01) as fake:
        yield fake


@pytest.fixture
def transport(fake_twilio: FakeTwilio) -> TwilioTransport:
    return TwilioTransport(
        FAKE_ACCOUNT_SID, fake_twilio.auth_token, from_number=FAKE_SENDER,
        api_base_url=fake_twilio.url, timeout_s=CLIENT_TIMEOUT_S,
    )


@pytest.fixture
def receiver(fake_twilio: FakeTwilio) -> Iterator[WebhookReceiver]:
    hooks = WebhookReceiver(fake_twilio.auth_token)
    yield hooks
    hooks.close()


@pytest.fixture
def closed_port_url() -> str:
    """A local URL where nothing listens: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
