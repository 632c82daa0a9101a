"""The alert outbox and its dispatcher: what to send to whom, when, and the worker that sends it.

Intake calls `db_plan_alerts_for_new_tip(tip)` inside the transaction that stores the tip (transactional
outbox), then `wake_dispatcher()` after the commit so the first SMS leaves without a polling delay.
"""

from app.alerts.planning import ack_timeout_for, db_alert_after_relabel, db_plan_alerts_for_new_tip
from app.alerts.signals import wake_dispatcher

__all__ = ["ack_timeout_for", "db_alert_after_relabel", "db_plan_alerts_for_new_tip", "wake_dispatcher"]
