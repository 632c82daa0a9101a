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
        ("ACK #ABC123", InboundReply("ack", "ABC123")),
        ("Ack.", InboundReply("ack")),
        ("1.", InboundReply("ack")),
        ("STOP", InboundReply("stop")),
        ("unsubscribe", InboundReply("stop")),
        ("Start", InboundReply("start")),
        ("HELP", InboundReply("help")),
        # Not acknowledgements: each is answered with how to acknowledge, and takes no tip.
        ("ok", InboundReply("unknown")),
        ("sí", InboundReply("unknown")),
        ("1\U0001F44D", InboundReply("unknown")),
        ("ACK 7KQ2MX thanks", InboundReply("unknown")),
        ("#1", InboundReply("unknown")),
        ("12", InboundReply("unknown")),
        ("ACK ME PLEASE NOW", InboundReply("unknown")),
        ("who is this", InboundReply("unknown")),
    ],
)
def test_parse_reply(body: str, expected: InboundReply) -> None:
    assert parse_reply(body) == expected


# Twilio's own keywords for long codes (its opt-out list includes REVOKE and OPTOUT since 2025): the app must read
# each as Twilio does, or it pages a person Twilio no longer lets it reach, or skips one it does.
@pytest.mark.parametrize("word", ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"])
def test_every_twilio_opt_out_word_is_a_stop(word: str) -> None:
    assert parse_reply(word) == parse_reply(f" {word.lower()} ") == InboundReply("stop")


@pytest.mark.parametrize(("word", "kind"), [("START", "start"), ("UNSTOP", "start"), ("YES", "start"),
                                            ("HELP", "help"), ("INFO", "help")])
def test_every_twilio_opt_in_and_help_word_is_read_as_such(word: str, kind: str) -> None:
    assert parse_reply(word.capitalize()) == InboundReply(kind)  # type: ignore[arg-type]
