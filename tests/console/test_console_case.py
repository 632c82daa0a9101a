"""A case: what staff see and do, and that each step is on the audit record without the tip's content."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.crypto.service import open_for_tip
from app.extensions import db
from app.models import Alert, Assignment, AuditEvent, Incident, Message, Note, Tip, utcnow
from app.retention import db_shred_tips
from tests.conftest import on_postgres
from tests.console.helpers import World, audit_actions, sign_in
from tests.support.forms import csrf_token, csrf_token_in, input_value, labelled_controls
from tests.support.sessions import session_of
from tests.support.tips import add_unread_reporter_message, make_tip
from tests.support.write_lock import rendering_holding_the_lock

SECRET_TEXT = "Jordan said he will bring his dad's rifle to the assembly on Friday"


def _tip(world: World, ref: str) -> Tip:
    tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
    assert tip is not None
    return tip


def test_opening_a_case_shows_the_decrypted_tip_and_is_audited(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a, SECRET_TEXT, contact="call me at 307-555-0199").ref
    page = signed_in("counselor_a").get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "rifle to the assembly" in page and "307-555-0199" in page
    assert "mentions a weapon" in page  # the assessment's reasons
    assert audit_actions(world.app, ref) == ["tip.viewed"]
    with world.app.app_context():
        details = " ".join(e.detail for e in db.session.scalars(select(AuditEvent)))
        assert "rifle" not in details and "307-555" not in details


def test_relabel_keeps_the_prediction_and_moves_the_tip_in_the_queue(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a, urgency="low", category="other").ref
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/label", data={"csrf_token": token, "category": "weapon",
                                                    "urgency": "critical"})
    with world.app.app_context():
        tip = _tip(world, ref)
        assert (tip.category, tip.urgency) == ("other", "low")  # the model's prediction stays
        assert (tip.label_category, tip.label_urgency, tip.urgency_rank) == ("weapon", "critical", 3)
        assert tip.labelled_by_id == world.people["sro_a"] and tip.labelled_at is not None
        # Raised to critical: the school's chain is paged as if the model had said so.
        (alert,) = db.session.scalars(select(Alert).where(Alert.tip_id == tip.id))
        assert alert.staff_id == world.people["sro_a"] and alert.status == "pending"
    assert audit_actions(world.app, ref) == ["tip.viewed", "tip.relabelled"]


def test_a_medium_tip_raised_to_critical_after_its_sms_pages_the_primary_as_critical(world: World, signed_in) -> None:
    """The primary SRO had the tip's MEDIUM SMS in the morning, which asks for no answer at once. Raised to critical
    in the afternoon, the tip must page the primary as critical, as if the model had said so; before, nothing was
    written, and the morning's SMS counted as a critical page unanswered for hours, so the backup got it at once as
    'ESCALATED (no ack)' and the primary was never told it was critical."""
    from datetime import timedelta

    with world.app.app_context():
        tip = make_tip(world.school_a, urgency="medium", category="bullying")
        ref, morning = tip.ref, utcnow() - timedelta(hours=4)
        db.session.add(Alert(tip_id=tip.id, staff_id=world.people["sro_a"], chain_position=1, kind="initial",
                             status="delivered", due_at=morning, created_at=morning, sent_at=morning))
        db.session.commit()
    client = signed_in("counselor_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/label", data={"csrf_token": token, "category": "bullying",
                                                    "urgency": "critical"})
    with world.app.app_context():
        rows = db.session.execute(select(Alert.staff_id, Alert.kind, Alert.status).join(Tip)
                                  .where(Tip.ref == ref).order_by(Alert.id)).all()
    assert [tuple(row) for row in rows] == [(world.people["sro_a"], "initial", "delivered"),
                                            (world.people["sro_a"], "initial", "pending")]


def _send_as_shown(client: Any, page: str, ref: str, action: str, shown: str, **fields: Any) -> Any:
    """Send a form of a case page as that page had it: its CSRF token and what it showed when it was opened (the
    hidden `shown` field: status_was, labels_was, counselor_was), which is how a change made meanwhile is seen."""
    return client.post(f"/console/tips/{ref}/{action}", data={
        "csrf_token": csrf_token_in(page), shown: input_value(page, shown), **fields})


def test_a_correction_made_on_a_page_gone_stale_does_not_undo_another(world: World, signed_in) -> None:
    """The SRO raises a tip to critical; a counselor who opened it before corrects only its category. Her form
    also sends the urgency her page showed (high), which lowered the SRO's critical without a word."""
    with world.app.app_context():
        ref = make_tip(world.school_a, urgency="high", category="threat_of_violence").ref
    counselor, sro = signed_in("counselor_a"), signed_in("sro_a")
    page = counselor.get(f"/console/tips/{ref}").get_data(as_text=True)
    sro_page = sro.get(f"/console/tips/{ref}").get_data(as_text=True)
    _send_as_shown(sro, sro_page, ref, "label", "labels_was", category="weapon", urgency="critical")
    response = _send_as_shown(counselor, page, ref, "label", "labels_was", category="bullying", urgency="high")
    with world.app.app_context():
        tip = _tip(world, ref)
        assert (tip.label_category, tip.label_urgency) == ("weapon", "critical")
    assert audit_actions(world.app, ref).count("tip.relabelled") == 1
    again = counselor.get(response.headers["Location"]).get_data(as_text=True)
    assert "changed to weapon, critical while you had this case open" in again
    _send_as_shown(counselor, again, ref, "label", "labels_was", category="bullying", urgency="critical")
    with world.app.app_context():
        tip = _tip(world, ref)
        assert (tip.label_category, tip.label_urgency) == ("bullying", "critical")


def test_closing_needs_an_outcome_and_is_audited(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("counselor_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/status", data={"csrf_token": token, "status": "closed", "outcome": ""})
    with world.app.app_context():
        assert _tip(world, ref).status == "new"
    client.post(f"/console/tips/{ref}/status", data={"csrf_token": token, "status": "closed",
                                                     "outcome": "counselling_provided"})
    with world.app.app_context():
        tip = _tip(world, ref)
        assert (tip.status, tip.outcome) == ("closed", "counselling_provided") and tip.closed_at is not None
        assert tip.acknowledged_at is not None  # moving a case on stops its escalation
    assert audit_actions(world.app, ref) == ["tip.viewed", "tip.acknowledged", "tip.closed"]


def test_status_moves_forward_and_reopens_only_to_investigating(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")

    def set_status(status: str) -> str:
        client.post(f"/console/tips/{ref}/status", data={"csrf_token": token, "status": status,
                                                         "outcome": "unfounded"})
        with world.app.app_context():
            return _tip(world, ref).status

    assert set_status("investigating") == "investigating"
    assert set_status("new") == "investigating"
    assert set_status("resolved") == "resolved"
    assert set_status("closed") == "closed"
    assert set_status("investigating") == "investigating"
    with world.app.app_context():
        assert _tip(world, ref).outcome is None


def test_a_status_chosen_on_a_page_gone_stale_is_refused(world: World, signed_in) -> None:
    """A counselor moves the case on from the page she opened this morning; the SRO closed it meanwhile. Her
    'investigating' would have reopened the closed case without a word: it is refused and says why."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    counselor, sro = signed_in("counselor_a"), signed_in("sro_a")
    page = counselor.get(f"/console/tips/{ref}").get_data(as_text=True)
    sro.post(f"/console/tips/{ref}/status", data={"csrf_token": csrf_token(sro, f"/console/tips/{ref}"),
                                                  "status": "closed", "outcome": "unfounded", "status_was": "new"})
    response = _send_as_shown(counselor, page, ref, "status", "status_was", status="investigating", outcome="")
    with world.app.app_context():
        tip = _tip(world, ref)
        assert (tip.status, tip.outcome) == ("closed", "unfounded")
    assert audit_actions(world.app, ref).count("tip.status_changed") == 0
    again = counselor.get(response.headers["Location"]).get_data(as_text=True)
    assert "changed to closed while you had this case open" in again
    assert input_value(again, "status_was") == "closed"  # the page now shows it; choosing again is deliberate
    counselor.post(f"/console/tips/{ref}/status", data={
        "csrf_token": csrf_token_in(again), "status": "investigating", "outcome": "", "status_was": "closed"})
    with world.app.app_context():
        assert _tip(world, ref).status == "investigating"
    # The other way: a reporter's message reopened the case she had open as resolved. 'closed' would close it
    # with the message unread; refused too.
    page = counselor.get(f"/console/tips/{ref}").get_data(as_text=True)
    counselor.post(f"/console/tips/{ref}/status", data={"csrf_token": csrf_token_in(page), "status": "resolved",
                                                        "outcome": "", "status_was": "investigating"})
    with world.app.app_context():
        _tip(world, ref).reopen()
        db.session.commit()
    counselor.post(f"/console/tips/{ref}/status", data={"csrf_token": csrf_token_in(page), "status": "closed",
                                                        "outcome": "unfounded", "status_was": "resolved"})
    with world.app.app_context():
        assert _tip(world, ref).status == "investigating"


@pytest.mark.skipif(not on_postgres(), reason="on SQLite every change takes the write lock at BEGIN, so two changes "
                    "of a case already take turns")
def test_a_status_chosen_while_another_change_is_being_saved_waits_for_it_and_sees_it(world: World,
                                                                                      signed_in) -> None:
    """On PostgreSQL two changes sent at once both read the case before either had written: the second to commit
    checked its page against the status as it was before the first, passed, and overwrote it (here: the SRO's
    'closed' undone by a counselor's 'investigating' chosen on a page that showed 'new'). A change now locks the
    case's row first and reads it afresh, so it waits for the one being saved and is refused as from a stale page."""
    import threading
    import time

    with world.app.app_context():
        ref = make_tip(world.school_a).ref
        engine = db.engine
    counselor = signed_in("counselor_a")
    page = counselor.get(f"/console/tips/{ref}").get_data(as_text=True)
    responses: list[Any] = []
    table = Tip.__table__
    with engine.connect() as other:  # the SRO's change, holding the row while it is being saved
        transaction = other.begin()
        other.execute(select(table.c.id).where(table.c.ref == ref).with_for_update())
        change = threading.Thread(target=lambda: responses.append(_send_as_shown(
            counselor, page, ref, "status", "status_was", status="investigating", outcome="")))
        change.start()
        time.sleep(1.0)  # long enough for the counselor's request to have read the case, had it not waited
        other.execute(table.update().where(table.c.ref == ref).values(
            status="closed", outcome="unfounded", closed_at=utcnow(), acknowledged_at=utcnow()))
        transaction.commit()
    change.join(30)
    assert not change.is_alive() and responses[0].status_code == 302
    with world.app.app_context():
        tip = _tip(world, ref)
        assert (tip.status, tip.outcome) == ("closed", "unfounded")
    assert audit_actions(world.app, ref).count("tip.status_changed") == 0
    assert "changed to closed while you had this case open" in counselor.get(
        responses[0].headers["Location"]).get_data(as_text=True)


def test_an_acknowledgement_by_sms_meanwhile_does_not_refuse_a_status(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    counselor = signed_in("counselor_a")
    page = counselor.get(f"/console/tips/{ref}").get_data(as_text=True)
    with world.app.app_context():  # the SRO replied ACK to the SMS
        _tip(world, ref).status = "acknowledged"
        db.session.commit()
    counselor.post(f"/console/tips/{ref}/status", data={"csrf_token": csrf_token_in(page), "status": "investigating",
                                                        "outcome": "", "status_was": input_value(page, "status_was")})
    with world.app.app_context():
        assert _tip(world, ref).status == "investigating"


def test_acknowledge_stops_the_alerts(world: World, signed_in) -> None:
    with world.app.app_context():
        tip = make_tip(world.school_a, urgency="critical")
        db.session.add(Alert(tip_id=tip.id, staff_id=world.people["sro_a"], chain_position=1, status="sent"))
        db.session.commit()
        ref = tip.ref
    client = signed_in("sro_a")
    client.post(f"/console/tips/{ref}/acknowledge", data={"csrf_token": csrf_token(client, f"/console/tips/{ref}")})
    with world.app.app_context():
        tip = _tip(world, ref)
        assert tip.status == "acknowledged" and tip.acknowledged_by_id == world.people["sro_a"]
        alert = db.session.scalar(select(Alert).where(Alert.tip_id == tip.id))
        assert alert is not None and alert.status == "acknowledged"
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "Alert history" in page and "Sro A" in page


def test_alert_history_names_an_sms_about_a_reporters_message(world: World, signed_in) -> None:
    from app.models import REPLY_KIND

    with world.app.app_context():
        tip = make_tip(world.school_a, urgency="critical")
        db.session.add_all([Alert(tip_id=tip.id, staff_id=world.people["sro_a"], chain_position=1, status="sent"),
                            Alert(tip_id=tip.id, staff_id=world.people["sro_a"], chain_position=1, kind=REPLY_KIND,
                                  status="sent")])
        db.session.commit()
        ref = tip.ref
    page = signed_in("sro_a").get(f"/console/tips/{ref}").get_data(as_text=True)
    kinds = re.findall(r'<td data-label="Kind">([^<]*)</td>', page)
    assert kinds == ["initial", "reporter message"]


def test_notes_and_messages_are_sealed(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("counselor_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/notes", data={"csrf_token": token, "body": "Talked to the vice principal"})
    client.post(f"/console/tips/{ref}/messages", data={"csrf_token": token, "template": "where.es", "body": ""})
    with world.app.app_context():
        tip = _tip(world, ref)
        note = db.session.scalar(select(Note).where(Note.tip_id == tip.id))
        message = db.session.scalar(select(Message).where(Message.tip_id == tip.id))
        assert note is not None and message is not None and not message.from_reporter
        assert b"vice principal" not in (note.body_ct or b"")
        assert open_for_tip(tip, f"note:{note.id}", note.body_ct or b"") == b"Talked to the vice principal"
        assert open_for_tip(tip, f"message:{message.id}", message.body_ct or b"").decode().startswith("¿Dónde")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "Talked to the vice principal" in page and "¿Dónde está pasando esto?" in page
    assert audit_actions(world.app, ref)[1:3] == ["note.added", "message.sent"]


def test_each_label_of_the_case_page_names_its_own_box(world: World, signed_in) -> None:
    """The note's and the message's text boxes were both id="body": the note's label named the message box, so
    a tap on 'Internal note' put the cursor in the box that goes to the reporter, and a screen reader read the
    note box without its label."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    ids, labels = labelled_controls(signed_in("counselor_a").get(f"/console/tips/{ref}").get_data(as_text=True))
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert labels["Internal note (never shown to the reporter)"] == ("textarea", f"/console/tips/{ref}/notes")
    assert labels["Or write your own message"] == ("textarea", f"/console/tips/{ref}/messages")
    assert labels["Ready-made question"] == ("select", f"/console/tips/{ref}/messages")


def test_a_note_or_message_too_long_comes_back_whole_to_shorten(world: World, signed_in) -> None:
    """A counselor pastes a long account into a note: the browser's maxlength cut it without a word, and a longer
    one sent anyway was a flash 'Field cannot be longer than 5000 characters.' above an empty box, the note
    gone. Now the box has no maxlength and the page comes back with all of it, saying how long it is."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("counselor_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "maxlength" not in page.split('id="message-body"')[1].split(">")[0]
    assert "maxlength" not in page.split('id="note-body"')[1].split(">")[0]
    for kind, limit, noun in (("notes", 5000, "note"), ("messages", 2000, "message")):
        typed = "Spoke with the assistant principal; " * (limit // 36 + 1) + "and the end that matters."
        response = client.post(f"/console/tips/{ref}/{kind}", data={"csrf_token": csrf_token_in(page),
                                                                   "template": "", "body": typed})
        assert response.status_code == 400
        again = response.get_data(as_text=True)
        assert typed in again  # in the box, to shorten
        assert f"Please shorten the {noun} to {limit} characters or fewer (it has {len(typed)})." in again
    assert _count(Note, ref, world) == 0 and _count(Message, ref, world) == 0


def test_a_refused_box_is_described_by_its_error(world: World, signed_in) -> None:
    """The error under a refused box was a paragraph beside it only: a screen reader on the box read its label and
    never why it was refused. The box is now marked invalid and described by its error."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("counselor_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    again = client.post(f"/console/tips/{ref}/notes", data={"csrf_token": csrf_token_in(page),
                                                           "body": "x" * 5001}).get_data(as_text=True)
    box = re.search(r'<textarea[^>]*id="note-body"[^>]*>', again)
    assert box and 'aria-invalid="true"' in box.group(0) and 'aria-describedby="note-body-error"' in box.group(0)
    assert re.search(r'id="note-body-error">Please shorten the note', again)
    assert "aria-invalid" not in page  # a box not refused is not marked


def test_a_message_or_note_sent_twice_from_one_page_is_stored_once(world: World, signed_in) -> None:
    """An SRO on a phone taps 'Send to reporter' twice on a slow connection (or goes Back and sends again): the
    reporter got the same question twice and the thread showed it twice. The second is recognised as the same
    form and stored nothing; the same question asked again from the page that shows the first is sent."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    message = {"csrf_token": csrf_token_in(page), "template": "", "body": "Is he in class right now?",
               "message_after": input_value(page, "message_after") or ""}
    note = {"csrf_token": csrf_token_in(page), "body": "Called his mother",
            "note_after": input_value(page, "note_after") or ""}
    for _ in range(2):
        client.post(f"/console/tips/{ref}/messages", data=message)
        response = client.post(f"/console/tips/{ref}/notes", data=note)
    assert _count(Message, ref, world) == 1 and _count(Note, ref, world) == 1
    assert "was sent already" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert audit_actions(world.app, ref).count("message.sent") == 1
    assert audit_actions(world.app, ref).count("note.added") == 1
    fresh = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    client.post(f"/console/tips/{ref}/messages", data=message | {
        "csrf_token": csrf_token_in(fresh), "message_after": input_value(fresh, "message_after") or ""})
    assert _count(Message, ref, world) == 2


@pytest.mark.parametrize("body", ["", "   \r\n\t "], ids=["empty", "only-spaces"])
def test_an_empty_message_to_the_reporter_is_refused_and_sends_nothing(world: World, signed_in, body: str) -> None:
    """No question picked and no words (or only spaces and line breaks): the reporter would find an empty bubble
    from staff. Nothing is stored or recorded, and the case says what to do."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    response = client.post(f"/console/tips/{ref}/messages", data={
        "csrf_token": csrf_token_in(page), "template": "", "body": body,
        "message_after": input_value(page, "message_after") or ""})
    assert response.status_code in (302, 303)
    assert "Pick a ready-made question or write a message." in client.get(response.headers["Location"]).get_data(
        as_text=True)
    assert _count(Message, ref, world) == 0 and "message.sent" not in audit_actions(world.app, ref)


def test_a_form_from_before_signing_in_again_says_what_happened(world: World, signed_in) -> None:
    """A counselor's second tab held the case page from before she signed in again in the first (the session had
    idled out): its note form's token is the old session's. Sending it was werkzeug's bare '400 Bad Request: The
    CSRF tokens do not match.', in the jargon, without a way back. It is now a console page that says nothing
    was saved, why, and links back to the case."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("counselor_a")
    old_page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    client.post("/console/sign-out", data={"csrf_token": csrf_token_in(old_page)})
    sign_in(client, world, "counselor_a")
    response = client.post(f"/console/tips/{ref}/notes", data={"csrf_token": csrf_token_in(old_page),
                                                              "body": "Met with the parents"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This form has expired" in page and "Nothing was saved" in page and "CSRF" not in page
    assert f'href="/console/tips/{ref}"' in page
    assert _count(Note, ref, world) == 0


def test_opening_the_case_clears_the_new_reply_marker(world: World, signed_in) -> None:
    with world.app.app_context():
        tip = make_tip(world.school_a)
        add_unread_reporter_message(tip, "It is in the gym")
        db.session.commit()
        ref = tip.ref
    client = signed_in("sro_a")
    assert "New reply from reporter" in client.get("/console/").get_data(as_text=True)
    case = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "It is in the gym" in case
    # In a long thread the reply the marker was about is marked on the case page too, the first time it is shown.
    assert re.search(r'class="from-reporter new"><p class="meta"><strong>New</strong>', case)
    assert "New reply from reporter" not in client.get("/console/").get_data(as_text=True)
    assert "<strong>New</strong>" not in client.get(f"/console/tips/{ref}").get_data(as_text=True)


def test_photo_is_served_with_safe_headers_and_audited(world: World, signed_in) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    with world.app.app_context():
        tip = make_tip(world.school_a, photo=png)
        ref, attachment_id = tip.ref, tip.attachments[0].id
    response = signed_in("sro_a").get(f"/console/tips/{ref}/attachments/{attachment_id}")
    assert response.status_code == 200 and response.data == png
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"] == "inline"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert audit_actions(world.app, ref) == ["attachment.viewed"]


def test_assign_a_counselor_of_the_school_only(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/assign", data={"csrf_token": token, "counselor": world.people["counselor_b"]})
    with world.app.app_context():
        assert _tip(world, ref).assigned_counselor_id is None
    client.post(f"/console/tips/{ref}/assign", data={"csrf_token": token, "counselor": world.people["counselor_a"]})
    with world.app.app_context():
        assert _tip(world, ref).assigned_counselor_id == world.people["counselor_a"]


def test_an_assignment_made_on_a_page_gone_stale_is_refused(world: World, signed_in) -> None:
    """The SRO assigns the case to a counselor from the page she opened this morning; the district admin gave it
    to another counselor meanwhile. Her choice overwrote his without a word, and the first counselor, told by
    him, found it gone. It is refused with whom the case is assigned to now, as a stale status is."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
        db.session.add(Assignment(staff_id=world.people["counselor_b"], school_id=world.school_a))
        db.session.commit()
    sro, admin = signed_in("sro_a"), signed_in("admin")
    page = sro.get(f"/console/tips/{ref}").get_data(as_text=True)
    admin.post(f"/console/tips/{ref}/assign", data={"csrf_token": csrf_token(admin, f"/console/tips/{ref}"),
                                                    "counselor": world.people["counselor_a"], "counselor_was": "0"})
    response = _send_as_shown(sro, page, ref, "assign", "counselor_was", counselor=world.people["counselor_b"])
    with world.app.app_context():
        assert _tip(world, ref).assigned_counselor_id == world.people["counselor_a"]
    assert audit_actions(world.app, ref).count("tip.assigned") == 1
    again = sro.get(response.headers["Location"]).get_data(as_text=True)
    assert "The counselor was changed by someone else while you had this case open" in again
    assert "<dt>Counselor</dt><dd>Counselor A</dd>" in again
    assert input_value(again, "counselor_was") == str(world.people["counselor_a"])
    _send_as_shown(sro, again, ref, "assign", "counselor_was", counselor=world.people["counselor_b"])
    with world.app.app_context():
        assert _tip(world, ref).assigned_counselor_id == world.people["counselor_b"]


def test_linking_puts_two_tips_in_one_incident(world: World, signed_in) -> None:
    with world.app.app_context():
        first, second = make_tip(world.school_a).ref, make_tip(world.school_a).ref
    client = signed_in("sro_a")
    client.post(f"/console/tips/{first}/link", data={"csrf_token": csrf_token(client, f"/console/tips/{first}"),
                                                     "other_ref": second})
    with world.app.app_context():
        a, b = _tip(world, first), _tip(world, second)
        assert a.incident_id is not None and a.incident_id == b.incident_id
    assert second in client.get(f"/console/tips/{first}").get_data(as_text=True)


@pytest.mark.parametrize("typed", [" koqlm5 ", "k0q-1m5", "K0Q 1M5", "koq.lm5"])
def test_linking_reads_a_reference_said_aloud_as_the_queue_box_does(world: World, signed_in, typed: str) -> None:
    """The queue's box opens '7KQ-2MX' and '7KQ 2MX' (a reference read out on the phone, copied from a note) and
    reads O as 0 and I or L as 1, as an SMS ACK does; the link box on the case page upper-cased the reference only,
    and answered 'No other tip with that reference among your schools' for the same."""
    with world.app.app_context():
        first, second = make_tip(world.school_a), make_tip(world.school_a)
        second.ref = "K0Q1M5"
        db.session.commit()
        first_ref = first.ref
    client = signed_in("sro_a")
    client.post(f"/console/tips/{first_ref}/link", data={
        "csrf_token": csrf_token(client, f"/console/tips/{first_ref}"), "other_ref": typed})
    with world.app.app_context():
        a, b = _tip(world, first_ref), _tip(world, "K0Q1M5")
        assert a.incident_id is not None and a.incident_id == b.incident_id


def _shred(world: World, ref: str) -> None:
    with world.app.app_context():
        db_shred_tips([_tip(world, ref)], utcnow())
        db.session.commit()


def _count(model: type, tip_ref: str, world: World) -> int:
    with world.app.app_context():
        tip = _tip(world, tip_ref)
        return int(db.session.scalar(select(func.count()).select_from(model).where(model.tip_id == tip.id)) or 0)


def test_a_shredded_case_says_so_and_takes_no_note_or_message(world: World, signed_in) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a, SECRET_TEXT).ref
    client = signed_in("counselor_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/notes", data={"csrf_token": token, "body": "Before the shredding"})
    _shred(world, ref)
    page = client.get(f"/console/tips/{ref}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "This case was crypto-shredded after retention" in text and "rifle" not in text
    assert f'action="/console/tips/{ref}/notes"' not in text and f'action="/console/tips/{ref}/messages"' not in text
    for path, data in (("notes", {"body": "After the shredding"}), ("messages", {"template": "where.en"})):
        response = client.post(f"/console/tips/{ref}/{path}", data={"csrf_token": token, **data})
        assert response.status_code == 409
        assert "crypto-shredded after retention: nothing can be added" in response.get_data(as_text=True)
    assert _count(Note, ref, world) == 1 and _count(Message, ref, world) == 0


def test_a_shredded_case_cannot_be_reopened_and_keeps_its_outcome(world: World, signed_in) -> None:
    """A case shredded after retention has nothing left to investigate: reopening it put an empty case back in the
    queue for good and wiped its outcome and closing date, which the quarterly figures keep."""
    with world.app.app_context():
        ref = make_tip(world.school_a, SECRET_TEXT).ref
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/status", data={"csrf_token": token, "status": "closed",
                                                     "outcome": "unfounded", "status_was": "new"})
    _shred(world, ref)
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert f'action="/console/tips/{ref}/status"' not in page
    response = client.post(f"/console/tips/{ref}/status", data={"csrf_token": token, "status": "investigating",
                                                                "outcome": "", "status_was": "closed"},
                           follow_redirects=True)
    assert "crypto-shredded after retention: its status stays closed" in response.get_data(as_text=True)
    with world.app.app_context():
        tip = _tip(world, ref)
        assert (tip.status, tip.outcome) == ("closed", "unfounded") and tip.closed_at is not None
    assert audit_actions(world.app, ref)[-1] == "tip.viewed"


def test_note_or_message_without_the_keyring_is_refused_not_a_500(world: World, signed_in, tmp_path) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    world.app.config["KEYRING_PATH"] = str(tmp_path / "gone.json")
    for path, data in (("notes", {"body": "A note"}), ("messages", {"template": "where.en"})):
        response = client.post(f"/console/tips/{ref}/{path}", data={"csrf_token": token, **data})
        assert response.status_code == 503  # the text back to save again: test_console_kept_text.py
        page = response.get_data(as_text=True)
        assert "keyring, which is\nmissing or wrong" in page and "Nothing was saved" in page
    assert _count(Note, ref, world) == 0 and _count(Message, ref, world) == 0



def test_a_case_opened_without_the_keyring_keeps_the_reporters_new_reply_unread(world: World, signed_in,
                                                                               tmp_path) -> None:
    """Opening a case that could not be decrypted (the keyring missing) cleared "New reply from reporter" and marked
    the reply read, though nobody could read it: once the keyring was back, "he is outside the school now" sat in the
    thread like any old message, and nothing in the queue said it was there. It stays new until it can be read."""
    with world.app.app_context():
        tip = make_tip(world.school_a)
        add_unread_reporter_message(tip, "he is outside the school now")
        db.session.commit()
        ref = tip.ref
    client = signed_in("sro_a")
    keyring = world.app.config["KEYRING_PATH"]
    world.app.config["KEYRING_PATH"] = str(tmp_path / "gone.json")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "keyring is not available" in page and "outside the school" not in page
    world.app.config["KEYRING_PATH"] = keyring
    assert "New reply from reporter" in client.get("/console/").get_data(as_text=True)
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "outside the school" in page and 'href="#new-message"' in page
    assert "New reply from reporter" not in client.get("/console/").get_data(as_text=True)
    with world.app.app_context():
        views = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "tip.viewed")).all()
        assert views == ['{"decrypted":false}', '{"decrypted":true}']


def test_a_note_refused_for_a_database_locked_too_long_comes_back_to_save_again(make_app, caplog) -> None:
    """A writer holding SQLite past the busy timeout (or a database that does not answer) made a note or a
    message to the reporter a bare 500 with the text lost; it is now a 503 that says nothing was saved and has
    the text in a form to save again, and an OPERATOR line without the text."""
    import fcntl
    import os

    import pytest

    from app.database import WRITER_QUEUE_SUFFIX
    from tests.console.helpers import build_world, sign_in

    app = make_app(SQLITE_BUSY_TIMEOUT_S=1)
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if not url.startswith("sqlite:///"):
        pytest.skip("the writer queue is SQLite's")
    world = build_world(app)
    with app.app_context():
        ref = make_tip(world.school_a).ref
    client = app.test_client()
    assert sign_in(client, world, "counselor_a").status_code == 302
    token = csrf_token(client, f"/console/tips/{ref}")
    note = "Spoke with <Ms. Ray> & the VP: locker 214 searched, nothing found; parents called at 3:10."
    holder = os.open(url.removeprefix("sqlite:///") + WRITER_QUEUE_SUFFIX, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # the alert worker or a purge that does not finish
    try:
        response = client.post(f"/console/tips/{ref}/notes", data={"csrf_token": token, "body": note})
    finally:
        os.close(holder)
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "Nothing was saved" in page
    assert "Spoke with &lt;Ms. Ray&gt; &amp; the VP: locker 214" in page
    assert f'action="/console/tips/{ref}/notes"' in page
    assert any("database is locked or unreachable" in r.getMessage() for r in caplog.records)
    assert not any("locker 214" in r.getMessage() or "locker 214" in str(getattr(r, "fields", {}))
                   for r in caplog.records)
    assert _count(Note, ref, world) == 0
    again = client.post(f"/console/tips/{ref}/notes", data={"csrf_token": csrf_token_in(page), "body": note})
    assert again.status_code == 302 and _count(Note, ref, world) == 1


def test_a_message_to_the_reporter_refused_for_a_lost_database_is_kept(world: World, signed_in, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")

    def dropped(*_args, **_kwargs):
        raise OperationalError("INSERT", None, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr("app.console.case_actions.audit.record", dropped)
    response = client.post(f"/console/tips/{ref}/messages", data={
        "csrf_token": token, "template": "where.en", "body": "Which door did he use?"})
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "Nothing was saved" in page and "Which door did he use?</textarea>" in page
    assert 'name="template" value="where.en"' in page
    assert _count(Message, ref, world) == 0
    view = client.get(f"/console/tips/{ref}")  # opening the case writes its audit event, so it fails too
    shown = view.get_data(as_text=True)
    assert view.status_code == 503 and "try again in a minute" in shown
    assert "Nothing was saved" not in shown and "<textarea" not in shown
    monkeypatch.undo()
    again = client.post(f"/console/tips/{ref}/messages", data={
        "csrf_token": csrf_token_in(page), "template": "where.en", "body": "Which door did he use?"})
    assert again.status_code == 302 and _count(Message, ref, world) == 1


def test_linking_merges_the_whole_incident(world: World, signed_in) -> None:
    with world.app.app_context():
        first, second = Incident(school_id=world.school_a, category="weapon"), \
            Incident(school_id=world.school_a, category="weapon")
        db.session.add_all([first, second])
        db.session.flush()
        a1, a2 = make_tip(world.school_a, incident_id=first.id).ref, make_tip(world.school_a, incident_id=first.id).ref
        b1 = make_tip(world.school_a, incident_id=second.id).ref
        target = second.id
    client = signed_in("sro_a")
    client.post(f"/console/tips/{a1}/link", data={"csrf_token": csrf_token(client, f"/console/tips/{a1}"),
                                                  "other_ref": b1})
    with world.app.app_context():
        # a2 was linked to a1 before: it follows a1 into the other incident rather than being left behind.
        assert {_tip(world, r).incident_id for r in (a1, a2, b1)} == {target}


def test_linking_refuses_tips_of_different_schools(world: World, signed_in) -> None:
    with world.app.app_context():
        mine, other = make_tip(world.school_a).ref, make_tip(world.school_b).ref
    client = signed_in("admin")  # sees both schools
    response = client.post(f"/console/tips/{mine}/link", data={
        "csrf_token": csrf_token(client, f"/console/tips/{mine}"), "other_ref": other}, follow_redirects=True)
    assert "different schools" in response.get_data(as_text=True)
    with world.app.app_context():
        assert _tip(world, mine).incident_id is None and _tip(world, other).incident_id is None


def test_flash_after_linking_names_no_tip(world: World, signed_in) -> None:
    with world.app.app_context():
        first, second = make_tip(world.school_a).ref, make_tip(world.school_a).ref
    client = signed_in("sro_a")
    client.post(f"/console/tips/{first}/link", data={"csrf_token": csrf_token(client, f"/console/tips/{first}"),
                                                     "other_ref": second})
    flashes = session_of(world.app, client).get("_flashes", [])
    assert [message for _category, message in flashes] == ["Linked."]


def test_case_page_renders_without_the_write_lock(world: World, signed_in) -> None:
    with world.app.app_context():
        incident = Incident(school_id=world.school_a, category="weapon")
        db.session.add(incident)
        db.session.flush()
        ref = make_tip(world.school_a, photo=b"\x89PNG\r\n\x1a\n", incident_id=incident.id).ref
        make_tip(world.school_a, incident_id=incident.id)
    client = signed_in("sro_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/notes", data={"csrf_token": token, "body": "A note"})
    with rendering_holding_the_lock(world.app) as held:
        page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert held == [] and "A note" in page and "Photos" in page
    assert audit_actions(world.app, ref).count("tip.viewed") == 2  # the view is on the record all the same


def test_case_times_are_on_the_schools_clock_with_their_zone(world: World, signed_in) -> None:
    # Staff in Casper read UTC as seven hours off; the reporter's page already dates messages in the school's zone.
    with world.app.app_context():
        tip = make_tip(world.school_a, created_at=datetime(2026, 1, 15, 9, 5))  # naive UTC, like every column
        tip.acknowledged_at, tip.acknowledged_by_id = datetime(2026, 7, 4, 18, 30), world.people["sro_a"]
        db.session.commit()
        ref = tip.ref
    page = signed_in("counselor_a").get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "2026-01-15 02:05 MST" in page  # winter: UTC-7
    assert re.search(r'2026-07-04 12:30 MDT <span class="ago no-print">\([^)]+ ago\)</span> by', page)  # UTC-6
    assert "09:05" not in page and "UTC" not in page
    audit = signed_in("admin").get(f"/console/admin/audit?tip_ref={ref}").get_data(as_text=True)
    assert " MST</td>" in audit or " MDT</td>" in audit  # district-wide pages: the district's zone


def test_case_times_say_how_long_ago_as_well(world: World, signed_in, frozen_clock) -> None:
    """Woken at 2 a.m., the SRO reads 'Received 2026-01-15 01:48 MST' and must work out what time it is now to know
    whether the tip is fresh; the reporter's answer to 'where are you now?' said only its clock time too. Each time
    on the case now says how long ago it was as well, on the screen (not on the printed copy, which has its own
    time)."""
    now = frozen_clock.now
    with world.app.app_context():
        tip = make_tip(world.school_a, created_at=now - timedelta(minutes=17))
        tip.acknowledged_at, tip.acknowledged_by_id = now - timedelta(minutes=12), world.people["sro_a"]
        add_unread_reporter_message(tip, "I am in the library now")
        (message,) = tip.messages
        message.created_at = now - timedelta(minutes=2)
        db.session.commit()
        ref = tip.ref
    page = signed_in("sro_a").get(f"/console/tips/{ref}").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert re.search(r"Received [-0-9]+ [0-9:]+ M[SD]T \(17 min ago\)", text), text[:3000]
    assert re.search(r"Acknowledged [-0-9]+ [0-9:]+ M[SD]T \(12 min ago\) by Sro A", text)
    assert re.search(r"Reporter, [-0-9]+ [0-9:]+ M[SD]T \(2 min ago\)", text)
    assert page.count('class="ago no-print"') == 3


def test_a_note_sent_after_the_session_ended_comes_back_to_copy(world: World, signed_in, frozen_clock) -> None:
    """A counselor wrote a long note through a 40-minute meeting; the session had idled out (30 minutes), so
    'Add note' went to the sign-in page and the note was gone. Now the page says the session ended and nothing
    was saved, gives the note back to copy, and signing in leads back to the case."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("counselor_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    frozen_clock.advance(minutes=40)
    note = "Met with the parents and the vice principal: he is staying with his aunt until Monday"
    response = client.post(f"/console/tips/{ref}/notes", data={"csrf_token": csrf_token_in(page), "body": note})
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert "Your session ended" in body and "Nothing was saved" in body and note in body
    assert f'href="/console/sign-in?next=/console/tips/{ref}"' in body
    assert _count(Note, ref, world) == 0
    assert client.get(f"/console/tips/{ref}").status_code == 302  # signed out, as before


def test_a_note_or_message_from_a_form_gone_stale_comes_back_to_copy(world: World, signed_in) -> None:
    """The expired-form page said to copy the text 'from that page first', but the page was already left behind
    and console pages are no-store: Back brought it back empty, the note or the message to the reporter gone.
    The page now gives it back to copy, as the ended-session and busy-database pages do."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("counselor_a")
    old_page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    client.post("/console/sign-out", data={"csrf_token": csrf_token_in(old_page)})
    sign_in(client, world, "counselor_a")
    for kind, typed in (("notes", "Met with the parents; he stays with his aunt until Monday"),
                        ("messages", "Is he safe at home tonight? You can answer here at any time.")):
        response = client.post(f"/console/tips/{ref}/{kind}", data={"csrf_token": csrf_token_in(old_page),
                                                                     "body": typed})
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "This form has expired" in page and typed in page
        assert "copy it from that page first" not in page
    assert _count(Note, ref, world) == 0 and _count(Message, ref, world) == 0


def test_acknowledge_after_the_session_ended_leads_back_to_the_case(world: World, signed_in, frozen_clock) -> None:
    """An SRO read a case from the alert SMS, went to look, and tapped Acknowledge 40 minutes later: the session
    had idled out, so the sign-in page came up and, once signed in, the queue, the case lost among the others and
    nothing saying the acknowledgement had not been made. Signing in now leads back to the case, and the sign-in
    page says nothing was saved."""
    with world.app.app_context():
        ref = make_tip(world.school_a, urgency="critical", category="weapon").ref
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    frozen_clock.advance(minutes=40)
    response = client.post(f"/console/tips/{ref}/acknowledge", data={"csrf_token": csrf_token_in(page)})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/console/sign-in?next=/console/tips/{ref}"
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nothing was saved" in shown
    with world.app.app_context():
        assert _tip(world, ref).acknowledged_at is None
    assert sign_in(client, world, "sro_a", page=response.headers["Location"]).headers["Location"] == (
        f"/console/tips/{ref}")


def _flashes(page: str) -> list[str]:
    return re.findall(r'class="flash [^"]*"[^>]*>(.*?)</p>', page)


def test_a_status_or_correction_sent_twice_says_it_is_done_not_that_someone_else_changed_it(world: World,
                                                                                             signed_in) -> None:
    """A counselor taps 'Change status' twice on a slow phone. The browser shows the second request's answer
    only, which said 'The status changed to closed while you had this case open: nothing was changed. Check the
    case and choose again.': her own close read as someone else's, and 'nothing was changed' as her close lost.
    A correction tapped twice said the same of the labels. Both now say it is done already."""
    with world.app.app_context():
        ref = make_tip(world.school_a, urgency="high", category="threat_of_violence").ref
    client = signed_in("counselor_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    for _ in range(2):
        response = _send_as_shown(client, page, ref, "status", "status_was", status="closed", outcome="unfounded")
    shown = _flashes(client.get(response.headers["Location"]).get_data(as_text=True))
    assert not [said for said in shown if "nothing was changed" in said], shown
    assert "This case is closed already (unfounded)." in shown
    for _ in range(2):
        response = _send_as_shown(client, page, ref, "label", "labels_was", category="weapon", urgency="critical")
    shown = _flashes(client.get(response.headers["Location"]).get_data(as_text=True))
    assert not [said for said in shown if "nothing was changed" in said], shown
    assert "The category and urgency are weapon, critical already." in shown
    actions = audit_actions(world.app, ref)
    assert actions.count("tip.closed") == 1 and actions.count("tip.relabelled") == 1
    # Closing with another outcome than the one it was closed with meanwhile is still refused as from a stale page.
    response = _send_as_shown(client, page, ref, "status", "status_was", status="closed", outcome="duplicate")
    assert "changed to closed while you had this case open" in client.get(
        response.headers["Location"]).get_data(as_text=True)
    with world.app.app_context():
        assert _tip(world, ref).outcome == "unfounded"


def test_a_message_in_own_words_is_not_recorded_as_a_ready_made_question(world: World, signed_in) -> None:
    """A counselor picked a ready-made question, then wrote her own words instead, which are what is sent; the audit
    record still said the ready-made question was sent (`template`), so it told the district something the reporter
    never received."""
    import json

    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("counselor_a")
    token = csrf_token(client, f"/console/tips/{ref}")
    client.post(f"/console/tips/{ref}/messages", data={"csrf_token": token, "template": "where.es",
                                                       "body": "Are you safe right now?"})
    client.post(f"/console/tips/{ref}/messages", data={"csrf_token": token, "template": "where.es", "body": ""})
    with world.app.app_context():
        details = [json.loads(e.detail) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "message.sent").order_by(AuditEvent.id))]
    assert [d["template"] for d in details] == [None, "where.es"]


@pytest.mark.parametrize(("action", "anchor"), [("notes", "notes"), ("messages", "messages"), ("status", "status"),
                                                ("label", "labels"), ("assign", "assign"), ("link", "related"),
                                                ("acknowledge", ""), ("hold", "hold"), ("hold/release", "hold"),
                                                ("unlink", "related")])
def test_a_case_form_address_opened_again_leads_to_the_case(world: World, signed_in, action: str,
                                                             anchor: str) -> None:
    """A note refused as too long (or the busy-database page) is shown at the form's address, /tips/<ref>/notes; a
    phone that reloads the tab later, or a colleague sent that address, opened it with GET: werkzeug's bare
    'Method Not Allowed', no console, no way back to the case. It now leads to the case, at the form; another
    school's case is still 'Not found'."""
    with world.app.app_context():
        ref, theirs = make_tip(world.school_a).ref, make_tip(world.school_b).ref
    client = signed_in("counselor_a")
    response = client.get(f"/console/tips/{ref.lower()}/{action}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/console/tips/{ref}" + (f"#{anchor}" if anchor else "")
    assert client.get(f"/console/tips/{theirs}/{action}").status_code == 404
    assert client.get(f"/console/tips/{ref}/nonsense").status_code == 404


def test_closing_a_closed_case_with_another_outcome_says_how_to_correct_it(world: World, signed_in) -> None:
    """A counselor closed a case as 'unfounded' and meant 'duplicate'; choosing closed with the right outcome said
    only 'A tip cannot go from closed to closed.', with no word of how to correct the outcome."""
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("counselor_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    _send_as_shown(client, page, ref, "status", "status_was", status="closed", outcome="unfounded")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    response = _send_as_shown(client, page, ref, "status", "status_was", status="closed", outcome="duplicate")
    shown = _flashes(client.get(response.headers["Location"]).get_data(as_text=True))
    assert ("This case is closed already (unfounded). To change its outcome, reopen it (investigating), then close "
            "it with the right one.") in shown
    with world.app.app_context():
        assert _tip(world, ref).outcome == "unfounded"


@pytest.mark.parametrize("gone", ["deactivated", "taken_off_the_school"])
def test_assigning_a_counselor_gone_since_the_page_was_opened_says_what_happened(world: World, signed_in,
                                                                                  gone: str) -> None:
    """The SRO picks a counselor who was deactivated, or taken off the school, while the case was open: the form
    answered only 'Not a valid choice.', which did not say why, nor whether anyone was assigned."""
    from app.models import Staff

    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    sro = signed_in("sro_a")
    page = sro.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert f'value="{world.people["counselor_a"]}"' in page
    with world.app.app_context():
        if gone == "deactivated":
            staff = db.session.get(Staff, world.people["counselor_a"])
            assert staff is not None
            staff.active = False
        else:
            db.session.execute(Assignment.__table__.delete().where(
                Assignment.staff_id == world.people["counselor_a"]))
        db.session.commit()
    response = _send_as_shown(sro, page, ref, "assign", "counselor_was", counselor=world.people["counselor_a"])
    assert response.headers["Location"] == f"/console/tips/{ref}#assign"
    shown = _flashes(sro.get(response.headers["Location"]).get_data(as_text=True))
    assert shown == ["The counselor you chose can no longer be assigned to this case (deactivated, or no longer a "
                     "counselor of this school) since you opened it: nothing was assigned. Choose again from the "
                     "list as it is now."]
    with world.app.app_context():
        assert _tip(world, ref).assigned_counselor_id is None
    assert "tip.assigned" not in audit_actions(world.app, ref)


def test_acknowledging_from_the_top_of_the_case_keeps_the_reporters_new_message_marked(world: World,
                                                                                       signed_in) -> None:
    """2:40 a.m., a phone: the case of the SMS link opens with "Acknowledge" and "New message from the reporter" at
    the top, the message screens below. The SRO taps Acknowledge first, as the page asks: the page that came back
    had lost both the link and the message's "New", since the first page had counted as reading it. The page that
    follows an action sent from the case keeps the marks the page it was sent from showed; the case opened afresh
    shows the message as read."""
    with world.app.app_context():
        tip = make_tip(world.school_a, urgency="critical", category="weapon")
        add_unread_reporter_message(tip, "he is in the east stairwell now")
        db.session.commit()
        ref = tip.ref
    client = signed_in("sro_a")
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert 'href="#new-message"' in page and "<strong>New</strong>" in page
    page = client.post(f"/console/tips/{ref}/acknowledge", data={"csrf_token": csrf_token_in(page)},
                       follow_redirects=True).get_data(as_text=True)
    assert "Acknowledged: escalation stopped." in page
    assert 'href="#new-message"' in page and "<strong>New</strong>" in page
    page = client.get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "stairwell" in page and 'href="#new-message"' not in page and "<strong>New</strong>" not in page
    page = signed_in("counselor_a").get(f"/console/tips/{ref}").get_data(as_text=True)
    assert "stairwell" in page and 'href="#new-message"' not in page
