"""Summarise a py-spy raw (collapsed stacks) profile: the share of samples in which each function of the
project appears (inclusive), so a missed target can be traced to a file and function.

    py-spy record --pid PID --subprocesses -f raw -o prof.txt -d 15
    python -m bench.profile_report prof.txt [--top 30] [--idle]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:]+)(?::(?P<line>\d+))?\)$")
# Frames where a sync gunicorn worker waits for the next connection: not work.
IDLE = ("wait (selectors.py", "select (selectors.py", "accept (socket.py", "sleep (gunicorn")


def summarise(path: Path, top: int, include_idle: bool, needle: str) -> list[tuple[str, int, float]]:
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        if not include_idle and any(marker in stack for marker in IDLE):
            continue
        count = int(count_text)
        total += count
        seen: set[str] = set()
        for frame in stack.split(";"):
            match = FRAME.match(frame.strip())
            name = f"{match.group('file')}:{match.group('func')}" if match else frame.strip()
            if needle in name and name not in seen:
                seen.add(name)
                inclusive[name] += count
    return [(name, n, 100 * n / total) for name, n in inclusive.most_common(top)] if total else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--idle", action="store_true", help="count samples of idle workers too")
    parser.add_argument("--match", default="", help="only frames whose file:function contains this")
    args = parser.parse_args()
    for name, n, share in summarise(args.profile, args.top, args.idle, args.match):
        print(f"{share:5.1f}%  {n:6d}  {name}")


if __name__ == "__main__":
    main()
