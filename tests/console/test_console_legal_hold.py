"""Legal hold from the case page: who may set and release it, the reason sealed like a note, the audit events
without content, a page gone stale refused, the case page and the queue showing it."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from app.crypto.errors import DecryptionFailed
from app.crypto.service import open_for_tip
from app.extensions import db
from app.models import AuditEvent, utcnow
from tests.console.helpers import World, audit_actions
from tests.support.forms import csrf_token, csrf_token_in, input_value
from tests.support.tips import make_tip, tip_by_ref

REASON = "Casper PD case 26-01234, subpoena from the district attorney"
RELEASE = "Case dismissed by the court on 2027-02-01"


def _case(client: Any, ref: str) -> str:
    return client.get(f"/console/tips/{ref}").get_data(as_text=True)


def _hold(client: Any, ref: str, reason: str = REASON, page: str | None = None) -> Any:
    """Put on hold from the case page as it is now (or as `page` showed it): its CSRF token and hold_was."""
    page = page or _case(client, ref)
    return client.post(f"/console/tips/{ref}/hold", data={
        "csrf_token": csrf_token_in(page), "hold_was": input_value(page, "hold_was"), "body": reason})


def _release(client: Any, ref: str, reason: str = RELEASE, page: str | None = None) -> Any:
    page = page or _case(client, ref)
    return client.post(f"/console/tips/{ref}/hold/release", data={
        "csrf_token": csrf_token_in(page), "hold_was": input_value(page, "hold_was"), "body": reason})


def _closed(world: World, days_ago: int) -> str:
    with world.app.app_context():
        tip = make_tip(world.school_a)
        tip.status, tip.outcome, tip.closed_at = "closed", "referred_to_law_enforcement", \
            utcnow() - timedelta(days=days_ago)
        db.session.commit()
        return tip.ref


def test_the_sro_of_the_school_puts_a_case_on_hold_with_its_reason_sealed(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    response = _hold(sro, ref)
    assert response.status_code == 302
    with world.app.app_context():
        tip = tip_by_ref(ref)
        assert tip.on_legal_hold and tip.legal_hold_by_id == world.people["sro_a"] and tip.legal_hold_at is not None
        assert open_for_tip(tip, "legal_hold", tip.legal_hold_reason_ct) == REASON.encode()
        # Sealed to this field of this tip: it does not open as another field (a note's, the release's).
        with pytest.raises(DecryptionFailed):
            open_for_tip(tip, "legal_hold_release", tip.legal_hold_reason_ct)
        # The raw row: no column holds the reason in clear, and no audit event either.
        row = db.session.execute(text("SELECT * FROM tip WHERE ref = :ref"), {"ref": ref}).one()
        assert not any(isinstance(v, (bytes, str, memoryview)) and b"26-01234" in bytes(
            v if not isinstance(v, str) else v.encode()) for v in row)
        details = " ".join(e.detail for e in db.session.scalars(select(AuditEvent)))
        assert "26-01234" not in details and "subpoena" not in details
    assert audit_actions(world.app, ref) == ["tip.viewed", "tip.hold_set"]
    page = _case(sro, ref)
    assert "On legal hold" in page and REASON in page and "set by Sro A" in page
    assert "Only a district admin can release the hold." in page
    assert f'action="/console/tips/{ref}/hold/release"' not in page


def test_counselors_may_not_set_a_hold_and_another_schools_sro_does_not_see_the_case(world: World,
                                                                                      signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    counselor = signed_in("counselor_a")
    page = _case(counselor, ref)
    assert f'action="/console/tips/{ref}/hold"' not in page and "The school's SRO or a district admin" in page
    assert counselor.post(f"/console/tips/{ref}/hold", data={
        "csrf_token": csrf_token_in(page), "hold_was": "none", "body": REASON}).status_code == 403
    sro_b = signed_in("sro_b")
    assert sro_b.post(f"/console/tips/{ref}/hold", data={
        "csrf_token": csrf_token(sro_b, "/console/"), "hold_was": "none", "body": REASON}).status_code == 404
    with world.app.app_context():
        tip = tip_by_ref(ref)
        assert not tip.on_legal_hold and tip.legal_hold_reason_ct is None
    assert "tip.hold_set" not in audit_actions(world.app, ref)


def test_a_district_admin_sets_a_hold_on_any_school(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_b).ref
    assert _hold(signed_in("admin"), ref).status_code == 302
    with world.app.app_context():
        assert tip_by_ref(ref).on_legal_hold and tip_by_ref(ref).legal_hold_by_id == world.people["admin"]


def test_only_a_district_admin_releases_a_hold_with_a_reason(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro, admin = signed_in("sro_a"), signed_in("admin")
    _hold(sro, ref)
    page = _case(sro, ref)
    assert sro.post(f"/console/tips/{ref}/hold/release", data={
        "csrf_token": csrf_token_in(page), "hold_was": input_value(page, "hold_was"),
        "body": RELEASE}).status_code == 403
    assert _release(admin, ref, reason="   ").status_code == 400  # a reason is required
    with world.app.app_context():
        assert tip_by_ref(ref).on_legal_hold
    assert _release(admin, ref).status_code == 302
    with world.app.app_context():
        tip = tip_by_ref(ref)
        assert not tip.on_legal_hold and tip.legal_hold_released_by_id == world.people["admin"]
        assert open_for_tip(tip, "legal_hold_release", tip.legal_hold_release_reason_ct) == RELEASE.encode()
        details = " ".join(e.detail for e in db.session.scalars(select(AuditEvent)))
        assert "dismissed" not in details
    assert [a for a in audit_actions(world.app, ref) if a != "tip.viewed"] == ["tip.hold_set", "tip.hold_released"]
    page = _case(admin, ref)
    assert "was released" in page and "by Admin" in page and RELEASE in page and REASON in page
    assert "legal hold</span>" not in page  # no badge any more
    assert f'action="/console/tips/{ref}/hold"' in page  # it can be held again


def test_a_reason_is_required_and_one_too_long_comes_back_in_its_box(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    assert _hold(sro, ref, reason="").status_code == 400
    long_reason = "Casper PD " + "x" * 600
    response = _hold(sro, ref, reason=long_reason)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert long_reason in page and "Please shorten the reason to 500 characters or fewer" in page
    with world.app.app_context():
        assert not tip_by_ref(ref).on_legal_hold
    assert "tip.hold_set" not in audit_actions(world.app, ref)


def test_a_hold_chosen_on_a_page_gone_stale_is_refused(world: World, signed_in) -> None:
    """Two people open the case; one puts it on hold. The other's form, from a page that showed no hold, would
    replace the first reason: refused, nothing changed. A release from a page showing an earlier hold (released
    and set again meanwhile) likewise."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro, admin = signed_in("sro_a"), signed_in("admin")
    admin_page = _case(admin, ref)
    _hold(sro, ref)
    response = _hold(admin, ref, reason="Lawsuit Doe v. NCSD", page=admin_page)
    assert response.status_code == 409
    with world.app.app_context():
        tip = tip_by_ref(ref)
        assert tip.legal_hold_by_id == world.people["sro_a"]
        assert open_for_tip(tip, "legal_hold", tip.legal_hold_reason_ct) == REASON.encode()
    assert "changed while you had it open: nothing was changed" in response.get_data(as_text=True)

    first_hold_page = _case(admin, ref)
    _release(admin, ref)
    _hold(sro, ref, reason="Casper PD case 26-09999")
    _release(admin, ref, page=first_hold_page)  # shows the first hold, long gone
    with world.app.app_context():
        assert tip_by_ref(ref).on_legal_hold
    assert [a for a in audit_actions(world.app, ref) if a != "tip.viewed"] == [
        "tip.hold_set", "tip.hold_released", "tip.hold_set"]


def test_releasing_a_hold_past_retention_says_the_case_will_be_shredded(world: World, signed_in) -> None:
    old, recent = _closed(world, 400), _closed(world, 30)
    admin = signed_in("admin")
    for ref in (old, recent):
        _hold(admin, ref)
    warning = "Releasing the hold lets this case be crypto-shredded at the next purge"
    assert warning in _case(admin, old) and "more than 365 days ago" in _case(admin, old)
    assert warning not in _case(admin, recent)
    response = _release(admin, old)
    assert "the next purge crypto-shreds it" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert [a for a in audit_actions(world.app, old) if a != "tip.viewed"] == ["tip.hold_set", "tip.hold_released"]
    with world.app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "tip.hold_released"))
        assert event is not None and json.loads(event.detail) == {"past_retention": True}


def test_a_shredded_case_cannot_be_held(world: World, signed_in) -> None:
    from app.retention import db_shred_tips

    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    admin = signed_in("admin")
    page = _case(admin, ref)
    with world.app.app_context():
        db_shred_tips([tip_by_ref(ref)], utcnow())
        db.session.commit()
    response = _hold(admin, ref, page=page)
    assert response.status_code == 409 and "nothing left to hold" in response.get_data(as_text=True)
    with world.app.app_context():
        assert not tip_by_ref(ref).on_legal_hold
    assert "No legal hold can be set" in _case(admin, ref)


def test_the_queue_marks_held_cases(world: World, signed_in) -> None:
    with world.app.app_context():
        held, other = make_tip(world.school_a).ref, make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    _hold(sro, held)
    queue = sro.get("/console/?status=all").get_data(as_text=True)
    rows = {ref: queue.split(f'data-ref="{ref}"', 1)[1].split("</tr>", 1)[0] for ref in (held, other)}
    assert "legal hold" in rows[held] and "legal hold" not in rows[other]


def test_no_log_line_holds_the_reason(world: World, signed_in, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    _hold(signed_in("sro_a"), ref)
    _release(signed_in("admin"), ref)
    logged = " ".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "26-01234" not in logged and "dismissed" not in logged


def test_a_reason_sent_after_the_session_ended_comes_back_to_copy(world: World, signed_in, frozen_clock) -> None:
    """As a note: an SRO who typed the subpoena's details through a long call finds them given back, not lost."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    page = _case(sro, ref)
    frozen_clock.advance(minutes=40)
    response = _hold(sro, ref, page=page)
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert "Your session ended" in body and "reason for the legal hold" in body and REASON in body
    with world.app.app_context():
        assert not tip_by_ref(ref).on_legal_hold


def test_a_release_given_back_by_the_busy_page_does_not_release_a_hold_set_since(world: World, signed_in,
                                                                               monkeypatch) -> None:
    """The release meets a busy database: the 503 page gives the reason back with a "Save again" button. Meanwhile
    that hold is released elsewhere and a new one set (another subpoena). "Save again" must not release the new
    hold nobody releasing saw: its form carried no hold_was, so the stale-page check was skipped, the new hold was
    released and the next purge shredded a case closed past retention."""
    from sqlalchemy.exc import OperationalError

    from app.retention import purge_expired_tips

    ref = _closed(world, 400)
    sro, admin = signed_in("sro_a"), signed_in("admin")
    _hold(sro, ref)

    def lost(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("UPDATE", None, Exception("database is locked"))

    shown = _case(admin, ref)
    monkeypatch.setattr("app.legal_hold.audit.record", lost)
    busy = _release(admin, ref, page=shown)
    monkeypatch.undo()
    page = busy.get_data(as_text=True)
    assert busy.status_code == 503 and RELEASE in page
    _release(admin, ref, reason="Released in another tab")
    _hold(sro, ref, reason="Casper PD case 26-09999, a new subpoena")
    again = {"csrf_token": csrf_token_in(page), "body": RELEASE}
    if (hold_was := input_value(page, "hold_was")) is not None:
        again["hold_was"] = hold_was
    response = admin.post(f"/console/tips/{ref}/hold/release", data=again)
    assert "changed while you had it open: nothing was changed" in response.get_data(as_text=True)
    with world.app.app_context():
        tip = tip_by_ref(ref)
        assert tip.on_legal_hold and open_for_tip(tip, "legal_hold", tip.legal_hold_reason_ct) == \
            b"Casper PD case 26-09999, a new subpoena"
        assert purge_expired_tips().count == 0 and tip_by_ref(ref).wrapped_dek is not None


def test_a_hold_or_release_form_without_the_hold_it_was_chosen_on_is_refused(world: World, signed_in) -> None:
    ref = _closed(world, 400)
    sro, admin = signed_in("sro_a"), signed_in("admin")
    _hold(sro, ref)
    _release(admin, ref)
    _hold(sro, ref, reason="Casper PD case 26-09999")
    page = _case(admin, ref)
    admin.post(f"/console/tips/{ref}/hold/release", data={"csrf_token": csrf_token_in(page), "body": RELEASE})
    with world.app.app_context():
        assert tip_by_ref(ref).on_legal_hold
