import pytest

from app import create_app
from tests.conftest import PRODUCTION_TWILIO


@pytest.mark.parametrize("path", ["/", "/no-such-page", "/console/login"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no third-party host, not even one
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # development and tests speak plain HTTP


def test_hsts_in_production(tmp_path):
    app = create_app({
        "TIPLINE_ENV": "production", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48,
        "RECEIPT_HMAC_KEY": "b" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PUBLIC_BASE_URL": "https://tips.example.org", "TRUSTED_PROXY_HOPS": 1, **PRODUCTION_TWILIO,
    })
    response = app.test_client().get("/", base_url="https://tips.example.org")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("page", ["/", "/console/sign-in"])
def test_pages_name_a_local_icon_and_favicon_ico_is_not_a_404_page(client, page):
    # Browsers fetch an icon for the first page of every visit; it used to be a 404 page each time.
    html = client.get(page).get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.ico"' in html
    icon = client.get("/static/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert icon.headers.get("Cache-Control") != "no-store"  # a static file, cached like the style sheet
    icon.close()
    legacy = client.get("/favicon.ico")
    assert legacy.status_code == 301 and legacy.headers["Location"].endswith("/static/favicon.ico")
