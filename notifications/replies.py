"""Reading what a staff member texted back: the other half of "Reply 1 or ACK 7KQ2MX" in messages.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ReplyKind = Literal["ack", "stop", "start", "help", "unknown"]

# Twilio's own opt-out keywords for long codes; it acts on them before our webhook sees the message.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

# "1", "ACK", "ack 7kq2mx", "ACK #7KQ2MX", "ACK: 7KQ2MX.", "Acknowledged", "ACK7KQ2MX"; phones add punctuation and
# trailing spaces. After "1" a reference needs a separator ("12" is not an acknowledgement).
_ACK_RE = re.compile(
    r"(?:1(?:[\s:#-]+#?([A-Z0-9]{4,12}))?|ACK(?:NOWLEDGED?)?(?:[\s:#-]*#?([A-Z0-9]{4,12}))?)[.!\s]*")


@dataclass(frozen=True)
class InboundReply:
    """What an inbound SMS asks for.

    `ref` is set only for "ACK <ref>"; "1" and a bare "ACK" mean the latest alert sent to that number.
    """

    kind: ReplyKind
    ref: str | None = None


def parse_reply(body: str) -> InboundReply:
    text = " ".join(body.upper().split())
    if text in STOP_WORDS:
        return InboundReply("stop")
    if text in START_WORDS:
        return InboundReply("start")
    if text in HELP_WORDS:
        return InboundReply("help")
    match = _ACK_RE.fullmatch(text)
    if match:
        return InboundReply("ack", match.group(1) or match.group(2))
    return InboundReply("unknown")
