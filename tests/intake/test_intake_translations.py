"""Every string of the reporter's pages is in Spanish: a string marked with _() and left out of the catalog
would show in English on a Spanish page."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo

APP = Path(__file__).resolve().parents[2] / "app"
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]


def test_every_marked_string_has_a_spanish_translation_in_the_compiled_catalog():
    with (APP / "translations" / "es" / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        catalog = read_mo(handle)
    missing = []
    for filename, _line, message, _comments, _context in extract_from_dir(str(APP), METHODS):
        msgid = message if isinstance(message, str) else message[0]
        entry = catalog.get(msgid)
        if not msgid or entry is None or not entry.string:
            missing.append(f"{filename}: {msgid}")
    assert not missing, "untranslated:\n" + "\n".join(sorted(set(missing)))
