"""The text of every SMS Tipline sends.

An SMS crosses carriers in clear text and sits on a lock screen, so it carries only what a responder needs to
act: reference, school, category, urgency, a console link and how to acknowledge. The builders take no free
text at all, so tip text, names or attachments cannot reach an SMS by mistake; every value they do take is
checked or reduced to a short GSM-7 label. Each template fits one GSM-7 segment (160 characters) for a base
URL of up to 40 characters, a 6-character reference and a school short name of up to 8 characters, even when
an escalated alert is repeated for the 99th time (see tests/notifications/test_sms_messages.py). For another base
URL, `longest_alert_text` is the longest an alert can be and `longest_base_url_for_one_segment` how long the URL
may be; the app warns at start-up when the one it is configured with is longer.
"""

from __future__ import annotations

import re

from notifications.gsm import GSM7_EXTENSION, SINGLE_SEGMENT_GSM7, is_gsm7, segments, to_gsm7

__all__ = [
    "CATEGORY_LABELS",
    "QUEUE_PATH",
    "TIP_PATH",
    "ack_confirmed_reply",
    "alert_text",
    "already_acknowledged_reply",
    "category_label",
    "folded_ack_confirmed_reply",
    "folded_already_acknowledged_reply",
    "folded_text",
    "help_reply",
    "is_gsm7",
    "longest_alert_text",
    "longest_base_url_for_one_segment",
    "no_longer_yours_reply",
    "nothing_to_ack_reply",
    "reporter_message_text",
    "segments",
    "start_reply",
    "stop_reply",
    "tip_url",
    "unknown_number_reply",
    "unknown_ref_reply",
]

# Console routes the links point at; the app's console blueprint must serve them.
TIP_PATH = "/console/tips/"
QUEUE_PATH = "/console/"

# Short labels keep the alert in one segment ("threat_of_violence" alone is 18 characters).
CATEGORY_LABELS: dict[str, str] = {
    "suicide": "suicide",
    "self_harm": "self-harm",
    "threat_of_violence": "threat",
    "weapon": "weapon",
    "bullying": "bullying",
    "drugs_alcohol": "drugs",
    "abuse_neglect": "abuse",
    "sexual_misconduct": "sexual",
    "mental_health": "mental health",
    "fighting": "fighting",
    "other": "other",
}
# A category we do not know is shown as this rather than echoed, so no unexpected string reaches an SMS.
UNKNOWN_CATEGORY_LABEL = "tip"

URGENCY_LABELS: dict[str, str] = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
UNKNOWN_URGENCY_LABEL = "ALERT"

# References come from the app's own alphabet; anything else is a bug and must not be sent.
_REF_RE = re.compile(r"[A-Z0-9]{4,12}")
# Longer short names are cut; the console shows the full school name.
MAX_SCHOOL_CHARS = 8
_BASE_URL_RE = re.compile(r"https?://[^\s]+")


def category_label(category: str) -> str:
    """The short display label for a taxonomy category ("threat_of_violence" → "threat")."""
    return CATEGORY_LABELS.get(category, UNKNOWN_CATEGORY_LABEL)


def tip_url(base_url: str, ref: str) -> str:
    """The console link of one tip."""
    return _clean_base_url(base_url) + TIP_PATH + _clean_ref(ref)


def alert_text(
    *,
    ref: str,
    school: str,
    category: str,
    urgency: str,
    base_url: str,
    escalated: bool = False,
    repeat: int = 0,
) -> str:
    """The alert for one tip.

    `escalated`: sent to the next person in the chain because the primary did not acknowledge.
    `repeat`: the n-th resend of the same alert to the same person (0 for the first send).
    """
    ref = _clean_ref(ref)
    if repeat < 0:
        raise ValueError("repeat must be 0 or more")
    flags = ""
    if repeat:
        flags += f" REPEAT {repeat}"
    if escalated:
        flags += " ESCALATED (no ack)"
    urgency_label = URGENCY_LABELS.get(urgency, UNKNOWN_URGENCY_LABEL)
    return (
        f"TIPLINE{flags} {urgency_label} {category_label(category)} {_clean_school(school)} #{ref}"
        f" {tip_url(base_url, ref)} Reply 1 or ACK {ref}"
    )


def folded_text(*, count: int, school: str, category: str, urgency: str, base_url: str) -> str:
    """One SMS standing for `count` further alerts of the same incident, instead of a flood.

    `urgency`: the highest among the tips it stands for, so the person knows how fast to open the queue. A "1" to it
    acknowledges every one of them (app/hooks/views.py): the high ones escalate when nobody answers, as alone.
    """
    if count < 1:
        raise ValueError("count must be 1 or more")
    noun = "tip" if count == 1 else "tips"
    urgency_label = URGENCY_LABELS.get(urgency, UNKNOWN_URGENCY_LABEL)
    return (
        f"TIPLINE +{count} related {noun} at {_clean_school(school)} ({urgency_label} {category_label(category)})."
        f" Queue: {_clean_base_url(base_url)}{QUEUE_PATH} Reply 1 to acknowledge all"
    )


def reporter_message_text(*, ref: str, school: str, base_url: str, acknowledged: bool) -> str:
    """The reporter wrote again on a case: only that they did, never what they wrote or anything about them.

    `acknowledged`: someone took the tip, so nothing is asked of this person but to read it; otherwise it says
    how to take it, as an alert does.
    """
    ref = _clean_ref(ref)
    answer = "No reply needed." if acknowledged else f"Reply 1 or ACK {ref}"
    return (
        f"TIPLINE NEW MESSAGE from reporter on #{ref} {_clean_school(school)}. Read it: {tip_url(base_url, ref)}"
        f" {answer}"
    )


def _cost(text: str) -> tuple[int, int]:
    """How much room `text` takes, for comparing SMS: its segments, then its GSM-7 septets (or UTF-16 units)."""
    return segments(text), sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


def longest_alert_text(base_url: str, *, max_repeat: int = 99, max_folded: int = 999, ref_chars: int = 6) -> str:
    """The longest SMS an alert can be with this base URL: every alert template (a tip's alert, the "+N related
    tips" SMS, the notice of a reporter's message), with the longest labels, a school short name as long as any
    SMS carries, every flag, the last repeat (`max_repeat`: the app's ALERT_MAX_REPEATS) and a folded count of
    `max_folded`. Every template carries the URL once, so this is what to measure it by."""
    ref, school = "W" * ref_chars, "W" * MAX_SCHOOL_CHARS
    urgencies = [*URGENCY_LABELS, "unknown"]
    categories = [*CATEGORY_LABELS, "unknown"]
    texts = [alert_text(ref=ref, school=school, category=category, urgency=urgency, base_url=base_url,
                        escalated=True, repeat=max_repeat) for category in categories for urgency in urgencies]
    texts += [folded_text(count=max(1, max_folded), school=school, category=category, urgency=urgency,
                          base_url=base_url) for category in categories for urgency in urgencies]
    texts += [reporter_message_text(ref=ref, school=school, base_url=base_url, acknowledged=taken)
              for taken in (False, True)]
    return max(texts, key=_cost)


def longest_base_url_for_one_segment(*, max_repeat: int = 99, max_folded: int = 999, ref_chars: int = 6) -> int:
    """How many characters the base URL may have (plain ASCII of GSM-7's basic table; a character of its extension
    table, such as ~, counts two) for the longest alert to fit one GSM-7 segment."""
    probe = "https://t"
    rest = _cost(longest_alert_text(probe, max_repeat=max_repeat, max_folded=max_folded, ref_chars=ref_chars))[1]
    return SINGLE_SEGMENT_GSM7 - (rest - len(probe))


def check_text(*, school: str) -> str:
    """A district admin's test SMS to someone of a school's escalation chain: that this phone gets the school's
    urgent alerts. About no tip: nothing to open, nothing to answer."""
    return (f"TIPLINE TEST for {_clean_school(school)}: this phone gets its urgent tip alerts. No tip, nothing to do,"
            " no reply needed.")


# Replies to inbound SMS: they go only to the number that wrote and say nothing the writer did not know.

def ack_confirmed_reply(ref: str) -> str:
    return f"Acknowledged #{_clean_ref(ref)}, thank you."


def folded_ack_confirmed_reply(acknowledged: int, told: int) -> str:
    """The answer to a "1" to a "+N related tips" SMS: how many of the `told` tips it stood for were acknowledged
    (the others someone had taken already). No references: the SMS named none."""
    if not 0 < acknowledged <= told:
        raise ValueError("acknowledged must be 1 to told")
    if acknowledged == told:
        return f"Acknowledged all {told} related tips, thank you."
    already = told - acknowledged
    return (f"Acknowledged {acknowledged} of the {told} related tips, thank you; {already}"
            f" {'was' if already == 1 else 'were'} already acknowledged.")


def folded_already_acknowledged_reply(told: int) -> str:
    return f"All {told} related tips were already acknowledged. Nothing was changed."


def already_acknowledged_reply(ref: str) -> str:
    # Not who took it: the reply goes to a phone, and the console shows that to those who may see it.
    return f"#{_clean_ref(ref)} was already acknowledged. Nothing was changed."


def not_recorded_reply() -> str:
    # The database could not be written: who wrote is not known, so nothing says what this number is.
    return "Your reply was not recorded: the system is busy. Please send it again in a minute."


def nothing_to_ack_reply() -> str:
    return "Nothing to acknowledge: no open alert for this number."


def no_longer_yours_reply() -> str:
    # "1" to the newest alert of the phone, whose school the person was taken off since: not which tip (they may no
    # longer see it), and no older alert taken in its place.
    return "The latest alert to this number is no longer yours to acknowledge. Nothing was changed."


def unknown_ref_reply() -> str:
    # The reference the sender typed is not echoed: it is untrusted input and may name another school's tip.
    return "No open alert with that reference for this number. Reply ACK and the reference from the alert."


def unknown_number_reply() -> str:
    # Said to any number that is not a staff phone: it must not reveal that this is a tip line or whose it is.
    return "This number does not accept messages."


def stop_reply() -> str:
    """Empty: send no reply to STOP.

    On long codes and Messaging Services with Advanced Opt-Out, Twilio answers STOP itself and then refuses
    every message to that number (error 21610), ours included, so a confirmation would never arrive.
    """
    return ""


def start_reply() -> str:
    # Twilio also confirms START itself; ours adds that Tipline recorded it, which Twilio cannot know.
    return "TIPLINE alerts are on again for this number."


def help_reply(base_url: str) -> str:
    # Carriers require HELP answers to say how to opt out, so STOP is mentioned despite what it costs us.
    return (
        f"TIPLINE staff alerts. Reply ACK and the reference, or 1 for the latest alert."
        f" Cases: {_clean_base_url(base_url)}/console Reply STOP to end alerts."
    )


def _clean_ref(ref: str) -> str:
    ref = ref.strip().upper()
    if not _REF_RE.fullmatch(ref):
        raise ValueError("not a tip reference")
    return ref


def _clean_school(school: str) -> str:
    cleaned = " ".join(to_gsm7(school).split())[:MAX_SCHOOL_CHARS].strip()
    return cleaned or "school"


def _clean_base_url(base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    # A URL with spaces or non-ASCII characters would break the link (phones do not linkify IDNs reliably)
    # or the single GSM-7 segment.
    if not _BASE_URL_RE.fullmatch(base_url) or not base_url.isascii():
        raise ValueError("base_url must be an http(s) URL in plain ASCII")
    return base_url
