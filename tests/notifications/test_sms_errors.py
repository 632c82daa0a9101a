"""Which failures are retried (transient) and which escalate at once (permanent)."""

from __future__ import annotations

import pytest

from notifications.errors import classify_twilio_error, delivery_outcome


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, None), (503, None), (429, 20429), (None, None), (408, None), (400, 30001), (None, 30001),
     (None, 99999), (400, 21611), (404, None), (400, None), (403, None), (407, None)],
)
def test_transient(status: int | None, code: int | None) -> None:
    assert classify_twilio_error(status, code) == "transient"


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 21211), (400, 21614), (400, 21610), (400, 21408), (400, 21612), (404, 21999),
     (None, 30003), (None, 30005), (None, 30006), (None, 30007), (None, 30008)],
)
def test_permanent(status: int | None, code: int | None) -> None:
    assert classify_twilio_error(status, code) == "permanent"


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, 20003), (400, 21603), (400, 21606), (None, 30002), (400, 30032), (400, 30034), (400, 21212),
     (400, 21601), (400, 21659), (400, 21660), (400, 21705)],
)
def test_our_account_or_sender_refused_is_retried(status: int | None, code: int) -> None:
    """Every number fails alike until an operator fixes the settings: escalating at once would only run through
    the chain and leave nobody to tell afterwards."""
    assert classify_twilio_error(status, code) == "transient"


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [("queued", None, "pending"), ("sent", None, "pending"), ("delivered", None, "delivered"),
     ("undelivered", "30005", "permanent"), ("undelivered", "30006", "permanent"), ("failed", "30001", "transient"),
     ("failed", "", "transient"), ("undelivered", "junk", "transient"), ("canceled", None, "permanent")],
)
def test_delivery_outcome(status: str, code: str | None, outcome: str) -> None:
    assert delivery_outcome(status, code) == outcome
