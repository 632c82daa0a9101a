"""From calibrated probabilities to a decision, with asymmetric costs.

An SRO woken at 2 a.m. for a tip that could have waited is a cost we accept; a critical tip left
in a queue until Monday is the worst error this library can make. The cost matrix says so in numbers,
and the urgency chosen is the one with the lowest expected cost, not the most probable one.
"""

from __future__ import annotations

from collections.abc import Mapping

from triage.taxonomy import DANGER_ORDER, URGENCIES

# COST[true][predicted]. Rows: what the tip really is; columns: what we say.
# Any error costs about 1, except leaving a critical tip below critical: 5 for "high" (an SMS still goes out
# at once), 20 when it would wait in a queue (medium, low). Chosen on the training writers only, each
# writer's tips held out in turn (a stand-in for tips from outsiders; `python -m triage tune`). Over the 38
# writers, of the pairs at least as safe as the model before (critical recall 0.985, 2 dangerous misses), high 5
# and queue 20 had the best urgency macro-F1: 0.987 / 2 / 0.805 (queue 40: 0.987 / 0 / 0.782; high 10 and
# queue 20: 0.992 / 2 / 0.787). With train.jsonl's 18 writers alone, 5 and 10 were chosen the same way (4 and 8 caught
# fewer criticals; 6 and 12 barely more, for 1.1 points of urgency macro-F1).
# The 41 writers' model (holdout4 and holdout5 added) keeps them.
MISSED_CRITICAL_COST = 5.0
QUEUED_CRITICAL_COST = 20.0


def cost_matrix(
    missed_critical: float = MISSED_CRITICAL_COST, queued_critical: float = QUEUED_CRITICAL_COST
) -> dict[str, dict[str, float]]:
    """Errors cost 1 (under-ranking by two or three steps a little more), missed criticals much more."""
    cost = {true: {pred: 0.0 for pred in URGENCIES} for true in URGENCIES}
    for i, true in enumerate(URGENCIES):
        for j, pred in enumerate(URGENCIES):
            if i != j:
                cost[true][pred] = 1.0 if j > i else float(i - j) ** 0.5
    cost["critical"] = {
        "low": queued_critical,
        "medium": queued_critical,
        "high": missed_critical,
        "critical": 0.0,
    }
    return cost


COST: Mapping[str, Mapping[str, float]] = cost_matrix()

# Categories where "happening right now" plus a high urgency is a danger to life.
DANGEROUS_CATEGORIES = frozenset({"suicide", "self_harm", "threat_of_violence", "weapon", "abuse_neglect"})
# When the reporter says "happening now", a high tip becomes critical if the model gives critical
# at least this probability; a text with no sign of danger keeps its urgency.
NOW_CRITICAL_MIN_PROBABILITY = 0.15
# "When two fit, the more dangerous wins" is how the labels were written, so the model has learned it;
# an extra margin in favour of danger lowered out-of-fold category macro-F1 (0.818 at 0, 0.816 at 0.05,
# 0.804 at 0.2), and urgency, not category, decides who is woken. Only exact ties go to the more dangerous.
CATEGORY_TIE_MARGIN = 0.0


def expected_costs(
    urgency_probabilities: Mapping[str, float], cost: Mapping[str, Mapping[str, float]] = COST
) -> dict[str, float]:
    """Expected cost of answering each urgency, given the probability of each true urgency."""
    return {
        predicted: sum(urgency_probabilities[true] * cost[true][predicted] for true in URGENCIES)
        for predicted in URGENCIES
    }


def decide_urgency(urgency_probabilities: Mapping[str, float], cost: Mapping[str, Mapping[str, float]] = COST) -> str:
    """The urgency of least expected cost; ties go to the more urgent one."""
    costs = expected_costs(urgency_probabilities, cost)
    return min(reversed(URGENCIES), key=lambda u: costs[u])


def decide_category(category_probabilities: Mapping[str, float], margin: float = CATEGORY_TIE_MARGIN) -> str:
    """The most probable category, unless a more dangerous one is nearly as probable."""
    best = max(category_probabilities.values())
    close = [c for c in DANGER_ORDER if category_probabilities.get(c, 0.0) >= best - margin]
    return close[0]


def apply_happening_now(
    urgency: str,
    category: str,
    urgency_probabilities: Mapping[str, float],
    happening_now: bool | None,
    danger_rule_fired: bool,
) -> str:
    """The reporter's "happening right now" is a signal, not a verdict.

    It raises high to critical only when the text itself supports danger: a safety rule fired, or the
    tip is about a danger to life and the model already sees a real chance that it is critical.
    It never touches low or medium tips, so a "test" message stays low, and it never lowers anything.
    """
    if not happening_now or urgency != "high":
        return urgency
    text_supports_danger = danger_rule_fired or (
        category in DANGEROUS_CATEGORIES and urgency_probabilities["critical"] >= NOW_CRITICAL_MIN_PROBABILITY
    )
    return "critical" if text_supports_danger else urgency
