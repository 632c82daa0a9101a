"""The production set-up, tested where it can be: gunicorn's config, a real gunicorn serving /healthz with an
access log that holds no client address, and the systemd units."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from app.alerts.claims import db_take_worker_lease
from app.extensions import db
from app.models import utcnow
from tests.conftest import PRODUCTION_TWILIO, REPO, SECRET

DEPLOY = REPO / "deploy"
GUNICORN = Path(sys.executable).parent / "gunicorn"


def test_gunicorn_config_loads_with_safe_settings() -> None:
    from gunicorn.config import Config

    cfg = Config()
    namespace: dict[str, object] = {}
    exec(compile((REPO / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    for key, value in namespace.items():
        if key in cfg.settings:
            cfg.set(key, value)
    assert cfg.bind == ["127.0.0.1:8000"]
    assert cfg.logger_class.__name__ == "SafeGunicornLogger"
    assert "%(h)s" not in cfg.access_log_format and "%(a)s" not in cfg.access_log_format
    assert cfg.forwarded_allow_ips == ["127.0.0.1"]
    assert cfg.preload_app is False and cfg.accesslog == "-"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gunicorn_serves_healthz_and_logs_no_client_address(app: Flask, tmp_path: Path) -> None:
    port = _free_port()
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():  # an alert worker runs beside the web, as in production
            db_take_worker_lease("test-worker", utcnow() + timedelta(days=1))
            db.session.commit()
    home = tmp_path / "home"  # the tipline user's home, /opt/tipline: read-only under the unit's ProtectSystem
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items()
           if not k.startswith(("TIPLINE", "DATABASE_URL", "XDG_RUNTIME_DIR"))},
        "HOME": str(home), "TIPLINE_ENV": "production", "TIPLINE_INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": SECRET, "RECEIPT_HMAC_KEY": "receipt-" + "k" * 40,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "PUBLIC_BASE_URL": "https://tips.example.org",
        "KEYRING_PATH": app.config["KEYRING_PATH"], "TRIAGE_MODEL_DIR": app.config["TRIAGE_MODEL_DIR"],
        "TRUSTED_PROXY_HOPS": "1", "TIPLINE_BIND": f"127.0.0.1:{port}", "TIPLINE_WEB_WORKERS": "1",
        **PRODUCTION_TWILIO,
    }
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        server = subprocess.Popen([str(GUNICORN), "-c", str(REPO / "gunicorn.conf.py"), "wsgi:app"], cwd=REPO,
                                  env=env, stdout=stdout, stderr=stderr)
    try:
        body = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            headers = {"X-Forwarded-For": "203.0.113.77", "User-Agent": "Mozilla/5.0 (X11) Probe/1.0"}
            request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
                    body = response.read()
                    status = response.status
                break
            except (ConnectionError, OSError):
                if server.poll() is not None:
                    pytest.fail("gunicorn exited: " + err.read_text()[-2000:])
                time.sleep(0.3)
        assert body, "gunicorn did not answer: " + err.read_text()[-2000:]
        assert status == 200 and b'"status":"ok"' in body.replace(b" ", b"")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    access = out.read_text()
    assert "GET /healthz" in access, access + err.read_text()
    # No control socket (gunicorn 25.1 on): under the unit it cannot make $HOME/.gunicorn and logs an error at
    # every start, and elsewhere it is a second way to stop or resize the server, shared by every gunicorn of the
    # same user.
    assert "ontrol socket" not in err.read_text() and "ontrol server" not in err.read_text(), err.read_text()
    assert not any(home.iterdir())
    for forbidden in ("127.0.0.1", "203.0.113.77", "Mozilla", "Probe/1.0"):
        assert forbidden not in access and forbidden not in err.read_text(), forbidden


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  (systemd keys are case-sensitive)
    parser.read_string((DEPLOY / name).read_text())
    return parser


@pytest.mark.parametrize(("name", "command"), [
    ("tipline-web.service", ["gunicorn", "-c", "/opt/tipline/gunicorn.conf.py", "wsgi:app"]),
    ("tipline-alerts.service", ["flask", "alerts", "run"]),
])
def test_systemd_units_parse_and_are_hardened(name: str, command: list[str]) -> None:
    unit = _unit(name)
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == command[0] and argv[1:] == command[1:]
    assert service["Restart"] == "always"
    assert service["EnvironmentFile"].startswith("/etc/tipline/")
    assert service["NoNewPrivileges"] == "true" and service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "true" and "instance" in service["ReadWritePaths"]
    assert service["LimitCORE"] == "0"  # a core dump would hold the decrypted tips the process was reading
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_environment_example_names_only_known_settings() -> None:
    from app.config import ENV_SETTINGS

    gunicorn_settings = {"TIPLINE_BIND", "TIPLINE_WEB_WORKERS", "TIPLINE_INSTANCE_PATH", "TIPLINE_KEYRING"}
    for line in (DEPLOY / "tipline.env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name = line.split("=", 1)[0]
            assert name in ENV_SETTINGS or name in gunicorn_settings, name


def test_nginx_site_sets_one_hop_of_forwarded_headers_and_keeps_no_access_log() -> None:
    site = (DEPLOY / "nginx-tipline.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site  # replaces, never appends, a client's value
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    assert "proxy_pass http://127.0.0.1:8000;" in site
    assert site.count("access_log off;") == 2
    assert site.count("server_tokens off;") == 2  # each server block's answers name no nginx version


def test_nginx_error_log_of_every_server_keeps_no_client_address() -> None:
    """Every line nginx logs about a connection or a request ends with "client: <address>", whatever its level,
    and Debian 12's nginx 1.22 with OpenSSL 3 logs handshakes it does not know at [crit] ("SSL_do_handshake()
    failed (... bad key share) while SSL handshaking, client: 203.0.113.9"): with `crit` a phone's or anyone's
    address was written to disk. Only `emerg` (configuration and start-up failures, no connection) is kept, and
    in each server block: one without error_log of its own writes to the main log at its level ("error")."""
    site = (DEPLOY / "nginx-tipline.conf").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in site.splitlines())
    servers = re.split(r"^\s*server\s*\{", code, flags=re.MULTILINE)[1:]
    assert len(servers) == 2
    for server in servers:
        levels = re.findall(r"^\s*error_log\s+\S+(?:\s+(\w+))?\s*;", server, re.MULTILINE)
        assert levels == ["emerg"], server


def test_nginx_site_writes_no_request_or_response_body_to_disk() -> None:
    """nginx spools a request body over client_body_buffer_size (16k by default) and a response over its proxy
    buffers to temporary files: the photos as sent, with their GPS metadata, and decrypted case pages and photos
    on their way to staff would land on the proxy's disk, where the app never writes them."""
    site = (DEPLOY / "nginx-tipline.conf").read_text()
    body_limit = re.search(r"^\s*client_max_body_size (\d+)m;", site, re.MULTILINE)
    body_buffer = re.search(r"^\s*client_body_buffer_size (\d+)m;", site, re.MULTILINE)
    assert body_limit is not None and body_buffer is not None
    assert int(body_buffer.group(1)) >= int(body_limit.group(1))
    assert re.search(r"^\s*proxy_max_temp_file_size 0;", site, re.MULTILINE)


def _gunicorn_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, object]:
    for name in ("TIPLINE_WEB_TIMEOUT", "SQLITE_BUSY_TIMEOUT_S", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, object] = {}
    exec(compile((REPO / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("busy", [None, "30", "45"])
def test_a_writer_that_waits_its_whole_turn_is_answered_before_the_worker_is_killed(monkeypatch, busy):
    """A sync worker busy longer than gunicorn's timeout is aborted: the reporter gets a bare 500 instead of the
    503 page with the form as typed. gunicorn must wait longer than SQLite's busy timeout plus the rest of the
    request, and nginx longer than gunicorn."""

    settings = _gunicorn_settings(monkeypatch, **({"SQLITE_BUSY_TIMEOUT_S": busy} if busy else {}))
    timeout = settings["timeout"]
    assert isinstance(timeout, int) and timeout >= int(busy or 30) + 15
    if busy is None or busy == "30":
        nginx = re.search(r"proxy_read_timeout (\d+)s;", (DEPLOY / "nginx-tipline.conf").read_text())
        assert nginx is not None and int(nginx.group(1)) > timeout
    assert _gunicorn_settings(monkeypatch, TIPLINE_WEB_TIMEOUT="90")["timeout"] == 90
    from app.config import DEFAULTS  # gunicorn.conf.py's own default of the busy timeout is the app's

    assert _gunicorn_settings(monkeypatch)["timeout"] == DEFAULTS["SQLITE_BUSY_TIMEOUT_S"] + 20


def test_deploy_files_name_only_files_that_exist() -> None:
    """A comment that sends the operator to a file we do not ship is a dead end at the worst moment."""

    for path in DEPLOY.iterdir():
        for named in re.findall(r"\b((?:docs|deploy|app|bench)/[\w./-]+\.\w+)", path.read_text()):
            assert (REPO / named).exists(), f"{path.name} names {named}"


def test_backup_directory_is_created_by_the_install_steps() -> None:
    """systemd refuses to start a unit whose ReadWritePaths do not exist (226/NAMESPACE), and under
    ProtectSystem=strict the backup command cannot create the directory itself."""
    unit = _unit("tipline-backup.service")
    readme = (REPO / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Proxy, addresses and logs")]
    for directory in unit["Service"]["ReadWritePaths"].split():
        if not directory.startswith("/opt/tipline"):
            assert f"install -d -o tipline -g tipline -m 0700 {directory}" in installing, directory


def test_nginx_site_uses_only_directives_of_debian_stable_nginx() -> None:
    """Debian 12 ships nginx 1.22 and Ubuntu 24.04 nginx 1.24; the `http2 on;` directive came in 1.25.1, so
    `nginx -t` (README, Installing, step 6) refused the whole site. `listen ... ssl http2` works on both."""
    lines = [line.split("#", 1)[0].strip() for line in (DEPLOY / "nginx-tipline.conf").read_text().splitlines()]
    assert not any(line.startswith("http2 ") for line in lines)
    assert "listen 443 ssl http2;" in lines and "listen [::]:443 ssl http2;" in lines


def test_backup_unit_prunes_old_copies_after_a_good_night() -> None:
    """Retention needs old copies gone; the prune runs only after tonight's copy succeeded (ExecStartPost)."""
    service = _unit("tipline-backup.service")["Service"]
    assert service["Type"] == "oneshot"
    assert shlex.split(service["ExecStartPost"])[1:] == ["backup", "prune", "/var/backups/tipline"]
    assert "/var/backups/tipline/tipline-" in service["ExecStart"]  # the names prune looks for


def test_install_steps_enable_the_nginx_site() -> None:
    """Debian's nginx reads sites-enabled/ only: a site copied into sites-available/ and `nginx -t && systemctl
    reload nginx` passes, and the district's host name gets the default site (or nothing), not the tip line."""
    readme = (REPO / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Upgrading to a new release")]
    site = re.search(r"^# (/etc/nginx/sites-available/\S+):", (DEPLOY / "nginx-tipline.conf").read_text())
    assert site is not None
    assert f"cp deploy/nginx-tipline.conf {site.group(1)}" in installing
    assert f"ln -s {site.group(1)} /etc/nginx/sites-enabled/" in installing


def test_environment_file_reads_the_same_in_the_shell_of_the_flask_commands(tmp_path: Path) -> None:
    """README runs `flask` by hand with `set -a; . /etc/tipline/tipline.env`. The keyring given whole
    (TIPLINE_KEYRING, JSON) was unquoted in the example: the shell split it at its spaces and ran '1,' as a
    command, so a command run by hand had no keyring while the services (systemd) had it."""
    example = (DEPLOY / "tipline.env.example").read_text()
    assert "# TIPLINE_KEYRING=" in example
    env_file = tmp_path / "tipline.env"
    env_file.write_text(example.replace("# TIPLINE_KEYRING=", "TIPLINE_KEYRING="))
    show = "import os; print(os.environ['TIPLINE_KEYRING'])"
    done = subprocess.run(["sh", "-c", 'set -a; . "$1"; exec "$2" -c "$3"', "sh", str(env_file), sys.executable, show],
                          capture_output=True, text=True, timeout=30, env={"PATH": os.environ.get("PATH", "/bin")})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert json.loads(done.stdout) == {"active": 1, "keys": {"1": "..."}}
    readme = (REPO / "README.md").read_text()
    assert "sh -c 'set -a; . /etc/tipline/tipline.env; exec .venv/bin/flask \"$@\"' flask setup" in readme


def test_readme_configuration_names_every_setting() -> None:
    """The operator's table of settings: DISTRICT_NAME (the name staff see when they enrol, Natrona County's
    unless set), ALERT_WAKE_PORT (two installations on one machine) and gunicorn's own variables were missing."""
    from app.config import ENV_SETTINGS

    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("### Databases")]
    gunicorn_settings = set(re.findall(r'os\.environ\.get\("(\w+)"', (REPO / "gunicorn.conf.py").read_text()))
    for name in sorted({*ENV_SETTINGS, *gunicorn_settings, "TIPLINE_INSTANCE_PATH"}):
        assert f"`{name}`" in table, name


@pytest.mark.parametrize(("database", "threads"), [("sqlite:////opt/tipline/instance/tipline.db", 1),
                                                   ("postgresql+psycopg://tipline@127.0.0.1/tipline", 4)])
def test_readme_gives_gunicorns_defaults(monkeypatch: pytest.MonkeyPatch, database: str, threads: int) -> None:
    """The table said 4 threads; on SQLite gunicorn.conf.py takes 1, on purpose (README, Performance)."""
    monkeypatch.delenv("TIPLINE_WEB_THREADS", raising=False)
    monkeypatch.delenv("TIPLINE_WEB_WORKERS", raising=False)
    settings = _gunicorn_settings(monkeypatch, DATABASE_URL=database)
    assert (settings["workers"], settings["threads"]) == (2, threads)
    readme = (REPO / "README.md").read_text()
    assert "| `127.0.0.1:8000`, 2, 1 on SQLite (4 otherwise) |" in readme


def test_install_steps_make_a_database_the_services_user_may_use() -> None:
    """`createdb tipline` alone made a database owned by postgres and no role tipline: the example's DATABASE_URL
    (user tipline) could not connect, and on PostgreSQL 15 and later a role that does not own the database may not
    create tables in it, so `flask setup` could not migrate. SQLite's URL was never given."""
    readme = (REPO / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Upgrading to a new release")]
    example = (DEPLOY / "tipline.env.example").read_text()
    role = re.search(r"^DATABASE_URL=postgresql\+psycopg://(\w+)@[\w.:]+/(\w+)$", example, re.MULTILINE)
    assert role is not None
    assert f"createuser --pwprompt {role.group(1)}" in installing
    assert f"createdb --owner {role.group(1)} {role.group(2)}" in installing
    assert "DATABASE_URL=sqlite:////opt/tipline/instance/tipline.db" in installing


def test_install_steps_run_python_tools_with_the_virtualenv() -> None:
    """`python -m triage train` on a fresh Debian server: no `python` command, and python3 has no scikit-learn;
    the model was never trained and /healthz said fail at step 7."""
    readme = (REPO / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Upgrading to a new release")]
    for command in re.findall(r"`([^`]*-m triage[^`]*)`", installing):
        assert ".venv/bin/python -m triage" in command, command
    assert ".venv/bin/python -m triage train" in installing


def test_install_steps_make_the_environment_files_directory() -> None:
    """'copy deploy/tipline.env.example to /etc/tipline/tipline.env': cp refuses, /etc/tipline does not exist."""
    readme = (REPO / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Upgrading to a new release")]
    for unit in ("tipline-web.service", "tipline-alerts.service", "tipline-backup.service"):
        env_file = _unit(unit)["Service"]["EnvironmentFile"]
        assert f"install -D -o root -g tipline -m 0640 deploy/tipline.env.example {env_file}" in installing


def test_install_steps_point_twilios_incoming_messages_at_the_app(app: Flask) -> None:
    """The app sets each SMS's status callback itself, but an SRO's reply ('1', 'ACK <ref>') reaches it only if
    the number's incoming webhook points at it, which only the operator can set in Twilio's console; nothing said
    so, and every urgent tip escalated through the chain as if nobody had answered."""
    sms_hook = next(rule.rule for rule in app.url_map.iter_rules() if rule.rule.endswith("/twilio/sms"))
    readme = (REPO / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Upgrading to a new release")]
    assert f"`PUBLIC_BASE_URL{sms_hook}`, HTTP POST" in installing


@pytest.mark.parametrize(("name", "value"), [("TIPLINE_WEB_WORKERS", "three"), ("TIPLINE_WEB_THREADS", "0"),
                                             ("TIPLINE_WEB_TIMEOUT", "50s")])
def test_a_mistyped_gunicorn_setting_is_one_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """A ValueError traceback from gunicorn.conf.py in the journal, every two seconds (Restart=always)."""
    with pytest.raises(SystemExit, match=f"Error: {name}") as stopped:
        _gunicorn_settings(monkeypatch, **{name: value})
    assert "\n" not in str(stopped.value)


def test_gunicorn_refuses_a_mistyped_setting_with_its_name(tmp_path: Path) -> None:
    env = {**os.environ, "TIPLINE_WEB_WORKERS": "three"}
    done = subprocess.run([str(GUNICORN), "-c", str(REPO / "gunicorn.conf.py"), "--check-config", "wsgi:app"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert "TIPLINE_WEB_WORKERS='three' is not a whole number" in done.stderr + done.stdout


def test_install_steps_set_up_the_redis_of_the_environment_example() -> None:
    """The example's RATELIMIT_STORAGE_URI points at a Redis that no install step installed: a district following
    the steps got an OPERATOR warning that Redis was unreachable and rate limits counted per web process, and a
    Redis installed later as Debian ships it writes the day's key secret and the clients' keyed hashes to disk."""
    example = (DEPLOY / "tipline.env.example").read_text()
    uri = re.search(r"^RATELIMIT_STORAGE_URI=(redis://\S+)$", example, re.MULTILINE)
    assert uri is not None
    readme = (REPO / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Upgrading to a new release")]
    assert "apt-get install redis-server" in installing
    assert '`save ""` and `appendonly no`' in installing and "/etc/redis/redis.conf" in installing
    assert "redis-server.service" in _unit("tipline-web.service")["Unit"]["After"]


def test_nginx_answers_certbots_renewals_on_port_80_and_sends_the_rest_to_https(tmp_path: Path) -> None:
    """Let's Encrypt renews a certificate every 60 days by fetching a file certbot puts in a web root, over plain
    HTTP. The site's port 80 sent every request to HTTPS, where /.well-known/ reached the app (404): a certificate
    taken with `certbot certonly --webroot` never renewed, and 90 days after installing every reporter got a
    browser warning instead of the form."""
    from tests.support.nginx import ACME_WEBROOT, free_port, http_redirect_site_on_loopback, nginx_serving, raw_exchange

    webroot = tmp_path / "webroot"
    (webroot / ".well-known" / "acme-challenge").mkdir(parents=True)
    (webroot / ".well-known" / "acme-challenge" / "tok3n").write_text("tok3n.thumbprint")
    port = free_port()
    with nginx_serving(http_redirect_site_on_loopback(port, webroot), port, tmp_path / "nginx"):
        challenge = raw_exchange(port, b"GET /.well-known/acme-challenge/tok3n HTTP/1.1\r\n"
                                       b"Host: tips.example-district.org\r\nConnection: close\r\n\r\n").decode()
        report = raw_exchange(port, b"GET /report HTTP/1.1\r\nHost: tips.example-district.org\r\n"
                                    b"Connection: close\r\n\r\n").decode()
    assert challenge.startswith("HTTP/1.1 200") and challenge.endswith("tok3n.thumbprint"), challenge
    assert report.startswith("HTTP/1.1 301")
    assert "Location: https://tips.example-district.org/report\r\n" in report
    # No version of nginx on any answer (nor on its own error pages): it told anyone which holes to try.
    assert "Server: nginx\r\n" in report and "nginx/" not in report, report
    readme = (REPO / "README.md").read_text()
    installing = readme[readme.index("### Installing"):readme.index("#### Upgrading to a new release")]
    installing = " ".join(installing.split())  # as one line: the README wraps commands
    assert f"certbot certonly --webroot -w {ACME_WEBROOT} " in installing
    assert '--deploy-hook "systemctl reload nginx"' in installing  # nginx reads a renewed certificate on reload
