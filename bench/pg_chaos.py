"""PostgreSQL under fire: the soak's pieces (bench.deploy) with two alert workers, a slowed fake Twilio, backends
killed with pg_terminate_backend during intake and worker rounds, a table held locked past lock_timeout and a
statement_timeout that hits. Then: every tip stored once or not at all (as the reporter was told), no alert lost
or stuck, no SMS sent twice for one alert row beyond the crashes, escalation on time, /healthz as it went.

    BENCH_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB python -m bench.pg_chaos [--seed N] [--tips N]

Every connection of the database DB is a target: give it a database of its own. Loopback only; it stops by
itself in about three minutes.
"""

from __future__ import annotations

import argparse
import html
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

from bench.common import free_port
from bench.deploy import PG_URL, Deployment
from bench.reporter import CODE, CSRF, REF, _cookie
from bench.texts import dev_texts

URGENT = ["{m} brought a gun to school in his backpack and says he will shoot people at lunch today",
          "{m} posted that he is going to shoot up the school tomorrow and showed a pistol on snapchat",
          "a kid {m} has a knife and is threatening to stab someone in the hallway right now"]


@dataclass
class Log:
    intents: list[dict[str, Any]] = field(default_factory=list)  # marker, outcome per try
    unexpected: list[str] = field(default_factory=list)
    pages_503: int = 0
    pages_503_without_text: list[str] = field(default_factory=list)
    pg_kills: int = 0
    backends_killed: int = 0
    worker_kills: int = 0
    health: Counter[str] = field(default_factory=Counter)
    health_fail_reasons: Counter[str] = field(default_factory=Counter)
    acks: int = 0
    lock = threading.Lock()


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def reporter(url: str, text: str, marker: str, school: int, log: Log) -> None:
    """One reporter: send; on a 503 page, check the text is kept and send again (at most 4 tries)."""
    tries: list[str] = []
    for _ in range(4):
        s = _session()
        try:
            form = s.get(url + "/report", timeout=30)
            token = CSRF.search(form.text)
            if form.status_code != 200 or not token:
                tries.append(f"form {form.status_code}")
                time.sleep(1.5)
                continue
            cookies = _cookie(form)  # Secure cookies over plain HTTP on loopback: carried by hand
            answer = s.post(url + "/report", files={"photos": ("", b"", "application/octet-stream")},
                            data={"csrf_token": token.group(1), "school": str(school), "description": text,
                                  "happening_now": "yes", "contact": ""}, cookies=cookies, allow_redirects=False,
                            timeout=30)
        except requests.RequestException as exc:
            tries.append(f"error {type(exc).__name__}")
            time.sleep(1.5)
            continue
        if answer.status_code == 303:
            cookies.update(_cookie(answer))
            receipt = None
            for _ in range(3):  # a receipt page cut off says the report was received; the reporter reloads it
                try:
                    receipt = s.get(url + "/receipt", cookies=cookies, timeout=30)
                except requests.RequestException:
                    receipt = None
                if receipt is not None and receipt.status_code == 200:
                    break
                if receipt is not None and "Your report was received" not in receipt.text:
                    with log.lock:
                        log.unexpected.append(f"receipt {receipt.status_code} without 'Your report was received'")
                tries.append(f"receipt {receipt.status_code if receipt is not None else 'error'}")
                time.sleep(1.0)
            page = receipt.text if receipt is not None else ""
            code, ref = CODE.search(page), REF.search(page)
            tries.append("stored")  # last: what the reporter was told of the tip
            with log.lock:
                log.intents.append({"marker": marker, "tries": tries,
                                    "receipt": receipt.status_code if receipt is not None else "error",
                                    "ref": html.unescape(ref.group(1)).strip() if ref else None,
                                    "code": html.unescape(code.group(1)).strip() if code else None})
            return
        tries.append(f"submit {answer.status_code}")
        with log.lock:
            if answer.status_code == 503:
                log.pages_503 += 1
                if marker not in html.unescape(answer.text):
                    log.pages_503_without_text.append(answer.text[:300])
            else:
                log.unexpected.append(f"submit {answer.status_code}: " + " ".join(answer.text.split())[:200])
        time.sleep(1.5)
    with log.lock:
        log.intents.append({"marker": marker, "tries": tries, "receipt": None, "ref": None, "code": None})


def reporters(url: str, tips: int, seconds: float, rng: random.Random, log: Log, schools: list[int]) -> None:
    others = [t["text"] for t in dev_texts()]
    with ThreadPoolExecutor(8) as pool:
        began = time.monotonic()
        for n in range(tips):
            marker = f"zq{uuid.uuid4().hex[:10]}"
            base = rng.choice(URGENT) if n % 2 == 0 else rng.choice(others) + " {m}"
            pool.submit(reporter, url, base.format(m=marker), marker, rng.choice(schools), log)
            time.sleep(max(0.0, began + (n + 1) * seconds / tips - time.monotonic()))


def pg_admin() -> Any:
    import psycopg

    return psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True)


def database_name() -> str:
    return urlparse(PG_URL).path.lstrip("/")


def kill_backends(conn: Any) -> int:
    rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid()", (database_name(),)).fetchall()
    return len(rows)


def hold_lock(schema: str, table: str, seconds: float) -> None:
    """A migration's ALTER TABLE or a psql session left open: the table locked against every read and write."""
    with pg_admin() as conn, conn.transaction():
        conn.execute(f'LOCK TABLE "{schema}".{table} IN ACCESS EXCLUSIVE MODE')
        time.sleep(seconds)


def chaos(schema: str, log: Log, stop: threading.Event, rng: random.Random, until: float) -> None:
    """pg_terminate_backend every 2-5 s; at 25 s the alerts table held past lock_timeout; at 50 s a statement_timeout
    of 1 s for every new connection while the tips table is held for 4 s."""
    began = time.monotonic()
    did_lock = did_stmt = False
    with pg_admin() as conn:
        while not stop.wait(rng.uniform(2, 5)) and time.monotonic() < until:
            log.backends_killed += kill_backends(conn)
            log.pg_kills += 1
            elapsed = time.monotonic() - began
            if elapsed > 25 and not did_lock:
                did_lock = True
                print("chaos: alert table locked for 6 s (lock_timeout 3 s)", flush=True)
                hold_lock(schema, "alert", 6)
            if elapsed > 50 and not did_stmt:
                did_stmt = True
                print("chaos: statement_timeout 1 s, tip table locked for 4 s", flush=True)
                conn.execute(f'ALTER DATABASE "{database_name()}" SET statement_timeout = 1000')
                kill_backends(conn)
                hold_lock(schema, "tip", 4)
                conn.execute(f'ALTER DATABASE "{database_name()}" RESET statement_timeout')
                kill_backends(conn)


def acknowledger(url: str, fake: Any, token: str, log: Log, stop: threading.Event) -> None:
    from bench.alert_timing import REF_IN_BODY
    from tests.fakes.twilio_webhooks import send_inbound_sms

    seen: set[str] = set()
    while not stop.wait(1.0):
        for message in fake.messages:
            match = REF_IN_BODY.search(message.body)
            if not match or message.sid in seen:
                continue
            seen.add(message.sid)
            if int.from_bytes(match.group(1).encode(), "big") % 3:  # a third of the tips are answered
                continue
            try:
                send_inbound_sms(url + "/hooks/twilio/sms", message.to, f"ACK {match.group(1)}", token)
                log.acks += 1
            except OSError:
                pass


def health_prober(url: str, log: Log, stop: threading.Event) -> None:
    s = _session()
    while not stop.wait(1.0):
        try:
            r = s.get(url + "/healthz", timeout=10)
            body = r.json()
        except (requests.RequestException, ValueError) as exc:
            log.health[f"error {type(exc).__name__}"] += 1
            continue
        log.health[f"{r.status_code} {body.get('status')}"] += 1
        for name, check in body.get("checks", {}).items():
            if check.get("status") != "ok":
                log.health_fail_reasons[f"{name}:{check.get('status')}:{check.get('reason')}"] += 1


def wait_until_sending(fake: Any, timeout: float) -> None:
    """Until an SMS is on its way (the fake holds a request): a kill then is likely mid-send."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and fake.requests_seen <= len(fake.messages):
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tips", type=int, default=60)
    parser.add_argument("--intake-s", type=float, default=70)
    parser.add_argument("--settle-s", type=float, default=80)
    parser.add_argument("--callback-delay", type=float, default=0.3,
                        help="seconds before each delivery report (longer than the claim lease: the lease decides)")
    parser.add_argument("--send-delay", type=float, default=0.4, help="seconds the fake Twilio takes per SMS")
    args = parser.parse_args(argv)
    if not PG_URL.startswith("postgresql") or database_name() in ("", "postgres", "template1"):
        print("BENCH_PG_URL must name a PostgreSQL database of its own")
        return 2
    rng = random.Random(args.seed)  # noqa: S311
    log = Log()
    env = {"ALERT_ACK_TIMEOUT_CRITICAL_S": "15", "ALERT_ACK_TIMEOUT_HIGH_S": "20", "ALERT_MAX_REPEATS": "1",
           "ALERT_CLAIM_LEASE_S": "5", "SQLITE_BUSY_TIMEOUT_S": "3", "TIPLINE_WEB_WORKERS": "3",
           "TIPLINE_WEB_THREADS": "4", "LOG_LEVEL": "WARNING"}
    from tests.fakes.fake_twilio import FakeTwilio, Fault

    with Deployment("postgres", name="pgchaos", extra_env=env) as deploy, \
            FakeTwilio(fail_rate=1.0, random_faults=(Fault.delay(args.send_delay),), seed=args.seed,
                       callback_delay_s=args.callback_delay) as fake:
        schema = deploy._schema or ""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        web_env = {**deploy.env, **deploy.twilio_env(fake.url, url)}
        deploy.gunicorn("web", env=web_env, port=port)
        workers = [deploy.alert_worker(web_env, poll=0.5, name=f"worker-{i}") for i in range(2)]
        app = deploy.app(ALERT_ACK_TIMEOUT_CRITICAL_S=15, ALERT_ACK_TIMEOUT_HIGH_S=20)
        with app.app_context():
            from app.extensions import db
            from app.models import School

            schools = [s.id for s in db.session.query(School).all()]
            db.session.remove()
        stop = threading.Event()
        began = time.monotonic()
        chaos_until = began + args.intake_s + 20
        threads = [
            threading.Thread(target=reporters, args=(url, args.tips, args.intake_s, rng, log, schools), daemon=True),
            threading.Thread(target=chaos, args=(schema, log, stop, random.Random(args.seed + 1), chaos_until),
                             daemon=True),
            threading.Thread(target=acknowledger, args=(url, fake, web_env["TWILIO_AUTH_TOKEN"], log, stop),
                             daemon=True),
            threading.Thread(target=health_prober, args=(url, log, stop), daemon=True),
        ]
        for t in threads:
            t.start()
        deadline = began + args.intake_s + args.settle_s
        next_kill = began + 12
        while time.monotonic() < deadline:
            time.sleep(0.25)
            if time.monotonic() >= next_kill and time.monotonic() < chaos_until:
                victim = log.worker_kills % 2
                wait_until_sending(fake, 3.0)
                workers[victim].kill()  # SIGKILL, likely mid-send (each send takes the fake send_delay)
                log.worker_kills += 1
                workers[victim] = deploy.alert_worker(web_env, poll=0.5, name=f"worker-{victim}-{log.worker_kills}")
                next_kill = time.monotonic() + rng.uniform(8, 14)
        stop.set()
        threads[0].join(timeout=60)
        time.sleep(1)
        final_health = _session().get(url + "/healthz", timeout=10)
        for w in workers:
            w.stop()
        checks = check(app, log, fake)
        worker_logs = "\n".join(p.read_text(errors="replace") for p in (deploy.tmp / "logs").glob("*.log"))
        web_log = (deploy.tmp / "logs" / "web.log").read_text(errors="replace")
    print(f"\nrun: {time.monotonic() - began:.0f} s, seed {args.seed}; {log.pg_kills} kill rounds "
          f"({log.backends_killed} backends), {log.worker_kills} worker SIGKILLs, {log.acks} ACKs, "
          f"{log.pages_503} 503 pages; SMS accepted {len(fake.messages)}")
    print(f"health seen: {dict(log.health)}; not ok: {dict(log.health_fail_reasons)}")
    print(f"final /healthz {final_health.status_code}: {final_health.text[:400]}")
    tracebacks = Counter(re.findall(r"(\w+(?:Error|Exception|Canceled|Shutdown)\b)", worker_logs))
    print("exceptions in logs:", dict(tracebacks.most_common(12)))
    print("500s in web log:", len(re.findall(r'" 500 ', web_log)))
    failed = 0
    for name, ok, detail in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
        failed += not ok
    print(f"\n{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


def check(app: Any, log: Log, fake: Any) -> list[tuple[str, bool, str]]:
    from sqlalchemy import select

    from app.alerts.planning import ack_timeout_for
    from app.crypto.service import open_tip_text
    from app.extensions import db
    from app.models import Alert, Tip, utcnow
    from bench.soak_checks import describe_alert_row, open_alert_rows

    out: list[tuple[str, bool, str]] = []
    with app.app_context():
        tips = list(db.session.scalars(select(Tip)))
        found: Counter[str] = Counter()
        texts = {t.id: open_tip_text(t) for t in tips}
        markers = {i["marker"] for i in log.intents}
        for text in texts.values():
            for m in re.findall(r"zq[0-9a-f]{10}", text):
                found[m] += 1
        told_stored = [i for i in log.intents if i["tries"][-1] == "stored"]
        never = [i for i in log.intents if i["tries"][-1] != "stored"]
        twice = {m: c for m, c in found.items() if c > 1}
        lost = [i["marker"] for i in told_stored if found[i["marker"]] != 1]
        ghost = [i for i in never if found[i["marker"]]]
        out.append(("every tip a reporter was told stored is stored once", not lost and not twice,
                    f"{len(told_stored)} told stored, {len(tips)} rows, lost {lost[:5]}, twice {twice}"))
        out.append(("a reporter told 'nothing was sent' has nothing stored", not ghost,
                    f"{len(never)} gave up ({[i['tries'] for i in never][:3]}), stored anyway: "
                    f"{[i['tries'] for i in ghost][:3]}"))
        out.append(("stored tips are all ours", set(found) <= markers, f"{len(found)} markers"))
        out.append(("503 pages keep the text", not log.pages_503_without_text,
                    f"{log.pages_503} pages, without text: {log.pages_503_without_text[:1]}"))
        out.append(("no other answer than 303/503", not log.unexpected, f"{log.unexpected[:5]}"))
        no_receipt = [i for i in told_stored if not i["code"]]
        out.append(("every stored tip showed its receipt", not no_receipt,
                    f"{len(no_receipt)} without: {[i['receipt'] for i in no_receipt][:5]}"))
        now = utcnow()
        stuck, backing = open_alert_rows(now)
        out.append(("no alert stuck", not stuck, f"{[describe_alert_row(r, now) for r in stuck][:4]}; "
                    f"{len(backing)} backing off"))
        alerts = list(db.session.scalars(select(Alert).order_by(Alert.id)))
        tips_without = [t.ref for t in tips if t.effective_urgency in ("critical", "high")
                        and not any(a.tip_id == t.id for a in alerts)]
        out.append(("every urgent tip has alerts", not tips_without, f"{tips_without[:5]}"))
        per_row: Counter[int] = Counter()
        for m in fake.messages:
            q = parse_qs(urlparse(m.status_callback or "").query)
            if "alert" in q:
                per_row[int(q["alert"][0])] += 1
        dups = {a: c for a, c in per_row.items() if c > 1}
        bound = log.worker_kills
        out.append(("SMS per alert row: duplicates within one per worker kill", sum(c - 1 for c in dups.values())
                    <= bound, f"{len(dups)} rows sent twice+ ({dict(list(dups.items())[:6])}), kills {bound}"))
        steps = Counter((a.tip_id, a.staff_id, a.chain_position, a.repeat, a.kind) for a in alerts
                        if a.kind != "reply")
        doubled = {k: c for k, c in steps.items() if c > 1}
        out.append(("no step of a chain written twice", not doubled, f"{list(doubled.items())[:4]}"))
        by_tip: dict[int, list[Alert]] = defaultdict(list)
        for a in alerts:
            if a.kind != "reply":
                by_tip[a.tip_id].append(a)
        tip_by_id = {t.id: t for t in tips}
        late: list[float] = []
        written_late: list[float] = []
        for tip_id, rows in by_tip.items():
            tip = tip_by_id[tip_id]
            if tip.effective_urgency not in ("critical", "high"):
                continue
            for a, b in zip(rows, rows[1:], strict=False):
                if a.escalated_at is None or a.status == "failed" or a.error_code:
                    continue
                started = a.sent_at or a.created_at
                late.append((a.escalated_at - started - ack_timeout_for(tip.effective_urgency)).total_seconds())
                written_late.append(late[-1])
                if b.sent_at:
                    late[-1] = max(late[-1], (b.sent_at - started - ack_timeout_for(tip.effective_urgency))
                                   .total_seconds())
        worst = max(late, default=0.0)
        out.append(("escalation on time (next SMS within 15 s of the timeout)", worst <= 15,
                    f"{len(late)} escalations, worst {worst:.1f} s late, "
                    f"over 8 s: {sum(x > 8 for x in late)}; written worst {max(written_late, default=0):.1f} s late"))
        db.session.remove()
    return out


if __name__ == "__main__":
    sys.exit(main())
