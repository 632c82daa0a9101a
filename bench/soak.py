"""The worst day (`make soak`): 300 reporters in bursts, a third about one incident, while the fake Twilio fails
30% of requests (500, 429, dropped connections) and the alert worker is killed (SIGKILL) and restarted every
minute. Staff acknowledge about half of the alerts by signed inbound SMS; the rest escalate (short timeouts).
After the last burst one reporter in five comes back with the receipt code and writes a message on the case.
At the end it checks that nothing was lost, stuck, mixed up or leaked, prints the checks, and exits 1 when one
fails. Everything runs on 127.0.0.1 and stops by itself within ten minutes (--quick: about three).

    python -m bench.soak [--quick] [--engine sqlite|postgres] [--seed N]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import free_port, print_table
from bench.deploy import Deployment, fake_state
from bench.reporter import ReporterError, open_with_receipt, reply_to_case, school_ids, submit_tip
from bench.soak_checks import Day, open_alert_rows, run_checks
from bench.texts import dev_texts

EXPECTED = {"form": 200, "submit": 303, "receipt": 200, "saved": 303}
INCIDENT_TEMPLATES = [
    "{name} said he is bringing his dad's gun to {school} tomorrow and showed it to us on snapchat",
    "{name} has a gun in his backpack at {school}, he showed it in the locker room today",
    "there is a kid at {school} named {name} who says he will shoot people tomorrow, he has a pistol",
    "{name} posted a picture of a handgun and said {school} is going to pay tomorrow morning",
]
NAMES = ["Jake", "Jacob", "jake m", "Jake M."]
SCHOOL_SPELLINGS = ["Kelly Walsh", "KW", "kelly walsh high", "KWHS"]


@dataclass(frozen=True)
class Plan:
    tips: int
    bursts: int
    burst_every_s: float
    restart_every_s: float
    settle_s: float
    ack_timeout_critical_s: int
    ack_timeout_high_s: int
    max_repeats: int


# settle_s: how long after the last burst the day may take to settle. A high tip of the last burst needs its
# chain (4 people and a repeat at 30 s each) plus retries: with 30% of sends failing, a row can back off for
# a minute or two more (2, 4, 8 ... s). One run of 2026-11-23 still had a row backing off at 240 s; at 330 s the
# whole soak stays under ten minutes (about 9).
FULL = Plan(tips=300, bursts=6, burst_every_s=30, restart_every_s=60, settle_s=330, ack_timeout_critical_s=20,
            ack_timeout_high_s=30, max_repeats=1)
QUICK = Plan(tips=120, bursts=4, burst_every_s=10, restart_every_s=15, settle_s=120, ack_timeout_critical_s=5,
             ack_timeout_high_s=8, max_repeats=1)


def incident_texts(model_dir: Path, rng: random.Random) -> list[str]:
    """Variants of one incident that the deployed model puts in one category (grouping is by school and
    category, so variants it would split are left out; how many is printed)."""
    import triage

    model = triage.load_model(model_dir)
    variants = [t.format(name=n, school=s) for t in INCIDENT_TEMPLATES for n in NAMES for s in SCHOOL_SPELLINGS]
    categories = {v: model.assess(v, happening_now=True).category for v in variants}
    majority, _ = Counter(categories.values()).most_common(1)[0]
    kept = [v for v in variants if categories[v] == majority]
    print(f"incident texts: {len(kept)} of {len(variants)} variants the model rates '{majority}'")
    rng.shuffle(kept)
    return kept


def one_reporter(url: str, text: str, school: int, incident: bool, day: Day, lock: threading.Lock) -> None:
    try:
        done = submit_tip(url, text, school, "yes" if incident else "unsure", want_receipt=True)
    except (ReporterError, OSError) as exc:
        with lock:
            day.unexpected.append(f"{type(exc).__name__}: {exc}")
        return
    wrong = [f"{step} {got}" for (step, want), got in zip(EXPECTED.items(), done.statuses, strict=False) if got != want]
    with lock:
        day.unexpected += wrong
        day.submitted.append({"ref": done.ref, "code": done.code, "text": text, "incident": incident,
                              "statuses": done.statuses})


def reporters(url: str, plan: Plan, day: Day, rng: random.Random, model_dir: Path, stop: threading.Event) -> None:
    """The day's tips in bursts; every third tip is about the incident at Kelly Walsh."""
    schools = school_ids(url)
    kelly = schools["Kelly Walsh High School"]
    others = dev_texts()
    incident = incident_texts(model_dir, rng)
    lock = threading.Lock()
    per_burst = -(-plan.tips // plan.bursts)
    n = 0
    for burst in range(plan.bursts):
        started = time.monotonic()
        with ThreadPoolExecutor(25) as pool:
            for _ in range(min(per_burst, plan.tips - n)):
                about_incident = n % 3 == 0
                text = incident[n % len(incident)] if about_incident else rng.choice(others)["text"]
                school = kelly if about_incident else rng.choice(list(schools.values()))
                pool.submit(one_reporter, url, text, school, about_incident, day, lock)
                n += 1
        print(f"burst {burst + 1}/{plan.bursts}: {len(day.submitted)} tips so far", flush=True)
        if stop.wait(max(0.0, plan.burst_every_s - (time.monotonic() - started))):
            return
    come_back(url, day, rng, others)


def come_back(url: str, day: Day, rng: random.Random, others: list[dict[str, str]]) -> None:
    """One reporter in five writes again on the case: an acknowledged urgent tip's taker gets an SMS of it, which
    must carry none of the message's words either."""
    for submitted in list(day.submitted)[::5]:
        text = rng.choice(others)["text"]
        try:
            statuses = reply_to_case(url, submitted["code"], text)
        except (ReporterError, OSError) as exc:
            day.unexpected.append(f"reply {type(exc).__name__}: {exc}")
            continue
        if statuses[-1] != 303:
            day.unexpected.append(f"reply {statuses[-1]}")
        day.replies.append({"ref": submitted["ref"], "text": text})
    print(f"{len(day.replies)} reporters wrote again", flush=True)


def acknowledger(url: str, fake_url: str, token: str, day: Day, stop: threading.Event) -> None:
    """Staff who answer: for about half of the tips, the person who got the SMS replies "ACK <ref>"."""
    from bench.alert_timing import REF_IN_BODY
    from tests.fakes.twilio_webhooks import send_inbound_sms

    answered: set[str] = set()
    while not stop.wait(1.0):
        for message in fake_state(fake_url)["messages"]:
            match = REF_IN_BODY.search(message["body"])
            if not match or message["sid"] in answered:
                continue
            answered.add(message["sid"])
            ref = match.group(1)
            if hashlib.sha256(ref.encode()).digest()[0] % 2:  # this tip's people never answer
                continue
            reply = send_inbound_sms(url + "/hooks/twilio/sms", message["to"], f"ACK {ref}", token)
            day.acks_sent += 1
            if reply.status != 200:
                day.ack_failures.append(f"{ref}: {reply.status}")


def settled(app: Any, max_repeats: int) -> bool:
    """Nothing left to send or escalate (medium alerts waiting for the next school day aside)."""

    from sqlalchemy import select

    from app.alerts.planning import chain_of
    from app.extensions import db
    from app.models import REPLY_KIND, Alert, Tip, utcnow

    with app.app_context():
        try:
            stuck, _backing_off = open_alert_rows(utcnow())
            if stuck:  # a send backing off is tried again later; its tip's escalation does not wait for it
                return False
            for tip in db.session.scalars(select(Tip).where(Tip.urgency.in_(["critical", "high"]),
                                                            Tip.acknowledged_at.is_(None))):
                last = db.session.scalars(select(Alert).where(Alert.tip_id == tip.id, Alert.kind != REPLY_KIND)
                                          .order_by(Alert.id.desc()).limit(1)).first()
                chain = chain_of(tip.school_id)
                if last is None or last.escalated_at is None or not chain or last.chain_position != chain[-1][0] \
                        or last.repeat < max_repeats:
                    return False
            return True
        finally:
            db.session.remove()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer tips, shorter timeouts, restarts every 15 s")
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible day, not security
    began = time.monotonic()
    day = Day()
    env = {"ALERT_ACK_TIMEOUT_CRITICAL_S": str(plan.ack_timeout_critical_s),
           "ALERT_ACK_TIMEOUT_HIGH_S": str(plan.ack_timeout_high_s), "ALERT_MAX_REPEATS": str(plan.max_repeats),
           "ALERT_CLAIM_LEASE_S": "5", "ALERT_WORKER_LEASE_S": "3", "LOG_LEVEL": "WARNING"}
    with Deployment(args.engine, name="soak", extra_env=env) as deploy:
        fake, fake_url = deploy.fake_twilio(fail_rate=0.3, seed=args.seed)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        web_env = {**deploy.env, **deploy.twilio_env(fake_url, url)}
        deploy.gunicorn("intake", env=web_env, port=port)
        worker = deploy.alert_worker(web_env, poll=0.5, name="worker-0")
        stop = threading.Event()
        model_dir = Path(deploy.env["TRIAGE_MODEL_DIR"])
        threads = [threading.Thread(target=reporters, args=(url, plan, day, rng, model_dir, stop), daemon=True),
                   threading.Thread(target=acknowledger, args=(url, fake_url, web_env["TWILIO_AUTH_TOKEN"], day,
                                                              stop), daemon=True)]
        for thread in threads:
            thread.start()
        app = deploy.app()
        last_restart = time.monotonic()
        deadline = time.monotonic() + plan.bursts * plan.burst_every_s + plan.settle_s
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if time.monotonic() - last_restart >= plan.restart_every_s:
                worker.kill()  # SIGKILL: mid-batch, mid-send, as a crash would
                day.worker_restarts += 1
                worker = deploy.alert_worker(web_env, poll=0.5, name=f"worker-{day.worker_restarts}")
                last_restart = time.monotonic()
                print(f"alert worker killed and restarted ({day.worker_restarts})", flush=True)
            if not threads[0].is_alive() and settled(app, plan.max_repeats):
                break
        threads[0].join(timeout=60)
        time.sleep(2)  # the last acknowledgements and status callbacks
        stop.set()
        threads[1].join(timeout=30)
        with app.app_context():
            from app.models import utcnow

            # Rows are judged as they were when the worker stopped: a send still backing off then (its next try
            # due seconds later) is not "stuck" for coming due while the receipts are checked with no worker.
            worker_stopped_at = utcnow()
        worker.stop()
        state = fake_state(fake_url)
        sample = [(s["ref"], open_with_receipt(url, s["code"])[0]) for s in day.submitted[:: max(1, len(day.submitted)
                                                                                               // 20)]]
        checks = run_checks(app, day, state["messages"], plan.max_repeats, sample, worker_stopped_at)
        fake.stop()
    print_table(f"The worst day ({'quick' if args.quick else 'full'}, {args.engine}, {time.monotonic() - began:.0f} s)",
                ["measure", "value"],
                [["tips submitted", len(day.submitted)], ["SMS accepted by the fake Twilio", len(state["messages"])],
                 ["requests to the fake / faults injected", f"{state['requests_seen']} / {state['faults_served']}"],
                 ["ACK replies sent", day.acks_sent], ["worker killed and restarted", day.worker_restarts]])
    print()
    for name, passed, detail in checks:
        print(f"[{'PASS' if passed else 'FAIL'}] {name}: {detail}")
    failed = [name for name, passed, _ in checks if not passed]
    print(f"\n{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
