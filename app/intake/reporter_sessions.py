"""A reporter's visit, held server-side: the signed session cookie carries only a random token.

Flask's session cookie is signed, not encrypted, so it must hold nothing readable: no receipt code, no tip
reference. The ReporterSession row is found by SHA-256 of the token; the receipt code waiting to be shown
is sealed with a key derived from the token, so the database alone cannot show it either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from flask import current_app, session
from sqlalchemy import delete, select

from app.crypto.envelope import open_sealed, seal
from app.crypto.errors import DecryptionFailed
from app.extensions import db
from app.models import ReporterSession, Tip, utcnow

RECEIPT = "receipt"
FOLLOWUP = "followup"
# The receipt page stays available until the reporter confirms, or for this long (time to write it down).
RECEIPT_TTL = timedelta(minutes=30)
FOLLOWUP_IDLE = timedelta(minutes=15)
# An ended visit's row is deleted this long after it ends, not at once: a request that read it just before it
# ended may still be updating it (its new idle timeout), and would find no row.
ENDED_KEPT = timedelta(minutes=2)
_COOKIE_KEYS = {RECEIPT: "r", FOLLOWUP: "f"}
# When the receipt stops being shown, beside its token: the banner of a receipt not confirmed ends with it, read from
# the cookie alone (the pages render with no transaction open). Sealed under a key of the server's (_ends_key): the
# cookie is signed, not encrypted, and the time in clear said when the report was sent, which staff can match to a tip.
_RECEIPT_ENDS = "re"
_ENDS_AD = b"tipline/v1|receipt-ends|"
_AD = b"tipline/v1|receipt-session"
_KEPT_AD = b"tipline/v1|kept-reply"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _seal_key(token: str) -> bytes:
    return hmac.new(token.encode(), b"tipline receipt seal", hashlib.sha256).digest()


def db_start(purpose: str, tip: Tip, receipt_code: str | None = None, kept_message: str = "") -> str:
    """Add a server-side session for this tip; returns its random token, which the caller puts in the cookie with
    remember() once the row is committed: set before a commit that fails, the cookie named no row, and replaced the
    receipt of an earlier report still waiting to be saved. A follow-up visit may carry a reply kept from an ended
    one, sealed like a receipt code, until the next page shows it."""
    now = utcnow()
    db_delete_ended(now)
    token = secrets.token_urlsafe(32)
    ttl = RECEIPT_TTL if purpose == RECEIPT else FOLLOWUP_IDLE
    sealed = seal(_seal_key(token), _AD, receipt_code.encode()) if receipt_code else None
    if kept_message:
        sealed = seal(_seal_key(token), _KEPT_AD, kept_message.encode())
    db.session.add(ReporterSession(token_hash=_hash(token), purpose=purpose, tip_id=tip.id,
                                   expires_at=now + ttl, sealed=sealed))
    return token


def db_delete_ended(now: datetime | None = None) -> int:
    """Delete the visits that ended more than ENDED_KEPT ago (a new visit does, and the alert worker every few
    minutes: on a quiet site they stayed in the database and its backups, saying when someone came back to a
    report). Returns how many."""
    result = db.session.execute(delete(ReporterSession).where(
        ReporterSession.expires_at < (now or utcnow()) - ENDED_KEPT))
    return int(getattr(result, "rowcount", 0) or 0)


def remember(purpose: str, token: str) -> None:
    """Put the token of a committed session (db_start) in the cookie: the only thing of the visit it holds, with,
    for a receipt, when it ends."""
    session[_COOKIE_KEYS[purpose]] = token
    if purpose == RECEIPT:
        ends = int((utcnow() + RECEIPT_TTL).replace(tzinfo=UTC).timestamp())
        session[_RECEIPT_ENDS] = seal(_ends_key(), _ENDS_AD + token.encode(), str(ends).encode())


def _ends_key() -> bytes:
    """The key that seals the receipt's end time in the cookie: the server's SECRET_KEY, for this one purpose."""
    return hmac.new(str(current_app.config["SECRET_KEY"]).encode(), b"tipline receipt ends", hashlib.sha256).digest()


def _receipt_ended() -> bool:
    """The receipt's end time in the cookie has passed. One that does not open (a cookie from before it was sealed,
    or a time in clear from the release before) is taken as not ended: the receipt page itself asks the database."""
    sealed, token = session.get(_RECEIPT_ENDS), session.get(_COOKIE_KEYS[RECEIPT])
    if not isinstance(sealed, bytes) or not isinstance(token, str):
        return False
    try:
        ends = int(open_sealed(_ends_key(), _ENDS_AD + token.encode(), sealed))
    except (DecryptionFailed, ValueError):
        return False
    return utcnow().replace(tzinfo=UTC).timestamp() >= ends


def _row(purpose: str, even_expired: bool = False) -> tuple[ReporterSession, str] | None:
    token = session.get(_COOKIE_KEYS[purpose])
    if not isinstance(token, str):
        return None
    row = db.session.get(ReporterSession, _hash(token))
    if row is None or row.purpose != purpose or (row.expires_at < utcnow() and not even_expired):
        return None
    return row, token


def has_token(purpose: str) -> bool:
    """The visit's token is in the cookie. A receipt's is dropped from it once the receipt has ended: the banner
    "You have not confirmed that you saved your receipt code" outlived it until the browser closed, and told the
    next person at a shared computer that someone there had sent a report."""
    if purpose == RECEIPT and _COOKIE_KEYS[RECEIPT] in session and _receipt_ended():
        forget(RECEIPT)
    return _COOKIE_KEYS[purpose] in session


def db_pending_receipt() -> tuple[Tip, str] | None:
    """The tip and its receipt code waiting to be saved, or None."""
    found = _row(RECEIPT)
    if found is None:
        return None
    row, token = found
    if row.sealed is None:
        return None
    try:
        code = open_sealed(_seal_key(token), _AD, row.sealed).decode()
    except DecryptionFailed:
        return None
    tip = db.session.get(Tip, row.tip_id)
    return (tip, code) if tip is not None else None


def db_take_kept_message() -> str:
    """The reply kept from an ended visit and carried by this one (db_start), once; "" when there is none."""
    found = _row(FOLLOWUP)
    if found is None:
        return ""
    row, token = found
    sealed = row.sealed
    if sealed is None:
        return ""
    try:
        kept = open_sealed(_seal_key(token), _KEPT_AD, sealed).decode()
    except DecryptionFailed:
        kept = ""
    row.sealed = None
    return kept


def db_followup_tip() -> Tip | None:
    """The tip of the current follow-up session; each use extends the idle timeout."""
    found = _row(FOLLOWUP)
    if found is None:
        return None
    row, _token = found
    tip = db.session.get(Tip, row.tip_id)
    # After the query: set before it, the new expiry would be flushed at once, and on PostgreSQL wait there on
    # a retention purge deleting this row, then match none (a 500). db_hold_for_reply checks the row first.
    row.expires_at = utcnow() + FOLLOWUP_IDLE
    return tip


# FOR NO KEY UPDATE, as on a staff account: the reply's own rows (message, photos, audit event) may still refer to
# the tip, while the retention purge's FOR UPDATE on the same row waits, or is waited for.
TIP_ROW_LOCK = {"key_share": True}


def db_hold_for_reply(tip: Tip) -> bool:
    """Lock the tip's row for a reporter's reply and check that the case and this visit are still there.

    On PostgreSQL the retention purge may be shredding this very tip: its data key gone, this session deleted. A
    reply sealed under the key read before would be lost unread, after the reporter was told it was sent; with
    the row locked first, either the purge waits and then finds the case reopened, or it has finished and the
    reply is refused. (SQLite: the request already holds the write lock, and this only reads.) Nothing is
    flushed before the lock: the session's new expiry would wait on the purge's lock and then match no row.
    """
    found = _row(FOLLOWUP)
    with db.session.no_autoflush:
        db.session.refresh(tip, with_for_update=TIP_ROW_LOCK)
        still_there = found is not None and db.session.scalar(
            select(ReporterSession.token_hash).where(ReporterSession.token_hash == found[0].token_hash)) is not None
    if tip.shredded_at is None and still_there:
        return True
    if found is not None and not still_there:
        db.session.expunge(found[0])  # deleted meanwhile (purge, or "leave" in another tab): nothing to write back
    return False


def forget(purpose: str) -> None:
    """Drop the visit's token from the cookie (its row gone or ended)."""
    session.pop(_COOKIE_KEYS[purpose], None)
    if purpose == RECEIPT:
        session.pop(_RECEIPT_ENDS, None)


def db_end(purpose: str) -> None:
    token = session.get(_COOKIE_KEYS[purpose])
    forget(purpose)
    if isinstance(token, str):
        db.session.execute(delete(ReporterSession).where(ReporterSession.token_hash == _hash(token)))


def db_leave() -> None:
    """End the follow-up visit ("Leave"), and the receipt of the same report if it is still waiting to be saved:
    its code was just typed to open the report, and the next person at a shared computer must not get it back
    from the receipt page. Another report's receipt stays: its code may not be saved anywhere yet. A visit idle
    past its 15 minutes still names its report here: the receipt lasts 30, and Leave is pressed after a pause."""
    visit, receipt = _row(FOLLOWUP, even_expired=True), _row(RECEIPT)
    if visit is not None and receipt is not None and visit[0].tip_id == receipt[0].tip_id:
        db_end(RECEIPT)
    db_end(FOLLOWUP)
