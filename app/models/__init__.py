"""The data model. Import models from here: `from app.models import Tip`."""

from app.models.alerts import REPLY_KIND, Alert, AlertStatus, SmsCheck, SmsCheckStatus, WorkerLease
from app.models.audit import AuditEvent
from app.models.base import utcnow
from app.models.directory import (
    Agency,
    Assignment,
    ChainPosition,
    EndedSession,
    Role,
    School,
    SignInFailure,
    Staff,
)
from app.models.reporter import ReporterSession
from app.models.tips import (
    UNRANKED_MODEL,
    Attachment,
    Incident,
    KeyCheck,
    Message,
    Note,
    Outcome,
    ReceiptKeyCheck,
    Tip,
    TipStatus,
)

__all__ = [
    "Agency", "Alert", "AlertStatus", "Assignment", "Attachment", "AuditEvent", "ChainPosition", "EndedSession",
    "Incident",
    "KeyCheck", "Message", "Note", "Outcome", "ReceiptKeyCheck", "ReporterSession", "Role", "School",
    "SignInFailure", "SmsCheck", "SmsCheckStatus", "Staff", "Tip", "TipStatus", "UNRANKED_MODEL", "WorkerLease",
    "utcnow", "REPLY_KIND",
]
