"""Cost per step of vk.pgd against a hand-written PGD loop (goal: vk.pgd <= 1.15 x bare), on a batch of
fashion-cnn test images (default 256), L-infinity, untargeted:

  vizkit  vk.pgd(net, x, y, eps, steps, step): PGD on the optimisation engine (objective, Ball, Steepest);
  bare    the same by hand: each step normalise, forward, summed cross-entropy, torch.autograd.grad to the
          pixels, x += step * sign(g), clamp into the eps-ball and [0, 1] (the model's parameters frozen, as
          vizkit freezes them, so neither computes weight gradients);
  fwdbwd  one forward and backward to the pixels per step and nothing else: the floor for any PGD.

All start from the same images; a first short run checks that vizkit and bare make the same images.
Timings are interleaved so drift in the machine's speed hits all three; the best of --repeats is kept.

    python benchmarks/adversarial.py [--batch 256] [--steps 20] [--eps 0.1] [--repeats 5] [--threads N]
        [--device cpu|cuda]
"""

import argparse

import torch
import torch.nn.functional as F
from _timing import add_machine_options, apply_machine_options, best_of

import vizkit as vk


def frozen(model):
    model.eval().requires_grad_(False)


def bare_pgd(net, x, y, eps, steps, step, sync):
    """PGD by hand on pixels x (N, C, H, W); the final pixels."""
    mean = torch.tensor(net.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(net.std, device=x.device).view(1, -1, 1, 1)
    adv = x.clone()
    for _ in range(steps):
        p = adv.requires_grad_(True)
        loss = F.cross_entropy(net.model((p - mean) / std), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, p)
        with torch.no_grad():
            adv = torch.minimum(torch.maximum(p + step * g.sign(), x - eps), x + eps).clamp(0, 1)
    sync()
    return adv.detach()


def forward_backward(net, x, y, steps, sync):
    """steps x (forward + backward to the pixels), nothing else."""
    mean = torch.tensor(net.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(net.std, device=x.device).view(1, -1, 1, 1)
    for _ in range(steps):
        p = x.clone().requires_grad_(True)
        loss = F.cross_entropy(net.model((p - mean) / std), y, reduction="sum")
        torch.autograd.grad(loss, p)
    sync()


def vizkit_pgd(net, x, y, eps, steps, step, sync):
    """vk.pgd from pixels x; the final pixels."""
    out = vk.pgd(net, net.normalize(x), y, eps, steps=steps, step=step)
    sync()
    mean = torch.tensor(net.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(net.std, device=x.device).view(1, -1, 1, 1)
    return out * std + mean


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20, help="PGD steps per timing")
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=5)
    add_machine_options(ap)
    args = ap.parse_args()
    sync, dev = apply_machine_options(ap, args)
    net = vk.load("fashion-cnn")
    net.model.to(args.device)
    frozen(net.model)
    x, y = vk.FashionMNIST(train=False).tensors(torch.arange(args.batch))
    x, y = x.to(args.device), y.to(args.device)
    step = 2.5 * args.eps / args.steps
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}; fashion-cnn, batch "
          f"{args.batch}, eps {args.eps}, step {step:.4f}, {args.steps} steps per timing, best of {args.repeats}")

    a = vizkit_pgd(net, x, y, args.eps, 3, step, sync)
    b = bare_pgd(net, x, y, args.eps, 3, step, sync)
    diff = float((a - b).abs().max())
    assert diff < 1e-5, f"vk.pgd and the hand loop differ by {diff}"
    print(f"vk.pgd = hand loop after 3 steps (pixels differ by at most {diff:.1e})")

    runs = {"vizkit": lambda: vizkit_pgd(net, x, y, args.eps, args.steps, step, sync),
            "bare": lambda: bare_pgd(net, x, y, args.eps, args.steps, step, sync),
            "fwdbwd": lambda: forward_backward(net, x, y, args.steps, sync)}
    times = {k: [] for k in runs}
    for _ in range(args.repeats):
        for k, fn in runs.items():
            times[k].append(best_of(fn, repeats=1) / args.steps)
    best = {k: 1000 * min(v) for k, v in times.items()}
    print(f"\nms per step: vizkit {best['vizkit']:.2f}, bare {best['bare']:.2f}, forward+backward {best['fwdbwd']:.2f}")
    print(f"vizkit / bare {best['vizkit'] / best['bare']:.3f}; vizkit / forward+backward "
          f"{best['vizkit'] / best['fwdbwd']:.3f} (goal <= 1.15)")


if __name__ == "__main__":
    main()
