"""The case page says which language the reporter used the report form in, so staff answer in it. It is kept sealed
under the tip's key like the text (which shows the language anyway to whoever can open it), so a database dump
or backup does not tell which tips came from, say, the few Spanish-speaking families of a small school."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import inspect, select

from app.crypto.service import open_for_tip
from app.extensions import db
from app.models import Tip, utcnow
from app.retention import db_shred_tips
from tests.console.helpers import World
from tests.intake.helpers import submit_ok
from tests.support.tips import make_tip, tip_by_ref

TEXT = "a student said he will bring a knife to the game friday"


def _language_shown(page: str) -> str:
    found = re.search(r"<dt>Reporter's language</dt><dd>([^<]*)</dd>", page.replace("&#39;", "'"))
    assert found, page[:3000]
    return found.group(1).strip()


def test_the_case_says_the_reporter_wrote_in_spanish(world: World, signed_in) -> None:
    reporter = world.app.test_client()
    reporter.get("/report?lang=es")  # the language link of the reporter's pages
    ref, _code = submit_ok(reporter, world.school_a, "un estudiante dijo que traerá un cuchillo al partido el viernes")
    page = signed_in("sro_a").get(f"/console/tips/{ref}").get_data(as_text=True)
    assert _language_shown(page).startswith("Spanish")


def test_a_phone_set_to_spanish_is_spanish_without_choosing(world: World, signed_in) -> None:
    reporter = world.app.test_client()
    reporter.environ_base["HTTP_ACCEPT_LANGUAGE"] = "es-US,es;q=0.9,en;q=0.5"
    ref, _code = submit_ok(reporter, world.school_a, TEXT)
    assert _language_shown(signed_in("admin").get(f"/console/tips/{ref}").get_data(as_text=True)) \
        .startswith("Spanish")


def test_an_english_report_says_english(world: World, signed_in) -> None:
    ref, _code = submit_ok(world.app.test_client(), world.school_a, TEXT)
    assert _language_shown(signed_in("counselor_a").get(f"/console/tips/{ref}").get_data(as_text=True)) \
        .startswith("English")


def test_a_tip_from_before_says_the_language_was_not_recorded(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    assert _language_shown(signed_in("admin").get(f"/console/tips/{ref}").get_data(as_text=True)) == \
        "not recorded (reported before Tipline kept it)"


def test_the_language_is_sealed_under_the_tips_key_and_shredded_with_it(world: World) -> None:
    reporter = world.app.test_client()
    reporter.get("/report?lang=es")
    ref, _code = submit_ok(reporter, world.school_a, TEXT)
    with world.app.app_context():
        tip = tip_by_ref(ref)
        assert tip.language_ct is not None and len(tip.language_ct) > len(b"es") + 16  # a nonce and a tag: sealed
        assert open_for_tip(tip, "language", tip.language_ct) == b"es"
        plain = {c.key: getattr(tip, c.key) for c in inspect(Tip).column_attrs}
        assert "es" not in {v for k, v in plain.items() if isinstance(v, str) and k != "ref"}
        tip.status, tip.closed_at = "closed", utcnow() - timedelta(days=400)
        db_shred_tips([tip], utcnow())
        db.session.commit()
        assert db.session.scalar(select(Tip.language_ct).where(Tip.ref == ref)) is None


def test_staff_of_another_school_learn_nothing_of_it(world: World, signed_in) -> None:
    reporter = world.app.test_client()
    reporter.get("/report?lang=es")
    ref, _code = submit_ok(reporter, world.school_a, TEXT)
    response = signed_in("counselor_b").get(f"/console/tips/{ref}")
    assert response.status_code == 404 and "Spanish" not in response.get_data(as_text=True)
