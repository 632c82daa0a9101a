"""Twilio webhooks: only signed requests for our exact URL change anything."""

from sqlalchemy import select

from app.extensions import db
from app.models import Alert, Staff, Tip
from tests.alerts.conftest import alerts_of, chain_phones, make_tip, staff_by_phone
from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FAKE_SENDER, inbound_sms_params, send_inbound_sms, signed_headers
from tests.support.live_server import LiveServer


def _snapshot(app):
    with app.app_context():
        tips = [(t.ref, t.status, t.acknowledged_at) for t in db.session.scalars(select(Tip))]
        staff = [(s.email, s.sms_opted_out) for s in db.session.scalars(select(Staff))]
        return tips, staff


def test_forged_unsigned_and_replayed_webhooks_get_403_and_change_nothing(alert_app, fake_twilio):
    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        primary = chain_phones("KWHS")[0]
    from app.alerts.dispatcher import run_once

    with alert_app.app_context():
        run_once("t")
    before = _snapshot(alert_app)
    with LiveServer(alert_app) as url:
        for kind in ("missing", "wrong_token", "tampered"):
            for path in ("/hooks/twilio/sms", "/hooks/twilio/status"):
                response = send_inbound_sms(f"{url}{path}", primary, f"ACK {tip.ref}", fake_twilio.auth_token,
                                            signature=kind)
                assert response.status == 403, (kind, path)
        # Replayed: a valid signature for another URL (the status hook) posted to the SMS hook.
        client = alert_app.test_client()
        params = inbound_sms_params(primary, f"ACK {tip.ref}", to=FAKE_SENDER, account_sid=FAKE_ACCOUNT_SID)
        headers = signed_headers(f"{url}/hooks/twilio/status", params, fake_twilio.auth_token)
        replayed = client.post("/hooks/twilio/sms", data=params, headers=headers, base_url=url)
        assert replayed.status_code == 403
        stop = send_inbound_sms(f"{url}/hooks/twilio/sms", primary, "STOP", "not-the-token")
        assert stop.status == 403
    assert _snapshot(alert_app) == before


def test_unknown_number_learns_nothing(alert_app, fake_twilio):
    with LiveServer(alert_app) as url:
        response = send_inbound_sms(f"{url}/hooks/twilio/sms", "+15551234567", "ACK", fake_twilio.auth_token)
    assert response.status == 200
    assert "does not accept messages" in response.text
    assert "tip" not in response.text.lower()


def test_ack_with_reference_only_for_tips_sent_to_that_person(alert_app, fake_twilio):
    from app.alerts.dispatcher import run_once

    with alert_app.app_context():
        mine = make_tip("KWHS", "critical")
        theirs = make_tip("EVES", "critical")
        kw_primary = chain_phones("KWHS")[0]
        run_once("t")
    with LiveServer(alert_app) as url:
        hook = f"{url}/hooks/twilio/sms"
        refused = send_inbound_sms(hook, kw_primary, f"ACK {theirs.ref}", fake_twilio.auth_token)
        assert "No open alert with that reference" in refused.text and theirs.ref not in refused.text
        accepted = send_inbound_sms(hook, kw_primary, f"ack {mine.ref.lower()}", fake_twilio.auth_token)
        assert f"Acknowledged #{mine.ref}" in accepted.text
        again = send_inbound_sms(hook, kw_primary, "1", fake_twilio.auth_token)
        assert f"#{mine.ref} was already acknowledged" in again.text and theirs.ref not in again.text
    with alert_app.app_context():
        assert db.session.get(Tip, theirs.id).acknowledged_at is None
        assert db.session.get(Tip, mine.id).status == "acknowledged"


def test_stop_skips_the_person_and_start_brings_them_back(alert_app, fake_twilio):
    with alert_app.app_context():
        primary = chain_phones("NCHS")[0]
    with LiveServer(alert_app) as url:
        hook = f"{url}/hooks/twilio/sms"
        assert send_inbound_sms(hook, primary, "STOP", fake_twilio.auth_token).status == 200
        with alert_app.app_context():
            assert staff_by_phone(primary).sms_opted_out is True
            (alert,) = alerts_of(make_tip("NCHS", "critical").ref)
            assert alert.chain_position == 2
        assert "on again" in send_inbound_sms(hook, primary, "START", fake_twilio.auth_token).text
    with alert_app.app_context():
        assert staff_by_phone(primary).sms_opted_out is False


def test_webhooks_signed_for_the_public_url_are_taken_behind_a_proxy_that_does_not_forward_it(alert_app, fake_twilio):
    """Twilio signs the URL it was given: PUBLIC_BASE_URL's. Behind a proxy that does not pass the scheme and host
    on (TLS ended at a load balancer before nginx, or TRUSTED_PROXY_HOPS left at 0) the app sees
    http://127.0.0.1:8000, and every acknowledgement and delivery report used to get 403."""
    public = "https://tips.example-district.org"
    alert_app.config.update(PUBLIC_BASE_URL=public)
    from app.alerts.dispatcher import run_once

    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        primary = chain_phones("KWHS")[0]
        fake_twilio.set_outcome(primary, "none")  # the fake posts no callback to the public host
        run_once("t")
    client = alert_app.test_client()
    params = inbound_sms_params(primary, f"ACK {tip.ref}", to=FAKE_SENDER, account_sid=FAKE_ACCOUNT_SID)
    for signed_for in ("https://evil.example/hooks/twilio/sms", f"{public}/hooks/twilio/status"):
        headers = signed_headers(signed_for, params, fake_twilio.auth_token)
        assert client.post("/hooks/twilio/sms", data=params, headers=headers,
                           base_url="http://127.0.0.1:8000").status_code == 403
    headers = signed_headers(f"{public}/hooks/twilio/sms", params, fake_twilio.auth_token)
    response = client.post("/hooks/twilio/sms", data=params, headers=headers, base_url="http://127.0.0.1:8000")
    assert response.status_code == 200 and f"Acknowledged #{tip.ref}" in response.get_data(as_text=True)
    status = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered", "AccountSid": FAKE_ACCOUNT_SID}
    headers = signed_headers(f"{public}/hooks/twilio/status?alert=1", status, fake_twilio.auth_token)
    assert client.post("/hooks/twilio/status?alert=1", data=status, headers=headers,
                       base_url="http://127.0.0.1:8000").status_code == 204


def test_a_nul_character_in_a_signed_webhook_is_refused_before_any_query(alert_app, fake_twilio):
    """PostgreSQL refuses text holding NUL (psycopg: DataError): a signed inbound SMS or delivery report with one
    in From, MessageSid, MessageStatus or ErrorCode reached a query or an UPDATE and was a 500 there (Twilio
    retrying it), while SQLite stored it. Both now refuse it with 400 and change nothing."""
    from app.alerts.dispatcher import run_once

    with alert_app.app_context():
        tip = make_tip("KWHS", "critical")
        primary = chain_phones("KWHS")[0]
        fake_twilio.set_outcome(primary, "none")
        run_once("t")
        alert = alerts_of(tip.ref)[0]
        alert_id, sid = alert.id, alert.twilio_sid
        row_before = (alert.status, alert.twilio_status, alert.error_code)
    before = _snapshot(alert_app)
    alert_app.config["PROPAGATE_EXCEPTIONS"] = False  # a 500 is answered, as in production
    client = alert_app.test_client()
    url = "http://127.0.0.1:9"
    sms = [inbound_sms_params(primary, "1", to=FAKE_SENDER, account_sid=FAKE_ACCOUNT_SID, message_sid="SM\x00"),
           inbound_sms_params(primary + "\x00", "1", to=FAKE_SENDER, account_sid=FAKE_ACCOUNT_SID),
           inbound_sms_params(primary, f"ACK {tip.ref}\x00", to=FAKE_SENDER, account_sid=FAKE_ACCOUNT_SID)]
    statuses = [{"MessageSid": "SM\x00", "MessageStatus": "delivered", "AccountSid": FAKE_ACCOUNT_SID},
                {"MessageSid": sid, "MessageStatus": "deliv\x00ered", "AccountSid": FAKE_ACCOUNT_SID},
                {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30\x0003",
                 "AccountSid": FAKE_ACCOUNT_SID}]
    codes = [client.post("/hooks/twilio/sms", data=params, base_url=url,
                         headers=signed_headers(f"{url}/hooks/twilio/sms", params, fake_twilio.auth_token)).status_code
             for params in sms]
    for path in ("/hooks/twilio/status", f"/hooks/twilio/status?alert={alert_id}"):
        codes += [client.post(path, data=params, base_url=url,
                              headers=signed_headers(f"{url}{path}", params, fake_twilio.auth_token)).status_code
                  for params in statuses]
    assert codes == [400] * len(codes)
    assert _snapshot(alert_app) == before
    with alert_app.app_context():
        row = db.session.get(Alert, alert_id)
        assert (row.status, row.twilio_status, row.error_code) == row_before


def test_an_ack_the_database_could_not_record_asks_to_send_it_again(alert_app, fake_twilio, monkeypatch, caplog):
    """Twilio does not post an inbound SMS again after an error: a database locked past the busy timeout (or not
    answering) made the "1" a bare 500, so the SRO got no answer and the tip escalated on as if nobody had it.
    The reply now says it was not recorded and to send it again; a delivery report gets 503."""
    from sqlalchemy.exc import OperationalError

    from app.alerts.dispatcher import run_once
    from tests.alerts.conftest import post_sms, post_status

    with alert_app.app_context():
        info = make_tip("KWHS", "critical")
        run_once("w")
        (alert,) = alerts_of(info.ref)
        alert_id, sid = alert.id, alert.twilio_sid
        primary = chain_phones("KWHS")[0]

    def locked(*_args, **_kwargs):
        raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked"))

    monkeypatch.setattr("app.hooks.views.db_take_turn_for_sms", locked)
    monkeypatch.setattr("app.hooks.views._alert_of_callback", locked)
    reply = post_sms(alert_app, fake_twilio.auth_token, primary, "1")
    assert "not recorded" in reply and "send it again" in reply and "<Response><Message>" in reply
    assert post_status(alert_app, fake_twilio.auth_token, alert_id, sid, "delivered", 0) == 503
    assert any("database is locked or unreachable" in r.getMessage() for r in caplog.records)
    with alert_app.app_context():
        assert db.session.get(Tip, info.id).acknowledged_at is None
    monkeypatch.undo()
    assert f"Acknowledged #{info.ref}" in post_sms(alert_app, fake_twilio.auth_token, primary, "1")


def test_webhooks_signed_with_the_previous_auth_token_are_taken_while_it_is_rotated(alert_app, fake_twilio):
    """Rotating the Twilio auth token (after a leak, say): the app gets the new token, and until the new one is
    promoted in Twilio's console, Twilio still signs webhooks with the old one; every SRO's "1" got 403 and no reply.
    TWILIO_PREVIOUS_AUTH_TOKEN is taken as well meanwhile; any other token is still refused."""
    from tests.alerts.conftest import post_sms

    alert_app.config.update(TWILIO_AUTH_TOKEN="new-auth-token-0123456789abcdef",
                            TWILIO_PREVIOUS_AUTH_TOKEN=fake_twilio.auth_token)
    with alert_app.app_context():
        primary = chain_phones("NCHS")[0]
    assert "Nothing to acknowledge" in post_sms(alert_app, fake_twilio.auth_token, primary, "1")
    assert "Nothing to acknowledge" in post_sms(alert_app, "new-auth-token-0123456789abcdef", primary, "1")
    assert "403 Forbidden" in post_sms(alert_app, "another-token-0123456789abcdef", primary, "1")


def test_an_ack_recorded_just_before_the_database_locked_is_answered_as_recorded(make_app, fake_twilio, monkeypatch):
    """The "1" was committed, and then another writer took SQLite's write lock (or PostgreSQL went away) before the
    reply was written: the reply read the tip's reference again after the commit, that read met the lock, and the SRO
    was told "Your reply was not recorded ... send it again" about a tip they had acknowledged. Sent again, a new
    "1" acknowledges the newest alert still open, another tip's, whose escalation then stops unread. Nothing after
    the commit asks the database anything now."""
    import fcntl
    import os

    from app.alerts.dispatcher import run_once
    from app.database import WRITER_QUEUE_SUFFIX
    from app.demo_data import seed_demo
    from tests.alerts.conftest import CLOSED_PORT_URL, post_sms, twilio_settings
    from tests.support.write_lock import sqlite_path

    app = make_app(**twilio_settings(fake_twilio), SQLITE_BUSY_TIMEOUT_S=1, PUBLIC_BASE_URL=CLOSED_PORT_URL)
    with app.app_context():
        seed_demo()
        info = make_tip("KWHS", "critical")
        run_once("w")
        primary = chain_phones("KWHS")[0]
    queue = sqlite_path(app) + WRITER_QUEUE_SUFFIX
    holders: list[int] = []
    commit = db.session.commit

    def commit_then_another_writer_takes_the_lock() -> None:
        commit()
        holder = os.open(queue, os.O_RDWR | os.O_CREAT)
        fcntl.flock(holder, fcntl.LOCK_EX)  # another process's turn, longer than the busy timeout
        holders.append(holder)

    monkeypatch.setattr(db.session, "commit", commit_then_another_writer_takes_the_lock)
    try:
        reply = post_sms(app, fake_twilio.auth_token, primary, "1")
    finally:
        for holder in holders:
            os.close(holder)
    monkeypatch.undo()
    assert holders, "the reply was never committed"
    with app.app_context():
        assert db.session.get(Tip, info.id).acknowledged_at is not None
    assert f"Acknowledged #{info.ref}" in reply and "not recorded" not in reply


def test_webhooks_behind_nginx_are_checked_against_the_url_twilio_used(make_app, fake_twilio):
    """nginx (TRUSTED_PROXY_HOPS=1) passes the scheme and host Twilio used in X-Forwarded-Proto/Host, which the app
    sees as http://127.0.0.1:8000: the signature is checked against the URL rebuilt from them, with its query string.
    A port nginx's $host drops is found through PUBLIC_BASE_URL (twilio's validator takes a URL with or without its
    port). A URL Twilio did not use is refused."""
    from app.demo_data import seed_demo
    from tests.alerts.conftest import twilio_settings

    app = make_app(**twilio_settings(fake_twilio), TRUSTED_PROXY_HOPS=1,
                   PUBLIC_BASE_URL="https://tips.example.org:8443")
    with app.app_context():
        seed_demo()
        primary = chain_phones("KWHS")[0]
    client = app.test_client()

    def post(signed_for: str, path: str, proto: str = "https", host: str = "tips.example.org") -> int:
        params = inbound_sms_params(primary, "HELP", to=FAKE_SENDER, account_sid=FAKE_ACCOUNT_SID)
        headers = {**signed_headers(signed_for, params, fake_twilio.auth_token),
                   "X-Forwarded-Proto": proto, "X-Forwarded-Host": host, "X-Forwarded-For": "192.0.2.1"}
        return client.post(path, data=params, headers=headers, base_url="http://127.0.0.1:8000").status_code

    assert post("https://tips.example.org/hooks/twilio/sms", "/hooks/twilio/sms") == 200
    assert post("https://tips.example.org/hooks/twilio/sms?district=nc&x=a%20b",
                "/hooks/twilio/sms?district=nc&x=a%20b") == 200
    # Another name of the site (not PUBLIC_BASE_URL's): only the forwarded scheme and host can rebuild it.
    assert post("https://sms.example.org/hooks/twilio/sms?x=1", "/hooks/twilio/sms?x=1", host="sms.example.org") == 200
    assert post("https://tips.example.org:8443/hooks/twilio/sms", "/hooks/twilio/sms") == 200  # via PUBLIC_BASE_URL
    assert post("https://tips.example.org:8443/hooks/twilio/sms", "/hooks/twilio/sms",
                host="tips.example.org:8443") == 200
    # Signed for another scheme, host, query or path than the request's: refused.
    assert post("http://tips.example.org/hooks/twilio/sms", "/hooks/twilio/sms") == 403
    assert post("https://other.example.org/hooks/twilio/sms", "/hooks/twilio/sms") == 403
    assert post("https://tips.example.org/hooks/twilio/status", "/hooks/twilio/sms") == 403
    assert post("https://tips.example.org/hooks/twilio/sms?district=nc", "/hooks/twilio/sms?district=ev") == 403
    assert post("https://tips.example.org/hooks/twilio/sms", "/hooks/twilio/sms?district=nc") == 403


def test_each_twilio_keyword_is_recorded_as_twilio_takes_it(alert_app, fake_twilio):
    """Every opt-out word of Twilio's opts the person out (skipped in chains, on the audit record with its SMS) and is
    answered with nothing (Twilio answers it itself); START and UNSTOP turn alerts back on; HELP and INFO change
    nothing."""
    from sqlalchemy import func

    from app.models import AuditEvent
    from notifications.replies import HELP_WORDS, START_WORDS, STOP_WORDS
    from tests.alerts.conftest import post_sms

    def events(action: str) -> int:
        with alert_app.app_context():
            return db.session.scalar(select(func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.action == action)) or 0

    def opted_out() -> bool:
        with alert_app.app_context():
            return staff_by_phone(primary).sms_opted_out

    token = fake_twilio.auth_token
    with alert_app.app_context():
        primary = chain_phones("NCHS")[0]
    assert {"STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"} < STOP_WORDS
    assert {"START", "UNSTOP"} < START_WORDS and {"HELP", "INFO"} == HELP_WORDS
    for n, word in enumerate(sorted(STOP_WORDS), start=1):
        assert post_sms(alert_app, token, primary, word.lower()).endswith("<Response></Response>"), word
        assert opted_out() and events("staff.sms_opted_out") == n, word
        for help_word in sorted(HELP_WORDS):
            assert "Reply ACK" in post_sms(alert_app, token, primary, help_word)
            assert opted_out(), help_word
        start = "UNSTOP" if n % 2 else "START"
        assert "on again" in post_sms(alert_app, token, primary, start)
        assert not opted_out() and events("staff.sms_opted_in") == n, start


def test_the_answer_to_an_inbound_sms_never_echoes_it_nor_names_a_tip_the_sender_may_not_see(alert_app, fake_twilio):
    """Whatever a staff phone or a stranger texts (another school's reference, markup, emoji, 1,600 characters, an
    unreadable byte), the answer is one of the app's own texts: none of the SMS comes back, no reference the sender
    was not sent, and no tip is taken."""
    from xml.etree import ElementTree

    from tests.alerts.conftest import post_sms

    token = fake_twilio.auth_token
    with alert_app.app_context():
        mine, theirs = make_tip("KWHS", "critical"), make_tip("EVES", "critical")
        kw_primary = chain_phones("KWHS")[0]
        from app.alerts.dispatcher import run_once

        run_once("w")
    marker = "ZQXWV"
    bodies = [f"ACK {theirs.ref}", f"ack #{theirs.ref.lower()}", f"1 {theirs.ref}", f"<Message>{marker}</Message>",
              f"]]>&{marker};", f"ok {marker}", f"sí {marker}", f"\U0001F44D {marker}", f"{marker} " * 266,
              f"STOP {marker}", f"HELP {marker}", f"{marker}\ufffd\udcff".encode("utf-8", "surrogateescape")
              .decode("utf-8", "replace")]
    for sender in (kw_primary, "+15551234567"):
        for body in bodies:
            reply = post_sms(alert_app, token, sender, body)
            (message,) = ElementTree.fromstring(reply.encode()).findall("Message")  # well-formed, one answer
            assert marker not in reply and theirs.ref not in reply and mine.ref not in reply, (sender, body, reply)
            assert message.text and len(message.text) <= 160, reply
        assert post_sms(alert_app, token, "+15551234567", f"ACK {mine.ref}") == post_sms(
            alert_app, token, "+15551234567", "1")  # a stranger learns nothing from a reference
    with alert_app.app_context():
        assert db.session.get(Tip, mine.id).acknowledged_at is None
        assert db.session.get(Tip, theirs.id).acknowledged_at is None
        assert staff_by_phone(kw_primary).sms_opted_out is False


def test_an_ack_for_a_school_the_sender_was_taken_off_is_refused_without_naming_the_tip(alert_app, fake_twilio):
    """The SRO was sent the alert, then taken off the school before answering: neither "ACK <ref>" nor "1" takes the
    tip (its chain goes on to someone still responsible) and the answer does not name it."""
    from sqlalchemy import delete

    from app.alerts.dispatcher import run_once
    from app.models import Assignment, School
    from notifications import messages
    from tests.alerts.conftest import post_sms

    with alert_app.app_context():
        info = make_tip("KWHS", "critical")
        run_once("w")
        primary = chain_phones("KWHS")[0]
        staff_id = staff_by_phone(primary).id
        school_id = db.session.scalar(select(School.id).where(School.short_name == "KWHS"))
        db.session.execute(delete(Assignment).where(Assignment.staff_id == staff_id,
                                                    Assignment.school_id == school_id))
        db.session.commit()
    by_ref = post_sms(alert_app, fake_twilio.auth_token, primary, f"ACK {info.ref}")
    plain = post_sms(alert_app, fake_twilio.auth_token, primary, "1")
    assert messages.unknown_ref_reply() in by_ref and messages.no_longer_yours_reply() in plain
    assert info.ref not in by_ref + plain
    with alert_app.app_context():
        assert db.session.get(Tip, info.id).acknowledged_at is None


def test_a_status_callback_for_an_unknown_alert_or_sid_changes_nothing(alert_app, fake_twilio):
    """A signed report on an alert id that does not exist, on a SID no alert has, or naming one alert with another's
    SID: answered 204 (Twilio stops retrying) and nothing changes."""
    from app.alerts.dispatcher import run_once
    from tests.alerts.conftest import post_status
    from tests.fakes.twilio_webhooks import signed_headers as sign_headers

    with alert_app.app_context():
        first, second = make_tip("KWHS", "critical"), make_tip("EVES", "critical")
        for school in ("KWHS", "EVES"):
            fake_twilio.set_outcome(chain_phones(school)[0], "none")
        run_once("w")
        (a,), (b,) = alerts_of(first.ref), alerts_of(second.ref)
        rows = {a.id: (a.status, a.twilio_status, a.error_code), b.id: (b.status, b.twilio_status, b.error_code)}
        a_id, b_sid = a.id, b.twilio_sid
    token = fake_twilio.auth_token
    unknown_sid = "SM" + "f" * 32
    assert post_status(alert_app, token, 999_999, b_sid, "undelivered", 30003) == 204
    assert post_status(alert_app, token, a_id, b_sid, "undelivered", 30003) == 204
    assert post_status(alert_app, token, a_id, unknown_sid, "undelivered", 30003) == 204
    params = {"MessageSid": unknown_sid, "MessageStatus": "failed", "ErrorCode": "30005",
              "AccountSid": FAKE_ACCOUNT_SID}
    url = "http://127.0.0.1:9/hooks/twilio/status"
    assert alert_app.test_client().post("/hooks/twilio/status", data=params, base_url="http://127.0.0.1:9",
                                        headers=sign_headers(url, params, token)).status_code == 204
    with alert_app.app_context():
        for alert_id, before in rows.items():
            row = db.session.get(Alert, alert_id)
            assert (row.status, row.twilio_status, row.error_code) == before


def test_a_1_to_the_alert_of_a_school_the_sender_was_taken_off_takes_no_older_alert(alert_app, fake_twilio):
    """The SRO of two schools had an older alert of one (still open) and a newer of the other, and was taken off that
    other before answering. "1" answers the SMS they read, the newer one, which is no longer theirs: it acknowledged
    the older alert instead, another school's tip whose escalation then stopped unread. It now takes nothing, names
    neither tip, and the same SMS posted again answers alike."""
    from datetime import timedelta

    from sqlalchemy import delete

    from app.models import AlertStatus, Assignment, School, utcnow
    from notifications import messages
    from tests.alerts.conftest import post_sms

    with alert_app.app_context():
        primary = chain_phones("KWHS")[0]
        staff_id = staff_by_phone(primary).id
        kwhs = db.session.scalar(select(School.id).where(School.short_name == "KWHS"))
        other_id = db.session.scalar(select(Assignment.school_id).where(Assignment.staff_id == staff_id,
                                                                        Assignment.school_id != kwhs))
        older = make_tip(db.session.get(School, other_id).short_name, "critical")
        newer = make_tip("KWHS", "critical")
        for info, minutes_ago in ((older, 10), (newer, 1)):  # what the dispatcher wrote when it sent them
            sent_at = utcnow() - timedelta(minutes=minutes_ago)
            db.session.add(Alert(tip_id=info.id, staff_id=staff_id, chain_position=1, kind="initial",
                                 status=AlertStatus.SENT.value, sent_at=sent_at, due_at=sent_at))
        db.session.execute(delete(Assignment).where(Assignment.staff_id == staff_id, Assignment.school_id == kwhs))
        db.session.commit()
    sid = "SM" + "c" * 32
    answer = post_sms(alert_app, fake_twilio.auth_token, primary, "1", message_sid=sid)
    assert messages.no_longer_yours_reply() in answer, answer
    assert older.ref not in answer and newer.ref not in answer
    assert post_sms(alert_app, fake_twilio.auth_token, primary, "1", message_sid=sid) == answer
    with alert_app.app_context():
        assert db.session.get(Tip, older.id).acknowledged_at is None  # still escalating
        assert db.session.get(Tip, newer.id).acknowledged_at is None
    assert f"Acknowledged #{older.ref}" in post_sms(alert_app, fake_twilio.auth_token, primary, f"ACK {older.ref}")
