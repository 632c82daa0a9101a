"""Filling in forms like a browser: the CSRF token of a page, whatever the order of its input's attributes."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _CsrfFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.token: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self.token is None and tag == "input" and values.get("name") == "csrf_token" and values.get("value"):
            self.token = values["value"]


def csrf_token_in(page: str) -> str | None:
    """The value of the first <input name="csrf_token"> of the page (entities decoded), or None."""
    finder = _CsrfFinder()
    finder.feed(page)
    finder.close()
    return finder.token


def csrf_token(client: Any, path: str) -> str:
    """GET `path` with this client (its session) and return the page's CSRF token."""
    page = client.get(path).get_data(as_text=True)
    token = csrf_token_in(page)
    assert token, f"no CSRF token on {path}"
    return token
