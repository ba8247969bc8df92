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


def add_machine_options(ap):
    """The --threads and --device options every benchmark takes."""
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: leave as is)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])


def apply_machine_options(ap, args):
    """Apply --threads and check --device -> (sync function, device name for the report)."""
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device available")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        return torch.cuda.synchronize, torch.cuda.get_device_name()
    return (lambda: None), "cpu"
