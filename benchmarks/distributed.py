"""Dataset passes over 1, 2, ... processes (torchrun, gloo, one thread each): images per second, side by side.

    python benchmarks/distributed.py                          # fashion-cnn, 10,000 Fashion-MNIST test images
    python benchmarks/distributed.py --model alexnet --images 512 --size 224     # random weights, random pixels
    python benchmarks/distributed.py --device cuda --processes 1                   # one GPU (NCCL not needed)

Each run is `torchrun --standalone --nproc_per_node=P` of this script; every rank warms up on one batch, waits
for the others, then times top_patches at the given layers over all the images. Prints a Markdown table.
"""

import argparse
import os
import subprocess
import sys
import time

import torch


def worker(args) -> None:
    import torch.distributed as dist

    import vizkit as vk

    torch.set_num_threads(1)
    shared = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if shared:
        dist.init_process_group("gloo")
    torch.manual_seed(0)   # the same random weights on every rank (the ranks refuse to work on different models)
    net = vk.load(args.model, pretrained=False, device=args.device) if args.model != "fashion-cnn" else \
        vk.load("fashion-cnn", device=args.device)
    if args.model == "fashion-cnn":
        data = vk.FashionMNIST(train=False).subset(args.images)
    else:   # a dataset of random pictures at the network's size (no download needed)
        pixels = torch.rand(args.images, net.channels, args.size, args.size, generator=torch.Generator().manual_seed(0))
        data = torch.utils.data.TensorDataset(pixels, torch.zeros(args.images, dtype=torch.int64))
    layers = args.layers.split(",")
    first = torch.utils.data.Subset(data, range(min(args.batch_size, args.images)))
    for layer in layers:   # warm-up, outside the timing
        vk.top_patches(net, first, layer, k=9, batch_size=args.batch_size, progress=False)
    if shared:
        dist.barrier()
    start = time.perf_counter()
    for layer in layers:
        vk.top_patches(net, data, layer, k=9, batch_size=args.batch_size, progress=False)
    seconds = time.perf_counter() - start
    if not shared or dist.get_rank() == 0:
        print(f"RESULT {seconds:.3f}")
    if shared:
        dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="fashion-cnn")
    ap.add_argument("--layers", default=None, help="comma-separated (default: relu2,relu3 or conv1,conv5)")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--size", type=int, default=224, help="picture size for ImageNet models")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.layers = args.layers or ("relu2,relu3" if args.model == "fashion-cnn" else "conv1,conv5")
    if args.worker:
        return worker(args)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    rows = []
    for p in args.processes:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={p}", __file__,
               "--worker", "--model", args.model, "--layers", args.layers, "--images", str(args.images),
               "--size", str(args.size), "--batch-size", str(args.batch_size), "--device", args.device]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
        if done.returncode or not lines:
            sys.exit(f"{p} process(es) failed:\n{done.stderr[-3000:]}")
        seconds = float(lines[0].split()[1])
        rows.append((p, seconds, args.images * len(args.layers.split(",")) / seconds))
        print(f"{p} process(es): {seconds:.2f} s", file=sys.stderr)
    base = rows[0][2]
    print(f"{args.model}, {args.images} images, layers {args.layers}, top patches, one thread per process "
          f"({args.device})\n")
    print("| processes | seconds | image-layers per second | speed-up |\n|---|---|---|---|")
    for p, seconds, rate in rows:
        print(f"| {p} | {seconds:.2f} | {rate:.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
