"""The labels of the tip taxonomy (see TAXONOMY.md) and the order of danger between them."""

from __future__ import annotations

# Categories in the order of the taxonomy table; the model's class order is independent of this.
CATEGORIES: tuple[str, ...] = (
    "suicide",
    "self_harm",
    "threat_of_violence",
    "weapon",
    "bullying",
    "drugs_alcohol",
    "abuse_neglect",
    "sexual_misconduct",
    "mental_health",
    "fighting",
    "other",
)

# Ordered from least to most urgent, so `URGENCIES.index(u)` compares urgencies.
URGENCIES: tuple[str, ...] = ("low", "medium", "high", "critical")

# Most dangerous first. The taxonomy says "when two fit, the more dangerous wins":
# suicide > self_harm > mental_health and threat_of_violence > weapon > fighting;
# the rest are ordered by how often they hide a risk to a person.
DANGER_ORDER: tuple[str, ...] = (
    "suicide",
    "threat_of_violence",
    "weapon",
    "self_harm",
    "abuse_neglect",
    "sexual_misconduct",
    "fighting",
    "mental_health",
    "drugs_alcohol",
    "bullying",
    "other",
)

assert set(DANGER_ORDER) == set(CATEGORIES)


def urgency_rank(urgency: str) -> int:
    """0 for low ... 3 for critical; raises ValueError on an unknown label."""
    return URGENCIES.index(urgency)


def max_urgency(*urgencies: str) -> str:
    """The most urgent of the given labels."""
    return max(urgencies, key=urgency_rank)


def more_dangerous(a: str, b: str) -> str:
    """Of two categories, the one the taxonomy says wins when both fit."""
    return a if DANGER_ORDER.index(a) <= DANGER_ORDER.index(b) else b
