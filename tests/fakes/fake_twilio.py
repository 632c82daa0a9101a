"""A fake of Twilio's Messages REST API that the real `twilio` client talks to, on 127.0.0.1.

In a test:

    with FakeTwilio() as fake:
        transport = TwilioTransport(FAKE_ACCOUNT_SID, fake.auth_token, from_number=FAKE_SENDER,
                                    api_base_url=fake.url, timeout_s=1)
        transport.send("+13075551234", "hi", status_callback="http://127.0.0.1:5000/hooks/sms/status")
        fake.wait_for(1)

As a process (soak tests), printing FAKE_TWILIO_URL=http://127.0.0.1:PORT on its first line:

    python -m tests.fakes.fake_twilio --port 8765 --auth-token T --fail-rate 0.3 --seed 7

It checks basic auth, answers like Twilio (201 + message JSON, or Twilio's error JSON), records every accepted
message, injects faults (scripted or at a seeded random rate) and posts signed status callbacks.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl

from tests.fakes.twilio_api import (
    API_VERSION,
    FAKE_ACCOUNT_SID,
    FAKE_AUTH_TOKEN,
    FAKE_SENDER,
    Fault,
    ReceivedMessage,
    error_json,
    message_json,
)
from tests.fakes.twilio_callbacks import (
    CallbackAttempt,
    CallbackSender,
    Outcome,
    post_callback,
    status_sequence,
    via_test_client,
)
from tests.fakes.twilio_webhooks import WebhookResponse, inbound_sms_params, send_inbound_sms, signed_headers

__all__ = [
    "FAKE_ACCOUNT_SID", "FAKE_AUTH_TOKEN", "FAKE_SENDER", "CallbackAttempt", "FakeTwilio", "Fault", "Outcome",
    "ReceivedMessage", "WebhookResponse", "inbound_sms_params", "send_inbound_sms", "signed_headers",
    "via_test_client",
]

_CREATE_RE = re.compile(r"/2010-04-01/Accounts/(AC\w+)/Messages\.json")
_FETCH_RE = re.compile(r"/2010-04-01/Accounts/(AC\w+)/Messages/(SM\w+)\.json")
_E164_RE = re.compile(r"\+[1-9]\d{6,14}")
TRICKLE_PAUSE_S = 0.05  # between the bytes of a Fault.trickle answer: well within any client's read timeout


@dataclass
class _State:
    messages: list[ReceivedMessage] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    error_codes: dict[str, int] = field(default_factory=dict)  # of messages that ended undelivered or failed
    callbacks: list[CallbackAttempt] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    fetch_faults: deque[Fault] = field(default_factory=deque)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)
    requests_seen: int = 0
    fetches_seen: int = 0
    faults_served: int = 0


class FakeTwilio:
    """The fake server. Thread-safe; start with `with FakeTwilio() as fake:` or start()/stop()."""

    def __init__(
        self,
        *,
        auth_token: str = FAKE_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        fail_rate: float = 0.0,
        seed: int = 0,
        random_faults: tuple[Fault, ...] = (
            Fault.server_error(), Fault.too_many_requests(), Fault.drop_connection(),
        ),
        callback_delay_s: float = 0.02,
        callback_sender: CallbackSender = post_callback,
    ) -> None:
        self.auth_token = auth_token
        self.fail_rate = fail_rate
        self.random_faults = random_faults
        self.callback_delay_s = callback_delay_s
        self.callback_sender = callback_sender
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not security
        self._state = _State()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._host = host
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_address[1]}"

    def start(self) -> FakeTwilio:
        # A short poll interval makes stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-twilio", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends pending delays and callback sleeps at once
        self._server.shutdown()
        self._server.server_close()
        self._server.close_open_connections()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- configuration ------------------------------------------------------------------------------------

    def script(self, *faults: Fault) -> None:
        """Answer the next create requests with these faults, in order; then normally again."""
        with self._lock:
            self._state.faults.extend(faults)

    def script_fetches(self, *faults: Fault) -> None:
        """Answer the next fetch requests (GET of a message) with these faults, in order; then normally again."""
        with self._lock:
            self._state.fetch_faults.extend(faults)

    def set_outcome(
        self,
        number: str,
        final: Literal["delivered", "undelivered", "failed", "none"],
        error_code: int | None = None,
        *,
        callback: bool = True,
    ) -> None:
        """How delivery to `number` ends, in status callbacks and in what a fetch of the message answers then.
        "none": no callback at all, the message stays "sent" at Twilio (the carrier never reported). `callback=False`:
        the message ends as `final` at Twilio, but the callbacks are lost (our site was down)."""
        with self._lock:
            self._state.outcomes[number] = Outcome(final, error_code, callback)

    def reject_number(self, number: str, code: int = 21211) -> None:
        """Every create request to `number` gets a 400 with this code (21211 invalid, 21610 opted out)."""
        with self._lock:
            self._state.rejections[number] = code

    # -- inspection ---------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._state.messages)

    def messages_to(self, number: str) -> list[ReceivedMessage]:
        return [m for m in self.messages if m.to == number]

    @property
    def callbacks(self) -> list[CallbackAttempt]:
        with self._lock:
            return list(self._state.callbacks)

    @property
    def requests_seen(self) -> int:
        with self._lock:
            return self._state.requests_seen

    @property
    def faults_served(self) -> int:
        with self._lock:
            return self._state.faults_served

    @property
    def fetches_seen(self) -> int:
        with self._lock:
            return self._state.fetches_seen

    def status_of(self, sid: str) -> str | None:
        with self._lock:
            return self._state.statuses.get(sid)

    def wait_for_status(self, sid: str, status: str, timeout: float = 5.0) -> None:
        """Block until the message has reached `status` at the fake (its callbacks posted or not)."""
        self._wait(lambda: self._state.statuses.get(sid) == status, timeout, f"status {status} of {sid}")

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages were accepted; AssertionError after `timeout` seconds."""
        self._wait(lambda: len(self._state.messages) >= count, timeout, f"{count} messages")
        return self.messages

    def wait_for_callbacks(self, count: int, timeout: float = 5.0) -> list[CallbackAttempt]:
        self._wait(lambda: len(self._state.callbacks) >= count, timeout, f"{count} status callbacks")
        return self.callbacks

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(done, timeout):
                raise AssertionError(f"fake Twilio: no {what} within {timeout}s")

    # -- request handling (called from the server's threads) -----------------------------------------------

    def _next_fetch_fault(self) -> Fault | None:
        with self._lock:
            self._state.fetches_seen += 1
            return self._state.fetch_faults.popleft() if self._state.fetch_faults else None

    def _next_fault(self) -> Fault | None:
        with self._lock:
            self._state.requests_seen += 1
            fault = self._state.faults.popleft() if self._state.faults else None
            if fault is None and self.fail_rate and self._rng.random() < self.fail_rate:
                fault = self._rng.choice(self.random_faults)
            if fault is not None:
                self._state.faults_served += 1
            return fault

    def _wait_or_stop(self, seconds: float) -> bool:
        """Sleep; False if the fake is stopping."""
        return not self._stopping.wait(seconds)

    def _accept(self, account_sid: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        to, body = params.get("To", ""), params.get("Body", "")
        from_, service = params.get("From") or None, params.get("MessagingServiceSid") or None
        if not to:
            return error_json(400, 21604, "A 'To' phone number is required.")
        if not body:
            return error_json(400, 21602, "Message body is required.")
        if not from_ and not service:
            return error_json(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
        if not _E164_RE.fullmatch(to):
            return error_json(400, 21211, "The 'To' number is not a valid phone number.")
        with self._lock:
            rejection = self._state.rejections.get(to)
        if rejection:
            return error_json(400, rejection, "Message cannot be sent to this number.")

        message = ReceivedMessage(
            sid="SM" + secrets.token_hex(16), account_sid=account_sid, to=to, from_=from_,
            messaging_service_sid=service, body=body, status_callback=params.get("StatusCallback") or None,
            validity_period=params.get("ValidityPeriod"), params=dict(params),
            received_monotonic=time.monotonic(), received_wall=datetime.now(UTC),
        )
        status = "accepted" if service and not from_ else "queued"
        with self._changed:
            self._state.messages.append(message)
            self._state.statuses[message.sid] = status
            outcome = self._state.outcomes.get(to, Outcome("delivered"))
            self._changed.notify_all()
        threading.Thread(target=self._run_callbacks, args=(message, outcome), daemon=True).start()
        return 201, message_json(message, status)

    def _fetch(self, sid: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            found = [m for m in self._state.messages if m.sid == sid]
            status = self._state.statuses.get(sid, "queued")
            error_code = self._state.error_codes.get(sid)
        if not found:
            return error_json(404, 20404, "The requested resource was not found")
        return 200, message_json(found[0], status, error_code)

    def _run_callbacks(self, message: ReceivedMessage, outcome: Outcome) -> None:
        """The message's statuses as delivery goes on (what a fetch answers), each posted as a status callback when
        the message asked for them and the outcome does not lose them."""
        post = message.status_callback is not None and outcome.final != "none" and outcome.callback
        for status, error_code in status_sequence(outcome) or [("sent", None)]:
            if not self._wait_or_stop(self.callback_delay_s):
                return
            with self._changed:
                self._state.statuses[message.sid] = status
                if error_code is not None:
                    self._state.error_codes[message.sid] = error_code
                self._changed.notify_all()
            if not post:
                continue
            assert message.status_callback
            params = {
                "AccountSid": message.account_sid, "ApiVersion": API_VERSION,
                "From": message.from_ or FAKE_SENDER, "To": message.to,
                "MessageSid": message.sid, "SmsSid": message.sid,
                "MessageStatus": status, "SmsStatus": status,
            }
            if message.messaging_service_sid:
                params["MessagingServiceSid"] = message.messaging_service_sid
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
            try:
                attempt = self.callback_sender(message.status_callback, params, self.auth_token)
            except Exception as exc:  # a broken sender or app under test: record it, the fake keeps going
                attempt = CallbackAttempt(message.status_callback, params, "", None, repr(exc), time.monotonic())
            with self._changed:
                self._state.callbacks.append(attempt)
                self._changed.notify_all()

    def _snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "messages": [{**asdict(m), "received_wall": m.received_wall.isoformat()}
                             for m in self._state.messages],
                "callbacks": [asdict(c) for c in self._state.callbacks],
                "requests_seen": self._state.requests_seen,
                "faults_served": self._state.faults_served,
            }


class _Server(ThreadingHTTPServer):
    """Keeps the connections it serves: stopping the fake closes them, so a client left from an earlier test fails
    instead of being answered by this fake's handler threads, which outlive the listening socket."""

    fake: FakeTwilio

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_open_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.fake._stopping.is_set():  # a connection closed by stop() is no error worth a traceback
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeTwilio/1.0"
    disable_nagle_algorithm = True  # one segment per answer: no 40 ms delayed-ACK stalls on keep-alive
    protocol_version = "HTTP/1.1"  # keep-alive like the real API, so pooled connections are exercised

    @property
    def fake(self) -> FakeTwilio:
        assert isinstance(self.server, _Server)
        return self.server.fake

    def setup(self) -> None:
        super().setup()
        assert isinstance(self.server, _Server)
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            assert isinstance(self.server, _Server)
            with self.server.connections_lock:
                self.server.open_connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - name fixed by the base class
        pass  # quiet: tests read the recorded messages instead

    def do_POST(self) -> None:  # noqa: N802 - name fixed by the base class
        length = int(self.headers.get("Content-Length") or 0)
        params = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
        match = _CREATE_RE.fullmatch(self.path)
        if not match:
            self._reply(*error_json(404, 20404, "The requested resource was not found"))
            return
        if not self._authorized(match.group(1)):
            self._reply(*error_json(401, 20003, "Authentication Error - invalid username"))
            return
        self._answer(self.fake._next_fault(), lambda: self.fake._accept(match.group(1), params))

    def do_GET(self) -> None:  # noqa: N802 - name fixed by the base class
        if self.path == "/_fake/state":
            self._reply(200, self.fake._snapshot())
            return
        match = _FETCH_RE.fullmatch(self.path)
        if not match or not self._authorized(match.group(1)):
            self._reply(*error_json(404, 20404, "The requested resource was not found"))
            return
        # Every kind of fault, as for a create: none is ignored.
        self._answer(self.fake._next_fetch_fault(), lambda: self.fake._fetch(match.group(2)))

    def _answer(self, fault: Fault | None, answer: Callable[[], tuple[int, dict[str, Any]]]) -> None:
        """Reply with `answer()` (a create or a fetch), unless `fault` says to fail, stall or trickle instead."""
        if fault and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault and fault.kind == "page":
            self._reply_page(fault.status)
            return
        if fault and fault.kind == "error":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._reply(*error_json(fault.status, fault.code or fault.status, "Injected fault"), headers=headers)
            return
        if fault and fault.kind == "delay" and not self.fake._wait_or_stop(fault.delay_s):
            return
        if fault and fault.kind == "trickle":
            self._reply_slowly(*answer(), seconds=fault.delay_s)
            return
        self._reply(*answer())

    def _authorized(self, account_sid: str) -> bool:
        token = base64.b64encode(f"{account_sid}:{self.fake.auth_token}".encode()).decode()
        expected = f"Basic {token}"
        return secrets.compare_digest(self.headers.get("Authorization", ""), expected)

    def _reply_page(self, status: int) -> None:
        data = b"<html><body><h1>Access denied</h1>This site is blocked by your network policy.</body></html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply_slowly(self, status: int, payload: Mapping[str, Any], *, seconds: float) -> None:
        """The answer a byte every TRICKLE_PAUSE_S for `seconds`, then the rest (Fault.trickle)."""
        data = json.dumps(payload).encode("utf-8")
        head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode("ascii")
        answer, sent = head + data, 0
        deadline = time.monotonic() + seconds
        try:
            while sent < len(answer) and time.monotonic() < deadline:
                self.wfile.write(answer[sent:sent + 1])
                self.wfile.flush()
                sent += 1
                if not self.fake._wait_or_stop(TRICKLE_PAUSE_S):
                    break
            self.wfile.write(answer[sent:])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its deadline) before we answered

    def _reply(self, status: int, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout) before we answered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--auth-token", default=FAKE_AUTH_TOKEN)
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of create requests that fail")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--callback-delay", type=float, default=0.05, help="seconds before each callback")
    parser.add_argument("--outcome", action="append", default=[], metavar="NUMBER=FINAL[:CODE]",
                        help="e.g. +13075550100=undelivered:30005 or +13075550101=none")
    args = parser.parse_args(argv)

    fake = FakeTwilio(auth_token=args.auth_token, host=args.host, port=args.port, fail_rate=args.fail_rate,
                      seed=args.seed, callback_delay_s=args.callback_delay)
    for spec in args.outcome:
        number, _, rest = spec.partition("=")
        final, _, code = rest.partition(":")
        if final not in ("delivered", "undelivered", "failed", "none"):
            parser.error(f"--outcome {spec}: FINAL must be delivered, undelivered, failed or none")
        fake.set_outcome(number, final, int(code) if code else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with fake:
        print(f"FAKE_TWILIO_URL={fake.url}", flush=True)
        stop.wait()
    summary = {"messages": len(fake.messages), "requests_seen": fake.requests_seen,
               "faults_served": fake.faults_served, "callbacks": len(fake.callbacks)}
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
