"""Sending SMS through Twilio's REST API with the official `twilio` client."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from notifications.errors import (
    PermanentSendError,
    TransientSendError,
    classify_twilio_error,
    describe_twilio_error,
    parse_retry_after,
)
from notifications.transport import DeliveryReport, SendResult

log = logging.getLogger(__name__)

TWILIO_API_BASE_URL = "https://api.twilio.com"
MAX_VALIDITY_PERIOD_S = 36000  # Twilio's upper bound (and its default)
MAX_HANGING_REQUESTS = 4  # requests past their deadline still open before sends fail at once (see _call)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class RetryAfterHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that keeps the Retry-After header of its last answer: the client's TwilioRestException
    carries the status, code and message of a refusal, not its headers, and a 429 or 503 says there how long to
    wait. One client serves one request at a time (TwilioTransport._call), so "last" is the request's own answer."""

    retry_after: str | None = None

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self.retry_after = None
        response = super().request(*args, **kwargs)
        headers = response.headers or {}
        self.retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        return response


class RebasedHttpClient(RetryAfterHttpClient):
    """A TwilioHttpClient that sends every request to `base_url` instead of *.twilio.com.

    The twilio client builds absolute URLs deep inside (each Domain has its own host, and TWILIO_EDGE or
    TWILIO_REGION in the environment rewrite the host name again), so rewriting here, at the last step before
    `requests`, is the one place that catches them all: a test can never reach the real Twilio by accident.
    """

    def __init__(self, base_url: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("api_base_url must be an absolute http(s) URL")
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._path_prefix = parts.path.rstrip("/")
        if parts.hostname in _LOOPBACK_HOSTS and self.session is not None:
            # HTTP(S)_PROXY from the environment must not swallow requests meant for a local fake.
            self.session.trust_env = False

    def rebase(self, url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit((self._scheme, self._netloc, self._path_prefix + parts.path, parts.query, ""))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.rebase(url), *args, **kwargs)


class TwilioTransport:
    """An SmsTransport over Twilio, and a DeliveryLookup (a message's delivery status, asked for).

    Sender: `from_number`, a Messaging Service, or both (From must then belong to the service).

    Give each worker thread its own instance: the underlying requests.Session pools connections and usually
    copes with threads, but requests does not promise it is thread-safe. Separate processes need nothing.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str = TWILIO_API_BASE_URL,
        timeout_s: float = 10,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("account_sid and auth_token are required")
        if not from_number and not messaging_service_sid:
            raise ValueError("from_number or messaging_service_sid is required")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.api_base_url = api_base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._credentials = (account_sid, auth_token)
        self._client = self._new_client()
        self._hanging: list[threading.Thread] = []  # requests given up at their deadline that have not ended yet
        self.last_retry_after: str | None = None  # the Retry-After header of the last send's refusal

    def _new_client(self) -> Client:
        http_client: RetryAfterHttpClient
        if self.api_base_url == TWILIO_API_BASE_URL:
            http_client = RetryAfterHttpClient(timeout=self.timeout_s)
        else:
            http_client = RebasedHttpClient(self.api_base_url, timeout=self.timeout_s)
        return Client(*self._credentials, http_client=http_client)

    def _call(self, request: Callable[[Client], Any]) -> Any:
        """`request` made with the client (`messages.create`, a message's fetch), given up after twice `timeout_s` in
        all: a connect and a read may each take the timeout, as an ordinary slow answer did before, and the claim's
        lease is longer than that (app/config.py).

        requests' timeout bounds each read, not the answer: a connection that gives a byte now and then (a congested
        proxy, a half-broken link) would hold the send, and the worker with it, for as long as it goes on. The
        request runs in a thread of its own; one that outlives its deadline is left to end by itself (its answer
        unread, as with any timeout; its connection closed when it ends) and the next send gets a new client, so no
        session is shared with it.
        """
        self._hanging = [thread for thread in self._hanging if thread.is_alive()]
        if len(self._hanging) >= MAX_HANGING_REQUESTS:  # bounded: a link that never lets go costs no more threads
            raise requests.Timeout("earlier requests to Twilio are still hanging")
        self.last_retry_after = None
        client = self._client
        outcome: dict[str, Any] = {}
        abandoned = threading.Event()

        def call() -> None:
            try:
                outcome["message"] = request(client)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller as it is
                outcome["error"] = exc
                outcome["retry_after"] = getattr(client.http_client, "retry_after", None)
            finally:
                if abandoned.is_set():  # nobody uses this client again: let its pooled connection go
                    session = getattr(client.http_client, "session", None)
                    if session is not None:
                        session.close()

        thread = threading.Thread(target=call, name="twilio-request", daemon=True)
        thread.start()
        thread.join(2 * self.timeout_s)
        if thread.is_alive():
            abandoned.set()
            self._hanging.append(thread)
            self._client = self._new_client()
            raise requests.Timeout("the answer did not arrive in time")
        self.last_retry_after = outcome.get("retry_after")  # the refusal's Retry-After header, read by send()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["message"]

    def send(
        self,
        to: str,
        body: str,
        *,
        status_callback: str | None,
        validity_period_s: int | None = None,
    ) -> SendResult:
        params: dict[str, Any] = {"to": to, "body": body}
        if self.from_number:
            params["from_"] = self.from_number
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if status_callback:
            params["status_callback"] = status_callback
        if validity_period_s is not None:
            if not 1 <= validity_period_s <= MAX_VALIDITY_PERIOD_S:
                raise ValueError(f"validity_period_s must be 1..{MAX_VALIDITY_PERIOD_S}")
            params["validity_period"] = validity_period_s

        # A timeout or a dropped connection leaves it unknown whether Twilio took the message; we report it as
        # transient, so a retry may send it twice. For an alert a duplicate is better than silence.
        message = self._request(lambda client: client.messages.create(**params))
        if not message.sid:
            raise TransientSendError("Twilio answered without a message SID")
        log.info("sms accepted by Twilio sid=%s status=%s", message.sid, message.status)
        return SendResult(sid=message.sid, status=str(message.status or "queued"))

    def fetch_status(self, sid: str) -> DeliveryReport:
        """The message's status at Twilio now (`messages(sid).fetch()`), with its error code when it was not
        delivered: what its status callback says, for one that never came."""
        message = self._request(lambda client: client.messages(sid).fetch())
        if not message.status:
            raise TransientSendError("Twilio answered without a message status")
        code = message.error_code
        return DeliveryReport(status=str(message.status), error_code=None if code in (None, "", 0) else str(code))

    def _request(self, request: Callable[[Client], Any]) -> Any:
        """`_call`, its failures as TransientSendError or PermanentSendError. Their messages name the failure, never
        the number or the body: they end up in logs and the alert table."""
        try:
            return self._call(request)
        except (TwilioRestException, TwilioServiceException) as exc:
            retry_after_s = parse_retry_after(self.last_retry_after)
            raise _from_twilio_error(exc.status, _twilio_code(exc.code), retry_after_s) from exc
        except TwilioException as exc:
            # Raised by the client itself (no HTTP answer involved), e.g. missing credentials: configuration.
            raise PermanentSendError(f"twilio client error: {type(exc).__name__}") from exc
        except requests.Timeout as exc:
            raise TransientSendError(f"no answer from Twilio within {self.timeout_s}s") from exc
        except requests.ConnectionError as exc:
            raise TransientSendError("could not connect to Twilio (connection refused or dropped)") from exc
        except requests.RequestException as exc:
            raise TransientSendError(f"HTTP failure talking to Twilio: {type(exc).__name__}") from exc
        except json.JSONDecodeError as exc:
            # A 2xx that is not JSON comes from something in between (a proxy page), not from Twilio.
            raise TransientSendError("unreadable answer from Twilio") from exc


def _from_twilio_error(status: int | None, code: int | None,
                      retry_after_s: float | None = None) -> TransientSendError | PermanentSendError:
    text = f"Twilio refused the SMS: HTTP {status}, code {code} ({describe_twilio_error(code)})"
    if classify_twilio_error(status, code) == "transient":
        return TransientSendError(text, code=code, status=status, retry_after_s=retry_after_s)
    return PermanentSendError(text, code=code, status=status)


def _twilio_code(value: object) -> int | None:
    # Without an error code in the body, the client puts the HTTP status in `code`; that is not a Twilio code
    # (those have five digits), so it is dropped and the HTTP status alone decides.
    try:
        code = int(str(value))
    except ValueError:
        return None
    return code if code >= 10000 else None
