"""A stand-in for the app's Twilio webhook endpoints, for tests of the fake and of the signature helper."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from notifications.signatures import SIGNATURE_HEADER, is_valid_signature


@dataclass(frozen=True)
class Received:
    url: str
    params: dict[str, str]
    signature: str | None
    valid: bool


class WebhookReceiver:
    """A stand-in for the app's webhook endpoints: records each POST, checks its Twilio signature
    with notifications.signatures, answers 204 if valid and 403 if not."""

    def __init__(self, auth_token: str) -> None:
        self.auth_token = auth_token
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                url = f"{receiver.url}{self.path}"
                signature = self.headers.get(SIGNATURE_HEADER)
                valid = is_valid_signature(receiver.auth_token, url, params, signature)
                with receiver._lock:
                    receiver.received.append(Received(url, params, signature, valid))
                self.send_response(204 if valid else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
