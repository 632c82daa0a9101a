"""Twilio webhook signatures (X-Twilio-Signature), for the app's inbound-SMS and status-callback endpoints.

Twilio signs each webhook with HMAC-SHA1 over the full URL it requested plus the POST parameters, keyed with
the account's auth token. The URL must be the one Twilio used (scheme, host and query string as seen from
outside), so behind a proxy the app must rebuild it from the forwarded headers it trusts.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


def compute_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The signature Twilio would send for a POST of `params` to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def is_valid_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, str],
    signature: str | None,
    *,
    previous_auth_token: str | None = None,
) -> bool:
    """True if `signature` (the X-Twilio-Signature header) matches. Compared in constant time by twilio.

    `params` may be a plain dict or a werkzeug MultiDict (request.form): repeated keys are all signed.

    `previous_auth_token`: during an auth-token rotation Twilio may still sign with the old token for a while.
    """
    if not signature or not auth_token:
        return False
    tokens = [auth_token] + ([previous_auth_token] if previous_auth_token else [])
    return any(bool(RequestValidator(token).validate(url, params, signature)) for token in tokens)
