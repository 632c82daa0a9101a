"""TwilioTransport, with the real twilio client, against the fake Twilio on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from notifications.errors import PermanentSendError, SendError, TransientSendError
from notifications.transport import DeliveryReport, SmsTransport
from notifications.twilio_transport import RebasedHttpClient, TwilioTransport
from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FAKE_SENDER, FakeTwilio, Fault
from tests.fakes.webhook_receiver import WebhookReceiver

CLIENT_TIMEOUT_S = 1.5  # 0.3 s failed an ordinary send when the machine was busy (two test processes and more)
SRO_PHONE = "+13075550101"

BODY = "TIPLINE CRITICAL weapon KWHS #7KQ2MX https://x/console/tips/7KQ2MX Reply 1 or ACK 7KQ2MX"


def send(transport: TwilioTransport, **kwargs: Any) -> Any:
    return transport.send(SRO_PHONE, BODY, status_callback=kwargs.pop("status_callback", None), **kwargs)


def test_is_an_sms_transport(transport: TwilioTransport) -> None:
    assert isinstance(transport, SmsTransport)


def test_send_records_the_sid_twilio_gave(transport: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    result = send(transport)
    [message] = fake_twilio.wait_for(1)
    assert result.sid == message.sid and result.sid.startswith("SM") and len(result.sid) == 34
    assert result.status == "queued"
    assert (message.to, message.from_, message.body) == (SRO_PHONE, FAKE_SENDER, BODY)


def test_status_callback_and_validity_period_are_sent(
    transport: TwilioTransport, fake_twilio: FakeTwilio
) -> None:
    send(transport, status_callback="https://tipline.test/hooks/sms/status", validity_period_s=300)
    [message] = fake_twilio.wait_for(1)
    assert message.status_callback == "https://tipline.test/hooks/sms/status"
    assert message.validity_period == "300"


def test_messaging_service_is_used_when_configured(fake_twilio: FakeTwilio) -> None:
    transport = TwilioTransport(FAKE_ACCOUNT_SID, fake_twilio.auth_token, messaging_service_sid="MG" + "1" * 32,
                                api_base_url=fake_twilio.url, timeout_s=CLIENT_TIMEOUT_S)
    result = send(transport)
    [message] = fake_twilio.wait_for(1)
    assert message.messaging_service_sid == "MG" + "1" * 32 and message.from_ is None
    assert result.status == "accepted"


@pytest.mark.parametrize(
    "fault", [Fault.server_error(), Fault.server_error(503), Fault.too_many_requests(), Fault.drop_connection()],
    ids=["500", "503", "429", "dropped"],
)
def test_server_trouble_is_transient(transport: TwilioTransport, fake_twilio: FakeTwilio, fault: Fault) -> None:
    fake_twilio.script(fault)
    with pytest.raises(TransientSendError):
        send(transport)
    assert fake_twilio.requests_seen == 1  # the client does not retry behind our back: the outbox does
    send(transport)  # and the next attempt goes through
    assert len(fake_twilio.messages) == 1


def test_rate_limit_keeps_twilio_code(transport: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    fake_twilio.script(Fault.too_many_requests())
    with pytest.raises(TransientSendError) as caught:
        send(transport)
    assert (caught.value.status, caught.value.code) == (429, 20429)


@pytest.mark.parametrize(("fault", "seconds"), [
    (Fault.too_many_requests("30"), 30), (Fault.server_error(503, "120"), 120),
    (Fault.too_many_requests("in 90 s, as an HTTP date"), 90),
    (Fault.too_many_requests(), None), (Fault.too_many_requests("soon"), None), (Fault.too_many_requests("-5"), None),
], ids=["429-seconds", "503-seconds", "429-date", "none", "unreadable", "negative"])
def test_a_retry_after_twilio_asks_for_is_passed_on(transport: TwilioTransport, fake_twilio: FakeTwilio, fault: Fault,
                                                     seconds: int | None) -> None:
    """Twilio's 429 (and a 503) may say when to come back: the outbox must know it to wait at least that long."""
    if fault.retry_after == "in 90 s, as an HTTP date":  # dated when the test runs, not when it is collected
        fault = Fault.too_many_requests(format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True))
    fake_twilio.script(fault)
    with pytest.raises(TransientSendError) as caught:
        send(transport)
    if seconds is None:
        assert caught.value.retry_after_s is None
    else:
        assert caught.value.retry_after_s == pytest.approx(seconds, abs=2)
    send(transport)  # the next answer has no Retry-After: nothing is left over from the one before
    fake_twilio.script(Fault.server_error())
    with pytest.raises(TransientSendError) as caught:
        send(transport)
    assert caught.value.retry_after_s is None


def test_timeout_is_transient(transport: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    fake_twilio.script(Fault.delay(transport.timeout_s + 0.3))
    started = time.monotonic()
    with pytest.raises(TransientSendError, match="no answer"):
        send(transport)
    assert time.monotonic() - started < transport.timeout_s + 0.25


def test_connection_refused_is_transient(closed_port_url: str) -> None:
    transport = TwilioTransport(FAKE_ACCOUNT_SID, "token", from_number=FAKE_SENDER, api_base_url=closed_port_url,
                                timeout_s=CLIENT_TIMEOUT_S)
    with pytest.raises(TransientSendError) as caught:
        send(transport)
    assert caught.value.code is None


@pytest.mark.parametrize("code", [21610, 21211, 21614, 21408])
def test_bad_or_opted_out_number_is_permanent(
    transport: TwilioTransport, fake_twilio: FakeTwilio, code: int
) -> None:
    fake_twilio.script(Fault.rejected(code))
    with pytest.raises(PermanentSendError) as caught:
        send(transport)
    assert (caught.value.status, caught.value.code) == (400, code)


@pytest.mark.parametrize("status", [400, 403, 404, 407])
def test_a_page_from_a_proxy_on_the_way_is_transient(transport: TwilioTransport, fake_twilio: FakeTwilio,
                                                     status: int) -> None:
    """A 4xx without Twilio's JSON comes from something in between (a filtering proxy, a gateway): it says nothing
    about the number, and every number would get the same page, so escalating at once would burn the chain."""
    fake_twilio.script(Fault.proxy_page(status))
    with pytest.raises(TransientSendError) as caught:
        send(transport)
    assert (caught.value.status, caught.value.code) == (status, None)


def test_invalid_number_is_refused_by_the_fake_like_twilio(transport: TwilioTransport) -> None:
    with pytest.raises(PermanentSendError) as caught:
        transport.send("307-555-0101", BODY, status_callback=None)
    assert caught.value.code == 21211


def test_wrong_auth_token_is_retried_until_the_settings_are_fixed(fake_twilio: FakeTwilio) -> None:
    transport = TwilioTransport(FAKE_ACCOUNT_SID, "not-the-token", from_number=FAKE_SENDER,
                                api_base_url=fake_twilio.url, timeout_s=CLIENT_TIMEOUT_S)
    with pytest.raises(TransientSendError) as caught:
        send(transport)
    assert caught.value.code == 20003
    assert fake_twilio.messages == []


def test_errors_never_carry_the_body(transport: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    secret = "SECRET-BODY-MARKER"
    faults = [Fault.server_error(), Fault.too_many_requests(), Fault.rejected(21610), Fault.drop_connection(),
              Fault.delay(transport.timeout_s + 0.2)]
    for fault in faults:
        fake_twilio.script(fault)
        with pytest.raises(SendError) as caught:
            transport.send(SRO_PHONE, secret, status_callback=None)
        assert secret not in str(caught.value) and secret not in repr(caught.value)
        assert secret not in str(caught.value.__cause__)


def test_validity_period_out_of_range_is_refused(transport: TwilioTransport) -> None:
    with pytest.raises(ValueError):
        send(transport, validity_period_s=0)
    with pytest.raises(ValueError):
        send(transport, validity_period_s=36001)


def test_requests_go_to_127_0_0_1_and_never_to_the_internet(
    transport: TwilioTransport, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Edge and region settings make the twilio client rewrite host names; the rebase must still win.
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    transport = TwilioTransport(FAKE_ACCOUNT_SID, fake_twilio.auth_token, from_number=FAKE_SENDER,
                                api_base_url=fake_twilio.url, timeout_s=CLIENT_TIMEOUT_S)
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        if host not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"tried to reach {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    send(transport)
    assert looked_up and set(looked_up) == {"127.0.0.1"}
    assert len(fake_twilio.messages) == 1


@pytest.mark.parametrize(
    "url",
    ["https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
     "https://api.sydney.au1.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
     "https://messaging.twilio.com/2010-04-01/Accounts/AC1/Messages.json"],
)
def test_rebase_rewrites_every_twilio_host(url: str) -> None:
    client = RebasedHttpClient("http://127.0.0.1:8765/prefix/", timeout=1)
    assert client.rebase(url) == "http://127.0.0.1:8765/prefix/2010-04-01/Accounts/AC1/Messages.json"


def test_default_base_url_uses_the_stock_client() -> None:
    transport = TwilioTransport(FAKE_ACCOUNT_SID, "token", from_number=FAKE_SENDER)
    assert not isinstance(transport._client.http_client, RebasedHttpClient)
    assert transport._client.http_client.timeout == 10


def test_configuration_mistakes_fail_at_construction() -> None:
    with pytest.raises(ValueError):
        TwilioTransport(FAKE_ACCOUNT_SID, "token")  # no sender
    with pytest.raises(ValueError):
        TwilioTransport("", "token", from_number=FAKE_SENDER)
    with pytest.raises(ValueError):
        TwilioTransport(FAKE_ACCOUNT_SID, "token", from_number=FAKE_SENDER, timeout_s=0)
    with pytest.raises(ValueError):
        TwilioTransport(FAKE_ACCOUNT_SID, "token", from_number=FAKE_SENDER, api_base_url="127.0.0.1:8000")


def test_status_callbacks_are_signed_and_report_delivery(
    transport: TwilioTransport, fake_twilio: FakeTwilio, receiver: WebhookReceiver
) -> None:
    result = send(transport, status_callback=f"{receiver.url}/hooks/sms/status?alert=42")
    attempts = fake_twilio.wait_for_callbacks(2)
    assert [a.params["MessageStatus"] for a in attempts] == ["sent", "delivered"]
    assert all(a.ok for a in attempts)
    assert [r.valid for r in receiver.received] == [True, True]
    assert {r.params["MessageSid"] for r in receiver.received} == {result.sid}
    assert fake_twilio.status_of(result.sid) == "delivered"


def test_undelivered_reports_the_error_code(
    transport: TwilioTransport, fake_twilio: FakeTwilio, receiver: WebhookReceiver
) -> None:
    fake_twilio.set_outcome(SRO_PHONE, "undelivered", 30006)
    send(transport, status_callback=f"{receiver.url}/status")
    attempts = fake_twilio.wait_for_callbacks(2)
    assert attempts[-1].params["MessageStatus"] == "undelivered"
    assert attempts[-1].params["ErrorCode"] == "30006"


def test_no_callback_when_told_or_when_no_url(
    transport: TwilioTransport, fake_twilio: FakeTwilio, receiver: WebhookReceiver
) -> None:
    fake_twilio.set_outcome(SRO_PHONE, "none")
    send(transport, status_callback=f"{receiver.url}/status")
    fake_twilio.set_outcome(SRO_PHONE, "delivered")
    send(transport)
    time.sleep(0.1)
    assert fake_twilio.callbacks == [] and receiver.received == []


def test_callback_failure_is_recorded_not_raised(
    transport: TwilioTransport, fake_twilio: FakeTwilio, closed_port_url: str
) -> None:
    fake_twilio.set_outcome(SRO_PHONE, "failed", 30005)
    send(transport, status_callback=f"{closed_port_url}/status")
    [attempt] = fake_twilio.wait_for_callbacks(1)
    assert not attempt.ok and attempt.error == "ConnectionError"


def test_an_answer_that_trickles_in_is_given_up_at_the_timeout(transport: TwilioTransport,
                                                                fake_twilio: FakeTwilio) -> None:
    """requests' timeout is for each read, not the whole answer: a connection that gave a byte now and then (a
    congested proxy, a half-broken link) held a send for as long as it went on, past TWILIO_TIMEOUT_S, the claim's
    lease (another worker then sent the SMS again) and every escalation the worker should have written meanwhile.
    A send now ends at twice its timeout (a connect and a read), as one with no answer at all does."""
    fake_twilio.script(Fault.trickle(3.0))
    started = time.monotonic()
    with pytest.raises(TransientSendError, match="no answer"):
        send(transport)
    assert time.monotonic() - started < 2 * transport.timeout_s + 0.25
    assert send(transport).sid  # the next send goes through, on a connection of its own


def test_requests_left_hanging_are_bounded(transport: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    """Each send given up at its deadline leaves its request to end by itself; a link that never lets go must not
    pile them up one a send: past a few, sends fail at once (transient: the alert waits in the outbox)."""
    from notifications.twilio_transport import MAX_HANGING_REQUESTS

    fake_twilio.script(*[Fault.trickle(5.0)] * MAX_HANGING_REQUESTS)
    for _ in range(MAX_HANGING_REQUESTS):
        with pytest.raises(TransientSendError, match="no answer"):
            send(transport)
    started = time.monotonic()
    with pytest.raises(TransientSendError):
        send(transport)
    assert time.monotonic() - started < 0.1
    assert fake_twilio.requests_seen == MAX_HANGING_REQUESTS


# -- looking a message up: its delivery status when the status callback was lost ------------------------------------


def test_a_lookup_answers_the_final_status_whose_callback_was_lost(transport: TwilioTransport,
                                                                 fake_twilio: FakeTwilio) -> None:
    fake_twilio.set_outcome(SRO_PHONE, "undelivered", 30003, callback=False)
    result = send(transport, status_callback="http://127.0.0.1:9/hooks/twilio/status")
    fake_twilio.wait_for_status(result.sid, "undelivered")
    assert transport.fetch_status(result.sid) == DeliveryReport("undelivered", "30003")
    assert fake_twilio.callbacks == []  # lost: only the lookup tells


def test_a_lookup_of_a_delivered_message(transport: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    result = send(transport)
    fake_twilio.wait_for_status(result.sid, "delivered")
    assert transport.fetch_status(result.sid) == DeliveryReport("delivered", None)


def test_a_message_the_carrier_never_reported_on_stays_sent(transport: TwilioTransport,
                                                             fake_twilio: FakeTwilio) -> None:
    fake_twilio.set_outcome(SRO_PHONE, "none")
    result = send(transport)
    fake_twilio.wait_for_status(result.sid, "sent")
    assert transport.fetch_status(result.sid) == DeliveryReport("sent", None)


@pytest.mark.parametrize(("fault", "error"), [
    (Fault.server_error(503), TransientSendError), (Fault.drop_connection(), TransientSendError),
    (Fault.delay(4), TransientSendError), (Fault.proxy_page(403), TransientSendError),
    (Fault.trickle(3.0), TransientSendError),
])
def test_a_lookup_failure_is_a_send_error_never_anything_else(transport: TwilioTransport, fake_twilio: FakeTwilio,
                                                               fault: Fault, error: type[SendError]) -> None:
    result = send(transport)
    fake_twilio.script_fetches(fault)
    with pytest.raises(error) as raised:
        transport.fetch_status(result.sid)
    assert SRO_PHONE not in str(raised.value) and BODY not in str(raised.value)


def test_a_lookup_of_an_unknown_sid_is_a_permanent_error(transport: TwilioTransport) -> None:
    with pytest.raises(PermanentSendError) as raised:
        transport.fetch_status("SM" + "0" * 32)
    assert raised.value.code == 20404
