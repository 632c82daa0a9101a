"""Running locust headless against one server for a fixed time, and reading its figures."""

from __future__ import annotations

import csv
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO, VENV_BIN

LOCUSTFILE = REPO / "bench" / "locustfile.py"


@dataclass(frozen=True)
class LoadResult:
    users: int
    seconds: float
    submitted: int  # POST /report answered 303
    failures: int
    rps: float  # tips per second (each is GET form + POST)
    p50_ms: float
    p99_ms: float
    form_p50_ms: float


def run_locust(url: str, users: int, seconds: int, env: dict[str, str], log: Path) -> LoadResult:
    """`users` concurrent reporters for `seconds` (all started at once, no think time)."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "run"
        args = [str(VENV_BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "--host", url,
                "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix),
                "--only-summary", "--stop-timeout", "5", "--exit-code-on-error", "0", "--loglevel", "ERROR"]
        with log.open("ab") as handle:
            subprocess.run(args, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, check=True,
                           timeout=seconds + 60)
        rows = {row["Name"]: row for row in csv.DictReader((prefix.with_name("run_stats.csv")).open())}
    post, form = rows.get("POST /report"), rows.get("GET /report")
    if post is None or form is None:
        raise RuntimeError(f"locust recorded no submissions against {url}; see {log}")
    failures = int(post["Failure Count"]) + int(form["Failure Count"])
    submitted = int(post["Request Count"]) - int(post["Failure Count"])
    return LoadResult(users=users, seconds=seconds, submitted=submitted, failures=failures,
                      rps=submitted / seconds, p50_ms=float(post["50%"]), p99_ms=float(post["99%"]),
                      form_p50_ms=float(form["50%"]))


def warm_up(url: str, reporters: int = 8, tips_each: int = 3, timeout: float = 90.0) -> None:
    """A few tips through every worker before measuring: each gunicorn worker loads the triage model and
    its imports on its first tip (seconds), which is start-up, not the steady state being measured."""
    from concurrent.futures import ThreadPoolExecutor

    from bench.reporter import submit_tip

    with ThreadPoolExecutor(reporters) as pool:
        futures = [pool.submit(submit_tip, url, "Warm-up: a student said he has a knife in his backpack today.")
                   for _ in range(reporters * tips_each)]
        for future in futures:
            future.result(timeout=timeout)
