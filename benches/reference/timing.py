"""Timing helpers shared by the reference benchmarks in this folder.

Every figure is taken after a warm-up, as the best and the median of several runs: on a
shared 2-core machine the best run is the least noisy estimate of what the code can do,
the median shows how far the machine's load moved it.
"""

import json
import statistics
import time


def samples(fn, warmup, reps):
    """Sorted wall times in seconds of `reps` calls of `fn` after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)


def quantile(sorted_times, q):
    """The `q` quantile (0..1) of sorted samples, nearest rank as `gensen bench` takes it."""
    return sorted_times[round((len(sorted_times) - 1) * q)]


def summary(times):
    """Best and median of sorted samples, in milliseconds."""
    return {"best_ms": times[0] * 1e3, "median_ms": statistics.median(times) * 1e3}


def emit(bench, name, **fields):
    """One machine-readable JSON line; floats kept to 5 significant digits."""
    rounded = {k: float(f"{v:.5g}") if isinstance(v, float) else v for k, v in fields.items()}
    print(json.dumps({"bench": bench, "name": name, **rounded}), flush=True)


def say(line):
    """One human-readable line, marked so that JSON readers can skip it."""
    print(f"# {line}", flush=True)
