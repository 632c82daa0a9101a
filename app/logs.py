"""Structured logging, one JSON line per event, and the filter that keeps client addresses, user agents,
anything else about a reporter and staff enrolment tokens out of every log line, gunicorn's included."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# Not inside a longer dotted number (a version, 1.2.3.4.5), but a period ending the sentence is no fifth number.
_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\w)"
_HEX = r"[0-9a-fA-F]{1,4}"
_IPV6 = (
    rf"(?<![\w:])(?:(?:(?:{_HEX})?:){{2,7}}(?:\d{{1,3}}\.){{3}}\d{{1,3}}(?![\w.])"  # IPv4 inside: ::ffff:203.0.113.9
    rf"|(?:{_HEX}:){{7}}{_HEX}"  # full form
    rf"|(?:{_HEX}:){{1,6}}:(?:{_HEX}(?::{_HEX})*)?"  # compressed, e.g. 2001:db8::1
    rf"|::(?:{_HEX}(?::{_HEX})*)?)(?!\w|:\w)"  # leading ::, e.g. ::1; a colon may follow ("ip=::1: ...")
)
# After the first product, in any order: comments "(KHTML, like Gecko)", products "Safari/604.1", the bare
# "Mobile" of phone browsers, in-app browsers' "[FBAN/FBIOS;...]" and "Instagram 312.0.0.32.112 Android", and
# any other word followed by a product (TikTok's "musical_ly_32.5.0 JsSdk/2.0", "Channel/App Store ByteLocale/en").
_USER_AGENT = (
    r"\b(?:Mozilla|Opera|Dalvik|curl|Wget|python-requests|python-urllib|okhttp)/\S+"
    r"(?:\s*\([^)]*\)|\s*\[[^\]]*\]|\s+\S+/\S+|\s+Mobile\b|\s+Instagram\s+[\d.]+(?:\s+Android)?"
    r"|\s+[^\s/]+(?=\s+[^\s/]+/\S))*"
)
_SCRUB = re.compile("|".join(f"(?:{p})" for p in (_USER_AGENT, _IPV4, _IPV6)))
# An unused enrolment link lets whoever holds it become that staff member (app/accounts/service.py): the
# request line of every access log carries it, so the token goes, the path stays.
_ENROLMENT_TOKEN = re.compile(r"(?<=/console/enrol/)[A-Za-z0-9_-]+")
# Flask-Limiter's "ratelimit 10 per 1 minute (<key>) exceeded at endpoint: ...": the key is the client's keyed hash
# (app/client_keys.py), whose secret lives on in memory and in Redis; in a log kept for months it would name the
# reporter's address to whoever gets that secret. The limit and the endpoint stay.
_LIMITER_KEY = re.compile(r"\([^()]*\)(?= exceeded at endpoint)")
# Attributes some libraries attach to records (werkzeug, gunicorn): dropped outright.
_FORBIDDEN_ATTRS = ("remote_addr", "client_addr", "user_agent", "ip", "address")
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """Replace anything that looks like a client address, a user agent or an enrolment token."""
    return _ENROLMENT_TOKEN.sub(REDACTED, _SCRUB.sub(REDACTED, text))


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(v) for v in value]
    return value


class NoClientDataFilter(logging.Filter):
    """Rewrites every record so that no address or user agent survives, whatever logged it: the message,
    structured fields and the traceback text alike."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        if record.name == "werkzeug" and " - - [" in message:
            # The dev server's access line starts with the client address: keep only the request part.
            message = message.split("] ", 1)[-1]
        if record.name == "flask-limiter":
            message = _LIMITER_KEY.sub(f"({REDACTED})", message)
        record.msg = scrub(message)
        record.args = None
        for name in _FORBIDDEN_ATTRS:
            if hasattr(record, name):
                setattr(record, name, REDACTED)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = _scrub_value(fields)
        if record.exc_info and not record.exc_text:
            # Formatted here, scrubbed, and cached on the record: every formatter then prints this text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """{"ts": ..., "level": ..., "logger": ..., "event": ..., **fields}: one line, easy to ship and grep."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": scrub(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):  # scrubbed here too, in case a handler was set up without the filter
            entry.update({k: _scrub_value(v) for k, v in fields.items() if k not in entry})
        if record.exc_text:
            entry["exc"] = scrub(record.exc_text)
        elif record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return scrub(line)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with structured fields. Never pass tip content or anything about a reporter."""
    logger.log(level, event, extra={"fields": fields})


_configured_handler: logging.Handler | None = None


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send the root logger to stderr through the filter; idempotent (tests build many apps)."""
    global _configured_handler
    root = logging.getLogger()
    if _configured_handler is not None:
        root.removeHandler(_configured_handler)
    handler = logging.StreamHandler(sys.stderr)
    text_format = "%(asctime)s %(levelname)s %(name)s %(message)s"
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(text_format))
    handler.addFilter(NoClientDataFilter())
    root.addHandler(handler)
    root.setLevel(level)
    _configured_handler = handler
    # The twilio client logs every request and header at INFO; our own "alert sent" lines say what matters.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin at every start
    # Pillow logs every EXIF tag it reads or writes at DEBUG, values and all: a reporter's photo would put where it
    # was taken (GPS), the phone's model and its owner's name (Artist) in the log that cleaning keeps off the photo.
    logging.getLogger("PIL").setLevel(logging.WARNING)
    install_filter_everywhere()


def install_filter_everywhere() -> None:
    """Put the filter on every existing handler too, so no library's handler can bypass it."""
    flt = NoClientDataFilter()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
    ]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if not any(isinstance(f, NoClientDataFilter) for f in handler.filters):
                handler.addFilter(flt)


try:  # gunicorn is a production dependency, but the app must import without it (e.g. in a small tool).
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = object

# Gunicorn's access line without %(h)s (address) and %(a)s (user agent): request, status, size, duration.
SAFE_ACCESS_LOG_FORMAT = '"%(r)s" %(s)s %(b)s %(M)sms'


class SafeGunicornLogger(_GunicornLogger):
    """Gunicorn's logger with the safe access format forced and the filter on both of its loggers."""

    def setup(self, cfg: Any) -> None:
        cfg.set("access_log_format", SAFE_ACCESS_LOG_FORMAT)
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.addFilter(NoClientDataFilter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("h", "a", "{x-forwarded-for}i", "{user-agent}i", "{x-real-ip}i"):
            if key in atoms:
                atoms[key] = "-"
        return atoms

