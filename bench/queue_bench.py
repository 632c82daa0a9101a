"""Queue page time with 100,000 tips: `python bench/queue_bench.py [--tips N] [--requests N]`.

Seeds a temporary SQLite database (migrated like production, demo district loaded) with N tips by bulk
insert of metadata rows (dummy wrapped keys: the queue never opens a tip), then times the queue page through
the Flask test client for an SRO (two schools) and a district admin (all schools). Prints p50/p95 in ms.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from app import create_app  # noqa: E402
from app.crypto.keyring import new_keyring, write_keyring  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Incident, School, Staff, Tip, utcnow  # noqa: E402
from triage import CATEGORIES, URGENCIES  # noqa: E402

STATUSES = ["new"] * 4 + ["acknowledged"] * 3 + ["investigating"] * 8 + ["resolved"] * 5 + ["closed"] * 80
URGENCY_WEIGHTS = [50, 30, 15, 5]  # low, medium, high, critical


def build_app(tmp: Path) -> object:
    write_keyring(tmp / "keyring.json", new_keyring())
    return create_app({
        "TIPLINE_ENV": "testing", "INSTANCE_PATH": str(tmp), "SECRET_KEY": secrets.token_urlsafe(40),
        "RECEIPT_HMAC_KEY": secrets.token_urlsafe(40), "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "KEYRING_PATH": str(tmp / "keyring.json"), "TRIAGE_MODEL_DIR": str(tmp / "no-model"),
        "LOG_LEVEL": "WARNING",
    })


def seed(count: int) -> None:
    from app.demo_data import seed_demo

    seed_demo()
    school_ids = list(db.session.scalars(select(School.id)))
    now = utcnow()
    rng = random.Random(7)
    incidents = []
    for _ in range(count // 50):
        incidents.append(Incident(school_id=rng.choice(school_ids), category=rng.choice(CATEGORIES)))
    db.session.add_all(incidents)
    db.session.flush()
    incident_ids = [i.id for i in incidents]
    batch: list[dict[str, object]] = []
    for n in range(count):
        urgency = rng.choices(URGENCIES, URGENCY_WEIGHTS)[0]
        status = rng.choice(STATUSES)
        created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 2))
        batch.append({
            "ref": f"B{n:07d}", "school_id": rng.choice(school_ids), "created_at": created, "updated_at": created,
            "receipt_hash": f"{n:064x}", "wrapped_dek": b"\x01" + b"\x00" * 60, "kek_version": 1,
            "text_ct": b"\x01" + b"\x00" * 200, "category": rng.choice(CATEGORIES), "urgency": urgency,
            "urgency_rank": URGENCIES.index(urgency), "confidence": 0.7, "model_version": "bench",
            "status": status, "acknowledged_at": created if status != "new" else None,
            "incident_id": rng.choice(incident_ids) if rng.random() < 0.1 else None,
            "reporter_reply_unread": rng.random() < 0.01,
            "closed_at": created + timedelta(days=3) if status == "closed" else None,
        })
        if len(batch) == 5000:
            db.session.execute(insert(Tip), batch)
            batch.clear()
    if batch:
        db.session.execute(insert(Tip), batch)
    db.session.commit()


def time_queue(app: object, email: str, requests: int) -> list[float]:
    with app.app_context():  # type: ignore[attr-defined]
        staff = db.session.scalar(select(Staff).where(Staff.email == email))
        assert staff is not None
        session_id = staff.get_id()
    client = app.test_client()  # type: ignore[attr-defined]
    with client.session_transaction() as sess:  # signed in without the two-step form: not what is measured
        sess["_user_id"] = session_id
        sess["_fresh"] = True
        sess["signed_in_at"] = sess["last_seen"] = time.time()
        sess["sid"] = secrets.token_urlsafe(16)
    urls = ["/console/", "/console/?page=2", "/console/?urgency=critical", "/console/?status=all",
            "/console/?category=weapon", "/console/?page=5"]
    assert client.get(urls[0]).status_code == 200  # warm up
    timings = []
    for i in range(requests):
        start = time.perf_counter()
        response = client.get(urls[i % len(urls)])
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return timings


def report(label: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p95 = ordered[max(int(len(ordered) * 0.95) - 1, 0)]
    print(f"{label:38} p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   ({len(ordered)} requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tips", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp))
        with app.app_context():  # type: ignore[attr-defined]
            upgrade()
            started = time.perf_counter()
            seed(args.tips)
            print(f"seeded {args.tips:,} tips in {time.perf_counter() - started:.1f} s (SQLite, {tmp})")
        report("SRO d.ortiz (2 schools)", time_queue(app, "d.ortiz@cpd.example", args.requests))
        report("counselor e.romero (6 schools)", time_queue(app, "e.romero@ncsd.example", args.requests))
        report("district admin (all 18 schools)", time_queue(app, "admin@ncsd.example", args.requests))
        with app.app_context():  # type: ignore[attr-defined]
            db.engine.dispose()


if __name__ == "__main__":
    main()
