"""Shared by the benchmark scripts (run them as `python benchmarks/<name>.py`)."""

import time


def best_of(fn, repeats=3):
    """The shortest of `repeats` wall-clock timings of fn(), in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
