"""Forms behind the production proxy, over HTTPS, as a browser sends them under our own Referrer-Policy.

Every page says `Referrer-Policy: no-referrer` (app/security.py), so a browser sends no Referer with a form, not
even to the same site. Flask-WTF's "SSL strict" check refused every such POST over HTTPS with "The referrer header
is missing": in production no tip could be sent, no receipt code entered, no staff member sign in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.conftest import PRODUCTION_TWILIO
from tests.support.forms import csrf_token

# As nginx passes a request on (deploy/nginx-tipline.conf): the browser spoke HTTPS to it.
BEHIND_NGINX = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "203.0.113.9",
                "HTTP_X_FORWARDED_HOST": "tips.example.org"}


@pytest.fixture
def production(make_app: Callable[..., Flask]) -> Any:
    app = make_app(TIPLINE_ENV="production", PUBLIC_BASE_URL="https://tips.example.org", TRUSTED_PROXY_HOPS=1,
                   ALERT_IN_PROCESS_DISPATCHER=False, **PRODUCTION_TWILIO)
    client = app.test_client()
    client.environ_base.update(BEHIND_NGINX)
    return client


def test_a_receipt_code_can_be_entered_over_https_without_a_referer(production: Any) -> None:
    token = csrf_token(production, "/followup")
    response = production.post("/followup", data={"csrf_token": token, "code": "AAAA-BBBB-CCCC-DDDD-EEEE"})
    assert response.status_code == 200
    assert "This form has expired" not in response.get_data(as_text=True)
    assert "We could not open a report with this code" in response.get_data(as_text=True)


def test_the_sign_in_form_works_over_https_without_a_referer(production: Any) -> None:
    token = csrf_token(production, "/console/sign-in")
    response = production.post("/console/sign-in", data={"csrf_token": token, "email": "nobody@district.example",
                                                          "password": "not the password"})
    assert response.status_code == 200
    assert "do not match an active account" in response.get_data(as_text=True)


def test_a_form_without_its_token_is_still_refused_over_https(production: Any) -> None:
    production.get("/followup")
    response = production.post("/followup", data={"code": "AAAA-BBBB-CCCC-DDDD-EEEE"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
