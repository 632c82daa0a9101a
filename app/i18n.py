"""Language of a page: the reporter's explicit choice, else the browser's preference, else English."""

from __future__ import annotations

from flask import current_app, request, session


def select_locale() -> str | None:
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in languages:
        return str(chosen)
    return request.accept_languages.best_match(languages) or "en"
