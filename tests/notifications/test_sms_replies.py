"""Reading staff replies: ACK with or without a reference, and Twilio's keywords."""

from __future__ import annotations

import pytest

from notifications.replies import InboundReply, parse_reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("1", InboundReply("ack")),
        (" ack ", InboundReply("ack")),
        ("ACK 7KQ2MX", InboundReply("ack", "7KQ2MX")),
        ("ack #7kq2mx.", InboundReply("ack", "7KQ2MX")),
        ("Ack: 7KQ2MX", InboundReply("ack", "7KQ2MX")),
        # What an SRO types at night: the word spelled out, or the reference run on to ACK.
        ("Acknowledged", InboundReply("ack")),
        ("acknowledge 7kq2mx", InboundReply("ack", "7KQ2MX")),
        ("ACK7KQ2MX", InboundReply("ack", "7KQ2MX")),
        ("ack-7kq2mx", InboundReply("ack", "7KQ2MX")),
        ("STOP", InboundReply("stop")),
        ("unsubscribe", InboundReply("stop")),
        ("Start", InboundReply("start")),
        ("HELP", InboundReply("help")),
        ("12", InboundReply("unknown")),
        ("ACK ME PLEASE NOW", InboundReply("unknown")),
        ("who is this", InboundReply("unknown")),
    ],
)
def test_parse_reply(body: str, expected: InboundReply) -> None:
    assert parse_reply(body) == expected
