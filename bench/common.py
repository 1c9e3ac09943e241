from __future__ import annotations

import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


def best_of(fn, repeat: int = 5) -> float:
    """The fastest of `repeat` runs, in seconds (the least disturbed by the machine)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(name: str, ratio: float, detail: str) -> None:
    print(f"{name}: {ratio:.3f}  ({detail})", flush=True)


def p50(fn, places) -> float:
    """The median time of `fn(lat, lon)` over `places`, in seconds."""
    times = []
    for lat, lon in places:
        start = time.perf_counter()
        fn(lat, lon)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
