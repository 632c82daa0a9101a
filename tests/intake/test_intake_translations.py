"""Every string of the reporter's pages is in Spanish: a string marked with _() and left out of the catalog
would show in English on a Spanish page."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo

from tests.support.forms import csrf_token

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
    assert '<p class="who">Personal de la escuela' in page
    assert "cualquier otra información oculta" in page and "toda otra" not in page
