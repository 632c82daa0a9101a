"""Tipline benchmarks and the worst-day soak: `python -m bench`, `python -m bench.soak`."""
