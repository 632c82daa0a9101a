"""Prometheus text exposition (format 0.0.4), computed from the database on each scrape, so every web process
reports the same figures and a restart loses nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.alerts.dispatcher import oldest_due_age_s
from app.alerts.sms_volume import sms_sent_last_hour
from app.extensions import db
from app.models import Alert, Tip, utcnow
from triage import URGENCIES

# Seconds from the tip to the provider accepting the first SMS: the promise is "within seconds".
SMS_BUCKETS = (1, 2, 5, 10, 30, 60, 300, 1800)
WINDOW = timedelta(hours=24)


def _labels(**labels: str) -> str:
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def db_tip_to_sms_seconds() -> dict[str, list[float]]:
    """Urgency -> delays of initial alerts sent in the last 24 hours (Alert.sent_at - Tip.created_at)."""
    since = utcnow() - WINDOW
    rows = db.session.execute(
        select(Tip.urgency, Tip.created_at, Alert.sent_at).join(Tip, Tip.id == Alert.tip_id)
        .where(Alert.kind == "initial", Alert.sent_at.isnot(None), Alert.sent_at >= since)
    ).all()
    delays: dict[str, list[float]] = {u: [] for u in URGENCIES}
    for urgency, created_at, sent_at in rows:
        if sent_at is None:
            continue
        delays.setdefault(urgency, []).append(max(0.0, (sent_at - created_at).total_seconds()))
    return delays


def db_render_metrics() -> str:
    lines: list[str] = []
    tips = dict(db.session.execute(select(Tip.urgency, func.count()).group_by(Tip.urgency)).all())
    lines += ["# HELP tipline_tips Tips stored, by the urgency triage gave them (shredded tips included).",
              "# TYPE tipline_tips gauge"]
    for urgency in sorted(set(URGENCIES) | set(tips)):
        lines.append(f"tipline_tips{_labels(urgency=urgency)} {tips.get(urgency, 0)}")

    alerts = dict(db.session.execute(select(Alert.status, func.count()).group_by(Alert.status)).all())
    lines += ["# HELP tipline_alerts Alert rows in the outbox, by status.", "# TYPE tipline_alerts gauge"]
    for status in sorted(alerts):
        lines.append(f"tipline_alerts{_labels(status=status)} {alerts[status]}")

    lag = oldest_due_age_s()
    lines += ["# HELP tipline_alert_outbox_lag_seconds Age of the oldest alert that is due and not sent (0: none).",
              "# TYPE tipline_alert_outbox_lag_seconds gauge",
              f"tipline_alert_outbox_lag_seconds {_number(round(lag or 0.0, 3))}"]

    lines += ["# HELP tipline_alert_sms_last_hour Alert SMS the provider took in the last hour (ALERT_SMS_HOURLY_WARN "
              "warns above it).", "# TYPE tipline_alert_sms_last_hour gauge",
              f"tipline_alert_sms_last_hour {sms_sent_last_hour()}"]

    lines += ["# HELP tipline_tip_to_sms_seconds Seconds from a tip to its first SMS accepted by the provider, "
              "initial alerts sent in the last 24 hours (a sliding window, not a cumulative counter).",
              "# TYPE tipline_tip_to_sms_seconds histogram"]
    for urgency, values in sorted(db_tip_to_sms_seconds().items()):
        for bound in SMS_BUCKETS:
            count = sum(1 for v in values if v <= bound)
            lines.append(f"tipline_tip_to_sms_seconds_bucket{_labels(urgency=urgency, le=str(bound))} {count}")
        lines.append(f"tipline_tip_to_sms_seconds_bucket{_labels(urgency=urgency, le='+Inf')} {len(values)}")
        lines.append(f"tipline_tip_to_sms_seconds_sum{_labels(urgency=urgency)} {_number(round(sum(values), 3))}")
        lines.append(f"tipline_tip_to_sms_seconds_count{_labels(urgency=urgency)} {len(values)}")
    return "\n".join(lines) + "\n"
