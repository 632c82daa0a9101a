"""The reporter's pages as an attacker, or the next person on a shared phone or school computer, meets them."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

PUBLIC = "https://tips.example-district.org/"


def as_a_browser_resolves(href: str) -> str:
    """The host a browser goes to for `href` on one of our pages: it drops tabs and line breaks from a URL and
    reads a backslash as a slash (WHATWG URL parsing), which Python's urljoin does not."""
    cleaned = re.sub(r"[\t\n\r]", "", href).replace("\\", "/")
    return urlsplit(urljoin(PUBLIC, cleaned)).netloc


@pytest.mark.parametrize("path", ["/%5Cevil.example/tipline", "/%09/evil.example/tipline",
                                  "/%5C%5Cevil.example", "/%0A/evil.example"])
def test_the_language_link_of_a_page_not_found_stays_on_this_site(intake_app, path):
    """A link to a mistyped-looking address on the genuine site must not make its "Español" link lead to another
    host (a phishing copy of the form, in the reporter's language)."""
    response = intake_app.test_client().get(path)
    assert response.status_code == 404
    links = re.findall(r'<a href="([^"]*)" hreflang="es"', response.get_data(as_text=True))
    assert links, response.get_data(as_text=True)[:1500]
    for href in links:
        assert as_a_browser_resolves(href) == urlsplit(PUBLIC).netloc, href
