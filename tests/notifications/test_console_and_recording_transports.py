"""The console transport (development) and the recording transport (unit tests)."""

from __future__ import annotations

import logging
import threading

import pytest

from notifications import ConsoleTransport, PermanentSendError, RecordingTransport, SmsTransport, TransientSendError


def test_console_transport_logs_and_keeps_messages(caplog: pytest.LogCaptureFixture) -> None:
    transport = ConsoleTransport(keep=2)
    assert isinstance(transport, SmsTransport)
    with caplog.at_level(logging.INFO, logger="notifications.console_transport"):
        results = [transport.send(f"+1307555010{i}", f"alert {i}", status_callback=None) for i in range(3)]
    assert [m.body for m in transport.recent()] == ["alert 2", "alert 1"]  # newest first, only `keep`
    assert "alert 0" in caplog.text and "+13075550100" in caplog.text
    assert all(r.sid.startswith("SMconsole") and len(r.sid) == 34 for r in results)
    assert len({r.sid for r in results}) == 3


def test_console_transport_is_thread_safe() -> None:
    transport = ConsoleTransport(keep=1000)

    def burst() -> None:
        for _ in range(100):
            transport.send("+13075550100", "x", status_callback="http://cb", validity_period_s=60)

    threads = [threading.Thread(target=burst) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(transport.recent()) == 800


def test_recording_transport_fails_on_command() -> None:
    transport = RecordingTransport()
    assert isinstance(transport, SmsTransport)
    transport.fail_next(2, code=20429)
    transport.fail_next(1, permanent=True, code=21610)
    with pytest.raises(TransientSendError):
        transport.send("+13075550100", "a", status_callback=None)
    with pytest.raises(TransientSendError):
        transport.send("+13075550100", "a", status_callback=None)
    with pytest.raises(PermanentSendError) as caught:
        transport.send("+13075550100", "a", status_callback=None)
    assert caught.value.code == 21610
    result = transport.send("+13075550100", "b", status_callback="http://cb", validity_period_s=60)
    assert [m.sid for m in transport.sent] == [result.sid]
    assert transport.bodies() == ["b"] and len(transport.attempts) == 4
    assert transport.messages_to("+13075550100")[0].status_callback == "http://cb"
    assert transport.messages_to("+10000000000") == []
