"""`python -m triage train|assess|evaluate|bench|tune|agreement`: the command line of the classifier."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from triage.dataset import IncompleteTrainingData, InvalidLabelledData, load_training, read_labelled
from triage.decision import MISSED_CRITICAL_COST, QUEUED_CRITICAL_COST
from triage.model import MODEL_FILE, CannotWriteModel, ModelUnusable, load_model, model_dir, staleness, train


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def ensure_trained(directory: Path) -> None:
    """Train into `directory` unless it already holds a fresh model."""
    reason = staleness(directory)
    if reason is not None:
        print(f"training triage model into {directory} ({reason})", file=sys.stderr)
        train(directory, progress=_to_stderr)


def cmd_train(args: argparse.Namespace) -> int:
    directory = model_dir()
    if args.if_missing:
        reason = staleness(directory)
        if reason is None:
            print(f"triage model in {directory} is up to date")
            return 0
        print(f"training ({reason})", flush=True)
    card = train(directory, progress=_to_stderr)
    cv = card["cv_metrics"]
    print(
        f"trained {card['model_version']} on {card['training_counts']['n']} tips in "
        f"{card['training_seconds']} s -> {directory} ({card['model_bytes'] / 1e6:.1f} MB)"
    )
    print(
        f"cross-validated: critical recall {cv['critical_recall']}, urgency macro-F1 {cv['urgency_macro_f1']}, "
        f"category macro-F1 {cv['category_macro_f1']}"
    )
    if "dev_metrics" in card:
        dev = card["dev_metrics"]
        print(
            f"dev: critical recall {dev['critical_recall']:.3f}, dangerous misses {dev['dangerous_misses']}, "
            f"urgency macro-F1 {dev['urgency']['macro_f1']:.3f}, category macro-F1 {dev['category']['macro_f1']:.3f}"
        )
    return 0


def cmd_assess(args: argparse.Namespace) -> int:
    assessment = load_model().assess(args.text, happening_now=True if args.now else None)
    if args.json:
        print(json.dumps(assessment.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"category  {assessment.category}  ({assessment.category_probabilities[assessment.category]:.2f})")
    print(
        f"urgency   {assessment.urgency}  "
        + "  ".join(f"{u} {p:.2f}" for u, p in assessment.urgency_probabilities.items())
    )
    print("reasons   " + ", ".join(assessment.reasons))
    print(f"model     {assessment.model_version}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from triage.evaluate import evaluate_tips, format_report

    path = Path(args.file)
    try:
        tips = read_labelled(path)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"triage evaluate: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    except InvalidLabelledData as exc:
        print(f"triage evaluate: {exc}", file=sys.stderr)
        return 2
    if not tips:
        print(f"triage evaluate: {path} holds no labelled tips", file=sys.stderr)
        return 2
    ensure_trained(model_dir())
    report = evaluate_tips(load_model(), tips)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


# The intake's maximum tip length (app/intake/validation.py) and a unit of words that wakes every guard of the rules.
LONG_TIP_CHARS = 10_000
LONG_TIP_UNIT = (
    "the rumor was fake lol, it was a nerf gun last week and shes safe. separately, this is real: he has a gun "
    "in his backpack right now and says he will shoot up the school tomorrow. "
)


def cmd_bench(args: argparse.Namespace) -> int:
    from triage.model import forget_loaded

    directory = model_dir()
    ensure_trained(directory)
    forget_loaded()
    started = time.perf_counter()
    model = load_model()
    load_seconds = time.perf_counter() - started
    texts = [tip.text for tip in load_training()][: args.n]
    while len(texts) < args.n:
        texts += texts[: args.n - len(texts)]
    timings = []
    for text in texts:
        started = time.perf_counter()
        model.assess(text)
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=100)
    print(f"load      {load_seconds * 1000:.0f} ms")
    print(f"model     {(directory / MODEL_FILE).stat().st_size / 1e6:.2f} MB")
    print(f"assess    p50 {statistics.median(timings):.2f} ms  p99 {cuts[98]:.2f} ms  over {len(timings)} tips")
    # The worst case the intake lets through: a tip of its maximum length made of the rules' guard and danger words.
    long_tip = (LONG_TIP_UNIT * (LONG_TIP_CHARS // len(LONG_TIP_UNIT) + 1))[:LONG_TIP_CHARS]
    started = time.perf_counter()
    model.assess(long_tip)
    long_ms = (time.perf_counter() - started) * 1000
    print(f"long tip  {long_ms:.0f} ms  ({LONG_TIP_CHARS:,} characters of guard and danger words)")
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    from triage.agreement import agreement, format_agreement, load_readings

    ensure_trained(model_dir())
    result = agreement(load_readings(), load_model())
    print(json.dumps(result) if args.json else format_agreement(result))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from triage.tuning import print_tuning

    print_tuning(c_values=args.c, missed_critical_costs=args.k, writers=not args.no_writers)
    return 0


def _at_least_two(value: str) -> int:
    """The bench's tip count: its percentiles need two timings (and a negative count would slice the data)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 2:
        raise argparse.ArgumentTypeError(f"{number} is too few: time at least 2 tips")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m triage",
        description=__doc__,
        epilog="The model directory is $TRIAGE_MODEL_DIR, else triage/ in $TIPLINE_INSTANCE_PATH, else "
        "instance/triage. Exit codes: 0 done, 2 bad arguments, a bad file or no model that can be used.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train on triage/data and write the model to the model directory")
    p.add_argument("--if-missing", action="store_true", help="only when there is no model or it is stale")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("assess", help="assess one tip")
    p.add_argument("text", help="the tip's text (quote it)")
    p.add_argument("--now", action="store_true", help='the reporter said "happening right now"')
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_assess)

    p = commands.add_parser("evaluate", help="score the model on a labelled JSON Lines file")
    p.add_argument("file", help="JSON Lines, one {text, category, urgency} a line (TAXONOMY.md)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser("bench", help="load time, model size and assess latency")
    p.add_argument("-n", type=_at_least_two, default=1000, help="tips to time (at least 2; default 1000)")
    p.set_defaults(run=cmd_bench)

    p = commands.add_parser("tune", help="cross-validate hyper-parameters and the cost of a missed critical")
    p.add_argument("--c", type=float, nargs="+", default=[0.1, 0.2, 0.5], help="category_C values to cross-validate")
    p.add_argument(
        "--k",
        type=float,
        nargs="+",
        default=[3.0, 4.0, 5.0, 6.0, 8.0],
        help=(
            "costs of a critical ranked high to score; one left in a queue costs "
            f"{QUEUED_CRITICAL_COST / MISSED_CRITICAL_COST:g} times as much, as shipped"
        ),
    )
    p.add_argument(
        "--no-writers", action="store_true", help="skip leave-one-writer-out (41 writers, about ten minutes)"
    )
    p.set_defaults(run=cmd_tune)

    p = commands.add_parser(
        "agreement", help="two blind readers of the taxonomy, and the model, scored against the labels of 600 tips"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_agreement)

    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except (ModelUnusable, CannotWriteModel, IncompleteTrainingData) as exc:
        print(exc, file=sys.stderr)
        return 2
    return code
