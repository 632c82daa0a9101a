"""The fake Twilio itself: reproducible random faults, the HTTP state view, and running as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from notifications.errors import SendError
from notifications.signatures import is_valid_signature
from notifications.twilio_transport import TwilioTransport
from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, FAKE_SENDER, FakeTwilio, via_test_client

CLIENT_TIMEOUT_S = 0.3
SRO_PHONE = "+13075550101"

REPO = Path(__file__).resolve().parents[2]


def outcomes(fake: FakeTwilio, count: int) -> list[str]:
    transport = TwilioTransport(FAKE_ACCOUNT_SID, fake.auth_token, from_number=FAKE_SENDER, api_base_url=fake.url,
                                timeout_s=CLIENT_TIMEOUT_S)
    results = []
    for _ in range(count):
        try:
            transport.send(SRO_PHONE, "x", status_callback=None)
            results.append("ok")
        except SendError as exc:
            results.append(type(exc).__name__)
    return results


def test_random_faults_are_reproducible_with_a_seed() -> None:
    with FakeTwilio(fail_rate=0.4, seed=11) as first:
        a = outcomes(first, 30)
    with FakeTwilio(fail_rate=0.4, seed=11) as second:
        b = outcomes(second, 30)
    assert a == b
    assert 0 < a.count("ok") < 30 and set(a) <= {"ok", "TransientSendError"}
    assert first.faults_served == a.count("TransientSendError")


def test_fetch_and_state_endpoints(fake_twilio: FakeTwilio) -> None:
    outcomes(fake_twilio, 1)
    [message] = fake_twilio.messages
    fetched = TwilioTransport(FAKE_ACCOUNT_SID, fake_twilio.auth_token, from_number=FAKE_SENDER,
                              api_base_url=fake_twilio.url)._client.messages(message.sid).fetch()
    assert fetched.sid == message.sid and fetched.to == SRO_PHONE
    state = requests.get(f"{fake_twilio.url}/_fake/state", timeout=2).json()
    assert [m["sid"] for m in state["messages"]] == [message.sid]


def test_runs_as_a_process_for_soak_tests() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fake_twilio", "--port", "0", "--auth-token", "soak-token",
         "--fail-rate", "0.3", "--seed", "5"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().strip()
        assert first_line.startswith("FAKE_TWILIO_URL=http://127.0.0.1:")
        url = first_line.split("=", 1)[1]
        transport = TwilioTransport(FAKE_ACCOUNT_SID, "soak-token", from_number=FAKE_SENDER, api_base_url=url,
                                    timeout_s=2)
        sent = 0
        for _ in range(20):
            try:
                transport.send(SRO_PHONE, "soak", status_callback=None)
                sent += 1
            except SendError:
                pass
        state = requests.get(f"{url}/_fake/state", timeout=2).json()
        assert len(state["messages"]) == sent and state["requests_seen"] == 20
        assert 0 < sent < 20
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert process.returncode == 0
    assert json.loads(stderr.strip().splitlines()[-1])["requests_seen"] == 20


def test_callbacks_can_go_through_a_wsgi_test_client() -> None:
    from werkzeug.test import Client
    from werkzeug.wrappers import Request, Response

    seen: list[tuple[str, bool]] = []

    @Request.application
    def hooks(request: Request) -> Response:
        valid = is_valid_signature(FAKE_AUTH_TOKEN, request.url, request.form,
                                   request.headers.get("X-Twilio-Signature"))
        seen.append((request.form["MessageStatus"], valid))
        return Response(status=204 if valid else 403)

    with FakeTwilio(callback_delay_s=0.0, callback_sender=via_test_client(Client(hooks))) as fake:
        transport = TwilioTransport(FAKE_ACCOUNT_SID, fake.auth_token, from_number=FAKE_SENDER,
                                    api_base_url=fake.url, timeout_s=CLIENT_TIMEOUT_S)
        transport.send(SRO_PHONE, "x", status_callback="https://tipline.test/hooks/sms/status?alert=3")
        attempts = fake.wait_for_callbacks(2)
    assert seen == [("sent", True), ("delivered", True)]
    assert all(a.ok for a in attempts)


def test_a_stopped_fake_no_longer_answers_on_a_connection_kept_alive() -> None:
    """A stopped fake closes the connections it kept alive: a client left from an earlier test then fails loudly,
    where the fake's handler thread used to go on accepting SMS on that connection after the test had ended."""
    fake = FakeTwilio().start()
    transport = TwilioTransport(FAKE_ACCOUNT_SID, fake.auth_token, from_number=FAKE_SENDER, api_base_url=fake.url,
                                timeout_s=CLIENT_TIMEOUT_S * 5)
    transport.send(SRO_PHONE, "before", status_callback=None)
    fake.stop()
    try:
        transport.send(SRO_PHONE, "after", status_callback=None)
    except SendError:
        pass
    assert [m.body for m in fake.messages] == ["before"]
