"""What the benchmarks share: how they summarise latencies and read their arguments."""

from __future__ import annotations

import argparse


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: each figure is a measured latency)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
