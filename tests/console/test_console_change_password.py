"""Changing one's own password in the console: the current one checked as at sign-in (towards the same locks),
the enrolment's password rules, the other sessions ended and this one kept, on the audit record."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.accounts.passwords import verify_password
from app.extensions import db
from app.models import AuditEvent, SignInFailure, Staff
from tests.console.helpers import PASSWORD, FrozenClock, World, sign_in
from tests.support.forms import csrf_token

PATH = "/console/account/password"
NEW = "sagebrush meadow lantern"


def _change(client: FlaskClient, current: str = PASSWORD, new: str = NEW, confirm: str | None = None,
            follow: bool = False):
    data = {"csrf_token": csrf_token(client, PATH), "current": current, "password": new,
            "confirm": new if confirm is None else confirm}
    return client.post(PATH, data=data, follow_redirects=follow)


def _password_step(client: FlaskClient, world: World, key: str, password: str) -> str:
    token = csrf_token(client, "/console/sign-in")
    response = client.post("/console/sign-in", data={"csrf_token": token, "email": world.emails[key],
                                                     "password": password})
    return response.headers.get("Location", "") if response.status_code == 302 else response.get_data(as_text=True)


def _hash_of(world: World, key: str) -> str | None:
    with world.app.app_context():
        staff = db.session.get(Staff, world.people[key])
        assert staff is not None
        return staff.password_hash


def _failures(world: World, key: str) -> int:
    with world.app.app_context():
        return db.session.scalar(select(func.count()).select_from(SignInFailure).where(
            SignInFailure.staff_id == world.people[key])) or 0


def _events(world: World, action: str) -> list[AuditEvent]:
    with world.app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _box(page: str, field_id: str) -> str:
    box = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page)
    assert box, f"no box {field_id}"
    return box.group(0)


def test_every_console_page_leads_to_change_password(world: World, signed_in) -> None:
    client = signed_in("counselor_a")
    page = client.get("/console/").get_data(as_text=True)
    assert f'href="{PATH}"' in page and "Your account" in page
    form = client.get(PATH).get_data(as_text=True)
    assert 'autocomplete="current-password"' in _box(form, "current")
    assert 'autocomplete="new-password"' in _box(form, "password")
    assert world.app.test_client().get(PATH).status_code == 302  # signed out: to the sign-in page


def test_the_new_password_signs_in_and_the_old_one_no_longer_does(world: World, signed_in) -> None:
    client = signed_in("sro_a")
    response = _change(client, follow=True)
    assert response.status_code == 200 and "Your password is changed" in response.get_data(as_text=True)
    stored = _hash_of(world, "sro_a")
    assert stored and stored.startswith("$argon2id$") and verify_password(stored, NEW)
    assert "do not match" in _password_step(world.app.test_client(), world, "sro_a", PASSWORD)
    assert sign_in(world.app.test_client(), world, "sro_a", password=NEW).headers["Location"].endswith("/console/")
    events = _events(world, "staff.password_changed")
    assert len(events) == 1 and events[0].actor_id == world.people["sro_a"]
    assert PASSWORD not in str(events[0].detail) and NEW not in str(events[0].detail)


def test_a_change_ends_the_other_sessions_and_keeps_this_one(world: World, signed_in) -> None:
    laptop, phone = signed_in("sro_a"), signed_in("sro_a")
    colleague = signed_in("sro_b")
    _change(laptop)
    kept = laptop.get(PATH)
    assert kept.status_code == 200 and "Your password is changed" in kept.get_data(as_text=True)
    ended = phone.get("/console/")
    assert ended.status_code == 302 and "/console/sign-in" in ended.headers["Location"]
    assert colleague.get("/console/").status_code == 200  # only the person's own sessions
    # This session still sends forms: its CSRF token and its cookie carry on.
    assert _change(laptop, current=NEW, new="another long passphrase").status_code == 302


def test_a_wrong_current_password_is_said_beside_its_box_and_counted(world: World, signed_in) -> None:
    client = signed_in("sro_a")
    response = _change(client, current="not my password at all")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    box = _box(page, "current")
    assert 'aria-invalid="true"' in box and 'aria-describedby="current-error"' in box and "autofocus" in box
    assert re.search(r'id="current-error">That is not your current password', page)
    for field_id in ("current", "password", "confirm"):  # what was typed is not sent back
        assert re.search(r'value="[^"]', _box(page, field_id)) is None
    assert "not my password at all" not in page and NEW not in page
    assert verify_password(_hash_of(world, "sro_a"), PASSWORD)
    assert _failures(world, "sro_a") == 1
    failed = _events(world, "signin.failed")
    assert [json.loads(e.detail) for e in failed] == [{"step": "password_change", "reason": "password"}]
    assert failed[0].actor_id == world.people["sro_a"]


def test_wrong_current_passwords_lock_and_sign_out_at_the_limit(world: World, signed_in,
                                                               frozen_clock: FrozenClock) -> None:
    """Someone at an unlocked laptop must not get unlimited guesses at the password: each wrong one is a failed
    sign-in; the fifth locks the account for this client as at the sign-in page, and ends the session."""
    client = signed_in("sro_a")
    for _ in range(4):
        assert _change(client, current="a wrong guess here").status_code == 200
    fifth = _change(client, current="a wrong guess here", follow=True)
    assert "locked for 10 minutes" in fifth.get_data(as_text=True) and "signed out" in fifth.get_data(as_text=True)
    assert client.get("/console/").status_code == 302  # the session ended
    assert "locked" in _password_step(world.app.test_client(), world, "sro_a", PASSWORD)
    assert verify_password(_hash_of(world, "sro_a"), PASSWORD)
    frozen_clock.advance(minutes=11)
    assert sign_in(world.app.test_client(), world, "sro_a").status_code == 302


def test_the_right_current_password_changes_nothing_while_locked(world: World, signed_in) -> None:
    client = signed_in("sro_a")
    for _ in range(5):  # someone else's guesses at the sign-in page, from the same connection
        _password_step(world.app.test_client(), world, "sro_a", "a wrong guess here")
    response = _change(client)
    assert response.status_code == 200 and "locked for 10 minutes" in response.get_data(as_text=True)
    assert verify_password(_hash_of(world, "sro_a"), PASSWORD)
    assert client.get("/console/").status_code == 200  # not this session's guesses: it stays
    assert _failures(world, "sro_a") == 5  # a refused attempt does not count again


@pytest.mark.parametrize(("new", "confirm", "box", "says"), [
    ("password1234", None, "password", "most common"),
    ("short", None, "password", "at least 12 characters"),
    ("sro_a in the valley", None, "password", "email address"),
    (PASSWORD, None, "password", "other than your current one"),
    (NEW, "sagebrush meadow lanterns", "confirm", "The two new passwords differ"),
])
def test_a_new_password_the_rules_refuse_changes_nothing(world: World, signed_in, new: str, confirm: str | None,
                                                         box: str, says: str) -> None:
    client = signed_in("sro_a")
    other = signed_in("sro_a")
    response = _change(client, new=new, confirm=confirm)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert says in page and f'aria-describedby="{box}-error"' in _box(page, box)
    assert verify_password(_hash_of(world, "sro_a"), PASSWORD)
    assert other.get("/console/").status_code == 200  # nothing ended
    assert _failures(world, "sro_a") == 0  # the right current password is no failure
    assert not _events(world, "staff.password_changed")


def test_a_change_needs_the_csrf_token(world: World, signed_in) -> None:
    client = signed_in("sro_a")
    response = client.post(PATH, data={"current": PASSWORD, "password": NEW, "confirm": NEW})
    assert response.status_code == 400
    assert verify_password(_hash_of(world, "sro_a"), PASSWORD)
    assert not _events(world, "staff.password_changed")


def test_changes_are_rate_limited_per_client(world: World, signed_in) -> None:
    world.app.config["SIGNIN_RATE_LIMIT"] = "3 per minute"
    client = signed_in("sro_a")
    responses = [_change(client, new="short") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert "changing a password" in responses[-1].get_data(as_text=True)  # not only "sign-in attempts"


def test_no_password_reaches_the_log(world: World, signed_in, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = signed_in("sro_a")
    _change(client, current="a wrong guess here")
    _change(client)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "a wrong guess here" not in logged and NEW not in logged and PASSWORD not in logged
