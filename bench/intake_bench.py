"""Intake against the baseline, side by side on one deployment, with the alert worker running.

Per database engine: one temporary deployment; the intake (wsgi:app) and the baseline (bench/baseline_app.py)
each under gunicorn with the same gunicorn.conf.py; the fake Twilio and `flask alerts run` as processes. The
runs alternate (intake c1, baseline c1, intake c8, ...) so that both see the same machine. Then time to
alert: of the critical tips sent during the load, and of 200 critical tips from 20 concurrent reporters.
On SQLite, last, the resident memory of the intake's workers after many tips.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.alert_timing import alert_delays_ms
from bench.baseline_app import create_baseline_table
from bench.common import RESULTS, VENV_BIN, children_of, cpu_seconds, free_port, print_table, rss_mb, summary_ms
from bench.deploy import Deployment, fake_state, wait_until
from bench.load import LoadResult, run_locust, warm_up
from bench.reporter import submit_tip
from bench.texts import critical_texts, load_texts, write_texts

CONCURRENCY = (1, 8, 32)
# On SQLite, also measure at 8 reporters a second, identical deployment (its own database, fake Twilio, alert
# worker and callbacks) with SQLITE_WRITER_QUEUE=0 (SQLite's own busy handler): the before of that change,
# right after the intake's own c8 run; BENCH_COMPARE_QUEUE=0 skips it.
COMPARE_QUEUE = os.environ.get("BENCH_COMPARE_QUEUE", "1") == "1"
PROFILE = os.environ.get("BENCH_PROFILE") == "1"  # py-spy the intake at c8 and the worker (bench/results/)


@contextmanager
def profiled(pid: int, name: str, seconds: int) -> Iterator[None]:
    """With BENCH_PROFILE=1: sample `pid` and its children with py-spy while the block runs."""
    if not PROFILE:
        yield
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{name}.txt"
    spy = subprocess.Popen([str(VENV_BIN / "py-spy"), "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
                            "-r", "50", "-d", str(seconds), "-f", "raw", "-o", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.wait(timeout=seconds + 30)
        print(f"(profile of {name}: python -m bench.profile_report {out})")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _naive_utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _wait_for_alerts(deploy: Deployment, fake_url: str, since: datetime, timeout: float) -> tuple[list[float], int]:
    app = deploy.app()
    result: dict[str, Any] = {}

    def done() -> bool:
        result["v"] = alert_delays_ms(app, fake_state(fake_url), since)
        return result["v"][1] == 0

    wait_until(done, timeout, interval=0.5)
    delays, missing = result["v"]
    return delays, missing


def dedicated_time_to_alert(deploy: Deployment, url: str, fake_url: str, texts: list[str], tips: int = 200,
                            reporters: int = 20) -> tuple[list[float], int]:
    """`tips` critical tips from `reporters` concurrent reporters; delays of their first SMS."""
    since = _naive_utc_now()
    with ThreadPoolExecutor(reporters) as pool:
        futures = [pool.submit(submit_tip, url, texts[i % len(texts)], None, "yes") for i in range(tips)]
        for future in futures:
            future.result(timeout=120)
    return _wait_for_alerts(deploy, fake_url, since, timeout=30)


def memory_after_tips(deploy: Deployment, server_pid: int, url: str, env: dict[str, str], target: int,
                      budget_s: float, done_already: int) -> tuple[float, int, list[tuple[int, float]]]:
    """Load the server until `target` tips in all (or `budget_s` passes); max worker RSS at checkpoints."""
    checkpoints = [(done_already, max(rss_mb(p) for p in children_of(server_pid)))]
    total, deadline = done_already, time.monotonic() + budget_s
    while total < target and time.monotonic() < deadline:
        chunk = int(min(20, max(5, deadline - time.monotonic())))
        result = run_locust(url, 8, chunk, env, deploy.tmp / "logs" / "locust-memory.log")
        total += result.submitted
        checkpoints.append((total, max(rss_mb(p) for p in children_of(server_pid))))
    return checkpoints[-1][1], total, checkpoints


class CpuMeter:
    """CPU time per role (the intake's gunicorn workers, the alert worker, the fake Twilio, the load
    generator) over one load run: where a tip's CPU goes when the machine, not a lock, is the limit."""

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self.roles = roles
        self.start = {role: sum(cpu_seconds(p) for p in pids) for role, pids in roles.items()}
        self.children_start = os.times()

    def per_tip_ms(self, tips: int) -> dict[str, float]:
        used = {role: sum(cpu_seconds(p) for p in pids) - self.start[role] for role, pids in self.roles.items()}
        now = os.times()  # locust: a child this process has waited for
        used["load generator (locust)"] = (now.children_user + now.children_system
                                           - self.children_start.children_user - self.children_start.children_system)
        return {role: round(1000 * seconds / max(tips, 1), 1) for role, seconds in used.items()}


def run_engine(engine: str, seconds: int, memory_target: int, memory_budget_s: float) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    tag = "sqlite" if engine == "sqlite" else "pg"
    with Deployment(engine, name=f"intake-{tag}") as deploy, ExitStack() as extra:
        texts_file = write_texts(deploy.tmp / "texts.json", load_texts())
        critical = critical_texts(Path(deploy.env["TRIAGE_MODEL_DIR"]))
        _fake, fake_url = deploy.fake_twilio()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        tw_env = {**deploy.env, **deploy.twilio_env(fake_url, url)}
        intake, _ = deploy.gunicorn("intake", env=tw_env, port=port)
        baseline_env = dict(deploy.env)
        if engine == "sqlite":
            baseline_env["DATABASE_URL"] = f"sqlite:///{deploy.tmp / 'baseline.db'}"
        create_baseline_table(baseline_env["DATABASE_URL"])
        _base, base_url = deploy.gunicorn("baseline", "bench.baseline_app:create_baseline_app()", env=baseline_env)
        noqueue: Deployment | None = None
        noqueue_url = ""
        if engine == "sqlite" and COMPARE_QUEUE:
            noqueue = extra.enter_context(Deployment("sqlite", name="intake-noqueue",
                                                     extra_env={"SQLITE_WRITER_QUEUE": "0"}))
            _nq_fake, nq_fake_url = noqueue.fake_twilio()
            nq_port = free_port()
            noqueue_url = f"http://127.0.0.1:{nq_port}"
            nq_env = {**noqueue.env, **noqueue.twilio_env(nq_fake_url, noqueue_url)}
            noqueue.gunicorn("intake", env=nq_env, port=nq_port)
            noqueue.alert_worker(nq_env)
            warm_up(noqueue_url)
        worker = deploy.alert_worker(tw_env)  # production defaults: poll 1 s
        warm_up(url)
        warm_up(base_url)
        locust_env = {**deploy.env, "BENCH_TEXTS": str(texts_file)}
        log = deploy.tmp / "logs" / "locust.log"
        rows: list[list[Any]] = []
        since = _naive_utc_now()
        results: dict[tuple[str, int], LoadResult] = {}
        for users in CONCURRENCY:
            for name, target in (("intake", url), ("baseline", base_url)):
                roles = {"intake workers": children_of(intake.pid), "alert worker": [worker.pid],
                         "fake Twilio": [_fake.pid]}
                meter = CpuMeter(roles) if (name, users) == ("intake", 8) else None
                with profiled(intake.pid, f"intake-{tag}-c{users}", seconds) if (name, users) == ("intake", 8) \
                        else _nothing():
                    result = run_locust(target, users, seconds, locust_env, log)
                if meter is not None:
                    cpu = meter.per_tip_ms(result.submitted)
                    figures.update({f"cpu_ms_per_tip_{tag}_c8_{role.split()[0].lower()}": ms
                                    for role, ms in cpu.items()})
                    figures[f"cpu_ms_per_tip_{tag}_c8_total"] = round(sum(cpu.values()), 1)
                results[(name, users)] = result
                rows.append([name, users, result.submitted, result.rps, result.p50_ms, result.p99_ms,
                             result.form_p50_ms, result.failures])
                if noqueue is not None and (name, users) == ("intake", 8):
                    result = run_locust(noqueue_url, 8, seconds, locust_env, log)
                    rows.append(["intake, writer queue off", 8, result.submitted, result.rps, result.p50_ms,
                                 result.p99_ms, result.form_p50_ms, result.failures])
                    figures.update({"intake_noqueue_sqlite_c8_rps": result.rps,
                                    "intake_noqueue_sqlite_c8_p99_ms": result.p99_ms})
        extra.close()  # the comparison's deployment is done
        for users in CONCURRENCY:
            intake_r, base_r = results[("intake", users)], results[("baseline", users)]
            figures[f"intake_{tag}_c{users}_rps"] = intake_r.rps
            figures[f"intake_{tag}_c{users}_p50_ms"] = intake_r.p50_ms
            figures[f"intake_{tag}_c{users}_p99_ms"] = intake_r.p99_ms
            figures[f"baseline_{tag}_c{users}_rps"] = base_r.rps
            figures[f"baseline_{tag}_c{users}_p99_ms"] = base_r.p99_ms
            figures[f"intake_vs_baseline_{tag}_c{users}"] = intake_r.rps / base_r.rps if base_r.rps else 0.0
            figures[f"intake_{tag}_failures"] = figures.get(f"intake_{tag}_failures", 0) + intake_r.failures
        print_table(f"Intake vs baseline on {engine} ({seconds} s per run, gunicorn.conf.py, tips/s = GET form + "
                    "POST tip)", ["app", "reporters", "tips", "tips/s", "p50 ms", "p99 ms", "form p50", "errors"],
                    rows)
        cpu_rows = [[key.removeprefix(f"cpu_ms_per_tip_{tag}_c8_"), value] for key, value in figures.items()
                    if key.startswith(f"cpu_ms_per_tip_{tag}_c8_")]
        print_table(f"CPU per tip at 8 reporters on {engine} (ms; {os.cpu_count()} CPUs: at most "
                    f"{os.cpu_count() or 1} x 1000 / total tips/s)", ["role", "CPU ms per tip"], cpu_rows)

        delays, missing = _wait_for_alerts(deploy, fake_url, since, timeout=30)
        under_load = summary_ms(delays)
        with profiled(worker.pid, f"alert-worker-{tag}", 12):
            delays, missing_dedicated = dedicated_time_to_alert(deploy, url, fake_url, critical)
        dedicated = summary_ms(delays)
        if not dedicated["n"]:
            print(f"no critical tip got an SMS: the alert worker {'runs' if worker.alive() else 'DIED'}; "
                  f"its log ends with:\n{worker.tail()}\nfake Twilio log:\n{_fake.tail()}")
        figures.update({
            f"time_to_alert_under_load_{tag}_p50_ms": under_load["p50"],
            f"time_to_alert_under_load_{tag}_p99_ms": under_load["p99"],
            f"time_to_alert_under_load_{tag}_n": under_load["n"],
            f"time_to_alert_{tag}_p50_ms": dedicated["p50"], f"time_to_alert_{tag}_p99_ms": dedicated["p99"],
            f"time_to_alert_{tag}_missing": missing + missing_dedicated,
        })
        print_table(f"Time to alert on {engine} (tip commit -> request at the fake Twilio; worker: "
                    "`flask alerts run`, default poll 1 s)", ["measurement", "critical tips", "p50 ms", "p95 ms",
                                                               "p99 ms", "without SMS"],
                    [["during the intake runs", under_load["n"], under_load["p50"], under_load["p95"],
                      under_load["p99"], missing],
                     ["200 tips, 20 reporters", dedicated["n"], dedicated["p50"], dedicated["p95"], dedicated["p99"],
                      missing_dedicated]])
        if memory_target:
            done = sum(r.submitted for (name, _), r in results.items() if name == "intake")
            rss, total, checkpoints = memory_after_tips(deploy, intake.pid, url, locust_env, memory_target,
                                                        memory_budget_s, done + 200)
            figures["worker_rss_mb"] = rss
            figures["worker_rss_after_tips"] = total
            print_table("Resident memory of the intake's gunicorn workers (max over workers, VmRSS)",
                        ["tips served", "RSS MB"], checkpoints)
    return figures
