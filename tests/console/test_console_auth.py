"""Sign-in: password and a one-time TOTP code, lockout, session expiry, CSRF, sign-out everywhere."""

from __future__ import annotations

import re

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.console import clock
from app.extensions import db
from app.models import AuditEvent, EndedSession, Staff
from tests.conftest import on_postgres
from tests.console.helpers import PASSWORD, FrozenClock, World, audit_actions, sign_in, totp_code
from tests.support.forms import csrf_token, without_csrf_tokens
from tests.support.sessions import session_of
from tests.support.tips import make_tip


def _password_step(client: FlaskClient, world: World, key: str, password: str = PASSWORD) -> str:
    token = csrf_token(client, "/console/sign-in")
    response = client.post("/console/sign-in", data={"csrf_token": token, "email": world.emails[key],
                                                     "password": password})
    return response.headers.get("Location", "") if response.status_code == 302 else response.get_data(as_text=True)


def test_console_pages_need_sign_in(world: World) -> None:
    response = world.app.test_client().get("/console/")
    assert response.status_code == 302 and "/console/sign-in" in response.headers["Location"]


def test_password_alone_does_not_sign_in(world: World) -> None:
    client = world.app.test_client()
    assert _password_step(client, world, "sro_a").endswith("/console/sign-in/code")
    response = client.get("/console/")
    assert response.status_code == 302 and "/console/sign-in" in response.headers["Location"]


def test_a_sign_in_to_a_deactivated_account_is_on_the_record_as_such(world: World) -> None:
    """A deactivated account tried (the SRO who left, their laptop still signed in elsewhere; someone with their
    password) was on the record as a wrong password, "password": an admin reading it could not tell that the
    account itself had been shut. The person typing learns nothing more than before: the page is the wrong
    password's, word for word."""
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["counselor_a"])
        assert staff is not None
        staff.active = False
        db.session.commit()
    client = world.app.test_client()
    shut = _password_step(client, world, "counselor_a")
    wrong = _password_step(client, world, "sro_a", password="not the password at all")

    def page(html: str, email: str) -> str:
        return without_csrf_tokens(html.replace(email, "E"))

    assert "do not match an active account" in shut
    assert page(shut, world.emails["counselor_a"]) == page(wrong, world.emails["sro_a"])
    with world.app.app_context():
        reasons = dict(db.session.execute(select(AuditEvent.actor_label, AuditEvent.detail)
                                          .where(AuditEvent.action == "signin.failed")).all())
    assert reasons == {world.emails["counselor_a"]: '{"reason":"inactive","step":"password"}',
                       world.emails["sro_a"]: '{"reason":"password","step":"password"}'}


def test_password_and_totp_sign_in(world: World, signed_in) -> None:
    client = signed_in("sro_a")
    assert client.get("/console/").status_code == 200
    assert "signin" in audit_actions(world.app)


def _recovery_codes_of(world: World, who: str) -> list[str]:
    """New recovery codes for `who`, stored as enrolment stores them (hashed); the codes as shown to them."""
    from app.accounts.totp import new_recovery_codes

    codes, hashes = new_recovery_codes()
    with world.app.app_context():
        staff = db.session.get(Staff, world.people[who])
        assert staff is not None
        staff.recovery_codes = hashes
        db.session.commit()
    return codes


def test_a_sign_in_with_a_recovery_code_says_how_many_are_left(world: World) -> None:
    """Someone signing in with a recovery code has most likely lost the phone; nothing said so or how many codes
    were left, so the tenth use found the console shut with no warning. The queue now says how many are left and
    to ask for a reset."""
    codes = _recovery_codes_of(world, "sro_a")
    client = world.app.test_client()
    response = sign_in(client, world, "sro_a", code=codes[0])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You signed in with a recovery code: 9 are left." in page and "reset your sign-in" in page
    other = world.app.test_client()
    page = other.get(sign_in(other, world, "sro_a").headers["Location"]).get_data(as_text=True)
    assert "recovery code" not in page  # an authenticator code says nothing of them


def test_a_recovery_code_has_its_own_box_with_letters(world: World) -> None:
    """The code box is a number pad on a phone (the six digits at 3 a.m.), which cannot type a recovery code's
    letters; "Use a recovery code" gives a box with a keyboard, and a code sent from it signs in and leads to the
    case the SMS link asked for."""
    codes = _recovery_codes_of(world, "sro_a")
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = world.app.test_client()
    token = csrf_token(client, f"/console/sign-in?next=/console/tips/{ref}")
    client.post(f"/console/sign-in?next=/console/tips/{ref}", data={"csrf_token": token,
                                                                    "email": world.emails["sro_a"],
                                                                    "password": PASSWORD})
    page = client.get("/console/sign-in/code").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="code"[^>]*inputmode="numeric"', page)
    link = re.search(r'<a href="([^"]+)">Use a recovery code</a>', page)
    assert link is not None
    page = client.get(link.group(1)).get_data(as_text=True)
    box = re.search(r'<input[^>]*id="code"[^>]*>', page)
    assert box is not None and 'inputmode="text"' in box.group(0) and "one-time-code" not in box.group(0)
    assert "Recovery code" in page
    response = client.post(link.group(1), data={"csrf_token": csrf_token(client, link.group(1)), "code": codes[0]})
    assert response.status_code == 302 and response.headers["Location"] == f"/console/tips/{ref}"


def test_the_case_of_the_sms_link_survives_a_slow_second_step(world: World, frozen_clock: FrozenClock) -> None:
    """At 3 a.m. the SRO gave the password on the SMS link's sign-in, then spent more than five minutes finding the
    authenticator (another phone, a locked screen): the code page sent them back to the sign-in without the case,
    and signing in led to the queue. The sign-in it sends them to now still leads to the case."""
    with world.app.app_context():
        ref = make_tip(world.school_a, urgency="critical").ref
    client = world.app.test_client()
    page = f"/console/sign-in?next=/console/tips/{ref}"
    client.post(page, data={"csrf_token": csrf_token(client, page), "email": world.emails["sro_a"],
                            "password": PASSWORD})
    frozen_clock.advance(minutes=6)
    response = client.get("/console/sign-in/code")
    assert response.status_code == 302 and response.headers["Location"] == page
    assert sign_in(client, world, "sro_a", page=page).headers["Location"] == f"/console/tips/{ref}"


def test_an_expired_sign_in_form_still_leads_to_the_case(world: World) -> None:
    """The SMS link's sign-in page, sent after the session it was opened in had gone (the phone dropped the
    cookie, or another tab signed in meanwhile), said the form had expired with a 'Sign in' link to the plain
    sign-in, which led to the queue. The link keeps the case."""
    with world.app.app_context():
        ref = make_tip(world.school_a, urgency="critical").ref
    page = f"/console/sign-in?next=/console/tips/{ref}"
    response = world.app.test_client().post(page, data={"csrf_token": "from-a-session-long-gone",
                                                         "email": world.emails["sro_a"], "password": PASSWORD})
    assert response.status_code == 400 and "This form has expired" in response.get_data(as_text=True)
    assert f'href="/console/sign-in?next=/console/tips/{ref}"' in response.get_data(as_text=True)


def test_wrong_totp_code_is_refused(world: World) -> None:
    client = world.app.test_client()
    response = sign_in(client, world, "sro_a", code="000000")
    assert response.status_code == 200 and "not valid" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_sign_in_errors_are_announced_and_tied_to_their_boxes(world: World, signed_in) -> None:
    """A refused sign-in said why in a flash inside role="status", which a screen reader reads politely if at all,
    beside boxes not marked refused: someone who cannot see the page heard nothing and typed again into the
    same boxes. The error is now under the box it is about, which is marked invalid, described by it and focused;
    an error flashed anywhere in the console is an alert, and news (info) stays a status."""
    client = world.app.test_client()
    page = _password_step(client, world, "sro_a", password="the one from last year")
    box = re.search(r'<input[^>]*id="password"[^>]*>', page)
    assert box and 'aria-invalid="true"' in box.group(0) and 'aria-describedby="password-error"' in box.group(0)
    email = re.search(r'<input[^>]*id="email"[^>]*>', page)
    assert "autofocus" in box.group(0) and email and "autofocus" not in email.group(0)
    assert re.search(r'id="password-error">That email and password do not match', page)
    page = sign_in(client, world, "sro_a", code="000000").get_data(as_text=True)
    box = re.search(r'<input[^>]*id="code"[^>]*>', page)
    assert box and 'aria-invalid="true"' in box.group(0) and 'aria-describedby="code-error"' in box.group(0)
    assert re.search(r'id="code-error">That code is not valid', page)
    assert 'role="status"' not in page  # not said twice
    admin = signed_in("admin")  # a flashed error and a flashed piece of news on one page
    path = f"/console/admin/schools/{world.school_a}"
    token = csrf_token(admin, path)
    admin.post(f"{path}/test-sms", data={"csrf_token": token, "staff_id": ""})  # nobody chosen: an error
    admin.post(path, data={"csrf_token": token, "name": "Alpha High School", "town": "Casper",
                           "day_start": "07:30", "day_end": "16:00", "active": "y"})
    page = admin.get(path).get_data(as_text=True)
    alert = re.search(r'<div class="flashes" role="alert">(.*?)</div>', page, re.S)
    status = re.search(r'<div class="flashes" role="status">(.*?)</div>', page, re.S)
    assert alert and "Choose the person" in alert.group(1) and "School saved" not in alert.group(1)
    assert status and "School saved" in status.group(1) and "Choose the person" not in status.group(1)


def test_reused_totp_code_is_refused(world: World) -> None:
    code = totp_code(world.app, world.people["sro_a"], world.secrets["sro_a"])
    first, second = world.app.test_client(), world.app.test_client()
    assert sign_in(first, world, "sro_a", code=code).status_code == 302
    response = sign_in(second, world, "sro_a", code=code)
    assert response.status_code == 200 and "not valid" in response.get_data(as_text=True)
    assert second.get("/console/").status_code == 302


def test_five_failures_lock_the_account_for_ten_minutes(world: World, frozen_clock: FrozenClock) -> None:
    client = world.app.test_client()
    for _ in range(5):
        _password_step(client, world, "sro_a", password="wrong password here")
    page = _password_step(client, world, "sro_a")  # the right password, but locked
    assert "locked" in page
    frozen_clock.advance(minutes=9)
    assert "locked" in _password_step(client, world, "sro_a")
    frozen_clock.advance(minutes=2)
    assert sign_in(client, world, "sro_a").status_code == 302
    assert client.get("/console/").status_code == 200
    actions = audit_actions(world.app)
    assert actions.count("signin.failed") >= 6


def _client_at(world: World, address: str) -> FlaskClient:
    client = world.app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_a_stranger_cannot_lock_the_sro_out(world: World, frozen_clock: FrozenClock) -> None:
    """Five wrong passwords from a stranger who knows the SRO's email lock the stranger out, not the SRO."""
    stranger = _client_at(world, "198.51.100.7")
    for _ in range(5):
        _password_step(stranger, world, "sro_a", password="a wrong guess 123456")
    assert "locked" in _password_step(stranger, world, "sro_a")  # even the right password, from there
    frozen_clock.advance(seconds=30)
    sro = world.app.test_client()
    assert sign_in(sro, world, "sro_a").status_code == 302
    assert sro.get("/console/").status_code == 200


def test_wrong_passwords_from_many_clients_lock_the_account(world: World, frozen_clock: FrozenClock) -> None:
    """A guess spread over many addresses still meets a lock: 20 wrong passwords in 10 minutes, from anywhere."""
    for n in range(4):
        client = _client_at(world, f"203.0.113.{n + 1}")
        for _ in range(5):
            _password_step(client, world, "sro_a", password="a wrong guess 123456")
    assert "locked" in _password_step(world.app.test_client(), world, "sro_a")
    frozen_clock.advance(minutes=11)
    assert _password_step(world.app.test_client(), world, "sro_a").endswith("/console/sign-in/code")


def test_the_addresses_of_one_ipv6_block_are_one_client(world: World, frozen_clock: FrozenClock) -> None:
    """Each device or home gets a /64: a new address of it for every guess is still the same client."""
    for n in range(5):
        _password_step(_client_at(world, f"2001:db8:7:1::{n + 1:x}"), world, "sro_a", password="a wrong guess 123456")
    assert "locked" in _password_step(_client_at(world, "2001:db8:7:1::99"), world, "sro_a")
    assert _password_step(_client_at(world, "2001:db8:7:2::1"), world, "sro_a").endswith("/console/sign-in/code")


def _password_step_as(client: FlaskClient, email: str, password: str) -> str:
    token = csrf_token(client, "/console/sign-in")
    response = client.post("/console/sign-in", data={"csrf_token": token, "email": email, "password": password})
    return response.get_data(as_text=True)


def _page(html: str, email: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html.replace(email, "E"))


NO_ACCOUNT = "nobody.here@district.example"


def test_an_email_of_no_account_answers_as_a_locked_account_does(world: World, frozen_clock: FrozenClock,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """After five wrong passwords from one client a staff email answered 'locked' and an email of nobody never did,
    and the locked answer skipped the slow password hash, so its time told it too: anyone could find out which
    emails are staff accounts. Both now answer alike, after one hash each; the audit record still tells them apart."""
    from app.accounts import service

    hashed: list[str] = []
    verify = service.verify_password
    monkeypatch.setattr(service, "verify_password", lambda stored, password: hashed.append(password) or verify(
        stored, password))
    client, staff_email = _client_at(world, "198.51.100.7"), world.emails["sro_a"]
    for n in range(5):
        for email in (staff_email, NO_ACCOUNT):
            page = _password_step_as(client, email, f"a wrong guess {n}")
            assert ("locked" in page) == (n == 4), (email, n)  # the fifth wrong password locks, for both
    hashed.clear()
    real, none = (_password_step_as(client, email, "a wrong guess 5") for email in (staff_email, NO_ACCOUNT))
    assert "locked" in real and _page(real, staff_email) == _page(none, NO_ACCOUNT)
    assert len(hashed) == 2  # the slow hash for each locked answer as well
    other = _client_at(world, "198.51.100.8")  # another client: neither is locked there
    assert "do not match" in _password_step_as(other, NO_ACCOUNT, "a wrong guess 6")
    frozen_clock.advance(minutes=11)
    assert "do not match" in _password_step_as(client, NO_ACCOUNT, "a wrong guess 7")
    with world.app.app_context():
        reasons = set(db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "signin.failed",
                                                                          AuditEvent.actor_label == NO_ACCOUNT)))
    assert reasons == {'{"reason":"unknown_account","step":"password"}'}  # what really happened


@pytest.mark.parametrize("typed", ["Tr0ub4dor&3-horse-staple", "my secret pass", "p@ss"])
def test_a_password_typed_into_the_email_box_is_not_kept_on_the_audit_record(world: World, typed: str) -> None:
    """The audit record cannot be edited and every district admin reads it: a failed sign-in of no account names
    the email typed, but something that is not an email address (a password in the wrong box: the box's
    type=email stops a browser, not a script or an old phone's browser) is not kept as typed."""
    client = world.app.test_client()
    page = _password_step_as(client, typed, "whatever was typed here")
    assert "do not match" in page
    mistyped = "J.Doe@District.Example "
    _password_step_as(client, mistyped, "whatever was typed here")
    with world.app.app_context():
        labels = list(db.session.scalars(select(AuditEvent.actor_label).where(AuditEvent.action == "signin.failed")
                                         .order_by(AuditEvent.id)))
        details = " ".join(db.session.scalars(select(AuditEvent.detail)))
    assert labels == ["(not an email address)", "j.doe@district.example"]  # an email, as an admin can read it
    assert typed.lower() not in " ".join(labels).lower() and typed.lower() not in details.lower()


def test_an_email_of_no_account_locks_after_wrong_passwords_from_many_clients(world: World,
                                                                              frozen_clock: FrozenClock) -> None:
    """As an account does (20 wrong passwords in 10 minutes from anywhere), or a spread guess would tell them apart."""
    for n in range(4):
        client = _client_at(world, f"203.0.113.{n + 1}")
        for _ in range(5):
            _password_step_as(client, NO_ACCOUNT, "a wrong guess 123456")
    assert "locked" in _password_step_as(world.app.test_client(), NO_ACCOUNT, "a wrong guess 123456")


def test_an_email_of_no_account_is_counted_alike_by_every_web_process(world: World, frozen_clock: FrozenClock,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two gunicorn workers with the default in-memory rate-limit store (or with Redis down) each draw their own
    secret of the day: an email of no account, kept by a hash keyed with that secret, was counted apart by each
    process (and afresh at each day's new secret), where an account's wrong passwords are counted together, so a
    guess spread over the processes told them apart again."""
    import secrets as random_secrets

    from app.accounts import service as accounts

    monkeypatch.setattr(accounts, "current_secret", lambda *args, **kwargs: random_secrets.token_bytes(32),
                        raising=False)
    for n in range(4):
        client = _client_at(world, f"203.0.113.{n + 1}")
        for _ in range(5):
            _password_step_as(client, NO_ACCOUNT, "a wrong guess 123456")
    assert "locked" in _password_step_as(world.app.test_client(), NO_ACCOUNT, "a wrong guess 123456")


def test_a_sign_in_forgets_the_wrong_passwords_before_it(world: World, frozen_clock: FrozenClock) -> None:
    client = world.app.test_client()
    for _ in range(4):
        _password_step(client, world, "sro_a", password="a wrong guess 123456")
    assert sign_in(client, world, "sro_a").status_code == 302
    other = world.app.test_client()
    for _ in range(4):  # four more from the same address: not five since the sign-in
        _password_step(other, world, "sro_a", password="a wrong guess 123456")
    assert _password_step(other, world, "sro_a").endswith("/console/sign-in/code")


def test_failed_codes_count_towards_the_lockout(world: World, frozen_clock: FrozenClock) -> None:
    client = world.app.test_client()
    for _ in range(5):
        sign_in(client, world, "sro_a", code="111111")
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["sro_a"])
        assert staff is not None and staff.locked_until is not None and staff.locked_until > clock.now()


def test_session_expires_after_30_minutes_idle(world: World, signed_in, frozen_clock: FrozenClock) -> None:
    client = signed_in("sro_a")
    frozen_clock.advance(minutes=29)
    assert client.get("/console/").status_code == 200
    frozen_clock.advance(minutes=29)  # active: 29 minutes since the last request
    assert client.get("/console/").status_code == 200
    frozen_clock.advance(minutes=31)
    response = client.get("/console/")
    assert response.status_code == 302 and "/console/sign-in" in response.headers["Location"]
    assert client.get("/console/").status_code == 302  # and it stays signed out


def test_a_case_link_opened_after_the_session_idled_out_opens_the_case_after_sign_in(
        world: World, signed_in, frozen_clock: FrozenClock) -> None:
    """An SRO signed in on the phone this morning taps the case link of an SMS in the afternoon: the session had
    idled out, and after signing in again the SRO landed on the queue, not on the tip the SMS was about, as a
    link opened signed out does."""
    with world.app.app_context():
        ref = make_tip(world.school_a, urgency="critical").ref
    client = signed_in("sro_a")
    frozen_clock.advance(hours=3)
    response = client.get(f"/console/tips/{ref}")
    assert response.status_code == 302
    sign_in_page = response.headers["Location"]
    assert "Your session ended" in client.get(sign_in_page).get_data(as_text=True)
    client.post(sign_in_page, data={"csrf_token": csrf_token(client, sign_in_page), "email": world.emails["sro_a"],
                                    "password": PASSWORD})
    response = client.post("/console/sign-in/code", data={
        "csrf_token": csrf_token(client, "/console/sign-in/code"),
        "code": totp_code(world.app, world.people["sro_a"], world.secrets["sro_a"])})
    assert response.status_code == 302 and response.headers["Location"] == f"/console/tips/{ref}"


def test_idle_timeout_holds_when_the_server_clock_changes_to_summer_time(world: World, signed_in,
                                                                          frozen_clock: FrozenClock) -> None:
    # A server kept in local time (America/Denver): naive UTC read as local time lost an hour across the spring
    # change, so a session idle for 80 minutes counted as 20 and stayed open.
    import os
    import time
    from datetime import datetime

    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/Denver"
    time.tzset()
    try:
        frozen_clock.now = datetime(2027, 3, 14, 1, 50)  # UTC; as a Denver reading, ten minutes before the change
        client = signed_in("sro_a")
        frozen_clock.advance(minutes=80)
        assert client.get("/console/").status_code == 302
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_session_expires_after_12_hours_in_all(world: World, signed_in, frozen_clock: FrozenClock) -> None:
    client = signed_in("sro_a")
    for _ in range(24):  # busy all day, never idle
        frozen_clock.advance(minutes=29)
        assert client.get("/console/").status_code == 200
    frozen_clock.advance(minutes=29)  # 12 h 5 min
    assert client.get("/console/").status_code == 302


def test_post_without_csrf_token_is_refused(world: World, signed_in) -> None:
    client = signed_in("sro_a")
    assert client.post("/console/sign-out").status_code == 400
    assert client.get("/console/").status_code == 200  # still signed in
    anonymous = world.app.test_client()
    response = anonymous.post("/console/sign-in", data={"email": world.emails["sro_a"], "password": PASSWORD})
    assert response.status_code == 400


@pytest.mark.parametrize("button", ["/console/sign-out", "/console/sign-out-everywhere"])
def test_sign_out_from_a_tab_opened_before_signing_in_again_says_you_are_still_signed_in(
        world: World, signed_in, button: str) -> None:
    """The queue left open in one tab, the session idled out, the person signed in again in another tab, then
    pressed "Sign out" in the first tab on leaving a shared office computer: its form belonged to the session
    before, and the answer was "This form has expired. Nothing was saved" with a link back to the queue, still
    signed in, which reads as done. It now says plainly that they are still signed in, with a working button."""
    client = signed_in("sro_a")
    old_token = csrf_token(client, "/console/")
    sign_in(client, world, "sro_a")  # signing in again (another tab): a new session, its own form tokens
    response = client.post(button, data={"csrf_token": old_token})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "You are still signed in" in page and "Nothing was saved" not in page
    assert client.get("/console/").status_code == 200  # the stale form did nothing
    token = re.search(rf'action="{button}"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page)
    assert token
    client.post(button, data={"csrf_token": token.group(1)})
    assert client.get("/console/").status_code == 302  # the button on that page signs out


def test_session_is_rotated_at_sign_in(world: World) -> None:
    client = world.app.test_client()
    client.get("/console/sign-in")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    sign_in(client, world, "sro_a")
    with client.session_transaction() as sess:
        assert "planted" not in sess


def test_sign_out_everywhere_ends_every_session(world: World, signed_in) -> None:
    laptop, phone = signed_in("sro_a"), signed_in("sro_a")
    laptop.post("/console/sign-out-everywhere", data={"csrf_token": csrf_token(laptop, "/console/")})
    assert phone.get("/console/").status_code == 302
    assert laptop.get("/console/").status_code == 302


def test_sign_out_everywhere_is_on_the_account_page_not_beside_sign_out(world: World, signed_in) -> None:
    """Beside "Sign out" in the header, a tired thumb on a phone took "Sign out everywhere" and ended the laptop's
    session too. The header keeps "Sign out"; the account page explains when to end every session and has it."""
    client = signed_in("sro_a")
    header = client.get("/console/").get_data(as_text=True)
    assert 'action="/console/sign-out"' in header
    assert "/console/sign-out-everywhere" not in header
    account = client.get("/console/account/password").get_data(as_text=True)
    assert 'action="/console/sign-out-everywhere"' in account and "lost a phone" in account


def _session_cookie(client: FlaskClient, name: str) -> str:
    cookie = client.get_cookie(name)
    assert cookie is not None
    return cookie.value


def test_sign_out_ends_the_session_on_the_server_too(world: World, signed_in) -> None:
    """The cookie is signed, not stored: a copy taken before "Sign out" (another browser profile, malware, a
    shared computer's disk) kept opening the console for up to 12 hours. Sign-out now ends that session id;
    the person's other sessions go on (that is "Sign out everywhere")."""
    laptop, phone = signed_in("sro_a"), signed_in("sro_a")
    name = world.app.config["SESSION_COOKIE_NAME"]
    copy = world.app.test_client()
    copy.set_cookie(name, _session_cookie(laptop, name))
    assert copy.get("/console/").status_code == 200  # the copy works while the session lasts
    laptop.post("/console/sign-out", data={"csrf_token": csrf_token(laptop, "/console/")})
    replay = copy.get("/console/")
    assert replay.status_code == 302 and "/console/sign-in" in replay.headers["Location"]
    assert phone.get("/console/").status_code == 200
    again = signed_in("sro_a")  # and signing in again on the laptop starts a new session that works
    assert again.get("/console/").status_code == 200


def test_ended_sessions_are_forgotten_once_they_would_have_timed_out(world: World, signed_in,
                                                                    frozen_clock) -> None:
    for _ in range(2):
        client = signed_in("sro_a")
        client.post("/console/sign-out", data={"csrf_token": csrf_token(client, "/console/")})
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EndedSession)) == 2
    frozen_clock.advance(hours=13)
    client = signed_in("sro_a")
    client.post("/console/sign-out", data={"csrf_token": csrf_token(client, "/console/")})
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EndedSession)) == 1


def test_sign_in_is_audited_without_the_password(world: World) -> None:
    client = world.app.test_client()
    _password_step(client, world, "sro_a", password="not the password at all")
    with world.app.app_context():
        events = db.session.scalars(select(AuditEvent)).all()
        assert [e.action for e in events] == ["signin.failed"]
        assert "not the password" not in events[0].detail
        assert events[0].actor_id == world.people["sro_a"]


def test_cookie_flags(world: World) -> None:
    client = world.app.test_client()
    response = client.get("/console/sign-in")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_totp_secret_matches_pyotp(world: World) -> None:
    # Guards the time base: our naive-UTC clock and pyotp must agree on the current code.
    code = pyotp.TOTP(world.secrets["sro_a"]).now()
    assert sign_in(world.app.test_client(), world, "sro_a", code=code).status_code == 302


def test_session_cookie_holds_no_hash_of_address_or_browser(world: World, signed_in) -> None:
    client = signed_in("sro_a")
    assert client.get("/console/").status_code == 200
    held = session_of(world.app, client)
    assert "_user_id" in held  # it is the signed-in session
    assert "_id" not in held  # Flask-Login's session protection would put a hash of IP and user agent here


def test_a_code_of_other_digits_is_refused_not_a_500(world: World) -> None:
    # "²".isdigit() is true, and a non-ASCII str makes hmac.compare_digest raise TypeError.
    client = world.app.test_client()
    _password_step(client, world, "sro_a")
    token = csrf_token(client, "/console/sign-in/code")
    for code in ("²²²²²²", "١٢٣٤٥٦", "12345²"):
        response = client.post("/console/sign-in/code", data={"csrf_token": token, "code": code})
        assert response.status_code == 200 and "not valid" in response.get_data(as_text=True)


def test_sign_in_attempts_are_limited_per_client(world: World) -> None:
    world.app.config["SIGNIN_RATE_LIMIT"] = "3 per minute"
    client = world.app.test_client()
    token = csrf_token(client, "/console/sign-in")
    statuses = [
        client.post("/console/sign-in", data={"csrf_token": token, "email": f"nobody{i}@district.example",
                                              "password": "wrong password here"}).status_code
        for i in range(5)
    ]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    assert b"Too many sign-in attempts" in client.post("/console/sign-in", data={"csrf_token": token}).data


@pytest.mark.parametrize(("target", "lands_on"), [
    ("/console/tips/ABC123?x=1", "/console/tips/ABC123?x=1"),
    ("https://evil.example/console/", "/console/"),
    ("//evil.example/console/", "/console/"),
    ("/console/\\\\evil.example", "/console/"),
    ("/console/\r\nSet-Cookie: tipline=x", "/console/"),  # was a 500 after the code was accepted
    ("/console/\x1b[0m", "/console/"),
])
def test_sign_in_goes_back_only_to_a_console_page(world: World, target: str, lands_on: str) -> None:
    client = world.app.test_client()
    token = csrf_token(client, "/console/sign-in")
    client.post("/console/sign-in", query_string={"next": target},
                data={"csrf_token": token, "email": world.emails["sro_a"], "password": PASSWORD})
    token = csrf_token(client, "/console/sign-in/code")
    response = client.post("/console/sign-in/code", data={
        "csrf_token": token, "code": totp_code(world.app, world.people["sro_a"], world.secrets["sro_a"])})
    assert response.status_code == 302 and response.headers["Location"] == lands_on


def test_a_code_used_by_a_concurrent_sign_in_is_refused(world: World) -> None:
    # Two requests with one code at the same moment (PostgreSQL, READ COMMITTED): both read the step as unused.
    # The other one commits first here; this one's copy of the row is stale, as it would be there.
    from sqlalchemy import update

    from app.accounts.totp import db_check_totp, db_use_recovery_code, new_recovery_codes

    now = clock.now()
    code = pyotp.TOTP(world.secrets["sro_a"]).at(now)
    codes, hashes = new_recovery_codes()
    with world.app.app_context():
        db.session.execute(update(Staff).where(Staff.id == world.people["sro_a"]).values(recovery_codes=hashes))
        db.session.commit()
        staff = db.session.get(Staff, world.people["sro_a"])
        assert staff is not None and staff.totp_last_counter is None and staff.recovery_codes == hashes
        step = pyotp.TOTP(world.secrets["sro_a"]).timecode(now)
        remaining = "\n".join(hashes.split("\n")[1:])
        db.session.execute(update(Staff).where(Staff.id == staff.id)
                           .values(totp_last_counter=step, recovery_codes=remaining),
                           execution_options={"synchronize_session": False})
        assert not db_check_totp(staff, code, now)
        assert not db_use_recovery_code(staff, codes[0])
        assert db_use_recovery_code(staff, codes[1])  # another code still works, and the first stays used
        db.session.commit()
        assert db.session.get(Staff, staff.id).recovery_codes == "\n".join(hashes.split("\n")[2:])


def test_a_nul_character_never_reaches_the_database(world: World, signed_in) -> None:
    # PostgreSQL refuses text holding NUL (psycopg: DataError), so such input was a 500 there; SQLite takes it.
    # The listener stands in for PostgreSQL's refusal on either database.
    from sqlalchemy import event

    from tests.support.tips import make_tip

    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    seen: list[object] = []

    def refuse_nul(_conn, _cursor, _statement, parameters, _context, _many) -> None:  # noqa: ANN001
        rows = parameters if isinstance(parameters, list) else [parameters]
        for row in rows:
            values = row.values() if isinstance(row, dict) else row
            if any(isinstance(v, str) and "\x00" in v for v in values):
                seen.append(values)
                raise ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes")

    client = world.app.test_client()
    sro = signed_in("sro_a")
    admin = signed_in("admin")
    with world.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", refuse_nul)
    try:
        token = csrf_token(client, "/console/sign-in")
        responses = [client.post("/console/sign-in", data={"csrf_token": token, "email": "sro_a\x00@district.example",
                                                           "password": PASSWORD})]
        responses.append(sro.get(f"/console/tips/{ref}%00"))
        token = csrf_token(sro, "/console/")
        responses.append(sro.post(f"/console/tips/{ref}/link", data={"csrf_token": token, "other_ref": "AB\x00"}))
        responses.append(admin.get("/console/admin/audit?actor=a%00b&tip_ref=A%00"))
    finally:
        event.remove(engine, "before_cursor_execute", refuse_nul)
    assert seen == []
    assert [r.status_code for r in responses] == [400] * len(responses)


def _at_once(world: World, count: int, monkeypatch: pytest.MonkeyPatch, name: str, post) -> list[int]:  # noqa: ANN001
    """`count` clients post at the same moment: each request waits after `name` loaded the account until all
    have, as requests on several web processes do on PostgreSQL (READ COMMITTED, one row each)."""
    import threading

    from app.console import auth

    barrier = threading.Barrier(count, timeout=20)
    original = getattr(auth, name) if hasattr(auth, name) else getattr(auth.service, name)
    owner = auth if hasattr(auth, name) else auth.service

    def loaded_then_wait(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        found = original(*args, **kwargs)
        barrier.wait()
        return found

    monkeypatch.setattr(owner, name, loaded_then_wait)
    results: list[int] = []
    threads = [threading.Thread(target=lambda c=c: results.append(post(c).status_code))
               for c in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every transaction takes the write lock at BEGIN, so "
                    "sign-in attempts already take turns")
def test_wrong_codes_sent_at_once_still_lock_the_account_after_five(world: World,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The count of wrong codes was read with the account and written back plus one: eight wrong codes sent at
    once on PostgreSQL all read 0 and wrote 1, so whoever had the password could try codes in parallel batches
    without ever meeting the lock. Now the attempts take turns on the account's row."""
    clients = []
    for n in range(8):
        client = _client_at(world, f"203.0.113.{n + 1}")
        assert _password_step(client, world, "sro_a").endswith("/console/sign-in/code")
        clients.append((client, csrf_token(client, "/console/sign-in/code")))

    def post(n: int):  # noqa: ANN202
        client, token = clients[n]
        return client.post("/console/sign-in/code", data={"csrf_token": token, "code": f"{n:06d}"})

    # Waits only while the account is being looked up, before the row is locked.
    # Four wrong codes are shown the form again; the fifth locks the account, and the last three find it locked.
    assert sorted(_at_once(world, 8, monkeypatch, "_pending_staff", post)) == [200] * 4 + [302] * 4
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["sro_a"])
        assert staff is not None and staff.locked_until is not None and staff.locked_until > clock.now()
        reasons = [detail for detail in db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "signin.failed"))]
    assert sum('"second_factor"' in r and '"bad_code"' in r for r in reasons) == 5
    assert sum('"second_factor"' in r and '"locked"' in r for r in reasons) == 3


def _eight_wrong_passwords_at_once(world: World, monkeypatch: pytest.MonkeyPatch, email: str) -> list[int]:
    """Eight wrong passwords for `email` from one client, each in its own request, all sent at the same moment:
    the status code of each answer."""
    clients = []
    for _ in range(8):
        client = _client_at(world, "198.51.100.7")
        clients.append((client, csrf_token(client, "/console/sign-in")))

    def post(n: int):  # noqa: ANN202
        client, token = clients[n]
        return client.post("/console/sign-in", data={"csrf_token": token, "email": email,
                                                     "password": f"a wrong guess {n}"})

    return _at_once(world, 8, monkeypatch, "find_staff", post)


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every transaction takes the write lock at BEGIN, so "
                    "sign-in attempts already take turns")
def test_wrong_passwords_sent_at_once_are_checked_no_more_than_the_limit(world: World,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrong passwords were counted before the new one was stored: eight sent at once from one client all found
    none before them and were all tried, past the five a client may try in ten minutes."""
    assert _eight_wrong_passwords_at_once(world, monkeypatch, world.emails["sro_a"]) == [200] * 8
    with world.app.app_context():
        reasons = [detail for detail in db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "signin.failed"))]
    assert sum('"reason":"password"' in r for r in reasons) == 4
    assert sum('"reason":"locked"' in r for r in reasons) == 4


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every transaction takes the write lock at BEGIN, so "
                    "sign-in attempts already take turns")
def test_one_code_sent_at_once_from_several_places_signs_in_once(world: World,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A code overheard or read over a shoulder and sent at the same moment as the SRO's own: on PostgreSQL
    every request read the step as unused. Now they take turns on the account's row, so one signs in."""
    from types import SimpleNamespace

    clients = []
    for n in range(4):
        client = _client_at(world, f"203.0.113.{n + 20}")
        assert _password_step(client, world, "sro_a").endswith("/console/sign-in/code")
        clients.append((client, csrf_token(client, "/console/sign-in/code")))
    code = totp_code(world.app, world.people["sro_a"], world.secrets["sro_a"])

    def post(n: int) -> SimpleNamespace:
        client, token = clients[n]
        response = client.post("/console/sign-in/code", data={"csrf_token": token, "code": code})
        return SimpleNamespace(status_code=response.headers.get("Location", "the form again"))

    outcomes = _at_once(world, 4, monkeypatch, "_pending_staff", post)
    signed_in = [where for where in outcomes if where != "the form again" and "sign-in" not in str(where)]
    assert len(signed_in) == 1, outcomes


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every transaction takes the write lock at BEGIN, so "
                    "sign-in attempts already take turns")
def test_wrong_passwords_for_an_email_of_no_account_sent_at_once_are_counted_as_an_account_s(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight at once from one client: an account counts five and answers the rest 'locked' (its row is locked);
    an email of no account must do the same (it has no row: an advisory lock), or a burst would tell them apart."""
    from app.models import SignInFailure

    assert _eight_wrong_passwords_at_once(world, monkeypatch, NO_ACCOUNT) == [200] * 8
    with world.app.app_context():
        counted = db.session.scalar(select(func.count()).select_from(SignInFailure)
                                    .where(SignInFailure.staff_id.is_(None)))
    assert counted == 5
