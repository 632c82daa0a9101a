"""The classifier: model load time, size on disk, and assess latency (the functions `python -m triage bench`
uses, called here so the figures land in the results file)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import percentile, print_table, summary_ms


def run(model_dir: Path, n: int = 1000) -> dict[str, Any]:
    import triage
    from triage.dataset import load_training
    from triage.model import MODEL_FILE, forget_loaded

    forget_loaded()
    started = time.perf_counter()
    model = triage.load_model(model_dir)
    load_ms = (time.perf_counter() - started) * 1000
    texts = [tip.text for tip in load_training()][:n]
    timings = []
    for text in texts:
        started = time.perf_counter()
        model.assess(text)
        timings.append((time.perf_counter() - started) * 1000)
    stats = summary_ms(timings)
    size_mb = (model_dir / MODEL_FILE).stat().st_size / 1e6
    print_table("Triage model (one thread, warm)", ["load ms", "size MB", "tips", "assess p50 ms", "assess p99 ms"],
                [[load_ms, size_mb, stats["n"], stats["p50"], percentile(timings, 99)]])
    return {"triage_load_ms": load_ms, "triage_model_mb": size_mb, "assess_p50_ms": stats["p50"],
            "assess_p99_ms": stats["p99"]}
