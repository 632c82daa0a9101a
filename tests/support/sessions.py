"""Reading Flask's session cookie as anyone holding it can: it is signed, not encrypted."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient


def session_of(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """What the client's session cookie holds, decoded."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None, "no session cookie"
    return decoded_session(app, cookie.value)


def decoded_session(app: Flask, cookie_value: str) -> dict[str, Any]:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None
    data: dict[str, Any] = serializer.loads(cookie_value)
    return data
