"""Accounts: `flask staff` commands, enrolment with a server-drawn QR code, recovery codes, admin pages."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from app.accounts import service
from app.accounts.phones import normalise_e164
from app.accounts.policy import password_problems
from app.crypto.staff_secrets import seal_totp_secret
from app.extensions import db
from app.models import Assignment, AuditEvent, Role, School, SignInFailure, Staff, Tip, utcnow
from tests.conftest import on_postgres
from tests.console.helpers import (
    PASSWORD,
    PASSWORD_HASH,
    World,
    an_sms_refused_five_minutes_ago,
    audit_actions,
    sign_in,
)
from tests.support.forms import csrf_token, csrf_token_in, input_value
from tests.support.tips import make_tip
from tests.support.write_lock import rendering_holding_the_lock


def _create(world: World, *extra: str) -> str:
    result = world.app.test_cli_runner().invoke(args=[
        "staff", "create", "--email", "New.Person@District.example", "--name", "New Person", "--role", "counselor",
        "--school", "AHS", "--school", "bms", "--phone", "+13075550177", *extra])
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://tipline.test/console/enrol/")
    return link.removeprefix("http://tipline.test")


def test_password_policy() -> None:
    assert password_problems("short")
    assert password_problems("password1234")  # common
    assert password_problems("Password2024!")  # common with noise on the end
    assert password_problems("aaaaaaaaaaaaaaaa")
    assert not password_problems("tumbleweed casper lantern")


@pytest.mark.parametrize("password", ["tipline2024!", "Tipline12345", "TipLine Tip Line", "tiplinepassword1",
                                      "Natrona County 2024", "natrona-school-district"])
def test_a_password_made_of_the_service_or_district_name_is_refused(world: World, password: str) -> None:
    """NIST 800-63B: context-specific words (the service's name) are refused. "Tipline2024!" was accepted, the
    first guess of anyone who knows what the console is, as was the district's name with a year."""
    with world.app.test_request_context():
        assert "name of this service or of your district" in " ".join(password_problems(password))
        assert not password_problems("my tipline password is long")  # a passphrase that only mentions it


def test_staff_create_and_enrol(world: World) -> None:
    path = _create(world)
    client = world.app.test_client()
    page = client.get(path).get_data(as_text=True)
    assert "<svg" in page and "<img" not in page  # the QR code is drawn here, not fetched from anywhere
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    token = csrf_token(client, path)
    weak = client.post(path, data={"csrf_token": token, "password": "password1234", "confirm": "password1234",
                                   "code": pyotp.TOTP(secret.group(1)).now()})
    assert "most common" in weak.get_data(as_text=True)
    done = client.post(path, data={"csrf_token": token, "password": "tumbleweed casper lantern",
                                   "confirm": "tumbleweed casper lantern",
                                   "code": pyotp.TOTP(secret.group(1)).now()})
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.get_data(as_text=True))
    assert len(codes) == 10
    assert client.get(path).status_code == 404  # the link worked once
    with world.app.app_context():
        staff = db.session.scalar(select(Staff).where(Staff.email == "new.person@district.example"))
        assert staff is not None and staff.password_hash and staff.password_hash.startswith("$argon2id$")
        assert codes[0] not in (staff.recovery_codes or "")  # stored hashed
        world.emails["new"], world.people["new"], world.secrets["new"] = staff.email, staff.id, secret.group(1)
    # A recovery code signs in once.
    new_password = "tumbleweed casper lantern"
    assert sign_in(world.app.test_client(), world, "new", code=codes[0], password=new_password).status_code == 302
    assert sign_in(world.app.test_client(), world, "new", code=codes[0], password=new_password).status_code == 200


def test_enrolment_opened_on_the_phone_itself_can_hand_the_key_to_the_app(world: World) -> None:
    """An SRO given the enrolment link by text opens it on the phone that holds the authenticator: a QR code on
    that screen cannot be scanned by that phone, so the 32-character key had to be typed by hand. The page now
    links the key to the authenticator app (otpauth://), as phones expect."""
    path = _create(world)
    page = world.app.test_client().get(path).get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    link = re.search(r'<a href="(otpauth://totp/[^"]+)">', page)
    assert secret and link and f"secret={secret.group(1)}" in link.group(1)


def test_staff_create_refuses_unknown_school_and_duplicates(world: World) -> None:
    runner = world.app.test_cli_runner()
    result = runner.invoke(args=["staff", "create", "--email", "x@d.example", "--name", "X", "--role", "sro",
                                 "--school", "NOPE"])
    # As for an unknown agency: which short names there are, so the typo can be put right without another command.
    assert result.exit_code != 0 and "unknown school(s): NOPE (known: AHS, BMS)" in result.output
    result = runner.invoke(args=["staff", "create", "--email", world.emails["sro_a"], "--name", "X", "--role",
                                 "sro", "--school", "AHS"])
    assert result.exit_code != 0 and "exists already" in result.output
    for name in ("", "   ", "x" * 201):  # the audit record and colleagues tell people apart by name
        result = runner.invoke(args=["staff", "create", "--email", "y@d.example", "--name", name, "--role", "sro",
                                     "--school", "AHS"])
        assert result.exit_code == 1 and "enter the person's name" in result.output
    assert "y@d.example" not in runner.invoke(args=["staff", "list"]).output


@pytest.mark.parametrize("email", ["jane doe@district.example", "jane@doe@district.example", "@district.example",
                                   "jane@", "jane@district", "jane@district..example", "jane@\u200bdistrict.example"])
def test_an_email_that_cannot_be_one_is_refused_with_what_to_type(world: World, signed_in, email: str) -> None:
    """A typo ("jane doe@...", two @, no domain) made an account under an email nobody would type at sign-in,
    until an admin noticed and corrected it: refused, on the server and in the console, saying what to type."""
    result = world.app.test_cli_runner().invoke(args=["staff", "create", "--email", email, "--name", "Jane Doe",
                                                      "--role", "sro", "--school", "AHS"])
    assert result.exit_code == 1 and "such as j.doe@district.example" in result.output
    admin = signed_in("admin")
    page = admin.post("/console/admin/staff", data={
        "csrf_token": csrf_token(admin, "/console/admin/staff"), "email": email, "name": "Jane Doe", "role": "sro",
        "schools": [str(world.school_a)]}).get_data(as_text=True)
    assert "such as j.doe@district.example" in page and "/console/enrol/" not in page
    with world.app.app_context():
        assert db.session.scalar(select(func.count(Staff.id)).where(Staff.name == "Jane Doe")) == 0


def test_an_email_typed_in_wide_or_compatibility_characters_is_the_plain_one(world: World) -> None:
    """An email typed with a phone's or an input method's full-width letters ("ｓｒｏ") is the same address to
    people: it made a second, look-alike account, and at sign-in did not find the account it names."""
    runner = world.app.test_cli_runner()
    result = runner.invoke(args=["staff", "create", "--email", "ｓｒｏ_ａ@district.example", "--name", "X",
                                 "--role", "sro", "--school", "AHS"])
    assert result.exit_code == 1 and "exists already" in result.output
    result = runner.invoke(args=["staff", "create", "--email", "Ｊａｎｅ@District.example", "--name", "Jane",
                                 "--role", "sro", "--school", "AHS"])
    assert result.exit_code == 0 and "Created jane@district.example" in result.output
    client = world.app.test_client()
    response = client.post("/console/sign-in", data={"csrf_token": csrf_token(client, "/console/sign-in"),
                                                     "email": " ＳＲＯ_A@district.example ", "password": PASSWORD})
    assert response.headers.get("Location", "").endswith("/console/sign-in/code")


def test_staff_list_and_set_password(world: World) -> None:
    runner = world.app.test_cli_runner()
    listing = runner.invoke(args=["staff", "list"]).output
    assert "sro_a@district.example" in listing and "AHS" in listing and "active" in listing
    refused = runner.invoke(args=["staff", "set-password", world.emails["sro_a"]], input="short\n")
    assert refused.exit_code != 0
    result = runner.invoke(args=["staff", "set-password", world.emails["sro_a"]], input="prairie wind sagebrush\n")
    assert result.exit_code == 0, result.output
    assert "staff.password_set" in audit_actions(world.app)


def test_set_password_for_someone_who_never_enrolled_says_what_to_do(world: World) -> None:
    """`flask staff set-password` on a person who never finished enrolment said 'Password ... set', and the
    person still could not sign in: there was no authenticator for the second step. Refused now, nothing
    changed, with where the password is chosen instead (the enrolment link, or a reset for a new one)."""
    path = _create(world)
    runner = world.app.test_cli_runner()
    result = runner.invoke(args=["staff", "set-password", "new.person@district.example"],
                           input="prairie wind sagebrush\n")
    assert result.exit_code == 1, result.output
    assert "has not finished enrolling" in result.output and "enrolment link" in result.output
    assert "Reset sign-in" in result.output and "valid until" in result.output
    assert "flask staff reset-signin new.person@district.example" in result.output
    with world.app.app_context():
        staff = db.session.scalar(select(Staff).where(Staff.email == "new.person@district.example"))
        assert staff is not None and staff.password_hash is None
    assert "staff.password_set" not in audit_actions(world.app)
    assert world.app.test_client().get(path).status_code == 200  # the link given still works


def _enrol(world: World, path: str, password: str) -> str:
    """Finish enrolment on `path` as the person would; returns the new authenticator's secret."""
    client = world.app.test_client()
    page = client.get(path).get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    done = client.post(path, data={"csrf_token": csrf_token(client, path), "password": password, "confirm": password,
                                   "code": pyotp.TOTP(secret.group(1)).now()})
    assert "recovery" in done.get_data(as_text=True).lower()
    return secret.group(1)


def test_reset_signin_on_the_server_gives_a_working_link_and_stops_the_old_sign_in(world: World, signed_in,
                                                                                 monkeypatch) -> None:
    """The only district admin lost their phone and recovery codes (or never enrolled and the link expired):
    nobody could press 'Reset sign-in' in the console. The command does what the button does and prints the link."""
    monkeypatch.setenv("SUDO_USER", "alice")
    laptop = signed_in("admin")
    old_secret = world.secrets["admin"]
    with world.app.app_context():  # five wrong codes from the lost phone's finder, and wrong passwords
        staff = db.session.get(Staff, world.people["admin"])
        assert staff is not None
        staff.locked_until = utcnow() + timedelta(minutes=10)
        db.session.add(SignInFailure(staff_id=staff.id, client="somewhere", failed_at=utcnow()))
        db.session.commit()
    result = world.app.test_cli_runner().invoke(args=["staff", "reset-signin", "Admin@District.example"])
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://tipline.test/console/enrol/") and "admin@district.example" in result.output
    assert laptop.get("/console/").status_code == 302  # their sessions ended
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["admin"])
        assert staff is not None and staff.password_hash is None and staff.totp_secret_sealed is None
        assert staff.recovery_codes is None and staff.locked_until is None
        assert not db.session.scalars(select(SignInFailure)).all()
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.reset")).one()
        assert event.actor_label == "cli:alice" and event.actor_id is None
    refused = world.app.test_client().post("/console/sign-in", data={
        "csrf_token": csrf_token(world.app.test_client(), "/console/sign-in"), "email": world.emails["admin"],
        "password": PASSWORD})
    assert refused.status_code != 302  # the old password no longer works
    new_password = "tumbleweed casper lantern"
    world.secrets["admin"] = _enrol(world, link.removeprefix("http://tipline.test"), new_password)
    assert world.secrets["admin"] != old_secret
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["admin"])
        assert staff is not None
        staff.totp_last_counter = None
        db.session.commit()
    old_code = sign_in(world.app.test_client(), world, "admin", password=new_password,
                       code=pyotp.TOTP(old_secret).now())
    assert old_code.status_code == 200  # the old authenticator no longer works
    assert sign_in(world.app.test_client(), world, "admin", password=new_password).status_code == 302


def test_reset_signin_refuses_an_unknown_email_and_a_deactivated_account(world: World) -> None:
    runner = world.app.test_cli_runner()
    result = runner.invoke(args=["staff", "reset-signin", "nobody@district.example"])
    assert result.exit_code == 1 and result.output == "Error: no account for nobody@district.example\n"
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["sro_b"])
        assert staff is not None
        staff.active = False
        db.session.commit()
    result = runner.invoke(args=["staff", "reset-signin", world.emails["sro_b"]])
    assert result.exit_code == 1 and "deactivated" in result.output and "/console/enrol/" not in result.output
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["sro_b"])
        assert staff is not None and staff.password_hash and staff.totp_secret_sealed and not staff.enrolment_token_hash
    assert "staff.reset" not in audit_actions(world.app)


def test_staff_totp_only_outside_production(world: World) -> None:
    result = world.app.test_cli_runner().invoke(args=["staff", "totp", world.emails["sro_a"]])
    assert result.exit_code == 0 and result.output.strip() == pyotp.TOTP(world.secrets["sro_a"]).now()
    world.app.config["PRODUCTION"] = True
    result = world.app.test_cli_runner().invoke(args=["staff", "totp", world.emails["sro_a"]])
    assert result.exit_code != 0 and "production" in result.output


def test_admin_invites_and_deactivates(world: World, signed_in) -> None:
    admin = signed_in("admin")
    token = csrf_token(admin, "/console/admin/staff")
    page = admin.post("/console/admin/staff", data={
        "csrf_token": token, "email": "invited@district.example", "name": "Invited", "role": "sro",
        "schools": [str(world.school_a)], "phone": "+13075550155"}).get_data(as_text=True)
    assert "/console/enrol/" in page
    victim = signed_in("counselor_a")
    admin.post(f"/console/admin/staff/{world.people['counselor_a']}", data={
        "csrf_token": token, "name": "Counselor A", "role": "counselor", "phone": "",
        "schools": [str(world.school_a)]})  # "active" unticked
    assert victim.get("/console/").status_code == 302  # signed out at once
    assert "staff.invited" in audit_actions(world.app) and "staff.updated" in audit_actions(world.app)


def test_a_counselor_deactivated_or_taken_off_a_school_leaves_its_open_cases_to_nobody(world: World,
                                                                                        signed_in) -> None:
    """A counselor who left kept every open case assigned to her: nobody could sign in as her to work them, and the
    queue's "Assigned to nobody", where unowned cases are found, did not list them. Deactivating her, or taking her
    off the school, gives her open cases of it back to nobody, each on the audit record; a closed case keeps her."""
    with world.app.app_context():
        open_a, closed_a, open_b = (make_tip(world.school_a), make_tip(world.school_a), make_tip(world.school_b))
        open_a.assigned_counselor_id = closed_a.assigned_counselor_id = world.people["counselor_a"]
        closed_a.status, closed_a.outcome, closed_a.closed_at = "closed", "unfounded", utcnow()
        open_b.assigned_counselor_id = world.people["counselor_b"]
        refs = open_a.ref, closed_a.ref, open_b.ref
        db.session.commit()
    admin = signed_in("admin")
    token = csrf_token(admin, "/console/admin/staff")
    page = admin.post(f"/console/admin/staff/{world.people['counselor_a']}", data={
        "csrf_token": token, "name": "Counselor A", "role": "counselor", "phone": "",
        "schools": [str(world.school_a)]}, follow_redirects=True).get_data(as_text=True)  # "active" unticked
    assert "1 open case assigned to this person is now assigned to nobody" in page
    # Taken off school B (moved to A): her open case of B goes back to nobody too.
    admin.post(f"/console/admin/staff/{world.people['counselor_b']}", data={
        "csrf_token": token, "name": "Counselor B", "role": "counselor", "phone": "", "active": "y",
        "schools": [str(world.school_a)]})
    with world.app.app_context():
        tips = {ref: db.session.scalar(select(Tip).where(Tip.ref == ref)) for ref in refs}
        assert tips[refs[0]].assigned_counselor_id is None and tips[refs[2]].assigned_counselor_id is None
        assert tips[refs[1]].assigned_counselor_id == world.people["counselor_a"]  # the record of who had it
    assert audit_actions(world.app, refs[0]) == ["tip.assigned"] and audit_actions(world.app, refs[1]) == []
    queue = signed_in("sro_a").get("/console/?assigned=nobody").get_data(as_text=True)
    assert refs[0] in queue
    # A counselor made district admin has no schools and sees them all: her cases stay hers.
    with world.app.app_context():
        kept = make_tip(world.school_b)
        kept.assigned_counselor_id = world.people["counselor_b"]
        kept_ref = kept.ref
        db.session.commit()
    admin.post(f"/console/admin/staff/{world.people['counselor_b']}", data={
        "csrf_token": token, "name": "Counselor B", "role": "district_admin", "phone": "", "active": "y"})
    with world.app.app_context():
        person = db.session.get(Staff, world.people["counselor_b"])
        assert person is not None and person.role == Role.DISTRICT_ADMIN
        tip = db.session.scalar(select(Tip).where(Tip.ref == kept_ref))
        assert tip is not None and tip.assigned_counselor_id == world.people["counselor_b"]


def test_an_edit_from_a_page_opened_before_a_deactivation_does_not_reactivate(world: World, signed_in) -> None:
    """An admin opened a counselor's page to change the phone; meanwhile the counselor left and was deactivated
    (another admin, or another tab). The page still had "Active" ticked, so saving the phone made the account
    active again without a word: the password still worked. An edit from a page that someone's change of role,
    schools or active since has outdated is refused, nothing changed, and the page shows the person as now."""
    admin, other_admin = signed_in("admin"), signed_in("admin")
    path = f"/console/admin/staff/{world.people['counselor_a']}"
    page = admin.get(path).get_data(as_text=True)
    stale = {"csrf_token": csrf_token(admin, path), "access_was": input_value(page, "access_was") or "",
             "name": "Counselor A", "role": "counselor", "schools": [str(world.school_a)], "active": "y"}
    other_admin.post(path, data={"csrf_token": csrf_token(other_admin, path), "name": "Counselor A",
                                 "role": "counselor", "schools": [str(world.school_a)], "phone": ""})  # unticked
    response = admin.post(path, data=stale | {"phone": "+13075550188"}, follow_redirects=True)
    with world.app.app_context():
        person = db.session.get(Staff, world.people["counselor_a"])
        assert person is not None and not person.active and person.phone != "+13075550188"
    assert response.status_code == 200
    assert "changed since this page was opened" in response.get_data(as_text=True)
    # The page as it is now (Active unticked) saves as usual.
    fresh = admin.get(path).get_data(as_text=True)
    admin.post(path, data=stale | {"access_was": input_value(fresh, "access_was") or "", "active": "",
                                   "phone": "+13075550188"})
    with world.app.app_context():
        person = db.session.get(Staff, world.people["counselor_a"])
        assert person is not None and not person.active and person.phone == "+13075550188"


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every change takes the write lock at BEGIN, so two saves "
                    "already take turns")
def test_a_person_saved_while_their_deactivation_is_being_saved_waits_for_it_and_stays_inactive(
        world: World, signed_in) -> None:
    """On PostgreSQL an outdated page saved while another admin's deactivation was being committed read the person
    as still active, passed the check and made them active again once the other commit landed. The save now locks
    the person's row and reads it afresh, so it waits and is refused as from an outdated page."""
    counselor = world.people["counselor_a"]
    admin = signed_in("admin")
    path = f"/console/admin/staff/{counselor}"
    page = admin.get(path).get_data(as_text=True)
    data = {"csrf_token": csrf_token_in(page), "access_was": input_value(page, "access_was") or "",
            "name": "Counselor A", "role": "counselor", "schools": [str(world.school_a)], "active": "y",
            "phone": "+13075550188"}

    def deactivate(other: Any) -> None:  # another admin's deactivation, not yet committed
        other.execute(select(Staff.id).where(Staff.id == counselor).with_for_update(key_share=True))
        other.execute(Staff.__table__.update().where(Staff.id == counselor).values(active=False))

    assert _saved_while_another_save_holds_the_row(world, deactivate, lambda: admin.post(path, data=data)) == 302
    with world.app.app_context():
        person = db.session.get(Staff, counselor)
        assert person is not None and not person.active and person.phone != "+13075550188"


def test_a_reset_lets_a_locked_out_person_back_in_at_once(world: World, signed_in) -> None:
    """An SRO who forgot the password tries five, is locked out, and calls the district admin, who resets the
    sign-in. The SRO chose a new password and a code on the enrolment link and was then told 'this account is
    locked for 10 minutes' (five wrong codes from a lost phone did the same): a new password set at enrolment
    now clears the failures before it, as one an operator sets does."""
    client = world.app.test_client()
    for _ in range(5):
        client.post("/console/sign-in", data={"csrf_token": csrf_token(client, "/console/sign-in"),
                                              "email": world.emails["sro_a"], "password": "the one from last year"})
    with world.app.app_context():  # and five wrong codes from the phone before it was lost
        staff = db.session.get(Staff, world.people["sro_a"])
        assert staff is not None
        staff.locked_until = utcnow() + timedelta(minutes=10)
        db.session.commit()
    admin = signed_in("admin")
    page = admin.post(f"/console/admin/staff/{world.people['sro_a']}/reset", data={
        "csrf_token": csrf_token(admin, f"/console/admin/staff/{world.people['sro_a']}")}).get_data(as_text=True)
    link = re.search(r"http://tipline\.test(/console/enrol/[\w-]+)", page)
    assert link
    enrolment = client.get(link.group(1)).get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', enrolment)
    assert secret
    new_password = "tumbleweed casper lantern"
    done = client.post(link.group(1), data={"csrf_token": csrf_token(client, link.group(1)),
                                            "password": new_password, "confirm": new_password,
                                            "code": pyotp.TOTP(secret.group(1)).now()})
    assert "recovery" in done.get_data(as_text=True).lower()
    password_step = client.post("/console/sign-in", data={"csrf_token": csrf_token(client, "/console/sign-in"),
                                                          "email": world.emails["sro_a"], "password": new_password})
    assert "locked" not in password_step.get_data(as_text=True)
    assert password_step.headers.get("Location", "").endswith("/console/sign-in/code")
    world.secrets["sro_a"] = secret.group(1)
    assert sign_in(client, world, "sro_a", password=new_password).headers["Location"].endswith("/console/")


def test_a_reset_sent_again_by_a_reload_keeps_the_link_it_gave(world: World, signed_in) -> None:
    """The page with the new enrolment link answered the POST, so reloading it (or Back and on again) reset the
    sign-in a second time: the link the admin had just read out to the SRO stopped working. The form sent again
    now changes nothing and says so; the button on that page still makes a new link when one is wanted."""
    admin = signed_in("admin")
    path = f"/console/admin/staff/{world.people['sro_a']}"
    form = {"csrf_token": csrf_token(admin, path), "enrolment_was": input_value(admin.get(path).get_data(
        as_text=True), "enrolment_was") or ""}
    first = admin.post(f"{path}/reset", data=form).get_data(as_text=True)
    link = re.search(r"http://tipline\.test(/console/enrol/[\w-]+)", first)
    assert link
    again = admin.post(f"{path}/reset", data=form, follow_redirects=True)  # the reload: the same form again
    assert again.status_code == 200
    page = again.get_data(as_text=True)
    assert "/console/enrol/" not in page and "nothing was reset" in page and "still works" in page
    client = world.app.test_client()
    assert client.get(link.group(1)).status_code == 200  # the link given first still works
    assert audit_actions(world.app).count("staff.reset") == 1
    # Pressing the button again, on the page as it is now, is a new reset on purpose.
    fresh = {"csrf_token": csrf_token(admin, path), "enrolment_was": input_value(page, "enrolment_was") or ""}
    second = admin.post(f"{path}/reset", data=fresh).get_data(as_text=True)
    assert re.search(r"http://tipline\.test/console/enrol/[\w-]+", second)
    assert client.get(link.group(1)).status_code == 404 and audit_actions(world.app).count("staff.reset") == 2


def test_a_reset_of_a_deactivated_account_says_to_make_it_active_first(world: World, signed_in) -> None:
    """"Reset sign-in" on a deactivated person's page gave an enrolment link and told the admin to hand it over;
    the person opening it read "This enrolment link does not work" (a deactivated account's link opens nothing),
    and their password and authenticator were gone. As `flask staff reset-signin`: refused, nothing changed, with
    why and what to do; the page says so in place of the button."""
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["sro_b"])
        assert staff is not None
        staff.active = False
        db.session.commit()
    admin = signed_in("admin")
    path = f"/console/admin/staff/{world.people['sro_b']}"
    shown = admin.get(path).get_data(as_text=True)
    assert "Reset sign-in and make a new enrolment link" not in shown and "deactivated" in shown
    form = {"csrf_token": csrf_token(admin, path), "enrolment_was": input_value(shown, "enrolment_was") or ""}
    response = admin.post(f"{path}/reset", data=form, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "/console/enrol/" not in page
    assert "deactivated" in page and "nothing was reset" in page.lower()
    with world.app.app_context():
        staff = db.session.get(Staff, world.people["sro_b"])
        assert staff is not None and staff.password_hash and staff.totp_secret_sealed and not staff.enrolment_token_hash
    assert "staff.reset" not in audit_actions(world.app)


def test_the_last_district_admin_cannot_demote_or_deactivate_themselves(world: World, signed_in) -> None:
    """The only district admin unticking 'Active' on their own page (or making themselves an SRO) left the
    district with nobody to manage staff, schools or chains, nor to read the audit record, until someone ran
    commands on the server. Refused with why; another admin may still do it once there are two. An admin invited
    but not yet enrolled (whose link may have expired, or never reached them) is not a second one: they cannot
    sign in."""
    admin = signed_in("admin")
    path = f"/console/admin/staff/{world.people['admin']}"
    form = {"name": "Admin", "role": "district_admin", "phone": "+13075550104", "active": "y"}
    for change in ({"active": ""}, {"role": "sro", "schools": [str(world.school_a)]}):
        response = admin.post(path, data={"csrf_token": csrf_token(admin, path)} | form | change)
        assert response.status_code == 200
        assert "the last active district admin" in response.get_data(as_text=True)
        with world.app.app_context():
            me = db.session.get(Staff, world.people["admin"])
            assert me is not None and me.active and me.role == Role.DISTRICT_ADMIN
    assert admin.get("/console/admin/staff").status_code == 200  # still signed in, still an admin
    with world.app.app_context():  # invited, never enrolled: nobody who can sign in yet
        second = Staff(email="second@district.example", name="Second Admin", role=Role.DISTRICT_ADMIN)
        db.session.add(second)
        db.session.commit()
        second_id = second.id
    response = admin.post(path, data={"csrf_token": csrf_token(admin, path)} | form | {"active": ""})
    assert "the last active district admin" in response.get_data(as_text=True)
    with world.app.app_context():
        me = db.session.get(Staff, world.people["admin"])
        assert me is not None and me.active
        second = db.session.get(Staff, second_id)
        assert second is not None
        second.password_hash = PASSWORD_HASH  # now enrolled: a password and an authenticator
        seal_totp_secret(second, pyotp.random_base32())
        db.session.commit()
    admin.post(path, data={"csrf_token": csrf_token(admin, path)} | form | {"active": ""})
    with world.app.app_context():
        me = db.session.get(Staff, world.people["admin"])
        assert me is not None and not me.active


def test_schools_are_ticked_not_picked_from_a_multiple_select(world: World, signed_in) -> None:
    """The schools were a <select multiple>: an admin who clicked Beta to add it to an SRO of Alpha (without
    holding Ctrl, as nobody does on a phone or a laptop's trackpad) deselected Alpha, and 'Saved.' took the SRO
    off Alpha and its escalation chain. Each school is now a checkbox with its label, the person's ticked."""
    from tests.support.forms import labelled_controls

    admin = signed_in("admin")
    for path in (f"/console/admin/staff/{world.people['sro_a']}", "/console/admin/staff"):
        page = admin.get(path).get_data(as_text=True)
        assert "multiple" not in page
        _ids, labels = labelled_controls(page)
        assert labels["AHS: Alpha High School"][0] == "input" and labels["BMS: Beta Middle School"][0] == "input"
        boxes = re.findall(r'<input[^>]*name="schools"[^>]*>', page)
        assert len(boxes) == 2 and all('type="checkbox"' in box for box in boxes)
        ticked = [box for box in boxes if "checked" in box]
        assert ticked == ([box for box in boxes if f'value="{world.school_a}"' in box] if "staff/" in path else [])


def test_an_edit_leaves_staff_other_than_admins_with_a_school(world: World, signed_in) -> None:
    """An invitation refuses an SRO without a school, but an edit that unticked the last one was 'Saved.': the SRO
    then saw no tip at all and was off every escalation chain. The edit is refused the same way, the form kept."""
    admin = signed_in("admin")
    path = f"/console/admin/staff/{world.people['sro_a']}"
    response = admin.post(path, data={"csrf_token": csrf_token(admin, path), "name": "Officer A", "role": "sro",
                                      "phone": "+13075550100", "active": "y"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Staff other than district admins need at least one school" in page and 'value="Officer A"' in page
    with world.app.app_context():
        sro = db.session.get(Staff, world.people["sro_a"])
        assert sro is not None and sro.school_ids == {world.school_a} and sro.name == "Sro A"


def test_moving_a_chain_member_to_another_school_says_which_chain_lost_them(world: World, signed_in) -> None:
    """Alpha High's primary SRO moved to Beta (Alpha unticked, Beta ticked): the page said 'Saved.' and nothing
    else, while Alpha's escalation chain lost its only person, so a critical tip of Alpha reached no one. The
    admin is now told which place of which school's chain was left empty and that urgent tips of that school reach
    no one until it is set; the move itself is saved as before."""
    admin = signed_in("admin")
    path = f"/console/admin/staff/{world.people['sro_a']}"
    response = admin.post(path, data={"csrf_token": csrf_token(admin, path), "name": "Sro A", "role": "sro",
                                      "phone": "+13075550100", "active": "y", "schools": [str(world.school_b)]},
                          follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Saved." in page
    assert ("This person was 1 (primary SRO) of the escalation chain of Alpha High School; that place is empty "
            "now, and urgent tips of Alpha High School reach no one until its chain is set.") in page
    with world.app.app_context():
        sro = db.session.get(Staff, world.people["sro_a"])
        assert sro is not None and sro.school_ids == {world.school_b}
    # Deactivating a chain member leaves their place to no one as well, and says so.
    path = f"/console/admin/staff/{world.people['counselor_a']}"
    admin.post(f"/console/admin/schools/{world.school_a}/chain", data={
        "csrf_token": csrf_token(admin, f"/console/admin/schools/{world.school_a}"),
        "position_2": str(world.people["counselor_a"])})
    page = admin.post(path, data={"csrf_token": csrf_token(admin, path), "name": "Counselor A", "role": "counselor",
                                  "phone": "+13075550101", "schools": [str(world.school_a)]},
                      follow_redirects=True).get_data(as_text=True)
    assert ("This person was 2 (backup SRO) of the escalation chain of Alpha High School and can no longer be sent "
            "an SMS; urgent tips of Alpha High School reach no one until its chain is set.") in page


def test_a_phone_changed_to_that_of_someone_on_the_same_chain_is_refused(world: World, signed_in) -> None:
    """Saving a chain refuses two accounts of one phone, but the person's page took a phone already on the same
    chain: 'Saved.', and a critical tip unacknowledged on that phone escalated to it again, another timeout before
    anyone new was told. Refused beside the phone, naming the school and the other person's place, every field as
    typed; nothing is saved. Off the chain (or off that school in the same save), the shared phone is saved."""
    with world.app.app_context():
        counselor = db.session.scalars(select(Assignment).where(
            Assignment.staff_id == world.people["counselor_a"], Assignment.school_id == world.school_a)).one()
        counselor.chain_position = 4
        db.session.commit()
    admin = signed_in("admin")
    path = f"/console/admin/staff/{world.people['counselor_a']}"
    form = {"name": "Counselor Anne", "role": "counselor", "phone": "(307) 555-0100", "active": "y",
            "schools": [str(world.school_a), str(world.school_b)]}  # (307) 555-0100: Sro A's, 1 of Alpha's chain
    response = admin.post(path, data=form | {"csrf_token": csrf_token(admin, path)})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    error = re.search(r'<p class="error" id="phone-error">(.*?)</p>', page, re.S)
    assert error is not None, page
    said = error.group(1)
    assert "Sro A" in said and "1 (primary SRO)" in said and "Alpha High School" in said, said
    assert "4 (" in said  # and this person's own place
    assert 'value="Counselor Anne"' in page and input_value(page, "phone") in ("(307) 555-0100", "+13075550100")
    assert re.search(rf'<input[^>]*checked[^>]*value="{world.school_b}"|<input[^>]*value="{world.school_b}"'
                     rf'[^>]*checked', page)
    assert "Saved." not in page
    with world.app.app_context():
        person = db.session.get(Staff, world.people["counselor_a"])
        assert person is not None and person.phone == "+13075550101" and person.name == "Counselor A"
        assert person.school_ids == {world.school_a}
    assert "staff.updated" not in audit_actions(world.app)

    # Taken off Alpha in the same save, the person leaves its chain: no phone twice, saved.
    page = admin.post(path, data=form | {"csrf_token": csrf_token(admin, path), "schools": [str(world.school_b)]},
                      follow_redirects=True).get_data(as_text=True)
    assert "Saved." in page
    with world.app.app_context():
        person = db.session.get(Staff, world.people["counselor_a"])
        assert person is not None and person.phone == "+13075550100" and person.school_ids == {world.school_b}


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every change takes the write lock at BEGIN, so two saves "
                    "already take turns")
def test_a_phone_saved_while_a_chain_save_puts_the_person_on_it_waits_and_is_refused(world: World,
                                                                                      signed_in) -> None:
    """On PostgreSQL the phone's save read the chain while another admin's save of it (putting this person beside
    the phone's other holder) was being committed: each passed its own check and the chain had one phone twice.
    The phone's save locks the school's row as the chain's does, so it waits, reads the chain saved and refuses."""
    counselor = world.people["counselor_a"]
    admin = signed_in("admin")
    path = f"/console/admin/staff/{counselor}"
    data = {"csrf_token": csrf_token(admin, path), "name": "Counselor A", "role": "counselor", "active": "y",
            "schools": [str(world.school_a)], "phone": "+13075550100"}  # Sro A's

    def put_on_chain(other: Any) -> None:  # another admin's chain save, not yet committed
        other.execute(select(School.id).where(School.id == world.school_a).with_for_update(key_share=True))
        other.execute(Assignment.__table__.update().where(
            Assignment.staff_id == counselor, Assignment.school_id == world.school_a).values(chain_position=4))

    assert _saved_while_another_save_holds_the_row(world, put_on_chain, lambda: admin.post(path, data=data)) == 200
    with world.app.app_context():
        person = db.session.get(Staff, counselor)
        assert person is not None and person.phone == "+13075550101"


def test_a_phone_shared_with_a_chain_member_is_saved_for_someone_not_on_that_chain(world: World,
                                                                                    signed_in) -> None:
    """A dispatch desk's night account shares the day account's phone: fine while only one of them is on the chain
    (the chain's own save refuses the second)."""
    admin = signed_in("admin")
    path = f"/console/admin/staff/{world.people['counselor_a']}"
    page = admin.post(path, data={"csrf_token": csrf_token(admin, path), "name": "Counselor A", "role": "counselor",
                                  "phone": "+13075550100", "active": "y", "schools": [str(world.school_a)]},
                      follow_redirects=True).get_data(as_text=True)
    assert "Saved." in page
    with world.app.app_context():
        person = db.session.get(Staff, world.people["counselor_a"])
        assert person is not None and person.phone == "+13075550100"


@pytest.mark.parametrize("start, end", [("16:00", "07:30"), ("08:00", "08:00")])
def test_a_school_day_that_ends_before_it_starts_is_refused(world: World, signed_in, start: str, end: str) -> None:
    """A school day starting at or after its end was 'School saved.': the school was then never in session, so its
    medium tips waited for a start of day at odd hours. Refused beside the end time, the form as typed."""
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    response = admin.post(path, data={"csrf_token": csrf_token(admin, path), "name": "Alpha High School (new)",
                                      "town": "Casper", "day_start": start, "day_end": end, "active": "y"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="day_end-error"' in page and "must end after it starts" in page
    assert 'aria-describedby="day_end-error"' in page
    assert f'value="{start}"' in page and 'value="Alpha High School (new)"' in page
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and school.name == "Alpha High School"
        assert (school.day_start, school.day_end) == (time(7, 30), time(16, 0))
    assert "school.updated" not in audit_actions(world.app)


def test_admin_edits_the_escalation_chain(world: World, signed_in) -> None:
    admin = signed_in("admin")
    token = csrf_token(admin, f"/console/admin/schools/{world.school_a}")
    admin.post(f"/console/admin/schools/{world.school_a}/chain", data={
        "csrf_token": token, "position_1": str(world.people["counselor_a"]), "position_2": str(world.people["sro_a"])})
    with world.app.app_context():
        chain = {a.staff_id: a.chain_position for a in db.session.scalars(
            select(Assignment).where(Assignment.school_id == world.school_a))}
        assert chain[world.people["counselor_a"]] == 1 and chain[world.people["sro_a"]] == 2
    assert "school.chain_updated" in audit_actions(world.app)


def test_a_school_whose_chain_reaches_no_one_says_so_on_its_page_and_in_the_list(world: World, signed_in) -> None:
    """A new school's chain set to an SRO entered without a phone: 'Escalation chain saved.', and neither the
    school's page nor the list (which said only "(unreachable)" beside the name) said that its critical tips would
    reach no one. Both say it now, and the chain's choices say why a person cannot be sent an SMS."""
    with world.app.app_context():
        sro = db.session.get(Staff, world.people["sro_a"])
        assert sro is not None
        sro.phone = None
        db.session.commit()
    admin = signed_in("admin")
    page = admin.get(f"/console/admin/schools/{world.school_a}").get_data(as_text=True)
    assert "Urgent tips of Alpha High School reach no one" in page
    assert "Sro A (sro, no phone)" in page
    listing = admin.get("/console/admin/schools").get_data(as_text=True)
    assert "Sro A <strong>(unreachable)</strong>: <strong>urgent tips reach no one</strong>" in listing
    with world.app.app_context():
        sro = db.session.get(Staff, world.people["sro_a"])
        assert sro is not None
        sro.phone = "+13075550100"
        db.session.commit()
    page = admin.get(f"/console/admin/schools/{world.school_a}").get_data(as_text=True)
    assert "reach no one" not in page and "Sro A (sro)" in page
    listing = admin.get("/console/admin/schools").get_data(as_text=True)
    assert "1. Sro A" in listing and "Sro A <strong>" not in listing and "Sro A:" not in listing


def test_a_school_saved_from_a_page_opened_before_its_deactivation_stays_inactive(world: World, signed_in) -> None:
    """An admin opened Alpha High's page to correct its town; meanwhile another admin (or another tab) deactivated
    the school. The page still had "Active" ticked, so saving the town turned the school back on without a word and
    reporters could choose it again. A save from a page that a change of the school since has outdated is refused,
    nothing changed, and the page shows the school as it is now."""
    admin, other_admin = signed_in("admin"), signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    page = admin.get(path).get_data(as_text=True)
    stale = {"csrf_token": csrf_token_in(page) or "", "school_was": input_value(page, "school_was") or "",
             "name": "Alpha High School", "town": "Casper", "day_start": "07:30", "day_end": "16:00", "active": "y"}
    other_admin.post(path, data={"csrf_token": csrf_token(other_admin, path), "name": "Alpha High School",
                                 "town": "Casper", "day_start": "07:30", "day_end": "16:00"})  # unticked
    response = admin.post(path, data=stale | {"town": "Mills"}, follow_redirects=True)
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and not school.active and school.town == "Casper"
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "This school was changed by someone else since you opened this page. Nothing was saved" in page
    assert 'value="Mills"' not in page and not re.search(r'<input[^>]*name="active"[^>]*checked', page)
    # The page as it is now (Active unticked) saves as usual.
    admin.post(path, data=stale | {"school_was": input_value(page, "school_was") or "", "active": "",
                                   "town": "Mills"})
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and not school.active and school.town == "Mills"


def test_a_chain_saved_from_a_page_opened_before_a_change_to_it_keeps_that_change(world: World, signed_in) -> None:
    """The chain form sets the whole chain from the page: one opened before another admin (or another tab) put
    Counselor A second on Alpha High's chain dropped her again without a word when saved, so a critical tip no
    longer woke her. A save from a page that a change of the chain since has outdated is refused, nothing changed,
    and the page shows the chain as it is now."""
    admin, other_admin = signed_in("admin"), signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    page = admin.get(path).get_data(as_text=True)
    sro, counselor = str(world.people["sro_a"]), str(world.people["counselor_a"])
    stale = {"csrf_token": csrf_token_in(page) or "", "chain_was": input_value(page, "chain_was") or "",
             "position_1": sro}
    other_page = other_admin.get(path).get_data(as_text=True)
    other_admin.post(f"{path}/chain", data={"csrf_token": csrf_token_in(other_page) or "", "position_1": sro,
                                            "position_2": counselor,
                                            "chain_was": input_value(other_page, "chain_was") or ""})

    assert _chain(world) == {world.people["sro_a"]: 1, world.people["counselor_a"]: 2}
    response = admin.post(f"{path}/chain", data=stale | {"position_3": ""}, follow_redirects=True)
    assert _chain(world) == {world.people["sro_a"]: 1, world.people["counselor_a"]: 2}
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "This escalation chain was changed by someone else since you opened this page. Nothing was saved" in page
    second = re.search(r'<select id="position_2".*?</select>', page, re.S)
    assert second is not None and f'value="{counselor}" selected' in second.group(0)
    # The page as it is now saves as usual.
    admin.post(f"{path}/chain", data=stale | {"chain_was": input_value(page, "chain_was") or "",
                                              "position_1": counselor, "position_2": sro})
    assert _chain(world) == {world.people["sro_a"]: 2, world.people["counselor_a"]: 1}


def _saved_while_another_save_holds_the_row(world: World, change: Any, save: Any) -> int:
    """`save()` (a POST) sent while another connection's transaction has made `change` (taking its row lock) and
    not yet committed; that transaction commits a second later. The save's status, once it has returned."""
    import threading
    from time import sleep

    with world.app.app_context():
        engine = db.engine
    responses: list[Any] = []
    with engine.connect() as other:
        transaction = other.begin()
        change(other)
        thread = threading.Thread(target=lambda: responses.append(save()))
        thread.start()
        sleep(1.0)  # long enough for the save to have read the row, had it not waited
        transaction.commit()
    thread.join(30)
    assert not thread.is_alive() and responses
    return int(responses[0].status_code)


def _chain(world: World) -> dict[int, int | None]:
    """School A's assigned people and their chain positions, as stored."""
    with world.app.app_context():
        return {a.staff_id: a.chain_position for a in db.session.scalars(
            select(Assignment).where(Assignment.school_id == world.school_a))}


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every change takes the write lock at BEGIN, so two saves "
                    "already take turns")
@pytest.mark.parametrize("form", ["school", "chain"])
def test_a_school_or_chain_saved_while_another_save_is_being_made_waits_for_it_and_sees_it(
        world: World, signed_in, form: str) -> None:
    """On PostgreSQL two saves sent at once both read the school before either had written: the second checked its
    page against the school (or chain) as it was before the first, passed, and overwrote it (here: another admin's
    new town, or Counselor A taken off the chain, undone). A save now locks the school's row first and reads it
    afresh, so it waits for the one being saved and is refused as from an outdated page."""
    sro, counselor = world.people["sro_a"], world.people["counselor_a"]
    with world.app.app_context():
        db.session.execute(Assignment.__table__.update().where(
            Assignment.staff_id == counselor, Assignment.school_id == world.school_a).values(chain_position=2))
        db.session.commit()
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    page = admin.get(path).get_data(as_text=True)
    if form == "school":
        url, data = path, {"school_was": input_value(page, "school_was"), "name": "Alpha High School",
                           "town": "Evansville", "day_start": "07:30", "day_end": "16:00", "active": "y"}
    else:
        url, data = f"{path}/chain", {"chain_was": input_value(page, "chain_was"), "position_1": str(sro),
                                      "position_2": str(counselor)}

    def change(other: Any) -> None:  # another admin's save, holding the school's row while it is being saved
        other.execute(select(School.id).where(School.id == world.school_a).with_for_update())
        if form == "school":
            other.execute(School.__table__.update().where(School.id == world.school_a).values(town="Mills"))
        else:
            other.execute(Assignment.__table__.update().where(
                Assignment.staff_id == counselor, Assignment.school_id == world.school_a).values(chain_position=None))

    assert _saved_while_another_save_holds_the_row(world, change, lambda: admin.post(
        url, data=data | {"csrf_token": csrf_token_in(page)})) == 302
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and school.town == ("Mills" if form == "school" else "Casper")
    assert _chain(world) == {sro: 1, counselor: 2 if form == "school" else None}
    assert "changed by someone else since you opened this page" in admin.get(path).get_data(as_text=True)


def test_a_chain_member_whose_number_failed_for_good_is_shown_unreachable(world: World, signed_in) -> None:
    """An SRO's number mistyped (Twilio 21211) or a landline (30006): every alert skips them for the backup within
    seconds, and nothing told the district; the schools page called them reachable. The page now names the failure
    of their newest SMS, until an SMS to them gets through again."""

    from app.models import Alert, utcnow

    tip_id = an_sms_refused_five_minutes_ago(world, "sro_a")
    page = signed_in("admin").get("/console/admin/schools").get_data(as_text=True)
    assert "Sro A <strong>(unreachable: invalid To number)</strong>" in page
    with world.app.app_context():  # someone else takes the tip: that tells nothing of Sro A's number
        from app.alerts.acknowledge import db_acknowledge_tip
        from app.models import Staff, Tip

        tip = db.session.get(Tip, tip_id)
        assert db_acknowledge_tip(tip, db.session.get(Staff, world.people["admin"]), via="console")
        db.session.commit()
    page = signed_in("admin").get("/console/admin/schools").get_data(as_text=True)
    assert "Sro A <strong>(unreachable: invalid To number)</strong>" in page
    with world.app.app_context():  # an SMS to the corrected number went out since
        db.session.add(Alert(tip_id=tip_id, staff_id=world.people["sro_a"], chain_position=1, kind="repeat",
                             status="delivered", due_at=utcnow(), sent_at=utcnow()))
        db.session.commit()
    page = signed_in("admin").get("/console/admin/schools").get_data(as_text=True)
    assert "Sro A" in page and "unreachable" not in page


def test_export_labels_writes_corrected_tips_as_jsonl(world: World, tmp_path) -> None:
    import json

    from tests.support.tips import make_tip

    with world.app.app_context():
        corrected = make_tip(world.school_a, "there is a knife in his backpack", urgency="low", category="other")
        corrected.label_category, corrected.label_urgency = "weapon", "high"
        make_tip(world.school_a, "not corrected")
        db.session.commit()
        ref = corrected.ref
    out = tmp_path / "labels.jsonl"
    result = world.app.test_cli_runner().invoke(args=["triage", "export-labels", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [{"text": "there is a knife in his backpack", "category": "weapon", "urgency": "high"}]
    assert out.stat().st_mode & 0o077 == 0
    assert "labels.exported" in audit_actions(world.app)
    assert _export_detail(world) == {"count": 1, "refs": [ref], "skipped": 0, "skipped_refs": []}


def test_export_labels_never_overwrites_a_file(world: World, tmp_path) -> None:
    """A slip of --out (the database, the keyring, yesterday's export) must not destroy it."""
    from tests.support.tips import make_tip

    with world.app.app_context():
        tip = make_tip(world.school_a, "there is a knife in his backpack")
        tip.label_category, tip.label_urgency = "weapon", "high"
        db.session.commit()
    precious = tmp_path / "tipline.db"
    precious.write_bytes(b"SQLite format 3\x00 the district's database")
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "elsewhere.jsonl")  # dangling: writing through it would create a file elsewhere
    for out in (precious, link):
        result = world.app.test_cli_runner().invoke(args=["triage", "export-labels", "--out", str(out)])
        assert result.exit_code == 1 and "exists already" in result.output and "nothing was written" in result.output
    assert precious.read_bytes() == b"SQLite format 3\x00 the district's database"
    assert not (tmp_path / "elsewhere.jsonl").exists()
    assert "labels.exported" not in audit_actions(world.app)  # nothing decrypted, nothing to record


def test_export_labels_to_a_path_that_cannot_be_written_says_so(world: World, tmp_path) -> None:
    """A typo in the folder, or one the operator may not write to: a sentence, not a traceback, and no export
    event, since nothing was decrypted."""
    from tests.support.tips import make_tip

    with world.app.app_context():
        tip = make_tip(world.school_a, "there is a knife in his backpack")
        tip.label_category, tip.label_urgency = "weapon", "high"
        db.session.commit()
    out = tmp_path / "no-such-folder" / "labels.jsonl"
    result = world.app.test_cli_runner().invoke(args=["triage", "export-labels", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert f"cannot write {out}" in result.output and "nothing was written" in result.output
    assert not isinstance(result.exception, OSError) and "Traceback" not in result.output
    assert "labels.exported" not in audit_actions(world.app)


def _export_detail(world: World) -> dict[str, object]:
    from app.audit import parse_detail
    from app.models import AuditEvent

    with world.app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "labels.exported"))
        assert event is not None
        return parse_detail(event)


def test_export_labels_that_stops_part_way_still_records_what_it_wrote(world: World, tmp_path) -> None:
    from tests.support.tips import make_tip

    with world.app.app_context():
        first = make_tip(world.school_a, "there is a knife in his backpack")
        second = make_tip(world.school_a, "a second corrected tip")
        for tip in (first, second):
            tip.label_category, tip.label_urgency = "weapon", "high"
        second.kek_version = 99  # wrapped by a key-encryption key this keyring does not hold
        db.session.commit()
        ref = first.ref
    out = tmp_path / "labels.jsonl"
    result = world.app.test_cli_runner().invoke(args=["triage", "export-labels", "--out", str(out)])
    assert result.exit_code == 1 and "cannot open tips" in result.output
    assert "knife in his backpack" in out.read_text()  # the first tip was written before it stopped
    detail = _export_detail(world)
    assert detail == {"count": 1, "refs": [ref], "skipped": 0, "skipped_refs": [], "complete": False,
                      "stopped_by": "ClickException"}


def test_demo_staff_sign_in_with_the_printed_logins(demo) -> None:
    from pathlib import Path

    line = next(x for x in (Path(demo.instance_path) / "demo_logins.txt").read_text().splitlines()
                if x.startswith("d.ortiz@"))
    email, password = line.split()[:2]
    runner = demo.test_cli_runner()
    code = runner.invoke(args=["staff", "totp", email]).output.strip()
    client = demo.test_client()
    client.post("/console/sign-in", data={"csrf_token": csrf_token(client, "/console/sign-in"), "email": email,
                                          "password": password})
    response = client.post("/console/sign-in/code", data={"csrf_token": csrf_token(client, "/console/sign-in/code"),
                                                          "code": code})
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/")
    assert "Queue" in client.get("/console/").get_data(as_text=True)


def test_chain_positions_that_are_not_plain_digits_are_ignored(world: World, signed_in) -> None:
    admin = signed_in("admin")
    token = csrf_token(admin, f"/console/admin/schools/{world.school_a}")
    response = admin.post(f"/console/admin/schools/{world.school_a}/chain", data={
        "csrf_token": token, "position_1": "²", "position_2": "9" * 30, "position_3": str(world.people["sro_a"])})
    assert response.status_code == 302
    with world.app.app_context():
        chain = {a.staff_id: a.chain_position for a in db.session.scalars(
            select(Assignment).where(Assignment.school_id == world.school_a))}
        assert chain[world.people["sro_a"]] == 3 and chain[world.people["counselor_a"]] is None


@pytest.mark.parametrize("phone", ["+１３０７５５５０１２３", "+1307555０123", "(307) 555-01234", "555-0123",
                                   "(107) 555-0123", "+123"])
def test_one_phone_check_everywhere(world: World, signed_in, phone: str) -> None:
    with world.app.app_context(), pytest.raises(service.AccountError, match="mobile number"):
        service.db_create_staff("new@district.example", "New", Role.DISTRICT_ADMIN, [], phone=phone)
    admin = signed_in("admin")
    token = csrf_token(admin, "/console/admin/staff")
    page = admin.post("/console/admin/staff", data={
        "csrf_token": token, "email": "new@district.example", "name": "New", "role": "sro",
        "schools": [str(world.school_a)], "phone": phone}).get_data(as_text=True)
    assert "mobile number" in page and "/console/enrol/" not in page
    page = admin.post(f"/console/admin/staff/{world.people['sro_a']}", data={
        "csrf_token": token, "name": "Sro A", "role": "sro", "phone": phone, "active": "y",
        "schools": [str(world.school_a)]}).get_data(as_text=True)
    assert "mobile number" in page
    assert normalise_e164(" +13075550123 ") == "+13075550123" and normalise_e164("") is None
    # No country code begins with 0, and E.164 has at most 15 digits: Twilio would refuse every SMS to either.
    for bad in ("+03075550123", "+1307555012345678", "+1307５550123"):
        with pytest.raises(ValueError):
            normalise_e164(bad)


@pytest.mark.parametrize("typed", ["(307) 555-0142", "307.555.0142", "307 555 0142", "307-555-0142",
                                   "+1 307 555 0142", "1-307-555-0142", "+1 (307) 555-0142", "13075550142"])
def test_a_phone_typed_as_people_type_it_is_stored_in_e164(world: World, signed_in, typed: str) -> None:
    """An admin types the number as it is written on a card; the SMS needs +1 and ten digits."""
    admin = signed_in("admin")
    token = csrf_token(admin, f"/console/admin/staff/{world.people['sro_a']}")
    admin.post(f"/console/admin/staff/{world.people['sro_a']}", data={
        "csrf_token": token, "name": "Sro A", "role": "sro", "phone": typed, "active": "y",
        "schools": [str(world.school_a)]})
    with world.app.app_context():
        assert db.session.get(Staff, world.people["sro_a"]).phone == "+13075550142"
        school = db.session.get(School, world.school_a)
        assert service.db_create_staff("new@district.example", "New", Role.SRO, [school],
                                       phone=typed).phone == "+13075550142"


def test_a_number_abroad_keeps_its_country_code_and_an_extension_is_refused_with_why() -> None:
    assert normalise_e164("+44 20 7946 0958") == "+442079460958"
    assert normalise_e164("+52 (55) 1234-5678") == "+525512345678"
    for extension in ("307-555-0142 x12", "(307) 555-0142 ext. 3"):
        with pytest.raises(ValueError, match="extension"):
            normalise_e164(extension)


def test_admin_pages_render_without_the_write_lock(world: World, signed_in) -> None:
    admin = signed_in("admin")
    with rendering_holding_the_lock(world.app) as held:
        for path in ("/console/admin/staff", f"/console/admin/staff/{world.people['sro_a']}",
                     "/console/admin/schools", f"/console/admin/schools/{world.school_a}", "/console/admin/audit"):
            assert admin.get(path).status_code == 200, path
    assert held == []


def test_export_labels_leaves_the_database_to_writers_while_it_writes(make_app, tmp_path, monkeypatch) -> None:
    """An export can take long (piped to `less`, a slow disk): meanwhile a reporter's tip must still be stored and
    the alert worker still claim its SMS. On SQLite the export used to hold the write lock from start to end."""
    import threading

    from sqlalchemy import update
    from sqlalchemy.exc import OperationalError

    import app.cli.console_ops as console_ops
    from app.models import School
    from tests.intake.helpers import seed_schools
    from tests.support.tips import make_tip

    app = make_app(SQLITE_BUSY_TIMEOUT_S=1)
    with app.app_context():
        tip = make_tip(seed_schools()["kelly"], "there is a knife in his backpack")
        tip.label_category, tip.label_urgency = "weapon", "high"
        db.session.commit()
    writes: list[str] = []

    def another_writer() -> None:
        with app.app_context():
            try:
                db.session.execute(update(School).values(town="Casper"))
                db.session.commit()
                writes.append("stored")
            except OperationalError as exc:
                writes.append(str(exc.orig))

    real_open = console_ops.open_tip_text

    def open_while_someone_writes(tip):  # type: ignore[no-untyped-def]
        writer = threading.Thread(target=another_writer)
        writer.start()
        writer.join()
        return real_open(tip)

    monkeypatch.setattr(console_ops, "open_tip_text", open_while_someone_writes)
    result = app.test_cli_runner().invoke(args=["triage", "export-labels", "--out", str(tmp_path / "l.jsonl")])
    assert result.exit_code == 0, result.output
    assert writes == ["stored"]
    with app.app_context():
        assert "labels.exported" in [e.action for e in db.session.scalars(select(AuditEvent))]


def test_commands_on_the_server_name_the_operator_on_the_record(world: World, tmp_path, monkeypatch) -> None:
    """Who exported decrypted tips, or set someone's password, must be answerable: the person behind sudo, else the
    account that ran the command; "cli" alone named nobody."""
    import getpass

    from tests.support.tips import make_tip

    with world.app.app_context():
        tip = make_tip(world.school_a, "there is a knife in his backpack")
        tip.label_category, tip.label_urgency = "weapon", "high"
        db.session.commit()
    monkeypatch.setenv("SUDO_USER", "alice")
    runner = world.app.test_cli_runner()
    assert runner.invoke(args=["triage", "export-labels", "--out", str(tmp_path / "l.jsonl")]).exit_code == 0
    monkeypatch.delenv("SUDO_USER")
    result = runner.invoke(args=["staff", "set-password", world.emails["sro_a"]], input="a new long passphrase here\n")
    assert result.exit_code == 0, result.output
    with world.app.app_context():
        who = {e.action: e.actor_label for e in db.session.scalars(select(AuditEvent))}
    assert who["labels.exported"] == "cli:alice"
    assert who["staff.password_set"] == f"cli:{getpass.getuser()}"


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every transaction takes the write lock at BEGIN, so two "
                    "admins' saves already take turns")
def test_two_admins_deactivating_each_other_at_once_leave_one(world: World, signed_in,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each save locked only the row of the person it edits and counted the other admins as they were before
    either save: two district admins deactivating each other at the same moment both found another admin, and
    both saves went through, leaving the district with nobody to manage staff. Now such saves take turns, and the
    second finds the first's change and is refused."""
    import threading

    from app.console import admin as admin_views

    with world.app.app_context():
        second = Staff(email="admin2@district.example", name="Second Admin", role=Role.DISTRICT_ADMIN,
                       phone="+13075550190", password_hash=PASSWORD_HASH)
        db.session.add(second)
        db.session.flush()
        world.secrets["admin2"] = pyotp.random_base32()
        seal_totp_secret(second, world.secrets["admin2"])
        db.session.commit()
        world.people["admin2"], world.emails["admin2"] = second.id, second.email
    clients = {key: signed_in(key) for key in ("admin", "admin2")}
    barrier = threading.Barrier(2, timeout=3)
    original = admin_views._leaves_no_admin

    def counted_then_wait(person, form):  # noqa: ANN001, ANN202
        found = original(person, form)
        try:
            barrier.wait()  # both counted before either saves, as two web processes may
        except threading.BrokenBarrierError:
            pass  # the other save waits for this one's turn: it counts after this one has saved
        return found

    monkeypatch.setattr(admin_views, "_leaves_no_admin", counted_then_wait)

    def deactivate(me: str, other: str) -> None:
        client, path = clients[me], f"/console/admin/staff/{world.people[other]}"
        client.post(path, data={"csrf_token": csrf_token(client, path), "name": other, "role": "district_admin",
                                "phone": "+13075550199", "active": ""})

    threads = [threading.Thread(target=deactivate, args=pair) for pair in (("admin", "admin2"), ("admin2", "admin"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with world.app.app_context():
        active = db.session.scalar(select(func.count(Staff.id)).where(
            Staff.role == Role.DISTRICT_ADMIN, Staff.active.is_(True)))
    assert active == 1


def test_a_school_created_in_the_wrong_time_zone_can_be_put_right_on_its_page(world: World, signed_in) -> None:
    """`flask schools create` takes America/Denver unless told: a school in another zone, created without
    --timezone, kept it for good. Neither its page nor the list showed the zone, nothing could change it, and its
    medium tips waited for school hours an hour or more off. The page shows and changes it; a zone that does not
    exist is refused beside the box, as typed, nothing saved."""
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    assert "America/Denver" in admin.get("/console/admin/schools").get_data(as_text=True)
    page = admin.get(path).get_data(as_text=True)
    assert 'name="timezone"' in page and 'value="America/Denver"' in page
    form = {"csrf_token": csrf_token(admin, path), "school_was": input_value(page, "school_was") or "",
            "name": "Alpha High School", "town": "Casper", "day_start": "07:30", "day_end": "16:00", "active": "y"}
    response = admin.post(path, data=form | {"timezone": "Central", "town": "Mills"})
    assert response.status_code == 200
    refused = response.get_data(as_text=True)
    assert 'id="timezone-error"' in refused and "America/Chicago" in refused
    assert 'value="Central"' in refused and 'value="Mills"' in refused
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and (school.timezone, school.town) == ("America/Denver", "Casper")
    admin.post(path, data=form | {"timezone": " America/Chicago "})
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and school.timezone == "America/Chicago"
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "school.updated")).one()
        assert "timezone" in event.detail
    assert "America/Chicago" in admin.get("/console/admin/schools").get_data(as_text=True)


def test_a_mistyped_short_name_can_be_put_right_and_a_name_taken_twice_is_refused(world: World, signed_in) -> None:
    """A school created as "AHSS" kept that short name for good: it is what every SMS names, and nothing changed it.
    And the page renamed a school to another school's name without a word, so reporters chose between two
    identical entries. The page now changes the short name, and refuses a short name or name another school has,
    beside the box, as typed, nothing saved."""
    admin = signed_in("admin")
    path = f"/console/admin/schools/{world.school_a}"
    page = admin.get(path).get_data(as_text=True)
    assert 'name="short_name"' in page and 'value="AHS"' in page
    form = {"csrf_token": csrf_token(admin, path), "school_was": input_value(page, "school_was") or "",
            "name": "Alpha High School", "short_name": "AHS", "town": "Casper", "day_start": "07:30",
            "day_end": "16:00", "timezone": "America/Denver", "active": "y"}
    for change, box in (({"name": "beta middle school"}, "name"), ({"short_name": "bms"}, "short_name"),
                        ({"short_name": "A" * 13}, "short_name")):
        response = admin.post(path, data=form | change | {"town": "Mills"})
        assert response.status_code == 200
        refused = response.get_data(as_text=True)
        assert f'id="{box}-error"' in refused and 'value="Mills"' in refused, change
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and (school.name, school.short_name, school.town) == (
            "Alpha High School", "AHS", "Casper")
    admin.post(path, data=form | {"short_name": " alpha "})
    with world.app.app_context():
        school = db.session.get(School, world.school_a)
        assert school is not None and school.short_name == "ALPHA"
    assert "ALPHA: Alpha High School" in admin.get("/console/admin/schools").get_data(as_text=True)


def test_the_last_counselor_of_a_school_leaving_says_the_school_has_none_now(world: World, signed_in) -> None:
    """A counselor leaving mid-year: her open cases went back to nobody, and the page said so, but not that her
    school now had no counselor at all, so nobody could be given them (the case's Counselor list offered only
    "(nobody)") until the admin found out. The save now names the school left without a counselor and what to do;
    a change that leaves one (another counselor still there, only the phone changed) says nothing of it."""
    admin = signed_in("admin")
    token = csrf_token(admin, "/console/admin/staff")
    person = f"/console/admin/staff/{world.people['counselor_a']}"
    page = admin.post(person, data={"csrf_token": token, "name": "Counselor A", "role": "counselor",
                                    "phone": "+13075550177", "active": "y", "schools": [str(world.school_a)]},
                      follow_redirects=True).get_data(as_text=True)
    assert "Saved." in page and "no counselor" not in page
    # Counselor B joins school A too, then A leaves: school A still has B.
    admin.post(f"/console/admin/staff/{world.people['counselor_b']}", data={
        "csrf_token": token, "name": "Counselor B", "role": "counselor", "phone": "", "active": "y",
        "schools": [str(world.school_a), str(world.school_b)]})
    page = admin.post(person, data={"csrf_token": token, "name": "Counselor A", "role": "counselor", "phone": "",
                                    "schools": [str(world.school_a)]},  # "active" unticked
                      follow_redirects=True).get_data(as_text=True)
    assert "Saved." in page and "no counselor" not in page
    # B moves back to school B alone: school A has no counselor left.
    page = admin.post(f"/console/admin/staff/{world.people['counselor_b']}", data={
        "csrf_token": token, "name": "Counselor B", "role": "counselor", "phone": "", "active": "y",
        "schools": [str(world.school_b)]}, follow_redirects=True).get_data(as_text=True)
    assert "Alpha High School has no counselor now" in page and "Beta Middle School has no" not in page
    assert "Invite one" in page
