"""The category the console filters on, in SQL: staff's correction when there is one, else the model's
(the same rule as Tip.effective_category, which the console and the alerts use for one tip).

Tip.category/urgency keep the model's prediction (so label and prediction stay a pair for retraining and
for measuring the model); Tip.label_category/label_urgency hold the correction; Tip.urgency_rank always
follows the effective urgency, so the queue orders by what staff decided.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func

from app.models import Tip


def effective_category_column() -> Any:
    return func.coalesce(Tip.label_category, Tip.category)

