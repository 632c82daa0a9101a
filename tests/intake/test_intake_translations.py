"""Every string of the reporter's pages is in Spanish: a string marked with _() and left out of the catalog
would show in English on a Spanish page."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.support.forms import csrf_token

APP = Path(__file__).resolve().parents[2] / "app"
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]


CATALOG = APP / "translations" / "es" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\((\w+)\)")


def _forms(string: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (string,) if isinstance(string, str) else tuple(string)


def translation_faults(catalog: Catalog) -> list[str]:
    """Entries a Spanish page would get wrong: a form left empty (a plural's "%(num)d fotos" as much as a plain
    string; an empty tuple of forms is truthy), or placeholders other than the English ones (a misspelt one is a
    KeyError, an error page instead of the page; one left out drops the number)."""
    faults = []
    for message in catalog:
        if not message.id:
            continue
        english = _forms(message.id)
        wanted = {name for form in english for name in PLACEHOLDER.findall(form)}
        for form in _forms(message.string):
            if not form:
                faults.append(f"untranslated: {english[0]}")
            elif set(PLACEHOLDER.findall(form)) != wanted:
                faults.append(f"placeholders {sorted(PLACEHOLDER.findall(form))} instead of {sorted(wanted)}: {form}")
    return faults


def test_every_marked_string_has_a_spanish_translation_in_the_compiled_catalog():
    with (CATALOG / "messages.mo").open("rb") as handle:
        catalog = read_mo(handle)
    missing = []
    for filename, _line, message, _comments, _context in extract_from_dir(str(APP), METHODS):
        msgid = message if isinstance(message, str) else message[0]
        entry = catalog.get(msgid)
        if not msgid or entry is None or not all(_forms(entry.string)):
            missing.append(f"{filename}: {msgid}")
    assert not missing, "untranslated:\n" + "\n".join(sorted(set(missing)))
    assert not translation_faults(catalog)


def test_the_committed_template_holds_every_marked_string():
    """`pybabel update` (README, Translations) works from messages.pot: a string marked in the code but missing from
    a stale template is made obsolete in the .po by it, and the Spanish page falls back to English."""
    with (APP / "translations" / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    missing = set()
    for _filename, _line, message, _comments, _context in extract_from_dir(str(APP), METHODS):
        msgid = message if isinstance(message, str) else message[0]
        if msgid and template.get(msgid) is None:
            missing.add(msgid)
    assert not missing, "not in messages.pot (run the README's pybabel extract):\n" + "\n".join(sorted(missing))


def test_a_catalog_fault_is_found():
    broken = Catalog(locale="es")
    broken.add(("%(num)d photo", "%(num)d photos"), ("", ""))
    broken.add("Please shorten the text to %(n)s characters.", "Acorta el texto a %(m)s caracteres.")
    broken.add("You can add up to %(n)d photos.", "Puedes agregar hasta 3 fotos.")
    assert len(translation_faults(broken)) == 4


def test_the_committed_compiled_catalog_is_the_po_file_compiled():
    """The .mo is what the pages use and it is committed, not built by make: a translation corrected in the .po and
    not compiled (`pybabel compile`) never reached a reporter, and the test above, which reads the .mo, passed."""
    with (CATALOG / "messages.po").open("rb") as handle:
        source = {_forms(m.id): _forms(m.string) for m in read_po(handle) if m.id and not m.fuzzy}
    with (CATALOG / "messages.mo").open("rb") as handle:
        compiled = {_forms(m.id): _forms(m.string) for m in read_mo(handle) if m.id}
    assert compiled == source


def test_spanish_pages_read_naturally_to_any_reporter(intake_app, schools):
    """Spanish a teen or parent in Wyoming reads without stumbling: the "not sure" answer fits a girl as well as a
    boy ("No estoy seguro" does not), the home page promises safety rather than certainty ("con seguridad" reads
    "surely"), and a staff question is signed by the school's people, not by the adjective "Personal"."""
    from sqlalchemy import select

    from app.crypto.service import seal_for_tip
    from app.extensions import db
    from app.models import Message, Tip
    from tests.intake.helpers import open_followup, submit_ok

    client = intake_app.test_client()
    spanish = {"Accept-Language": "es"}
    home = client.get("/", headers=spanish).get_data(as_text=True)
    assert "Cuéntaselo a alguien de forma segura" in home and "con seguridad" not in home
    form = client.get("/report", headers=spanish).get_data(as_text=True)
    assert '<label for="happening_now-unsure">No sé</label>' in form and "seguro" not in form
    bad_answer = client.post("/report?lang=es", data={"happening_now": "maybe",
                                                      "csrf_token": csrf_token(client, "/report")})
    assert "Elige sí, no o no sé" in bad_answer.get_data(as_text=True)
    ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    assert "Gracias por avisarnos" in client.get("/done").get_data(as_text=True)
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        question = Message(tip_id=tip.id, from_reporter=False)
        db.session.add(question)
        db.session.flush()
        question.body_ct = seal_for_tip(tip, f"message:{question.id}", b"Which bathroom?")
        db.session.commit()
    page = open_followup(client, code).get_data(as_text=True)
    assert '<p class="who"><strong class="new">Nuevo</strong> Personal de la escuela' in page  # a new question
    assert "cualquier otra información oculta" in page and "toda otra" not in page
