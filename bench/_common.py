"""Small helpers shared by the benchmarks: percentiles and JSON output."""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    """p50 / p99 / mean of ``values`` (seconds), in milliseconds by default."""
    return {
        "p50_ms": round(pct(values, 50) * scale, 3),
        "p95_ms": round(pct(values, 95) * scale, 3),
        "p99_ms": round(pct(values, 99) * scale, 3),
        "mean_ms": round(statistics.fmean(values) * scale, 3) if values else float("nan"),
        "n": len(values),
    }


def emit(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
