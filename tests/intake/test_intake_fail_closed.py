"""Without the right keyring, intake refuses calmly and stores nothing; without a triage model it stores the tip
at critical."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.crypto.keyring import new_keyring, write_keyring
from app.extensions import db
from app.models import Alert, KeyCheck, Tip
from tests.intake.helpers import submit, submit_ok
from tests.support.forms import csrf_token

TEXT = "Someone posted that they will bring a gun to school tomorrow."


def _post(app, client=None):
    """The form page itself answers 503, so the reporter learns it before typing; a POST does too."""
    client = client or app.test_client()
    form = client.get("/report")
    page = form.get_data(as_text=True)
    # A page that only shows something never says "Nothing was sent": that belongs to a refused POST.
    assert form.status_code == 503 and "911" in page and "Nothing was sent" not in page
    return submit(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT, csrf=csrf_token(client, "/followup"))


def _refused(app, response, caplog, words: str) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "911" in page and "Nothing was sent" in page
    assert any(words in r.getMessage() and r.levelno >= logging.ERROR for r in caplog.records)
    with app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 0
        assert db.session.scalar(select(func.count(Alert.id))) == 0


def test_missing_keyring(make_intake_app, tmp_path, caplog):
    app = make_intake_app(KEYRING_PATH=str(tmp_path / "nowhere.json"))
    response = _post(app)
    _refused(app, response, caplog, "keyring is unavailable")
    assert any("no keyring at" in str(getattr(r, "fields", {})) for r in caplog.records)


def test_malformed_keyring(make_intake_app, tmp_path, caplog):
    bad = tmp_path / "bad.json"
    bad.write_text('{"active": 1, "keys": {"1": "not base64!"}}')
    app = make_intake_app(KEYRING_PATH=str(bad))
    response = _post(app)
    _refused(app, response, caplog, "keyring is unavailable")



@pytest.mark.parametrize("content", [
    "",  # emptied (a full disk while it was copied)
    '{"active": 1, "keys": {"1": "',  # cut short
    "null",
    '{"active": 1e400, "keys": {}}',  # a number too big for an int: OverflowError
    '{"active": Infinity, "keys": {}}',
    "[" * 100_000,  # nested too deep for the JSON parser: RecursionError
], ids=["empty", "cut_short", "null", "huge_number", "infinity", "deeply_nested"])
def test_a_damaged_keyring_fails_closed_with_the_operators_line(make_intake_app, tmp_path, caplog, content):
    """Any damage to the file is the calm 503 and the OPERATOR line: a number too big for an int or a too deeply
    nested document escaped the parser as OverflowError or RecursionError, a 500 that told the operator nothing."""
    bad = tmp_path / "keyring.json"
    bad.write_text(content)
    bad.chmod(0o600)
    app = make_intake_app(KEYRING_PATH=str(bad))
    response = _post(app)
    _refused(app, response, caplog, "keyring is unavailable")
    result = app.test_cli_runner().invoke(args=["keys", "status"])
    assert result.exit_code == 1 and "keyring" in result.output and "Traceback" not in result.output


def test_keyring_that_is_not_text(make_intake_app, tmp_path, caplog):
    """The keyring's encrypted backup copy put back without decrypting it (or a damaged file): not UTF-8, which
    escaped as a UnicodeDecodeError (a 500, no OPERATOR line) instead of the refusal of any other bad keyring."""
    bad = tmp_path / "keyring.json"
    bad.write_bytes(b"\x85\x02\x0c\x03\xa7\x9f\xe4\x11" + bytes(range(128, 256)))
    app = make_intake_app(KEYRING_PATH=str(bad))
    response = _post(app)
    _refused(app, response, caplog, "keyring is unavailable")
    assert any("is not a text file" in str(getattr(r, "fields", {})) for r in caplog.records)
    result = app.test_cli_runner().invoke(args=["keys", "status"])
    assert result.exit_code == 1 and "is not a text file" in result.output and "Traceback" not in result.output

def test_wrong_keyring_is_caught_by_the_key_check(intake_app, schools, caplog):
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], TEXT)  # writes the KeyCheck of KEK 1
    with intake_app.app_context():
        db.session.execute(Tip.__table__.delete())
        db.session.commit()
        assert db.session.get(KeyCheck, 1) is not None
    write_keyring(Path(intake_app.config["KEYRING_PATH"]), new_keyring())  # another KEK 1
    response = _post(intake_app, client)
    _refused(intake_app, response, caplog, "keyring is unavailable")
    assert any("does not match the key check" in str(getattr(r, "fields", {})) for r in caplog.records)


def _stored_at_critical_without_the_model(app, caplog, client=None) -> None:
    """The reporter's tip is taken (the receipt), sealed like any other, ranked critical, and its SMS is planned; the
    operator hears of it; no tip text in any log line."""
    from app.crypto.service import open_for_tip

    client = client or app.test_client()
    form = client.get("/report")
    assert form.status_code == 200 and "Tipline is not available" not in form.get_data(as_text=True)
    submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT)
    with app.app_context():
        tip = db.session.scalars(select(Tip)).one()
        assert (tip.urgency, tip.category, tip.model_version, tip.confidence) == ("critical", "other", "unavailable", 0)
        assert open_for_tip(tip, "text", tip.text_ct).decode() == TEXT
        assert db.session.scalar(select(func.count(Alert.id)).where(Alert.tip_id == tip.id)) == 1
    lines = [r for r in caplog.records if "triage is unavailable" in r.getMessage()]
    assert lines and all(r.levelno == logging.CRITICAL and r.getMessage().startswith("OPERATOR:") for r in lines)
    assert not any(TEXT[:20] in r.getMessage() or TEXT[:20] in str(getattr(r, "fields", {})) for r in caplog.records)


def test_missing_triage_model_stores_the_tip_at_critical(make_intake_app, tmp_path, caplog):
    """Without a model intake answered 503 to the form and to the tip: a reporter in danger was turned away by a
    missing file. The tip is now stored, sealed, ranked critical (paged at once), and the operator told."""
    app = make_intake_app(TRIAGE_MODEL_DIR=str(tmp_path / "no-model"))
    _stored_at_critical_without_the_model(app, caplog)


def test_a_tip_the_model_fails_on_is_stored_at_critical(intake_app, caplog, monkeypatch):
    """A model that loads but raises on one text (a bug) gave a 500 every time that text was sent: never stored."""
    import triage

    def broken(self, text, *, happening_now=None):
        raise ValueError("a bug in the model")

    monkeypatch.setattr(triage.TriageModel, "assess", broken)
    intake_app.testing = False
    _stored_at_critical_without_the_model(intake_app, caplog)


def test_a_database_locked_too_long_answers_503_and_the_tip_can_be_sent_again(make_intake_app, caplog):
    import fcntl
    import os

    import pytest

    from app.database import WRITER_QUEUE_SUFFIX

    app = make_intake_app(SQLITE_BUSY_TIMEOUT_S=1)
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if not url.startswith("sqlite:///"):
        pytest.skip("the writer queue is SQLite's")
    client = app.test_client()
    token = csrf_token(client, "/report")
    holder = os.open(url.removeprefix("sqlite:///") + WRITER_QUEUE_SUFFIX, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another writer that does not finish
    try:
        response = submit(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT, csrf=token)
    finally:
        os.close(holder)
    _refused(app, response, caplog, "database is locked or unreachable")
    assert f"{TEXT}</textarea>" in response.get_data(as_text=True)  # the form again, as typed
    assert [r.fields["error"] for r in caplog.records if "locked or unreachable" in r.getMessage()] == ["SQLITE_BUSY"]
    assert not any(TEXT[:20] in r.getMessage() or TEXT[:20] in str(getattr(r, "fields", {})) for r in caplog.records)
    ref, _code = submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT)
    with app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 1
        assert db.session.scalar(select(Tip.ref)) == ref


def test_a_postgresql_table_locked_too_long_answers_503_and_the_tip_can_be_sent_again(make_intake_app, caplog):
    """On PostgreSQL a tip waited for a lock without end: a migration's CREATE INDEX or ALTER TABLE, or an
    operator's psql session left open, held the reporter until nginx gave up (504 after 60 s, its own page, the
    text lost). A lock not granted within SQLITE_BUSY_TIMEOUT_S (PostgreSQL's lock_timeout) is now the 503
    page with the form as typed, like a busy SQLite."""
    import threading

    import pytest
    from sqlalchemy import text

    app = make_intake_app(SQLITE_BUSY_TIMEOUT_S=1)
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        pytest.skip("PostgreSQL's lock_timeout; SQLite's writer queue is tested above")
    client = app.test_client()
    token = csrf_token(client, "/report")
    answers: list = []
    with app.app_context():
        holder = db.engine.connect()
    try:
        holder.execute(text("LOCK TABLE tip IN SHARE MODE"))  # as CREATE INDEX takes it: no row may be added
        worker = threading.Thread(target=lambda: answers.append(
            submit(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT, csrf=token)))
        worker.start()
        worker.join(10)
        stuck = worker.is_alive()
    finally:
        holder.rollback()
        holder.close()
    worker.join(10)
    assert not stuck, "the report waited for the lock for good"
    _refused(app, answers[0], caplog, "database is locked or unreachable")
    assert f"{TEXT}</textarea>" in answers[0].get_data(as_text=True)  # the form again, as typed
    submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT)
    with app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 1


def test_the_receipt_of_a_stored_tip_shows_while_another_writer_holds_its_turn(make_intake_app):
    import fcntl
    import os

    import pytest

    from app.database import WRITER_QUEUE_SUFFIX

    app = make_intake_app(SQLITE_BUSY_TIMEOUT_S=1)
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if not url.startswith("sqlite:///"):
        pytest.skip("the writer queue is SQLite's")
    client = app.test_client()
    assert submit(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT).status_code == 303
    holder = os.open(url.removeprefix("sqlite:///") + WRITER_QUEUE_SUFFIX, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # the alert worker or a console save, just as the browser follows the 303
    try:
        page = client.get("/receipt")
    finally:
        os.close(holder)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="receipt-code"' in body and "Nothing was sent" not in body


def test_a_page_that_only_shows_never_says_nothing_was_sent(intake_app, schools, monkeypatch):
    from sqlalchemy.exc import OperationalError

    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], TEXT)

    def locked(*_args, **_kwargs):
        raise OperationalError("BEGIN", None, Exception("database is locked"))

    monkeypatch.setattr("app.intake.followup.rs.db_followup_tip", locked)
    page = client.get("/followup")
    body = page.get_data(as_text=True)
    assert page.status_code == 503 and "try again in a little while" in body and "911" in body
    assert "Nothing was sent" not in body
    spanish = client.get("/followup", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Tipline no está disponible" in spanish and "No se envió nada" not in spanish


def test_confirming_the_receipt_of_a_stored_tip_never_says_nothing_was_sent(intake_app, schools, monkeypatch):
    """The tip is stored before the receipt is shown: a busy database when the reporter ticks "I saved it" must
    not tell them to send it again."""
    from sqlalchemy.exc import OperationalError

    client = intake_app.test_client()
    assert submit(client, schools["kelly"], TEXT).status_code == 303
    token = csrf_token(client, "/receipt")

    def locked(*_args, **_kwargs):
        raise OperationalError("BEGIN", None, Exception("database is locked"))

    monkeypatch.setattr("app.intake.views.rs.db_pending_receipt", locked)
    page = client.post("/receipt", data={"csrf_token": token, "saved": "yes"})
    body = page.get_data(as_text=True)
    assert page.status_code == 503 and "try again in a little while" in body
    assert "Nothing was sent" not in body


def test_a_report_refused_for_a_busy_database_comes_back_with_what_was_typed(intake_app, schools, monkeypatch):
    """A page that is never stored (no-store) keeps nothing when the reporter goes back: the 503 shows the form
    again with the text, so sending again is one press and the tip is not lost with the page."""
    import html

    from sqlalchemy.exc import OperationalError

    import app.intake.views as views

    client = intake_app.test_client()
    store = views.db_store_tip

    def locked(*_args, **_kwargs):
        raise OperationalError("BEGIN", None, Exception("database is locked"))

    monkeypatch.setattr(views, "db_store_tip", locked)
    text = 'He said "tomorrow" & showed a gun <in his car>.'
    response = submit(client, schools["mills"], text, happening_now="yes", contact="Ask for <Sam>")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "Nothing was sent" in page and "911" in page
    assert html.escape(text, quote=False) in page.replace("&#34;", '"') and "Ask for &lt;Sam&gt;" in page
    assert f'value="{schools["mills"]}" selected' in page and 'value="yes" checked' in page
    monkeypatch.setattr(views, "db_store_tip", store)
    from tests.support.forms import csrf_token_in

    again = submit(client, schools["mills"], text, csrf=csrf_token_in(page))
    assert again.status_code == 303
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 1



def _database_down(*_args, **_kwargs):
    """In place of a function that reads the database, with the database not answering (PostgreSQL restarting)."""
    from sqlalchemy.exc import OperationalError

    raise OperationalError("SELECT", None, Exception("connection refused"))


def test_a_report_refused_while_the_database_cannot_be_read_keeps_the_text_to_copy(intake_app, schools, monkeypatch):
    """The 503 shows the report form again, which needs the schools from the database: with the database not
    answering at all (PostgreSQL restarting while the reporter typed) the plain page came instead, without what was
    typed, and the page is never stored, so the tip was gone. The text now comes back on that page to copy."""
    import app.intake.errors as errors
    import app.intake.views as views

    client = intake_app.test_client()
    token = csrf_token(client, "/report")

    monkeypatch.setattr(views, "db_store_tip", _database_down)
    monkeypatch.setattr(errors, "schools_by_town", _database_down)
    text = 'He showed a gun in the "C" lot & said <tomorrow>.'
    for language, label in (("en", "Your report (not sent yet)"), ("es", "Tu reporte (todavía no enviado)")):
        client.get(f"/?lang={language}")
        response = submit(client, schools["kelly"], text, csrf=token)
        page = response.get_data(as_text=True)
        assert response.status_code == 503 and "911" in page and label in page
        assert 'He showed a gun in the &#34;C&#34; lot &amp; said &lt;tomorrow&gt;.</textarea>' in page
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 0


def test_the_language_button_of_the_report_form_keeps_the_text_while_the_database_cannot_be_read(intake_app, schools,
                                                                                                monkeypatch):
    """The language button sends the report to /report/language, which lists the schools again: with the database not
    answering, its 503 page had neither the form nor the text, and the form it came from is never stored (no-store),
    so a report typed before pressing "Español" was gone. The text now comes back to copy, as a refused report's."""
    import app.intake.errors as errors
    import app.intake.views as views

    client = intake_app.test_client()
    token = csrf_token(client, "/report")

    monkeypatch.setattr(views, "schools_by_town", _database_down)
    monkeypatch.setattr(errors, "schools_by_town", _database_down)
    response = client.post("/report/language?lang=es", data={
        "csrf_token": token, "school": str(schools["kelly"]), "description": 'He has a knife in locker "12" & more.'})
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "llama al 911" in page and "Tu reporte (todavía no enviado)" in page
    assert 'He has a knife in locker &#34;12&#34; &amp; more.</textarea>' in page


def test_a_report_refused_at_its_commit_leaves_the_receipt_cookie_as_it_was(intake_app, schools, monkeypatch):
    """The receipt's token went into the cookie before the commit: a commit that failed (a full disk, a lock) left
    the refused report's form under "You have not confirmed that you saved your receipt code" for a tip never stored,
    and replaced the receipt of an earlier report still waiting to be saved, whose code was then never shown again."""
    from sqlalchemy.exc import OperationalError

    import app.intake.reporter_sessions as rs
    from tests.intake.helpers import receipt_of

    earlier = intake_app.test_client()
    _ref, code = submit_ok(earlier, schools["kelly"], TEXT)  # its receipt not yet confirmed
    start = rs.db_start

    def start_then_fail_to_commit(*args, **kwargs):
        start(*args, **kwargs)
        raise OperationalError("COMMIT", None, Exception("database or disk is full"))

    monkeypatch.setattr(rs, "db_start", start_then_fail_to_commit)
    assert submit(earlier, schools["mills"], "The second report, refused.").status_code == 503
    fresh = intake_app.test_client()
    response = submit(fresh, schools["kelly"], TEXT)
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and f"{TEXT}</textarea>" in page
    assert "You have not confirmed that you saved your receipt code" not in page
    monkeypatch.setattr(rs, "db_start", start)
    assert receipt_of(earlier)[1] == code


def test_a_receipt_code_sent_while_the_database_is_busy_stays_in_the_field(intake_app, schools, monkeypatch):
    """A refused code stays in the field to correct; a code sent while the database was busy came back on the
    plain 503 page without it, so the reporter typed all 24 characters again. The sign-in form now comes back
    with the code as typed (and a reply kept from an ended visit), and the page says to try again."""
    from sqlalchemy.exc import OperationalError

    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], TEXT)
    token = csrf_token(client, "/followup")

    def locked(*_args, **_kwargs):
        raise OperationalError("BEGIN", None, Exception("database is locked"))

    monkeypatch.setattr("app.intake.followup.db_find_tip_by_receipt", locked)
    page = client.post("/followup", data={"csrf_token": token, "code": code})
    body = page.get_data(as_text=True)
    assert page.status_code == 503 and "try again in a little while" in body and "911" in body
    assert f'value="{code}"' in body and 'action="/followup"' in body and 'aria-invalid="true"' not in body
    kept = client.post("/followup", data={"csrf_token": token, "code": code, "message": "The blue car, again."})
    kept_body = kept.get_data(as_text=True)
    assert kept.status_code == 503 and "Nothing was sent" in kept_body
    assert f'value="{code}"' in kept_body and "The blue car, again.</textarea>" in kept_body
    monkeypatch.undo()
    again = client.post("/followup", data={"csrf_token": token, "code": code})
    assert again.status_code == 303

def test_a_reply_refused_for_a_busy_database_shows_the_message_to_copy(intake_app, schools, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from tests.intake.helpers import open_followup, post_multipart

    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], TEXT)
    open_followup(client, code)

    def locked(*_args, **_kwargs):
        raise OperationalError("BEGIN", None, Exception("database is locked"))

    monkeypatch.setattr("app.intake.followup.db_add_reporter_message", locked)
    response = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                          "message": "It is the blue car & it is there now."}, None)
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "Nothing was sent" in page
    assert "It is the blue car &amp; it is there now.</textarea>" in page


def _damaged_model(source: Path, target: Path, how: str) -> Path:
    import shutil
    import zipfile

    target.mkdir()
    shutil.copy(source / "model_card.json", target / "model_card.json")
    model = (source / "model.skops").read_bytes()
    if how == "truncated":  # a copy cut short: a disk that filled up, a deploy interrupted
        (target / "model.skops").write_bytes(model[: len(model) // 2])
    elif how == "not_a_model":  # some other file put in its place
        (target / "model.skops").write_bytes(b"<html>404 Not Found</html>")
    else:  # a zip whose schema names a type skops does not trust, or is not a scikit-learn Pipeline
        with zipfile.ZipFile(target / "model.skops", "w") as archive:
            archive.writestr("schema.json", '{"__class__": "dict", "__module__": "builtins", "__loader__": '
                             '"DictNode", "protocol": 2, "_skops_version": "0.10", "content": {}}')
    return target


@pytest.mark.parametrize("how", ["truncated", "not_a_model", "not_a_pipeline"])
def test_a_damaged_triage_model(make_intake_app, triage_model_dir, tmp_path, caplog, how):
    """A model file that is there but damaged raised BadZipFile or RuntimeError, which intake did not take for an
    unavailable model: a bare 'Something went wrong' 500, the typed tip lost and no OPERATOR line. Then it was
    refused with a 503; it is now stored at critical, as with no model at all."""
    from triage.model import forget_loaded

    directory = _damaged_model(Path(triage_model_dir), tmp_path / "model", how)
    forget_loaded(directory)
    app = make_intake_app(TRIAGE_MODEL_DIR=str(directory))
    app.testing = False  # production: an exception the handlers miss is the bare 500 page
    _stored_at_critical_without_the_model(app, caplog)


def test_a_full_disk_is_named_in_the_operators_line(make_intake_app, caplog):
    """A full disk refuses every tip (503, the form as typed), and the operator's line said only "the database is
    locked or unreachable", error OperationalError, the same words as a lock: nothing pointed at the disk. The
    line now names the error by its code (SQLITE_FULL here, SQLITE_BUSY for a lock), never by its message."""
    import sqlite3

    from sqlalchemy import event

    app = make_intake_app()
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite:///"):
        pytest.skip("SQLite's page limit stands in for the full disk")
    with app.app_context():
        # No free page either: a migration that rebuilds a table (SQLite's batch mode) leaves some behind.
        vacuum = sqlite3.connect(str(app.config["SQLALCHEMY_DATABASE_URI"]).removeprefix("sqlite:///"),
                                 isolation_level=None)
        vacuum.execute("VACUUM")
        vacuum.close()
        pages = db.session.execute(text("PRAGMA page_count")).scalar()
        db.session.rollback()

        @event.listens_for(db.engine, "connect")
        def _disk_full(dbapi_connection, _record):  # no page more than the database has: SQLITE_FULL
            dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

        db.engine.dispose()
    long_text = " ".join([TEXT] * 120)  # more than the pages left can hold
    response = submit(app.test_client(), app.config["TEST_SCHOOLS"]["kelly"], long_text)
    assert response.status_code == 503 and f"{long_text}</textarea>" in response.get_data(as_text=True)
    lines = [r for r in caplog.records if "database is locked or unreachable" in r.getMessage()]
    assert lines and all(r.fields["error"] == "SQLITE_FULL" for r in lines), [r.fields for r in lines]


def test_tips_ranked_without_the_model_are_not_taken_for_one_incident(make_intake_app, tmp_path):
    """Every tip stored without the model has the category 'other': two unrelated tips of one school within the
    fold window were joined into one incident, as reports of one event, and their SMS folded into '+1 related'."""
    from app.models import Incident

    app = make_intake_app(TRIAGE_MODEL_DIR=str(tmp_path / "no-model"))
    client = app.test_client()
    submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT)
    submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], "My friend said goodbye to everyone and gave away her dog.")
    with app.app_context():
        tips = list(db.session.scalars(select(Tip)))
        assert [t.model_version for t in tips] == ["unavailable"] * 2
        assert len({t.incident_id for t in tips}) == 2
        assert db.session.scalar(select(func.count(Incident.id))) == 2


def test_a_ranked_tip_does_not_join_the_incident_of_one_ranked_without_the_model(make_intake_app, tmp_path):
    """The unranked tip's own incident has the category 'other' too: the next tip of that school the model ranks
    'other' (the model back meanwhile) joined it, as a report of the same event, and its SMS folded into '+1
    related' behind the unranked tip's, though nothing says they are about one thing."""
    from app.models import Incident
    from tests.support.tips import make_tip as make_sealed_tip

    app = make_intake_app(TRIAGE_MODEL_DIR=str(tmp_path / "no-model"))
    client = app.test_client()
    school_id = app.config["TEST_SCHOOLS"]["kelly"]
    submit_ok(client, school_id, TEXT)
    with app.app_context():
        unranked = db.session.scalar(select(Tip))
        assert unranked is not None and unranked.model_version == "unavailable"
        ranked = make_sealed_tip(school_id, "The vending machine on the second floor keeps eating coins.",
                                 urgency="medium", category="other", plan_alerts=True)
        assert ranked.incident_id != unranked.incident_id
        assert db.session.scalar(select(func.count(Incident.id))) == 2


def _conversation_of_three(app, schools):
    """A tip with a staff question and two replies of the reporter; returns (client, ref, code, damaged id)."""
    from app.crypto.service import seal_for_tip
    from app.models import Message
    from tests.intake.helpers import open_followup, post_multipart

    client = app.test_client()
    ref, code = submit_ok(client, schools["kelly"], TEXT)
    with app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        question = Message(tip_id=tip.id, from_reporter=False)
        db.session.add(question)
        db.session.flush()
        question.body_ct = seal_for_tip(tip, f"message:{question.id}", b"Which car park?")
        db.session.commit()
    open_followup(client, code)
    for words in ("The one behind the gym.", "He drives a blue pickup."):
        sent = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                          "message": words}, None)
        assert sent.status_code == 303
    with app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        first_reply = next(m for m in tip.messages if m.from_reporter)
        body = bytearray(first_reply.body_ct or b"")
        body[-1] ^= 1  # one flipped bit of the tag: a damaged row
        first_reply.body_ct = bytes(body)
        db.session.commit()
        return client, ref, code, first_reply.id


@pytest.mark.parametrize(("lang", "unreadable"), [("en", "This message cannot be read."),
                                                  ("es", "Este mensaje no se puede leer.")])
def test_one_damaged_message_is_marked_and_the_rest_of_the_conversation_shows(intake_app, schools, caplog, lang,
                                                                              unreadable):
    """One message row that does not open gave the reporter a 503 for the whole follow-up page (the staff console
    marks just that message); the reporter reads the rest, and the operator hears of the row."""
    client, ref, _code, damaged = _conversation_of_three(intake_app, schools)
    caplog.clear()
    response = client.get("/followup", headers={"Accept-Language": lang})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    assert "Which car park?" in page and "He drives a blue pickup." in page
    assert "The one behind the gym." not in page and unreadable in page
    lines = [r for r in caplog.records if r.getMessage().startswith("OPERATOR:") and "message" in r.getMessage()]
    assert lines and getattr(lines[0], "fields", {}) == {"tip": ref, "message_id": damaged}


def test_a_missing_keyring_still_fails_the_follow_up_page_closed(intake_app, schools, caplog):
    """Only a damaged row is marked: without the keyring (or with another), nothing of the case is shown."""
    client, _ref, _code, _damaged = _conversation_of_three(intake_app, schools)
    from app.crypto.keystore import forget_keyring

    write_keyring(Path(intake_app.config["KEYRING_PATH"]), new_keyring())  # another KEK 1: the tip's key won't unwrap
    forget_keyring(intake_app)
    response = client.get("/followup")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "Which car park?" not in page and "He drives" not in page
    Path(intake_app.config["KEYRING_PATH"]).unlink()
    forget_keyring(intake_app)
    assert client.get("/followup").status_code == 503


@pytest.mark.parametrize(("lang", "label"), [("en", "Your message (not sent yet)"),
                                             ("es", "Tu mensaje (todavía no enviado)")])
def test_a_kept_reply_shows_on_the_503_page_when_the_keyring_is_missing(intake_app, schools, lang, label):
    """A reply kept from an ended visit came back after the code with the keyring missing as a 503 whose only words
    were "Your message is not sent yet. Check it, add any photos again, and press Send." (with no message and no
    Send button): the reporter could only type it again. The reply is sealed in the visit's row under the visit's
    own token, not the keyring, so the page shows it to copy, and says plainly that it was not sent."""
    from app.crypto.keystore import forget_keyring
    from app.models import ReporterSession, utcnow
    from tests.intake.helpers import post_multipart

    client, ref, code, _damaged = _conversation_of_three(intake_app, schools)
    token = csrf_token(client, "/followup")
    with intake_app.app_context():
        visit = db.session.scalar(select(ReporterSession).where(ReporterSession.purpose == "followup"))
        visit.expires_at = utcnow()  # the visit ended while the reporter wrote
        db.session.commit()
    answer = "It was Friday, after practice & before the bus."
    ended = post_multipart(client, "/followup/reply", {"csrf_token": token, "message": answer}, None)
    assert ended.status_code == 200 and "not sent yet" in ended.get_data(as_text=True)
    keyring = Path(intake_app.config["KEYRING_PATH"])
    saved = keyring.read_bytes()
    keyring.unlink()
    forget_keyring(intake_app)
    headers = {"Accept-Language": lang}
    opened = client.post("/followup", headers=headers, follow_redirects=True,
                         data={"code": code, "message": answer, "csrf_token": csrf_token(client, "/followup")})
    page = opened.get_data(as_text=True)
    assert opened.status_code == 503
    assert label in page and "It was Friday, after practice &amp; before the bus.</textarea>" in page
    assert "press Send" not in page and "pulsa Enviar" not in page  # there is no Send button on this page
    assert "Which car park?" not in page and ref not in page  # nothing of the case without the keyring
    said = {"en": "Your message was not sent. It is below: copy it and send it again in a little while.",
            "es": "Tu mensaje no se envió. Está aquí abajo: cópialo y envíalo otra vez dentro de un rato."}
    assert said[lang] in page
    # Back with the keyring (within the visit), the reply is in the reply form, still not sent.
    keyring.write_bytes(saved)
    forget_keyring(intake_app)
    again = client.get("/followup", headers=headers).get_data(as_text=True)
    assert "It was Friday, after practice &amp; before the bus.</textarea>" in again and "Which car park?" in again
