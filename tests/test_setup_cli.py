import json
from pathlib import Path

from app import create_app
from tests.conftest import PRODUCTION_TWILIO, REPO, SECRET


def _fresh_app(tmp_path: Path):
    return create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": SECRET,
        "RECEIPT_HMAC_KEY": "r" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'setup.db'}",
    })


def test_setup_creates_keyring_migrates_and_seeds_idempotently(tmp_path):
    app = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["setup", "--demo"])
    assert first.exit_code == 0, first.output
    keyring = tmp_path / "instance" / "keyring.json"
    assert keyring.stat().st_mode & 0o777 == 0o600
    assert json.loads(keyring.read_text())["active"] == 1
    assert "keyring: " in first.output and "(created)" in first.output
    assert "Back the keyring up now" in first.output  # README's step 3 says so in bold; the command says it too
    before = keyring.read_text()
    second = runner.invoke(args=["setup", "--demo"])
    assert second.exit_code == 0, second.output
    assert "(kept)" in second.output and "0 staff created" in second.output
    assert "Back the keyring up" not in second.output
    assert keyring.read_text() == before
    rotated = runner.invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0 and "Back the keyring up again now" in rotated.output, rotated.output


def test_setup_uses_a_keyring_set_in_instance_config_as_the_app_does(tmp_path):
    """`flask setup` read TIPLINE_KEYRING from the environment only: set in instance/config.py, the app used it
    while setup wrote a keyring.json of its own and asked for that one to be backed up."""
    from app.crypto.keyring import new_keyring

    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(f"TIPLINE_KEYRING = {new_keyring().to_json()!r}\n")
    result = _fresh_app(tmp_path).test_cli_runner().invoke(args=["setup"])
    assert result.exit_code == 0, result.output
    assert "keyring: from TIPLINE_KEYRING" in result.output and "Back the keyring up" not in result.output
    assert not (instance / "keyring.json").exists()


def test_setup_refuses_to_replace_a_lost_keyring_when_tips_exist(tmp_path):
    app = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["setup", "--demo"]).exit_code == 0
    from app.extensions import db
    from app.models import School, Tip

    with app.app_context():
        school = db.session.query(School).first()
        db.session.add(Tip(ref="ABC234", school_id=school.id, receipt_hash="h" * 64, wrapped_dek=b"x" * 40,
                           kek_version=1, category="other", urgency="low", urgency_rank=0, confidence=0.9,
                           model_version="t"))
        db.session.commit()
    (tmp_path / "instance" / "keyring.json").unlink()
    result = runner.invoke(args=["setup"])
    assert result.exit_code != 0
    assert "Restore it from your key backup" in result.output
    assert not (tmp_path / "instance" / "keyring.json").exists()


def test_demo_seed_refused_in_production(tmp_path):
    app = create_app({
        "TIPLINE_ENV": "production", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "a" * 48,
        "RECEIPT_HMAC_KEY": "b" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PUBLIC_BASE_URL": "https://tips.example.org", "TRUSTED_PROXY_HOPS": 1, **PRODUCTION_TWILIO,
    })
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code != 0 and "refusing in production" in result.output


def test_setup_with_a_malformed_or_unreadable_keyring_says_so_without_a_traceback(tmp_path):
    app = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["setup"]).exit_code == 0
    keyring = tmp_path / "instance" / "keyring.json"
    keyring.write_text("{not json")
    result = runner.invoke(args=["setup"])
    assert result.exit_code == 1 and result.exc_info is not None and result.exc_info[0] is SystemExit
    assert "the keyring is malformed" in result.output
    assert keyring.read_text() == "{not json"  # never replaced: it may be the only copy of a key
    keyring.unlink()
    keyring.mkdir()
    result = runner.invoke(args=["setup"])
    assert result.exit_code == 1 and result.exc_info is not None and result.exc_info[0] is SystemExit
    assert "cannot be read" in result.output


def test_setup_where_the_instance_cannot_be_made_says_how_to_make_it(tmp_path):
    """Installing as README said: the repository in root's /opt/tipline, `flask setup` as tipline, which may not
    create /opt/tipline/instance: a PermissionError traceback. (Here a file stands where its parent should be.)"""
    (tmp_path / "opt").write_text("")
    instance = tmp_path / "opt" / "instance"
    app = create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET, "RECEIPT_HMAC_KEY": "r" * 48,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'setup.db'}", "KEYRING_PATH": str(tmp_path / "keyring.json"),
    })
    result = app.test_cli_runner().invoke(args=["setup"])
    assert result.exit_code == 1 and result.exc_info is not None and result.exc_info[0] is SystemExit, result.output
    assert f"cannot create {instance}" in result.output
    assert f"install -d -o tipline -g tipline -m 0700 {instance}" in result.output
    readme = (REPO / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Upgrading to a new release")]
    assert installing.index("install -d -o tipline -g tipline -m 0700 /opt/tipline/instance") < installing.index(
        "`flask setup` (as the tipline user")


def test_setup_tightens_a_keyring_others_can_read(tmp_path):
    """A keyring restored with `cp` under a 022 umask is readable by every account on the machine: the keys
    of every tip in every backup. Setup says so and makes it owner-only again."""
    app = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["setup"]).exit_code == 0
    keyring = tmp_path / "instance" / "keyring.json"
    keyring.chmod(0o644)
    result = runner.invoke(args=["setup"])
    assert result.exit_code == 0, result.output
    assert "readable by others" in result.output and "now 0600" in result.output
    assert keyring.stat().st_mode & 0o777 == 0o600


def test_setup_leaves_the_instance_and_its_database_owner_only(tmp_path):
    """The instance directory made by hand (systemd's ReadWritePaths needs it before the first start) and the
    database created under a 022 umask: staff emails, phones, password hashes and second-factor secrets
    readable by every account on the machine."""
    import os

    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    app = create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET,
        "RECEIPT_HMAC_KEY": "r" * 48, "DATABASE_URL": f"sqlite:///{instance / 'tipline.db'}",
    })
    old = os.umask(0o022)
    try:
        result = app.test_cli_runner().invoke(args=["setup"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert instance.stat().st_mode & 0o777 == 0o700
    assert (instance / "tipline.db").stat().st_mode & 0o777 == 0o600


SCHEMA_COMMANDS = [["staff", "list"], ["staff", "totp", "a@b.example"], ["keys", "status"], ["alerts", "status"],
                   ["alerts", "run", "--once"], ["audit", "verify"], ["triage", "export-labels"],
                   ["tips", "purge", "--dry-run"], ["demo", "seed"],
                   ["staff", "create", "--email", "a@b.example", "--name", "A", "--role", "district_admin"],
                   ["schools", "list"]]


def test_commands_before_setup_say_to_run_it(tmp_path):
    """An operator who skipped `flask setup`, or whose shell lacks the environment file's DATABASE_URL, got a
    SQLAlchemy traceback ("no such table: staff"); the alert worker looped on it, logging database errors."""
    app = _fresh_app(tmp_path)
    for args in SCHEMA_COMMANDS:
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert "has no Tipline tables: run `flask setup` first" in result.output, (args, result.output)
        assert result.exc_info is not None and result.exc_info[0] is SystemExit, (args, result.exc_info)


def test_commands_on_a_database_that_cannot_be_reached_say_so_in_one_line(tmp_path):
    """A DATABASE_URL that points nowhere (PostgreSQL down, a database not created, a path mistyped): every
    command but `flask setup` died with a SQLAlchemy OperationalError traceback. The alert worker is left to
    retry, round after round."""
    app = create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": SECRET,
        "RECEIPT_HMAC_KEY": "r" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-dir' / 'tipline.db'}",
    })
    for args in SCHEMA_COMMANDS:
        if args[:2] == ["alerts", "run"]:
            continue
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert "could not be read (unable to open database file): check DATABASE_URL" in result.output, (
            args, result.output)
        assert str(tmp_path / "no-such-dir" / "tipline.db") in result.output
        assert result.exc_info is not None and result.exc_info[0] is SystemExit, (args, result.exc_info)


def test_commands_on_a_database_locked_too_long_say_so_in_one_line(tmp_path):
    """Another process holding SQLite's write lock past SQLITE_BUSY_TIMEOUT_S (a purge, a migration, a `sqlite3`
    shell left in a transaction): the schema check only reads and went through, and the command then died on its
    first write with a "database is locked" SQLAlchemy traceback. It stops with the same one line, exit 1."""
    import sqlite3

    app = create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": SECRET,
        "RECEIPT_HMAC_KEY": "r" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'setup.db'}",
        "SQLITE_BUSY_TIMEOUT_S": 1,
    })
    runner = app.test_cli_runner()
    assert runner.invoke(args=["setup"]).exit_code == 0
    holder = sqlite3.connect(tmp_path / "setup.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for args in SCHEMA_COMMANDS:
            if args[:2] == ["alerts", "run"]:
                continue  # the worker logs the error and tries again, round after round
            result = runner.invoke(args=args)
            assert result.exit_code == 1, (args, result.output)
            assert result.exc_info is not None and result.exc_info[0] is SystemExit, (args, result.exc_info)
            assert result.output.count("\n") == 1, (args, result.output)
            assert "could not be read (database is locked" in result.output, (args, result.output)
            assert "run this again when the process holding it is done" in result.output, (args, result.output)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert runner.invoke(args=["staff", "list"]).exit_code == 0


def test_commands_on_a_database_behind_this_release_say_to_upgrade(tmp_path):
    from sqlalchemy import text

    from app.backup import migration_head, older_revisions
    from app.extensions import db

    app = _fresh_app(tmp_path)
    assert app.test_cli_runner().invoke(args=["setup"]).exit_code == 0
    older = sorted(older_revisions())[0]
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": older})
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["staff", "list"])
    assert result.exit_code == 1, result.output
    assert f"at migration {older}, before this release's {migration_head()}: run `flask db upgrade`" in result.output
    # The alert worker only warns: SMS keep going through a release whose new columns it does not read.
    worker = app.test_cli_runner().invoke(args=["alerts", "run", "--once"])
    assert worker.exit_code == 0 and "WARNING: " in worker.output and "run `flask db upgrade`" in worker.output
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed0000'"), {})
        db.session.commit()
    # A revision this code does not know is a newer release's (a rolling upgrade): not refused.
    assert app.test_cli_runner().invoke(args=["staff", "list"]).exit_code == 0


def test_setup_upgrades_a_database_of_an_older_release_that_has_no_keyring_yet(tmp_path):
    """A database migrated by `flask db upgrade` (or whose tips were all shredded) and no keyring file: setup's
    look for sealed tips kept its SQLite transaction, and with it the writers' turn, open, so the migration
    that followed waited for it the whole busy timeout and died with a "database is locked" traceback."""
    from flask_migrate import upgrade

    from app.backup import migration_head
    from app.extensions import db

    app = create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": SECRET,
        "RECEIPT_HMAC_KEY": "r" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'setup.db'}",
        "SQLITE_BUSY_TIMEOUT_S": 2,
    })
    with app.app_context():
        upgrade(revision="1f53b5aad6c1")
        db.engine.dispose()
    result = app.test_cli_runner().invoke(args=["setup"])
    assert result.exit_code == 0, result.output
    assert "(created)" in result.output and "database: migrated to the latest version" in result.output
    with app.app_context():
        assert db.session.execute(db.text("SELECT version_num FROM alembic_version")).scalar() == migration_head()


def _older_database_app(tmp_path: Path, **overrides):
    from flask_migrate import upgrade

    from app.extensions import db

    app = create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": SECRET,
        "RECEIPT_HMAC_KEY": "r" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'setup.db'}",
        "SQLITE_BUSY_TIMEOUT_S": 1, **overrides,
    })
    with app.app_context():
        upgrade(revision="1f53b5aad6c1")
        db.engine.dispose()
    return app


def _refused(result, caplog) -> str:
    """The command stopped with one line for the operator (Flask-Migrate's "Error: ..." log line and exit 1)."""
    assert result.exit_code == 1, result.output
    assert result.exc_info is not None and result.exc_info[0] is SystemExit, result.exc_info
    return " ".join(r.getMessage() for r in caplog.records if r.name == "flask_migrate")


def test_upgrade_of_a_database_a_newer_release_migrated_says_so(tmp_path, caplog):
    """It said only "Can't locate revision identified by 'f00dfeed0000'"."""
    from sqlalchemy import text

    from app.extensions import db

    app = _older_database_app(tmp_path)
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed0000'"))
        db.session.commit()
        db.engine.dispose()
    for args in (["db", "upgrade"], ["setup"]):
        caplog.clear()
        message = _refused(app.test_cli_runner().invoke(args=args), caplog)
        assert ("at migration f00dfeed0000, which this release does not have: a newer release of Tipline "
                "migrated it") in message, (args, message)


def test_upgrade_of_a_locked_database_says_so_and_leaves_it_as_it_was(tmp_path, caplog):
    """Another process holding SQLite's write lock: a "database is locked" traceback."""
    import sqlite3

    from app.backup import older_revisions
    from app.crypto.keyring import new_keyring, write_keyring

    app = _older_database_app(tmp_path)
    (tmp_path / "instance").mkdir(mode=0o700, exist_ok=True)
    write_keyring(tmp_path / "instance" / "keyring.json", new_keyring())
    holder = sqlite3.connect(tmp_path / "setup.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for args in (["db", "upgrade"], ["setup"]):
            caplog.clear()
            message = _refused(app.test_cli_runner().invoke(args=args), caplog)
            assert "could not be migrated (database is locked" in message, (args, message)
            assert "another process held a lock on it" in message and "run this again" in message
        # Setup without a keyring first looks for sealed tips, which the lock holds back too.
        (tmp_path / "instance" / "keyring.json").unlink()
        result = app.test_cli_runner().invoke(args=["setup"])
        assert result.exit_code == 1 and result.exc_info is not None and result.exc_info[0] is SystemExit
        assert "the database could not be read (database is locked)" in result.output
    finally:
        holder.execute("ROLLBACK")
    assert holder.execute("SELECT version_num FROM alembic_version").fetchone()[0] in older_revisions()
    holder.close()
    assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0


def test_upgrade_of_an_unreachable_database_says_so(tmp_path, caplog):
    app = create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": SECRET,
        "RECEIPT_HMAC_KEY": "r" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-dir' / 'setup.db'}",
    })
    message = _refused(app.test_cli_runner().invoke(args=["db", "upgrade"]), caplog)
    assert "could not be migrated (unable to open database file): check DATABASE_URL" in message


def test_setup_demo_loads_the_demo_cases_once_ranked_by_the_model_and_sealed(tmp_path, triage_model_dir):
    from sqlalchemy import select

    from app.crypto.service import open_for_tip
    from app.demo_cases import DEMO_CASES
    from app.extensions import db
    from app.intake.submit import assess
    from app.models import Alert, Message, Tip
    from tests.intake.helpers import open_followup

    app = create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": SECRET,
        "RECEIPT_HMAC_KEY": "r" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / 'setup.db'}",
        "TRIAGE_MODEL_DIR": str(triage_model_dir), "RATELIMIT_STORAGE_URI": "memory://",
    })
    runner = app.test_cli_runner()
    first = runner.invoke(args=["setup", "--demo"])
    assert first.exit_code == 0 and f"demo cases: {len(DEMO_CASES)} tips added" in first.output, first.output
    oldest_first = sorted(DEMO_CASES, key=lambda case: -case.hours_ago)
    with app.app_context():
        tips = db.session.scalars(select(Tip).order_by(Tip.created_at)).all()
        assert [open_for_tip(t, "text", t.text_ct).decode() for t in tips] == [c.text for c in oldest_first]
        for tip, case in zip(tips, oldest_first, strict=True):
            ranked = assess(case.text, case.happening_now)  # the model's reading, not one written for the demo
            assert (tip.category, tip.urgency, tip.model_version) == (ranked.category, ranked.urgency,
                                                                      ranked.model_version)
            assert tip.status == case.status and tip.outcome == case.outcome
            assert (tip.closed_at is not None) == (case.outcome is not None)
            assert (tip.acknowledged_at is None) == (case.status == "new")
            # History sends nothing: only a tip that is still new waits in the outbox, as intake left it.
            waiting = db.session.scalars(select(Alert).where(Alert.tip_id == tip.id, Alert.status == "pending"))
            assert not list(waiting) or case.status == "new"
            bodies = [open_for_tip(tip, f"message:{m.id}", m.body_ct).decode() for m in db.session.scalars(
                select(Message).where(Message.tip_id == tip.id).order_by(Message.created_at))]
            assert bodies == [text for _, _, text in case.messages]
    second = runner.invoke(args=["setup", "--demo"])
    assert "demo cases: none added (the database already has tips)" in second.output
    with app.app_context():
        assert db.session.query(Tip).count() == len(DEMO_CASES)
    # The receipt codes make run prints open their reports as their reporter would.
    shown = (tmp_path / "instance" / "demo_reports.txt").read_text().splitlines()
    assert len(shown) == sum(case.show_code for case in DEMO_CASES)
    for line in shown:
        ref, code = line.split()[:2]
        page = open_followup(app.test_client(), code).get_data(as_text=True)
        assert ref in page and "Your report" in page


def test_setup_demo_without_a_trained_model_loads_the_district_and_says_how_to_add_the_cases(tmp_path):
    app = _fresh_app(tmp_path)
    app.config["TRIAGE_MODEL_DIR"] = str(tmp_path / "not-trained")
    result = app.test_cli_runner().invoke(args=["setup", "--demo"])
    assert result.exit_code == 0 and "22 staff created" in result.output
    assert "demo cases: none added" in result.output
    # The command once, as it runs from the checkout (Debian has no `python`; the system's python3 has no
    # scikit-learn), not the model's advice followed by the same advice again ('....; train it with ...').
    cases = next(line for line in result.output.splitlines() if line.startswith("demo cases:"))
    assert cases.count("-m triage train") == 1 and "`.venv/bin/python -m triage train`" in cases, cases
    assert ".;" not in cases and cases.endswith("Then run this again."), cases


def test_setup_demo_into_a_new_database_lists_only_its_own_receipt_codes(tmp_path, triage_model_dir):
    """Starting the demo afresh (its database removed, the instance kept) appended the new cases' receipt codes to
    those of the old database in instance/demo_reports.txt, and make run printed them all: the old ones open
    nothing. The cases are loaded only into a database with no tip, so the file now holds only theirs."""
    from app.demo_cases import DEMO_CASES
    from tests.intake.helpers import open_followup

    def demo_app(name: str):
        return create_app({
            "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": SECRET,
            "RECEIPT_HMAC_KEY": "r" * 48, "DATABASE_URL": f"sqlite:///{tmp_path / name}",
            "TRIAGE_MODEL_DIR": str(triage_model_dir), "RATELIMIT_STORAGE_URI": "memory://",
        })

    assert demo_app("first.db").test_cli_runner().invoke(args=["setup", "--demo"]).exit_code == 0
    app = demo_app("second.db")
    result = app.test_cli_runner().invoke(args=["setup", "--demo"])
    assert result.exit_code == 0 and f"demo cases: {len(DEMO_CASES)} tips added" in result.output, result.output
    shown = (tmp_path / "instance" / "demo_reports.txt").read_text().splitlines()
    assert len(shown) == sum(case.show_code for case in DEMO_CASES)
    for line in shown:
        ref, code = line.split()[:2]
        assert ref in open_followup(app.test_client(), code).get_data(as_text=True)


def test_demo_seed_without_a_keyring_says_so_in_one_line_and_creates_nothing(tmp_path):
    """The demo staff's authenticator secrets are sealed under the keyring now: `flask demo seed` on a database
    migrated with `flask db upgrade` but no keyring yet (no `flask setup`) ended in a KeyringUnavailable
    traceback. It says what is missing and how to get it, in one line, and nothing is half created."""
    app = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert not (tmp_path / "instance" / "keyring.json").exists()
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 1, result.output
    assert result.exc_info is not None and result.exc_info[0] is SystemExit, result.exc_info
    assert "keyring" in result.output and "flask setup" in result.output and "nothing was created" in result.output
    from app.extensions import db
    from app.models import School, Staff

    with app.app_context():
        assert db.session.query(Staff).count() == 0 and db.session.query(School).count() == 0


def test_setup_with_a_keyring_others_can_read_and_another_user_owns_says_so_without_a_traceback(tmp_path,
                                                                                                 monkeypatch):
    """Put back as root (README, Restoring, step 3) with `cp` under a 022 umask: root's and readable by all, so the
    services read it, but setup (as tipline) may not chmod it: a PermissionError traceback, the database not
    migrated. (Here chmod is refused as it is for a file of another user.)"""
    app = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["setup"]).exit_code == 0
    keyring = tmp_path / "instance" / "keyring.json"
    keyring.chmod(0o644)
    chmod = Path.chmod

    def not_the_owner(path: Path, mode: int, **kwargs: object) -> None:
        if path == keyring:
            raise PermissionError(1, "Operation not permitted", str(path))
        chmod(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "chmod", not_the_owner)
    result = runner.invoke(args=["setup"])
    assert result.exit_code == 0, result.output
    assert "database: migrated" in result.output
    assert f"WARNING: {keyring} is readable by others" in result.output
    assert "owned by this user, mode 0600" in result.output


def test_setup_of_an_empty_district_says_what_to_do_next_until_it_is_done(tmp_path):
    """`flask setup` without --demo ended at "database: migrated": the IT coordinator of a new district had an empty
    database, no way into the console and no word of the schools, the first district admin or the chains still to
    make. It now names the next commands, each only while still needed."""
    runner = _fresh_app(tmp_path).test_cli_runner()
    first = runner.invoke(args=["setup"])
    assert first.exit_code == 0, first.output
    assert "flask schools add-agency" in first.output and "flask schools create" in first.output
    assert "--role district_admin" in first.output and "Installing, step 8" in first.output
    assert runner.invoke(args=["schools", "add-agency", "--short", "CPD", "--name", "Casper PD"]).exit_code == 0
    assert runner.invoke(args=["schools", "create", "--short", "KWHS", "--name", "Kelly Walsh High School",
                               "--town", "Casper", "--agency", "CPD"]).exit_code == 0
    second = runner.invoke(args=["setup"])
    assert second.exit_code == 0, second.output
    assert "flask schools create" not in second.output and "--role district_admin" in second.output
    assert runner.invoke(args=["staff", "create", "--email", "admin@district.example", "--name", "Safety Office",
                               "--role", "district_admin"]).exit_code == 0
    third = runner.invoke(args=["setup"])
    assert "--role district_admin" not in third.output and "Next" not in third.output
    assert "KWHS" in third.output and "urgent tips reach no one" in third.output.lower()  # its chain is still empty


def test_setup_with_another_databases_keyring_refuses_and_says_to_put_this_ones_back(tmp_path):
    """A restore drill with the wrong keyring put back: `flask setup` said "keyring: ... (kept)" and "database:
    migrated", exit 0, while intake turned every tip away with a 503 and staff could open nothing."""
    from app.crypto.keyring import new_keyring, write_keyring

    app = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["setup", "--demo"]).exit_code == 0  # demo staff: secrets sealed under KEK 1
    keyring = tmp_path / "instance" / "keyring.json"
    write_keyring(keyring, new_keyring())  # another installation's
    other = keyring.read_text()
    result = runner.invoke(args=["setup"])
    assert result.exit_code == 1 and result.exc_info is not None and result.exc_info[0] is SystemExit
    assert "not the keyring these tips were sealed with" in result.output
    assert "Restoring" in result.output and "migrated" not in result.output
    assert keyring.read_text() == other  # never replaced


def test_setup_with_a_keyring_from_before_the_last_rotation_warns_that_tips_cannot_be_opened(tmp_path):
    from app.crypto.keyring import Keyring, load_keyring, write_keyring

    app = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["setup", "--demo"]).exit_code == 0
    keyring = tmp_path / "instance" / "keyring.json"
    rotated = load_keyring(keyring).with_new_key()
    write_keyring(keyring, Keyring(active=rotated.active, keys={rotated.active: rotated.active_kek}))  # KEK 1 gone
    result = runner.invoke(args=["setup"])
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.output and "KEK 1" in result.output and "lacks" in result.output


def test_setup_in_an_instance_directory_of_another_user_says_how_to_give_it_to_this_one(tmp_path, monkeypatch):
    """The repository comes with an empty instance/ (instance/.gitkeep): cloned as root into /opt/tipline it is
    root's, so `flask setup` as tipline skipped the README's `install -d` found it there, warned, and died on the
    keyring with a PermissionError traceback. It now stops first, with the command, and writes nothing. (Here
    the directory answers as another user's does: chmod refused, not writable.)"""
    import os

    instance = tmp_path / "instance"
    instance.mkdir()
    chmod, access = Path.chmod, os.access

    def not_the_owner(path: Path, mode: int, **kwargs: object) -> None:
        if path == instance:
            raise PermissionError(1, "Operation not permitted", str(path))
        chmod(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "chmod", not_the_owner)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == instance
                        else access(path, mode, **kw))
    result = _fresh_app(tmp_path).test_cli_runner().invoke(args=["setup"])
    assert result.exit_code == 1 and result.exc_info is not None and result.exc_info[0] is SystemExit, result.output
    assert f"{instance} belongs to another user" in result.output
    assert f"install -d -o tipline -g tipline -m 0700 {instance}" in result.output
    assert list(instance.iterdir()) == [] and not (tmp_path / "setup.db").exists()
