"""Gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app` (deploy/tipline-web.service).

Everything can be changed from the environment (the systemd EnvironmentFile) without editing this file.
"""

import os


def _number(name: str, default: str) -> int:
    """A whole number from the environment; a mistyped one stops gunicorn with the setting's name, not a
    ValueError traceback in the journal every two seconds."""
    value = os.environ.get(name) or default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"Error: {name}={value!r} is not a whole number (README, Configuration)") from None
    if number < 1:
        raise SystemExit(f"Error: {name} must be 1 or more, not {number}")
    return number

# Behind the TLS proxy on the same machine: listen on loopback only, never on a public interface.
bind = os.environ.get("TIPLINE_BIND", "127.0.0.1:8000")
# SQLite serialises writers: a thread that holds its write lock must not compete for the GIL with sibling
# threads, so on SQLite the default is processes with one thread each (measured: p99 of a tip at 8
# concurrent reporters 620-740 ms with 2x4, 140-150 ms with 2x1; README, Performance).
_SQLITE = os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite")
workers = _number("TIPLINE_WEB_WORKERS", "2")
threads = _number("TIPLINE_WEB_THREADS", "1" if _SQLITE else "4")
# A sync worker busy for longer than this is aborted and the client gets a bare 500: a tip whose writer waits
# its whole turn on SQLite (SQLITE_BUSY_TIMEOUT_S) must still get the 503 page with its form as typed, so the
# timeout covers that wait and the rest of the request (photos, triage). nginx's proxy_read_timeout (60 s)
# stays above it. Read from the environment (the EnvironmentFile): a busy timeout raised in instance/config.py
# instead needs TIPLINE_WEB_TIMEOUT raised with it. 30 is app.config's default (a test keeps the two equal; the
# app package is not imported here, in gunicorn's master).
_SQLITE_BUSY_S = _number("SQLITE_BUSY_TIMEOUT_S", "30")
timeout = _number("TIPLINE_WEB_TIMEOUT", str(_SQLITE_BUSY_S + 20 if _SQLITE else 30))
graceful_timeout = 20
keepalive = 5
# Each worker builds its own app (and its own database pool); a preloaded app would share connections
# across the fork.
preload_app = False

# The logger that scrubs addresses and user agents, with the safe access format (no %(h)s, no %(a)s).
logger_class = "app.logs.SafeGunicornLogger"
access_log_format = '"%(r)s" %(s)s %(b)s %(M)sms'
accesslog = os.environ.get("TIPLINE_ACCESS_LOG", "-")  # stdout -> the journal
errorlog = "-"
loglevel = os.environ.get("TIPLINE_LOG_LEVEL", "info").lower()

# Only the local proxy may set X-Forwarded-*; the app's ProxyFix trusts exactly TRUSTED_PROXY_HOPS of them.
forwarded_allow_ips = "127.0.0.1"
proxy_allow_ips = "127.0.0.1"

# Large uploads are refused by the proxy and by the app (MAX_CONTENT_LENGTH); keep headers small.
limit_request_field_size = 8190

# No control socket (gunicorn 25.1 on makes one in $HOME/.gunicorn/ unless told not to): under the unit the
# tipline user's home, /opt/tipline, is read-only, so it would log an error at every start; anywhere else it is
# a second way to stop or resize the server, and every gunicorn of one user shares the one path. systemctl
# restarts and reloads it (deploy/tipline-web.service).
control_socket_disable = True
