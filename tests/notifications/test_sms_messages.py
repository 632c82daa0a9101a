"""The SMS text: what an alert says, what it never says, and that it always fits one GSM-7 segment."""

from __future__ import annotations

import inspect
import itertools

import pytest

from notifications import messages
from notifications.gsm import is_gsm7, segments, to_gsm7

# Worst realistic inputs: a 40-character base URL, a 6-character reference, an 8-character school short name.
BASE_URL = "https://tipline.natronacountyschools.org"
REF = "7KQ2MX"
SCHOOL = "KWHS-EAST"[:8]
URGENCIES = ["critical", "high", "medium", "low"]


def all_templates() -> list[str]:
    texts = [
        messages.alert_text(ref=REF, school=SCHOOL, category=category, urgency=urgency, base_url=BASE_URL,
                            escalated=escalated, repeat=repeat)
        for category, urgency, escalated, repeat in itertools.product(
            messages.CATEGORY_LABELS, URGENCIES, (False, True), (0, 1, 99)
        )
    ]
    texts += [messages.folded_text(count=count, school=SCHOOL, category=category, urgency=urgency, base_url=BASE_URL)
              for count in (1, 999) for category in messages.CATEGORY_LABELS for urgency in URGENCIES]
    texts += [messages.reporter_message_text(ref=REF, school=SCHOOL, base_url=BASE_URL, acknowledged=taken)
              for taken in (False, True)]
    texts += [
        messages.ack_confirmed_reply(REF), messages.nothing_to_ack_reply(), messages.unknown_ref_reply(),
        messages.folded_ack_confirmed_reply(998, 999), messages.folded_already_acknowledged_reply(999),
        messages.unknown_number_reply(), messages.start_reply(), messages.help_reply(BASE_URL),
    ]
    return texts


def test_worst_case_inputs_are_realistic_maxima() -> None:
    assert len(BASE_URL) == 40 and len(REF) == 6 and len(SCHOOL) == 8


def test_every_template_fits_one_gsm7_segment() -> None:
    for text in all_templates():
        assert is_gsm7(text), text
        assert segments(text) == 1, f"{len(text)} characters: {text}"


def test_alert_says_what_a_responder_needs() -> None:
    text = messages.alert_text(ref="7kq2mx", school="KWHS", category="weapon", urgency="critical",
                               base_url="https://x/")
    assert text == "TIPLINE CRITICAL weapon KWHS #7KQ2MX https://x/console/tips/7KQ2MX Reply 1 or ACK 7KQ2MX"


def test_escalation_and_repeat_are_marked() -> None:
    text = messages.alert_text(ref=REF, school="NCHS", category="threat_of_violence", urgency="high",
                               base_url=BASE_URL, escalated=True, repeat=2)
    assert text.startswith("TIPLINE REPEAT 2 ESCALATED (no ack) HIGH threat NCHS #7KQ2MX ")


def test_folded_message_says_how_urgent_and_points_to_the_queue() -> None:
    text = messages.folded_text(count=3, school="KWHS", category="weapon", urgency="high", base_url="https://x")
    assert text == "TIPLINE +3 related tips at KWHS (HIGH weapon). Queue: https://x/console/ Reply 1 to acknowledge all"


def test_reporter_message_notice_says_only_that_there_is_one() -> None:
    taken = messages.reporter_message_text(ref="7kq2mx", school="KWHS", base_url="https://x/", acknowledged=True)
    assert taken == ("TIPLINE NEW MESSAGE from reporter on #7KQ2MX KWHS. Read it: https://x/console/tips/7KQ2MX"
                     " No reply needed.")
    nobody = messages.reporter_message_text(ref="7KQ2MX", school="KWHS", base_url="https://x", acknowledged=False)
    assert nobody.endswith("/console/tips/7KQ2MX Reply 1 or ACK 7KQ2MX")  # nobody took it: how to
    tip = "he is outside the school now"
    text = messages.reporter_message_text(ref=REF, school=tip, base_url=BASE_URL, acknowledged=True)
    assert "outside" not in text


def test_sms_never_contains_tip_text() -> None:
    # The builders accept no free text: only these parameters exist.
    allowed = {"ref", "school", "category", "urgency", "base_url", "escalated", "repeat", "count", "acknowledged"}
    for name in ("alert_text", "folded_text", "reporter_message_text", "ack_confirmed_reply", "help_reply"):
        assert set(inspect.signature(getattr(messages, name)).parameters) <= allowed, name
    # A value in the wrong place is reduced, not echoed.
    tip = "he has a gun in his locker"
    text = messages.alert_text(ref=REF, school=tip, category=tip, urgency=tip, base_url=BASE_URL)
    assert "gun" not in text and "locker" not in text
    assert " ALERT tip " in text
    with pytest.raises(ValueError):
        messages.alert_text(ref=tip, school="KWHS", category="weapon", urgency="high", base_url=BASE_URL)


def test_unknown_number_reply_reveals_nothing() -> None:
    text = messages.unknown_number_reply().lower()
    assert "tip" not in text and "school" not in text and "alert" not in text


def test_unknown_ref_reply_does_not_echo_what_was_sent() -> None:
    assert "#" not in messages.unknown_ref_reply()


def test_stop_gets_no_reply_because_twilio_answers_stop_itself() -> None:
    assert messages.stop_reply() == ""


def test_school_names_are_made_gsm7_and_short() -> None:
    text = messages.alert_text(ref=REF, school="Évansville “Elem”", category="other", urgency="low",
                               base_url=BASE_URL)
    assert is_gsm7(text)
    assert " Évansvil #" in text  # É is GSM-7; cut to 8 characters


@pytest.mark.parametrize("base_url", ["ftp://x", "https://exämple.org", "https://x y", ""])
def test_bad_base_url_is_refused(base_url: str) -> None:
    with pytest.raises(ValueError):
        messages.tip_url(base_url, REF)


def test_counts_must_be_sensible() -> None:
    with pytest.raises(ValueError):
        messages.folded_text(count=0, school="KWHS", category="weapon", urgency="high", base_url=BASE_URL)
    with pytest.raises(ValueError):
        messages.alert_text(ref=REF, school="K", category="weapon", urgency="low", base_url=BASE_URL, repeat=-1)


def test_gsm7_segment_counting() -> None:
    assert segments("") == 0
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("a" * 306) == 2 and segments("a" * 307) == 3
    assert segments("[" * 80) == 1 and segments("[" * 81) == 2  # extension characters cost two
    assert not is_gsm7("emoji 🚨") and segments("a" * 70) == 1 and segments("é" * 70) == 1
    assert segments("ū" * 70) == 1 and segments("ū" * 71) == 2  # UCS-2: 70, then 67 a part
    assert segments("🚨" * 35) == 1 and segments("🚨" * 36) == 2  # surrogate pairs count two


def test_to_gsm7_keeps_letters_and_replaces_the_rest() -> None:
    assert to_gsm7("Ōtaki ‘North’ — 🚨") == "Otaki 'North' - ?"


def test_the_longest_alert_is_measured_for_the_base_url_it_is_sent_with() -> None:
    """Each alert fit one segment only while PUBLIC_BASE_URL was at most about 40 characters, and nothing could tell
    how long the longest alert gets for the configured one. `longest_alert_text` is the longest SMS an alert can be
    (every template, category, urgency, flag, the last repeat, a folded count of 999) and
    `longest_base_url_for_one_segment` the longest base URL that keeps it to one."""
    longest = messages.longest_alert_text(BASE_URL, max_repeat=99)
    assert BASE_URL + "/" in longest and segments(longest) == 1
    assert all(len(text) <= len(longest) for text in all_templates() if BASE_URL in text
               and "Acknowledged" not in text and "Cases:" not in text)
    room = messages.longest_base_url_for_one_segment(max_repeat=99)
    assert room >= len(BASE_URL)
    fits = "https://" + "t" * (room - len("https://"))
    assert segments(messages.longest_alert_text(fits, max_repeat=99)) == 1
    assert segments(messages.longest_alert_text(fits + "t", max_repeat=99)) == 2
    # Fewer repeats (one digit): a little more room.
    assert messages.longest_base_url_for_one_segment(max_repeat=6) == room + 1
    # A character of GSM-7's extension table costs two.
    assert segments(messages.longest_alert_text(fits[:-1] + "~", max_repeat=99)) == 2
