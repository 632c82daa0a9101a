"""What every benchmark shares: percentiles, the results file, printing a table, and child processes.

Everything here talks to 127.0.0.1 only; every wait is bounded by a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
LATEST = RESULTS / "latest.json"
VENV_BIN = Path(sys.executable).parent


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: the figure is a latency someone really waited)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "mean": statistics.fmean(values) if values else float("nan")}


_results_file = {"path": LATEST}


def use_results_file(path: Path) -> None:
    """Where record() writes (--quick runs write quick.json, so they never replace the real figures)."""
    _results_file["path"] = path


def results_file() -> Path:
    return _results_file["path"]


def record(figures: dict[str, Any]) -> None:
    """Merge `figures` into bench/results/latest.json (flat keys; one benchmark at a time adds its own)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = results_file()
    current: dict[str, Any] = {}
    if target.exists():
        try:
            current = json.loads(target.read_text())
        except json.JSONDecodeError:
            current = {}
    # NaN (no sample) is not JSON: None says "not measured" instead.
    current.update({k: (None if v != v else round(v, 2)) if isinstance(v, float) else v
                    for k, v in figures.items()})
    target.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")


def print_table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def free_port(udp: bool = False) -> int:
    """A free port on 127.0.0.1 (TCP, or UDP for the alert wake-up)."""
    with socket.socket(type=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    """Wait until `url` answers at all (any status): the server is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL built here
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


class Child:
    """A child process in its own process group, stopped (TERM, then KILL) when the block ends."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path, name: str) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as handle:
            self.proc = subprocess.Popen(list(args), cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would (the soak's worker restarts)."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        return self.proc.returncode

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc/<pid>/status (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a running process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """Direct children of a process (gunicorn's workers), from /proc/<pid>/task/*/children."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found
