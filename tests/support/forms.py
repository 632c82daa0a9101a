"""Filling in forms like a browser: the CSRF token of a page, whatever the order of its input's attributes."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _InputFinder(HTMLParser):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self.value is None and tag == "input" and values.get("name") == self.name and values.get("value"):
            self.value = values["value"]


def input_value(page: str, name: str) -> str | None:
    """The value of the first <input name=...> of the page with a value (entities decoded), or None: what a
    browser sends for a hidden field."""
    finder = _InputFinder(name)
    finder.feed(page)
    finder.close()
    return finder.value


def csrf_token_in(page: str) -> str | None:
    """The value of the first <input name="csrf_token"> of the page (entities decoded), or None."""
    return input_value(page, "csrf_token")


def csrf_token(client: Any, path: str) -> str:
    """GET `path` with this client (its session) and return the page's CSRF token."""
    page = client.get(path).get_data(as_text=True)
    token = csrf_token_in(page)
    assert token, f"no CSRF token on {path}"
    return token
