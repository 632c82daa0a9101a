"""The console with 100,000 tips: the queue page (bench/queue_bench.py, the console engineer's seeding and
timing, reused as is) and a case page (a few real sealed tips among the seeded ones: opening a case decrypts)."""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench import queue_bench
from bench.common import print_table, summary_ms


def _sealed_tips(count: int) -> list[str]:
    """Tips with real sealed content, as intake stores them (text, assessment), at demo schools."""
    import json

    from app.crypto.receipts import db_new_reference, new_receipt_code, normalize_code, receipt_hash
    from app.crypto.service import db_new_tip_key, seal_for_tip
    from app.extensions import db
    from app.models import School, Tip
    from triage import urgency_rank

    school = db.session.scalar(select(School).where(School.short_name == "KWHS"))
    assert school is not None
    refs = []
    for n in range(count):
        code = normalize_code(new_receipt_code())
        assert code is not None
        tip = Tip(ref=db_new_reference(), school_id=school.id, receipt_hash=receipt_hash(code), category="weapon",
                  urgency="high", urgency_rank=urgency_rank("high"), confidence=0.8, model_version="bench")
        db_new_tip_key(tip)
        tip.text_ct = seal_for_tip(tip, "text", f"Case page tip {n}: a student showed a knife on the bus.".encode())
        tip.assessment_ct = seal_for_tip(tip, "assessment", json.dumps(
            {"category_probs": {"weapon": 0.8}, "urgency_probs": {"high": 0.7}, "reasons": ["knife"]}).encode())
        db.session.add(tip)
        refs.append(tip.ref)
    db.session.commit()
    return refs


def _time_case_pages(app: Any, email: str, refs: list[str], requests: int) -> list[float]:
    from app.extensions import db
    from app.models import Staff

    with app.app_context():
        staff = db.session.scalar(select(Staff).where(Staff.email == email))
        assert staff is not None
        session_id = staff.get_id()
    client = app.test_client()
    with client.session_transaction() as sess:  # as queue_bench does: the sign-in is not what is measured
        sess["_user_id"] = session_id
        sess["_fresh"] = True
        sess["signed_in_at"] = sess["last_seen"] = time.time()
        sess["sid"] = secrets.token_urlsafe(16)
    assert client.get(f"/console/tips/{refs[0]}").status_code == 200
    timings = []
    for i in range(requests):
        started = time.perf_counter()
        response = client.get(f"/console/tips/{refs[i % len(refs)]}")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return timings


def run(tips: int = 100_000, requests: int = 100) -> dict[str, Any]:
    from flask_migrate import upgrade

    from app.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        app: Any = queue_bench.build_app(Path(tmp))
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            queue_bench.seed(tips)
            refs = _sealed_tips(10)
            seeded_s = time.perf_counter() - started
        sro = summary_ms(queue_bench.time_queue(app, "d.ortiz@cpd.example", requests))
        admin = summary_ms(queue_bench.time_queue(app, "admin@ncsd.example", requests))
        case = summary_ms(_time_case_pages(app, "d.ortiz@cpd.example", refs, requests))
        with app.app_context():
            db.engine.dispose()
    print_table(f"Console with {tips:,} tips (SQLite, seeded in {seeded_s:.0f} s; Flask test client, no network)",
                ["page", "requests", "p50 ms", "p95 ms", "p99 ms"],
                [["queue, SRO of 2 schools", sro["n"], sro["p50"], sro["p95"], sro["p99"]],
                 ["queue, district admin (18 schools)", admin["n"], admin["p50"], admin["p95"], admin["p99"]],
                 ["case page (decrypts, audit row)", case["n"], case["p50"], case["p95"], case["p99"]]])
    worst = max(sro["p95"], admin["p95"])
    return {"queue_100k_p50_ms": max(sro["p50"], admin["p50"]), "queue_100k_p95_ms": worst,
            "queue_100k_sro_p95_ms": sro["p95"], "queue_100k_admin_p95_ms": admin["p95"],
            "case_page_p50_ms": case["p50"], "case_page_p95_ms": case["p95"], "queue_tips": tips}
