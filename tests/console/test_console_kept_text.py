"""What staff typed is never lost: a note, a message to the reporter or a legal hold's reason (or its release's)
that the console refuses comes back to the person who typed it, in the response only, with why and nothing saved.

Paths covered elsewhere: session ended, form expired (test_console_case.py, test_console_legal_hold.py), database
busy (same files), too long (same files). Here: the keyring missing or wrong, a page gone stale, a shredded case,
a case no longer among the person's schools, a role that may no longer hold, a NUL character."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from app.crypto.keyring import new_keyring, write_keyring
from app.crypto.keystore import forget_keyring
from app.extensions import db
from app.models import Assignment, Message, Note, Role, Staff
from app.retention import db_shred_tips
from tests.console.helpers import World, sign_in
from tests.support.forms import csrf_token_in, input_value, without_csrf_tokens
from tests.support.sessions import session_of
from tests.support.tips import make_tip, tip_by_ref

NOTE = "Spoke with <Ms. Ray> & the VP: locker 214 searched, nothing found"
MESSAGE = "Which door did he use? You can answer here at any time."
REASON = "Casper PD case 26-01234, subpoena from the district attorney"
RELEASE = "Case dismissed by the court on 2027-02-01"
# Each text form: its address under the case, and what the page calls the text.
FORMS = {"notes": ("note", NOTE), "messages": ("message to the reporter", MESSAGE),
         "hold": ("reason for the legal hold", REASON),
         "hold/release": ("reason for releasing the legal hold", RELEASE)}


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _count(world: World, model: type, ref: str) -> int:
    with world.app.app_context():
        tip = tip_by_ref(ref)
        return int(db.session.scalar(select(func.count()).select_from(model).where(model.tip_id == tip.id)) or 0)


def _post(client: Any, ref: str, form: str, page: str, body: str | None = None) -> Any:
    """Send `form` of the case as `page` showed it, with the text typed into its box."""
    data = {"csrf_token": csrf_token_in(page), "body": FORMS[form][1] if body is None else body}
    for hidden in ("hold_was", "note_after", "message_after"):
        if (value := input_value(page, hidden)) is not None:
            data[hidden] = value
    return client.post(f"/console/tips/{ref}/{form}", data=data)


def _held(world: World, ref: str, by: str = "sro_a") -> None:
    from app.legal_hold import db_set_legal_hold

    with world.app.app_context():
        db_set_legal_hold(tip_by_ref(ref), db.session.get(Staff, world.people[by]), "An earlier subpoena", None)
        db.session.commit()


def _nothing_saved(world: World, ref: str) -> None:
    assert _count(world, Note, ref) == 0 and _count(world, Message, ref) == 0
    with world.app.app_context():
        assert not tip_by_ref(ref).on_legal_hold


def _kept_to_copy(page: str, text: str) -> bool:
    """The text in the read-only box that gives it back to copy (console/_kept.html)."""
    return f'<textarea id="kept" rows="6" readonly>{_escaped(text)}</textarea>' in page


def _no_log_holds(caplog: pytest.LogCaptureFixture, text: str) -> None:
    logged = " ".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert text[:20] not in logged and _escaped(text)[:20] not in logged


@pytest.mark.parametrize("keyring", ["missing", "wrong"])
@pytest.mark.parametrize("form", ["notes", "messages", "hold"])
def test_text_refused_for_the_keyring_comes_back_to_save_again(world: World, signed_in, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture, form: str,
                                                               keyring: str) -> None:
    """Nothing can be sealed without the right keyring: the note, the message or the hold's reason went to the case
    page with "The keyring is not available" and the text was gone. Now the 503 of a console step that needs the
    keyring, "Nothing was saved", the text in a form to save again once the keyring is back, and an OPERATOR line
    without it."""
    caplog.set_level(logging.DEBUG)
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    page = sro.get(f"/console/tips/{ref}").get_data(as_text=True)
    path = Path(world.app.config["KEYRING_PATH"])
    right = path.read_bytes()
    if keyring == "missing":
        world.app.config["KEYRING_PATH"] = str(tmp_path / "gone.json")
    else:
        write_keyring(path, new_keyring())  # another KEK 1: not the key check's
    forget_keyring(world.app)
    response = _post(sro, ref, form, page)
    kind, typed = FORMS[form]
    shown = response.get_data(as_text=True)
    assert response.status_code == 503 and "Nothing was saved" in shown
    assert f"Your {kind} (not saved)" in shown and f">{_escaped(typed)}</textarea>" in shown
    assert f'action="/console/tips/{ref}/{form}"' in shown
    assert any("needs the keyring" in r.getMessage() for r in caplog.records)
    _no_log_holds(caplog, typed)
    _nothing_saved(world, ref)
    world.app.config["KEYRING_PATH"] = str(path)
    path.write_bytes(right)
    forget_keyring(world.app)
    again = _post(sro, ref, form, shown)  # "Save again", the keyring back
    assert again.status_code == 302
    with world.app.app_context():
        saved = {"notes": _count(world, Note, ref), "messages": _count(world, Message, ref),
                 "hold": int(tip_by_ref(ref).on_legal_hold)}
    assert saved[form] == 1


def test_a_release_refused_for_the_keyring_comes_back_with_the_hold_it_was_for(world: World, signed_in,
                                                                               tmp_path: Path) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    _held(world, ref)
    admin = signed_in("admin")
    page = admin.get(f"/console/tips/{ref}").get_data(as_text=True)
    world.app.config["KEYRING_PATH"] = str(tmp_path / "gone.json")
    forget_keyring(world.app)
    response = _post(admin, ref, "hold/release", page)
    shown = response.get_data(as_text=True)
    assert response.status_code == 503 and f">{RELEASE}</textarea>" in shown
    assert input_value(shown, "hold_was") == input_value(page, "hold_was")  # "Save again" checks the hold still
    with world.app.app_context():
        assert tip_by_ref(ref).on_legal_hold


def test_a_hold_reason_refused_for_a_page_gone_stale_comes_back_to_copy(world: World, signed_in) -> None:
    """Two people open the case; one puts it on hold. The other's reason (a subpoena's details, typed through a call)
    was refused with a redirect and was gone. It comes back to copy beside why, never in the release box."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    admin = signed_in("admin")
    page = admin.get(f"/console/tips/{ref}").get_data(as_text=True)
    _held(world, ref)
    response = _post(admin, ref, "hold", page)
    shown = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "changed while you had it open: nothing was changed" in shown and _kept_to_copy(shown, REASON)
    assert "Your reason for the legal hold (not saved)" in shown
    assert 'id="release-body"' in shown and shown.count(_escaped(REASON)) == 1  # not in the release box
    with world.app.app_context():
        assert tip_by_ref(ref).legal_hold_by_id == world.people["sro_a"]


def test_a_release_refused_for_a_page_gone_stale_comes_back_to_copy(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    _held(world, ref)
    admin, other_admin = signed_in("admin"), signed_in("admin")
    page = admin.get(f"/console/tips/{ref}").get_data(as_text=True)
    _post(other_admin, ref, "hold/release", other_admin.get(f"/console/tips/{ref}").get_data(as_text=True),
          body="Released in another tab")
    response = _post(admin, ref, "hold/release", page)
    shown = response.get_data(as_text=True)
    assert response.status_code == 409 and "nothing was changed" in shown and _kept_to_copy(shown, RELEASE)


@pytest.mark.parametrize("form", ["notes", "messages", "hold"])
def test_text_sent_to_a_case_shredded_since_comes_back_to_copy(world: World, signed_in, form: str) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    page = sro.get(f"/console/tips/{ref}").get_data(as_text=True)
    with world.app.app_context():
        db_shred_tips([tip_by_ref(ref)], tip_by_ref(ref).created_at)
        db.session.commit()
    response = _post(sro, ref, form, page)
    shown = response.get_data(as_text=True)
    assert response.status_code == 409 and "crypto-shredded after retention" in shown
    assert _kept_to_copy(shown, FORMS[form][1]) and f"Your {FORMS[form][0]} (not saved)" in shown
    _nothing_saved(world, ref)


@pytest.mark.parametrize("form", ["notes", "messages", "hold"])
def test_text_sent_to_a_case_of_a_school_taken_away_comes_back_to_copy(world: World, signed_in, form: str) -> None:
    """The SRO was taken off the school while typing: the case is a 404 now, as one that does not exist, and
    the text was lost with it. The 404 page (the same for a case that never existed) gives it back."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    page = sro.get(f"/console/tips/{ref}").get_data(as_text=True)
    with world.app.app_context():
        db.session.execute(delete(Assignment).where(Assignment.staff_id == world.people["sro_a"]))
        db.session.commit()
    response = _post(sro, ref, form, page)
    shown = response.get_data(as_text=True)
    assert response.status_code == 404 and "Nothing was saved" in shown and _kept_to_copy(shown, FORMS[form][1])
    unknown = _post(sro, "ZZZZZZ", form, page)  # word for word the same for a case that does not exist
    assert unknown.status_code == 404  # (its forms' CSRF tokens differ when signed a second apart)
    assert without_csrf_tokens(unknown.get_data(as_text=True)) == without_csrf_tokens(shown.replace(ref, "ZZZZZZ"))
    _nothing_saved(world, ref)


def test_a_hold_reason_from_someone_who_may_no_longer_hold_comes_back_to_copy(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    page = sro.get(f"/console/tips/{ref}").get_data(as_text=True)
    with world.app.app_context():
        person = db.session.get(Staff, world.people["sro_a"])
        assert person is not None
        person.role = Role.COUNSELOR
        db.session.commit()
    response = _post(sro, ref, "hold", page)
    shown = response.get_data(as_text=True)
    assert response.status_code == 403 and "Nothing was saved" in shown and _kept_to_copy(shown, REASON)
    _nothing_saved(world, ref)


def test_a_note_holding_a_nul_character_comes_back_without_it(world: World, signed_in) -> None:
    """A note pasted with a NUL character in it (from a PDF) is refused, as every field with one is; the note came
    back nowhere. It comes back to copy, the NUL taken out, so that sending it again works."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    page = sro.get(f"/console/tips/{ref}").get_data(as_text=True)
    response = _post(sro, ref, "notes", page, body="Locker 214\x00 searched")
    shown = response.get_data(as_text=True)
    assert response.status_code == 400 and "NUL character" in shown and _kept_to_copy(shown, "Locker 214 searched")
    _nothing_saved(world, ref)


def test_a_refused_text_goes_into_no_cookie_and_no_address(world: World, signed_in, tmp_path: Path) -> None:
    """The text goes back in the response's body only: not in a flash (they travel in the readable session cookie),
    not in a redirect's address."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    admin = signed_in("admin")
    page = admin.get(f"/console/tips/{ref}").get_data(as_text=True)
    _held(world, ref)
    stale = _post(admin, ref, "hold", page)
    world.app.config["KEYRING_PATH"] = str(tmp_path / "gone.json")
    forget_keyring(world.app)
    page = admin.get(f"/console/tips/{ref}").get_data(as_text=True)
    no_keys = _post(admin, ref, "notes", page)
    for response in (stale, no_keys):
        assert response.status_code in (409, 503) and "Location" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"
        cookies = " ".join(response.headers.getlist("Set-Cookie"))
        assert "26-01234" not in cookies and "locker" not in cookies.lower()
        in_session = str(session_of(world.app, admin))
        assert "Ms. Ray" not in in_session and "26-01234" not in in_session


def _box(page: str, box_id: str) -> str:
    """What the page's <textarea id=box_id> holds."""
    return page.split(f'id="{box_id}"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0].strip()


def test_a_text_given_back_goes_into_its_own_box_only(world: World, signed_in) -> None:
    """A hold's reason too long came back in its box, and in the note's and the message-to-the-reporter's boxes
    too: every form of the page read the refused form's "body". One tap on "Send to reporter" would have sent the
    subpoena's details to the reporter. Each box now holds only its own text."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    page = sro.get(f"/console/tips/{ref}").get_data(as_text=True)
    long_reason = REASON + " " + "x" * 600
    response = _post(sro, ref, "hold", page, body=long_reason)
    shown = response.get_data(as_text=True)
    assert response.status_code == 400 and _box(shown, "hold-body") == long_reason
    assert _box(shown, "message-body") == "" and _box(shown, "note-body") == ""
    long_note = NOTE + " " + "y" * 5000
    shown = _post(sro, ref, "notes", page, body=long_note).get_data(as_text=True)
    assert _box(shown, "note-body") == _escaped(long_note)
    assert _box(shown, "message-body") == "" and _box(shown, "hold-body") == ""
    assert input_value(shown, "hold_was") == "none" and input_value(shown, "note_after") == "0"


@pytest.mark.parametrize("form", ["hold", "hold/release"])
def test_a_hold_reason_from_a_form_gone_stale_or_a_session_ended_comes_back_to_copy(world: World, signed_in,
                                                                                     frozen_clock, form: str) -> None:
    """The expired-form and ended-session pages give a hold's reason back as they do a note (already so: guarded)."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    if form == "hold/release":
        _held(world, ref)
    admin = signed_in("admin")
    old_page = admin.get(f"/console/tips/{ref}").get_data(as_text=True)
    admin.post("/console/sign-out", data={"csrf_token": csrf_token_in(old_page)})
    sign_in(admin, world, "admin")
    expired = _post(admin, ref, form, old_page)
    assert expired.status_code == 400 and _kept_to_copy(expired.get_data(as_text=True), FORMS[form][1])
    page = admin.get(f"/console/tips/{ref}").get_data(as_text=True)
    frozen_clock.advance(minutes=40)
    ended = _post(admin, ref, form, page)
    assert ended.status_code == 401 and _kept_to_copy(ended.get_data(as_text=True), FORMS[form][1])
    with world.app.app_context():
        assert tip_by_ref(ref).on_legal_hold == (form == "hold/release")
