import json
from pathlib import Path

from app import create_app
from tests.conftest import PRODUCTION_TWILIO, SECRET


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
    before = keyring.read_text()
    second = runner.invoke(args=["setup", "--demo"])
    assert second.exit_code == 0, second.output
    assert "(kept)" in second.output and "0 staff created" in second.output
    assert keyring.read_text() == before


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
        "PUBLIC_BASE_URL": "https://tips.example.org", **PRODUCTION_TWILIO,
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
