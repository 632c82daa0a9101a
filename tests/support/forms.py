"""Filling in forms like a browser: the CSRF token of a page, whatever the order of its input's attributes."""

from __future__ import annotations

import re
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


class _LabelReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.controls: dict[str, tuple[str, str | None]] = {}  # id -> (tag, action of its form)
        self.labels: list[tuple[str, str]] = []  # (text, for)
        self._action: str | None = None
        self._label: list[str] | None = None
        self._for = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.append(str(values["id"]))
            self.controls.setdefault(str(values["id"]), (tag, self._action))
        if tag == "form":
            self._action = values.get("action")
        elif tag == "label":
            self._label, self._for = [], str(values.get("for") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._action = None
        elif tag == "label" and self._label is not None:
            self.labels.append(("".join(self._label).strip(), self._for))
            self._label = None

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label.append(data)


def labelled_controls(page: str) -> tuple[list[str], dict[str, tuple[str, str | None]]]:
    """Every id of the page in order (a repeated one is a defect), and for each label's text the tag of the
    element its for= names and the action of that element's form, as a browser or screen reader pairs them."""
    reader = _LabelReader()
    reader.feed(page)
    reader.close()
    return reader.ids, {text: reader.controls.get(target, ("", None)) for text, target in reader.labels}


def without_csrf_tokens(page: str) -> str:
    """The page with its forms' CSRF tokens blanked: two pages compared word for word differ in them alone when they
    were signed in different seconds."""
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]*', r"\1", page)
