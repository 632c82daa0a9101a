"""No client address and no user agent is ever written to a log, whoever logs."""

import json
import logging

import pytest

from app.logs import JsonFormatter, NoClientDataFilter, SafeGunicornLogger, scrub

UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


@pytest.mark.parametrize("address", ["203.0.113.7", "10.0.0.1", "2001:db8::1", "fe80::1ff:fe23:4567:890a",
                                     "::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"])
def test_addresses_are_scrubbed(address):
    assert address not in scrub(f"request from {address} failed")


@pytest.mark.parametrize("address", ["203.0.113.7", "2001:db8::1"])
def test_an_address_ending_a_sentence_is_scrubbed(address):
    # The period after it is not a fifth number: "from 203.0.113.7." names a client as well as "from 203.0.113.7".
    assert scrub(f"request from {address}. Retrying.") == "request from [redacted]. Retrying."


PHONE_AGENTS = {
    "iOS Safari": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  "Version/17.0 Mobile/15E148 Safari/604.1",
    "iOS Chrome": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
    "Android Chrome": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Samsung Internet": "Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) "
                        "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Android Firefox": "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
    "Facebook on iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
                       "Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/16.6;FBLC/en_US]",
    "Instagram on Android": "Mozilla/5.0 (Linux; Android 12; SM-G991U Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
                            "(KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36 Instagram "
                            "312.0.0.32.112 Android (31/12; 420dpi; 1080x2400; samsung; SM-G991U; o1q; qcom; en_US)",
    # TikTok's in-app browser: words without a slash ("musical_ly_32.5.0", "Store") among its products.
    "TikTok on iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
                     "Gecko) Mobile/15E148 musical_ly_32.5.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/en "
                     "Region/US isDarkMode/0 WKWebView/1 RevealType/Dialog BytedanceWebview/d8a21c6",
    "TikTok on Android": "Mozilla/5.0 (Linux; Android 12; SM-A125U Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 trill_2023203030 "
                         "JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly app_version/32.3.3 "
                         "ByteLocale/en ByteFullLocale/en Region/US Spark/1.4.6.3-bugfix AppVersion/32.3.3 "
                         "BytedanceWebview/d8a21c6",
}


@pytest.mark.parametrize("agent", PHONE_AGENTS.values(), ids=PHONE_AGENTS.keys())
def test_whole_user_agent_of_phones_is_scrubbed(agent):
    assert scrub(f'client sent "{agent} and left') == 'client sent "[redacted] and left'


@pytest.mark.parametrize("address", ["::ffff:203.0.113.9", "::FFFF:198.51.100.23", "64:ff9b::198.51.100.7",
                                     "0:0:0:0:0:ffff:203.0.113.9", "2001:db8::1"])
def test_ipv6_address_with_an_ipv4_inside_or_a_colon_after_is_scrubbed_whole(address):
    # Gunicorn: "Invalid request from ip=%s: %s"; a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
    assert scrub(f"Invalid request from ip={address}: Invalid HTTP request line") == \
        "Invalid request from ip=[redacted]: Invalid HTTP request line"


def test_user_agent_is_scrubbed():
    assert "iPhone" not in scrub(f'client said "{UA}"')
    assert "curl" not in scrub("agent curl/8.4.0 asked")


def test_times_and_versions_survive():
    assert scrub("took 12:30:45 and 3.5 ms, model v2026.11") == "took 12:30:45 and 3.5 ms, model v2026.11"


def _format(record: logging.LogRecord) -> dict:
    NoClientDataFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_werkzeug_access_line_loses_its_address():
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '%s - - [%s] %s',
                               ("198.51.100.23", "22/Nov/2026 18:00:00", '"POST /report HTTP/1.1" 200 -'), None)
    entry = _format(record)
    assert "198.51.100.23" not in json.dumps(entry)
    assert entry["event"] == '"POST /report HTTP/1.1" 200 -'


def test_record_attributes_naming_a_client_are_dropped():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.remote_addr = "203.0.113.9"
    NoClientDataFilter().filter(record)
    assert record.remote_addr == "[redacted]"


def test_app_log_lines_pass_the_filter(app):
    import io

    from app import logs

    handler = logs._configured_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        app.logger.warning("oops from 192.0.2.44 with %s", UA)
    finally:
        handler.setStream(old)
    err = stream.getvalue()
    assert "192.0.2.44" not in err and "iPhone" not in err
    line = [json.loads(x) for x in err.splitlines() if "oops" in x][-1]
    assert line["level"] == "warning"


def test_gunicorn_access_log_has_no_address_or_agent():
    from gunicorn.config import Config

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = SafeGunicornLogger(cfg)
    assert "%(h)s" not in cfg.access_log_format and "%(a)s" not in cfg.access_log_format

    class Resp:
        status = "200 OK"
        response_length = 12
        sent = 12
        headers = ()

    class Req:
        headers = [("USER-AGENT", UA), ("X-FORWARDED-FOR", "203.0.113.50")]
        method, path, query, uri, version = "POST", "/report", "", "/report", (1, 1)

    environ = {"REMOTE_ADDR": "203.0.113.50", "HTTP_USER_AGENT": UA, "REQUEST_METHOD": "POST",
               "RAW_URI": "/report", "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/report", "QUERY_STRING": ""}
    import datetime

    atoms = logger.atoms(Resp(), Req(), environ, datetime.timedelta(milliseconds=5))
    line = cfg.access_log_format % atoms
    assert "203.0.113.50" not in line and "iPhone" not in line
    assert "/report" in line


def _emit(fmt: str, **kwargs) -> str:
    import io

    from app.logs import TextFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter("%(levelname)s %(message)s"))
    handler.addFilter(NoClientDataFilter())
    logger = logging.getLogger(f"tipline.test.{fmt}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("something happened", **kwargs)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_structured_fields_are_scrubbed_in_both_formats(fmt):
    out = _emit(fmt, extra={"fields": {"client": "203.0.113.77", "agent": UA, "nested": {"x": ["2001:db8::7"]}}})
    assert "203.0.113.77" not in out and "iPhone" not in out and "2001:db8::7" not in out
    assert "something happened" in out


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_tracebacks_are_scrubbed_in_both_formats(fmt):
    try:
        raise ValueError(f"bad request from 198.51.100.4 using {UA}")
    except ValueError:
        out = _emit(fmt, exc_info=True)
    assert "ValueError" in out
    assert "198.51.100.4" not in out and "iPhone" not in out


ENROLMENT_TOKEN = "q2Vx8dK4mB7nZ0aP1sT6uW9yC3eF5hJ_L-oRiGk"


def test_enrolment_token_is_not_written_to_the_access_log():
    # The link signs someone up as a staff member for 3 days: whoever reads the journal must not get it.
    from gunicorn.config import Config

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = SafeGunicornLogger(cfg)

    class Resp:
        status = "200 OK"
        response_length = 12
        sent = 12
        headers = ()

    path = f"/console/enrol/{ENROLMENT_TOKEN}"

    class Req:
        headers = ()
        method, path, query, uri, version = "GET", "", "", "", (1, 1)

    Req.path = Req.uri = path
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": path, "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": path,
               "QUERY_STRING": ""}
    import datetime

    atoms = logger.atoms(Resp(), Req(), environ, datetime.timedelta(milliseconds=5))
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, cfg.access_log_format, (atoms,), None)
    entry = _format(record)
    assert ENROLMENT_TOKEN not in json.dumps(entry)
    assert entry["event"].startswith('"GET /console/enrol/[redacted] HTTP/1.1" 200')


@pytest.mark.parametrize("line", [f"GET /console/enrol/{ENROLMENT_TOKEN} HTTP/1.1",
                                  f"POST /console/enrol/{ENROLMENT_TOKEN}?x=1 HTTP/1.1",
                                  f"Exception on /console/enrol/{ENROLMENT_TOKEN} [POST]",
                                  f"link: http://tipline.test/console/enrol/{ENROLMENT_TOKEN}."])
def test_enrolment_token_is_scrubbed_wherever_it_is_logged(line):
    assert ENROLMENT_TOKEN not in scrub(line) and "/console/enrol/[redacted]" in scrub(line)
