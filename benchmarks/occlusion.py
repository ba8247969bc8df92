"""Occlusion maps (Zeiler & Fergus) three ways, on AlexNet and VGG16 at 224 px with a real photo:

  vizkit  vk.occlusion(net, x, target, window, stride, fill="mean", batch_size=B): occluded copies
          run B at a time;
  naive   one forward pass per window position (clone, fill the square with 0, softmax);
  captum  captum.attr.Occlusion on a forward function returning softmax probabilities, with
          baselines 0 and each --captum-ppe value of perturbations_per_eval (the best one is reported).

The target is the top class of the unoccluded image. All three compute the same thing, and the
script asserts it on the timed runs' results: vizkit's map equals the naive loop's, and Captum's
per-pixel attribution (the drop in probability averaged over the windows that cover each pixel)
equals vizkit.attribute.to_pixels(p_unoccluded - map). Weights are random (pretrained=False,
seed 0): the timings do not depend on them. Timings are interleaved (vizkit, naive, captum...,
vizkit, ...) so drift in the machine's speed hits all methods; the best of --repeats is kept.
The default window 16 / stride 4 (53 x 53 = 2,809 positions, the setting of Nakandala et al.'s
Krypton) takes many minutes per method on a few CPU cores; --quick uses stride 16
(14 x 14 = 196 positions).

    python benchmarks/occlusion.py [--quick] [--models alexnet vgg16] [--window 16] [--stride 4]
        [--batch-size B] [--captum-ppe 1 16 64] [--repeats 1] [--threads N] [--device cpu|cuda]
"""

import argparse
import resource

import torch
from _timing import best_of
from captum.attr import Occlusion

import vizkit as vk
from vizkit.attribute import to_pixels


def naive(model, x, target, window, stride, h, w):
    """One forward pass per window position; (h, w) probability of target."""
    out = []
    with torch.no_grad():
        for i in range(h):
            for j in range(w):
                xo = x.clone()
                xo[:, :, i * stride:i * stride + window, j * stride:j * stride + window] = 0
                out.append(torch.softmax(model(xo), 1)[0, target])
    return torch.stack(out).reshape(h, w).float().cpu()


def captum(model, x, target, window, stride, ppe):
    """Captum's Occlusion of the softmax output; (1, C, H, W) attribution on the CPU."""
    occ = Occlusion(lambda inp: torch.softmax(model(inp), 1))
    c = x.shape[1]
    return occ.attribute(x, sliding_window_shapes=(c, window, window), strides=(c, stride, stride),
                         baselines=0.0, target=target, perturbations_per_eval=ppe).cpu()


def bench(name, args):
    """Time the three, then check that they agree; a dict of positions and seconds per method."""
    torch.manual_seed(0)
    net = vk.load(name, pretrained=False)
    net.model.to(args.device).eval()
    x = net.preprocess(vk.sample_image("china"))
    H, W = x.shape[2:]
    win, st = args.window, args.stride
    with torch.no_grad():
        p0 = torch.softmax(net.model(x), 1)[0]  # also a warm-up pass
    t = int(p0.argmax())
    h, w = (H - win) // st + 1, (W - win) // st + 1
    runs = {
        "vizkit": lambda: vk.occlusion(net, x, t, win, st, fill="mean", batch_size=args.batch_size,
                                       progress=False),
        "naive": lambda: naive(net.model, x, t, win, st, h, w),
        **{f"captum{p}": (lambda p=p: captum(net.model, x, t, win, st, p)) for p in args.captum_ppe},
    }
    times = {k: [] for k in runs}
    results = {}
    for _ in range(args.repeats):
        for k, fn in runs.items():
            times[k].append(best_of(lambda k=k, fn=fn: results.__setitem__(k, fn()), repeats=1))
    grid = results["vizkit"]
    # Random weights give a near-uniform softmax, so the signal (the largest drop in probability) is
    # tiny: tolerances are 1 % of it (plus a few float32 ulps of p0), not assert_close's defaults.
    signal = float((p0[t].cpu() - grid).abs().max())
    tol = dict(rtol=0, atol=1e-2 * signal + 4 * torch.finfo().eps * float(p0[t]))
    torch.testing.assert_close(grid, results["naive"], **tol)
    errs = [float((grid - results["naive"]).abs().max())]
    # Captum shifts ceil((H - window) / stride) + 1 times, with a cropped last window when stride
    # does not divide H - window: only then are its positions vizkit's.
    if (H - win) % st == 0 and (W - win) % st == 0:
        expected = to_pixels(float(p0[t]) - grid, win, st, (H, W)).expand(x.shape[1], H, W)
        for p in args.captum_ppe:
            torch.testing.assert_close(results[f"captum{p}"][0], expected, **tol)
            errs.append(float((results[f"captum{p}"][0] - expected).abs().max()))
        captum_note = f"captum = per-pixel mean of p0 - map: max error {max(errs[1:]):.1e}"
    else:
        captum_note = f"captum not compared: {st} does not divide {H} - {win}, so it adds cropped edge windows"
    print(f"{name}: class {t}, p0 {float(p0[t]):.2e}, largest drop {signal:.1e}; vizkit = naive: max error "
          f"{errs[0]:.1e}; {captum_note}")
    return {"positions": h * w, **{k: min(v) for k, v in times.items()}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["alexnet", "vgg16"])
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=None, help="vizkit's batch_size (default: its own choice)")
    ap.add_argument("--captum-ppe", type=int, nargs="+", default=[1, 16, 64],
                    help="Captum perturbations_per_eval values to try")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: leave as is)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="stride 16 (14 x 14 positions at window 16)")
    args = ap.parse_args()
    if args.quick:
        args.stride = 16
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device available")
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = {name: bench(name, args) for name in args.models}
    dev = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}; window {args.window}, "
          f"stride {args.stride}, vizkit batch {args.batch_size}, best of {args.repeats}; seconds:")
    print(f"{'model':8} {'positions':>9} {'vizkit':>8} {'naive':>8} {'captum':>8} {'best ppe':>8} "
          f"{'naive/vizkit':>12} {'captum/vizkit':>13}  captum s per ppe")
    for name, r in rows.items():
        ppe = min(args.captum_ppe, key=lambda p: r[f"captum{p}"])
        each = ", ".join(f"{p}: {r[f'captum{p}']:.2f}" for p in args.captum_ppe)
        print(f"{name:8} {r['positions']:9d} {r['vizkit']:8.2f} {r['naive']:8.2f} {r[f'captum{ppe}']:8.2f} "
              f"{ppe:8d} {r['naive'] / r['vizkit']:12.2f} {r[f'captum{ppe}'] / r['vizkit']:13.2f}  {each}")
    if args.device == "cuda":
        print(f"peak CUDA memory allocated: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process (all methods and models together): {rss:.0f} MiB")


if __name__ == "__main__":
    main()
