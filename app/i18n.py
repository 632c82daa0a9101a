"""Language of a page: the reporter's explicit choice, else the browser's preference, else English."""

from __future__ import annotations

import re

from flask import current_app, request, session


def select_locale() -> str | None:
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in languages:
        return str(chosen)
    return browser_language(languages)


def browser_language(languages: tuple[str, ...]) -> str:
    """The first of the browser's languages, by preference, that we have, whatever its region.

    werkzeug's best_match prefers an exact tag at any quality to a regional one: "es-US,en;q=0.5" (a phone in
    Español (Estados Unidos), English second) gave English.
    """
    for tag, quality in request.accept_languages:  # highest quality first, the browser's order for equal ones
        primary = re.split(r"[-_]", tag, maxsplit=1)[0].lower()
        if quality > 0 and primary in languages:
            return primary
    return "en"
