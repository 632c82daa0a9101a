"""Status callbacks of the fake Twilio: which statuses a message goes through, and posting them signed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from twilio.request_validator import RequestValidator


@dataclass(frozen=True)
class Outcome:
    """How delivery to a number ends. `error_code` defaults to 30005 (undelivered) / 30008 (failed). `callback`:
    False, the message ends so at Twilio (what a lookup of it answers) but no status callback is posted, as when
    every one was lost while the site was down."""

    final: Literal["delivered", "undelivered", "failed", "none"]
    error_code: int | None = None
    callback: bool = True


@dataclass(frozen=True)
class CallbackAttempt:
    """One status callback the fake tried to deliver. A failure is recorded here, never raised."""

    url: str
    params: dict[str, str]
    signature: str
    status_code: int | None
    error: str | None
    sent_monotonic: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# (url, params, auth_token) -> attempt. Replace it to route callbacks into a Flask test client.
CallbackSender = Callable[[str, dict[str, str], str], CallbackAttempt]


def status_sequence(outcome: Outcome) -> list[tuple[str, int | None]]:
    """The MessageStatus values Twilio reports, in order, with the ErrorCode of the final one."""
    if outcome.final == "delivered":
        return [("sent", None), ("delivered", None)]
    if outcome.final == "undelivered":
        return [("sent", None), ("undelivered", outcome.error_code or 30005)]
    if outcome.final == "failed":
        return [("failed", outcome.error_code or 30008)]
    return []


def sign(url: str, params: dict[str, str], auth_token: str) -> str:
    # Twilio's scheme: HMAC-SHA1 of the URL + sorted POST parameters, keyed with the auth token.
    return str(RequestValidator(auth_token).compute_signature(url, params))


def post_callback(url: str, params: dict[str, str], auth_token: str) -> CallbackAttempt:
    """POST a signed status callback over HTTP, as Twilio does."""
    signature = sign(url, params, auth_token)
    started = time.monotonic()
    try:
        with requests.Session() as session:
            session.trust_env = False  # proxies from the environment have no business on a local callback
            response = session.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=5)
    except requests.RequestException as exc:
        return CallbackAttempt(url, params, signature, None, type(exc).__name__, started)
    return CallbackAttempt(url, params, signature, response.status_code, None, started)


def via_test_client(client: Any) -> CallbackSender:
    """A CallbackSender that delivers through a Flask/werkzeug test client instead of HTTP.

    Pass it as FakeTwilio(callback_sender=via_test_client(app.test_client())) when the app under test is not
    listening on a port. The signature covers the full StatusCallback URL; the request reaches the app with
    that URL's scheme and host, so the app rebuilds the same URL when it validates.
    """

    def send(url: str, params: dict[str, str], auth_token: str) -> CallbackAttempt:
        signature = sign(url, params, auth_token)
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        started = time.monotonic()
        response = client.post(path, data=params, headers={"X-Twilio-Signature": signature},
                               base_url=f"{parts.scheme}://{parts.netloc}")
        return CallbackAttempt(url, params, signature, response.status_code, None, started)

    return send
