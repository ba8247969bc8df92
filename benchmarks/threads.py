"""Why the Makefile sets OMP_WAIT_POLICY=PASSIVE: small-model work with PyTorch's threads spinning or waiting.

    python benchmarks/threads.py [--busy 2] [--steps 50]

Times vk.invert on fashion-cnn (the notebooks' typical small-model loop) in fresh processes: torch threads
1 and 2, OpenMP's default (spinning) and passive waits, each alone and beside --busy processes that keep
cores busy (the browser, the server, another notebook on a 2-core laptop). Prints one table with ratios.
"""

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import time

WORK = """
import sys, time, torch, vizkit as vk
torch.set_num_threads(int(sys.argv[1]))
net = vk.load("fashion-cnn", device="cpu")
x = net.normalize(vk.FashionMNIST(train=False)[1][0][None])
vk.invert(net, x, "relu3", steps=5, progress=False)           # warm-up
t = time.perf_counter()
vk.invert(net, x, "relu3", steps=int(sys.argv[2]), progress=False)
print(time.perf_counter() - t)
"""


def _spin(stop):
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _time(threads: int, policy: str | None, steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", WORK, str(threads), str(steps)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--busy", type=int, default=2, help="busy processes beside the work (default 2)")
    ap.add_argument("--steps", type=int, default=50, help="inversion steps timed (default 50)")
    args = ap.parse_args()
    configs = [(1, None), (2, None), (2, "PASSIVE")]
    print(f"vk.invert(fashion-cnn, relu3, {args.steps} steps), seconds; {os.cpu_count()} cores\n")
    print(f"{'threads, OpenMP wait':24} {'alone':>8} {f'beside {args.busy} busy':>14} {'ratio':>7}")
    rows = {}
    for threads, policy in configs:
        alone = _time(threads, policy, args.steps)
        stop = mp.Event()
        spinners = [mp.Process(target=_spin, args=(stop,)) for _ in range(args.busy)]
        for p in spinners:
            p.start()
        try:
            time.sleep(0.5)
            loaded = _time(threads, policy, args.steps)
        finally:
            stop.set()
            for p in spinners:
                p.join()
        rows[(threads, policy)] = (alone, loaded)
        print(f"{threads}, {(policy or 'default (spin)'):20} {alone:8.2f} {loaded:14.2f} {loaded / alone:7.1f}")
    spin, passive = rows[(2, None)][1], rows[(2, "PASSIVE")][1]
    print(f"\nbeside busy cores, 2 threads: spinning / passive = {spin / passive:.1f}x")


if __name__ == "__main__":
    main()
