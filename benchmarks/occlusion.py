"""Occlusion maps (Zeiler & Fergus) by brute force, by Captum, and by vizkit's incremental engine (Krypton):

  brute   vk.occlusion: occluded copies run through the whole network, --batch-size at a time;
  captum  captum.attr.Occlusion on a forward returning softmax probabilities (baseline 0, the dataset
          mean in model input), perturbations_per_eval --captum-ppe;
  exact   vizkit.attribute.incremental.incremental_occlusion: Krypton's incremental inference, each
          layer recomputing only the occluder's projective field (the same map, to float precision);
  approx  the same with approximate=True: adaptive drill-down (--coarse, --tolerance) and, if asked,
          projective-field thresholding (--threshold); its SSIM against the exact map is printed;
          --sweep times more settings (threshold:tolerance) and prints their SSIM;
  naive   (opt-in) one forward pass per window position.

Models: torchvision AlexNet and VGG16 at 224 px on a real photo (weights random, pretrained=False,
seed 0: timings do not depend on them, but their maps are noisier than a trained net's, which is what
the SSIM of approx is measured on), and the bundled, trained fashion-cnn on a Fashion-MNIST test image.
The target is the top class of the unoccluded image. The ImageNet setting is Nakandala et al.'s
(window 16, stride 4: 53 x 53 = 2,809 positions; they report 5.4x for the exact map and 34.5x with
both approximations at SSIM >= 0.9 for VGG16 on a CPU); fashion-cnn uses window 7, stride 1 (22 x 22).

The script asserts that exact equals brute force (1e-5 in probability) and, where the stride divides
H - window, that Captum's per-pixel attribution is vizkit.attribute.to_pixels(p0 - map). Brute force and
Captum take minutes per model at stride 4 on a few cores: --baseline-stride S times them (and naive) at
stride S instead and scales their time by the number of positions (their cost per position does not
depend on the stride; the rows say so). Peak memory is the largest rise of this process's resident
memory during a method (sampled every 2 ms), over where it started.

    python benchmarks/occlusion.py [--models vgg16 alexnet fashion-cnn] [--window W] [--stride S]
        [--methods brute captum exact approx] [--baseline-stride S2] [--threshold T] [--coarse C]
        [--tolerance E] [--sweep T:E ...] [--batch-size B] [--captum-ppe 16] [--repeats 1] [--threads N]
        [--device cpu|cuda] [--quick]
"""

import argparse
import os
import threading
import time

import numpy as np
import torch
from _timing import add_machine_options, apply_machine_options
from captum.attr import Occlusion

import vizkit as vk
from vizkit.attribute import to_pixels
from vizkit.attribute.incremental import Incremental, _default_batch, incremental_occlusion, incremental_scan
from vizkit.attribute.scan import fill_value
from vizkit.hooks import frozen
from vizkit.measure import ssim

DEFAULTS = {"fashion-cnn": (7, 1)}  # (window, stride); ImageNet models: Krypton's 16, 4


class PeakMemory:
    """Context manager: .mib is the largest rise of resident memory (MiB) while the block ran."""

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.mib = (self.peak - self.start) / 2**20

    def _watch(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mac_fraction(engine: Incremental, top: np.ndarray, left: np.ndarray, batch_size: int,
                 threshold: float | None = None) -> float:
    """Multiply-adds of the conv and linear layers the engine spends on these positions in batches of batch_size
    (in its order), as a fraction of brute force's: the bound on its speed-up."""
    order = engine.order(top, left, threshold)
    top, left = top[order], left[order]
    full = sum(macs(s, s.out_shape[2:]) for s in engine.steps)
    spent = 0.0
    for start in range(0, len(top), batch_size):
        boxes = {i: (r, c) for i, r, c in engine.boxes(top[start:start + batch_size],
                                                        left[start:start + batch_size], threshold)}
        t = top[start:start + batch_size]
        for i, s in enumerate(engine.steps):
            if i in boxes:
                (r, c) = boxes[i]
                spent += len(t) * macs(s, (max(1, int((r[1] - r[0]).max())), max(1, int((c[1] - c[0]).max()))))
            elif i >= engine.incremental:
                spent += len(t) * macs(s, s.out_shape[2:])
    return spent / (full * len(top))


def macs(step, size) -> float:
    """Multiply-adds of one conv or linear step for one image, size its output's (h, w) (other layers: 0)."""
    m = step.module
    if isinstance(m, torch.nn.Linear):
        return m.in_features * m.out_features
    if not isinstance(m, torch.nn.Conv2d):
        return 0.0
    k = m.kernel_size
    return size[0] * size[1] * m.out_channels * (m.in_channels // m.groups) * k[0] * k[1]


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


def load(name):
    """(net, x): the bundled fashion-cnn on a test image, or a torchvision model (random weights) on a photo."""
    torch.manual_seed(0)
    if name == "fashion-cnn":
        net = vk.load(name)
        return net, net.preprocess(vk.FashionMNIST(train=False)[0][0])
    net = vk.load(name, pretrained=False)
    return net, net.preprocess(vk.sample_image("china"))


def bench(name, args, sync):
    """Time the methods on one model, check that they agree: a dict of results for the table."""
    net, x = load(name)
    net.model.to(args.device).eval()
    x = x.to(args.device)
    H, W = x.shape[2:]
    win, st = args.window or DEFAULTS.get(name, (16, 4))[0], args.stride or DEFAULTS.get(name, (16, 4))[1]
    base_st = args.baseline_stride or st
    with torch.no_grad():
        p0 = torch.softmax(net.model(x), 1)[0].cpu()  # also a warm-up pass
    t = int(p0.argmax())

    def grid(s):
        return (H - win) // s + 1, (W - win) // s + 1

    h, w = grid(st)
    bh, bw = grid(base_st)
    approx_options = dict(approximate=vk.Approximation(threshold=args.threshold, coarse=args.coarse,
                                                       tolerance=args.tolerance))
    runs = {
        "brute": (base_st, lambda: vk.occlusion(net, x, t, win, base_st, fill="mean", batch_size=args.batch_size,
                                                progress=False)),
        "captum": (base_st, lambda: captum(net.model, x, t, win, base_st, args.captum_ppe)),
        "naive": (base_st, lambda: naive(net.model, x, t, win, base_st, bh, bw)),
        "exact": (st, lambda: incremental_occlusion(net, x, t, win, st, batch_size=args.batch_size, progress=False)),
        "approx": (st, lambda: incremental_occlusion(net, x, t, win, st, batch_size=args.batch_size, progress=False,
                                                     **approx_options)),
    }
    runs = {k: v for k, v in runs.items() if k in args.methods}
    times, peaks, results = {k: [] for k in runs}, {k: 0.0 for k in runs}, {}
    for _ in range(args.repeats):  # interleaved, so that drift in the machine's speed hits every method
        for k, (_, fn) in runs.items():
            with PeakMemory() as mem:
                sync()
                start = time.perf_counter()
                results[k] = fn()
                sync()
                times[k].append(time.perf_counter() - start)
            peaks[k] = max(peaks[k], mem.mib)
    row = {"positions": h * w, "window": win, "stride": st, "base_stride": base_st, "p0": float(p0[t])}
    for k, (s, _) in runs.items():  # seconds for the full grid (scaled from the baseline stride's grid)
        row[k] = min(times[k]) * (h * w) / (grid(s)[0] * grid(s)[1])
        row[f"{k} MiB"] = peaks[k]
    notes = []
    if "brute" in results:
        ref = results["brute"]
        exact = results.get("exact") if base_st == st else None
        if exact is None and ("exact" in runs or "approx" in runs):  # check the engine at the baseline stride
            exact = incremental_occlusion(net, x, t, win, base_st, progress=False)
        if exact is not None:
            err = float((exact - ref).abs().max())
            assert err <= 1e-5, f"{name}: exact differs from brute force by {err:.1e}"
            notes.append(f"exact = brute force: max error {err:.1e} (stride {base_st})")
        if "naive" in results:
            torch.testing.assert_close(results["naive"], ref, rtol=0, atol=1e-5)
        if "captum" in results and (H - win) % base_st == 0 and (W - win) % base_st == 0:
            expected = to_pixels(float(p0[t]) - ref, win, base_st, (H, W)).expand(x.shape[1], H, W)
            err = float((results["captum"][0] - expected).abs().max())
            assert err <= 1e-5, f"{name}: Captum differs from vizkit by {err:.1e}"
            notes.append(f"captum = per-pixel mean of p0 - map: max error {err:.1e}")
    if "approx" in results and "exact" in results:
        row["ssim"] = ssim(results["approx"].numpy(), results["exact"].numpy())
    row["sweep"] = []
    for setting in args.sweep if "exact" in results else []:  # more approximate settings, timed once each
        threshold, tolerance = setting.split(":")
        threshold = None if threshold in ("", "off") else float(threshold)
        done = []
        sync()
        start = time.perf_counter()
        got = incremental_scan(net, x, win, st, "mean", lambda out: torch.softmax(out.float(), 1)[:, t],
                               batch_size=args.batch_size, progress=False,
                               callback=lambda d, n, done=done: done.append(d),
                               approximate=vk.Approximation(threshold=threshold, coarse=args.coarse,
                                                            tolerance=float(tolerance)))
        sync()
        row["sweep"].append((threshold, float(tolerance), time.perf_counter() - start,
                             ssim(got.numpy(), results["exact"].numpy()), done[-1] / (h * w)))
    with frozen(net), torch.no_grad():  # the engine's multiply-adds, as a fraction of brute force's
        engine = Incremental(net, x, (win, win), fill_value(net, "mean"))
        rows, cols = np.divmod(np.arange(h * w), w)
        size = args.batch_size or _default_batch(engine)
        row["bound exact"] = 1 / mac_fraction(engine, rows * st, cols * st, size)
        row["bound thresholded"] = 1 / mac_fraction(engine, rows * st, cols * st, size, args.threshold or 0.5)
    print(f"{name}: class {t}, p0 {float(p0[t]):.2e}; " + "; ".join(notes), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["vgg16", "alexnet", "fashion-cnn"])
    ap.add_argument("--methods", nargs="+", default=["brute", "captum", "exact", "approx"],
                    choices=["brute", "captum", "exact", "approx", "naive"])
    ap.add_argument("--window", type=int, help="default: 16 (ImageNet models), 7 (fashion-cnn)")
    ap.add_argument("--stride", type=int, help="default: 4 (ImageNet models), 1 (fashion-cnn)")
    ap.add_argument("--baseline-stride", type=int,
                    help="time brute / captum / naive at this stride and scale to the full grid (quick runs)")
    ap.add_argument("--threshold", type=float, default=None, help="approx: projective-field threshold (default: off)")
    ap.add_argument("--coarse", type=int, default=None, help="approx: first grid this many times sparser")
    ap.add_argument("--tolerance", type=float, default=0.08, help="approx: drill-down tolerance")
    ap.add_argument("--sweep", nargs="*", default=[], metavar="T:E",
                    help="more approximate settings to time, threshold:tolerance each (off:0.1: no threshold)")
    ap.add_argument("--batch-size", type=int, default=None, help="vizkit's batch_size (default: its own choice)")
    ap.add_argument("--captum-ppe", type=int, default=16, help="Captum's perturbations_per_eval")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="stride 16 for the ImageNet models (14 x 14 positions)")
    add_machine_options(ap)
    args = ap.parse_args()
    if args.quick and args.stride is None:
        DEFAULTS.update({m: (16, 16) for m in args.models if m != "fashion-cnn"})
    sync, dev = apply_machine_options(ap, args)

    rows = {name: bench(name, args, sync) for name in args.models}
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}; best of {args.repeats}; "
          f"vizkit batch {args.batch_size or 'auto'}, captum ppe {args.captum_ppe}; approx: threshold "
          f"{args.threshold}, coarse {args.coarse or 'auto'}, tolerance {args.tolerance}")
    methods = [m for m in ("brute", "captum", "naive", "exact", "approx") if m in args.methods]
    print(f"{'model':11} {'win/st':>6} {'positions':>9} " + " ".join(f"{m + ' s':>9}" for m in methods)
          + "".join(f" {'x ' + m:>9}" for m in ("captum", "exact", "approx") if m in methods)
          + f" {'ssim':>6} {'MAC bound':>10}  peak MiB " + " ".join(methods))
    for name, r in rows.items():
        line = f"{name:11} {r['window']:>3}/{r['stride']:<2} {r['positions']:9d} "
        line += " ".join(f"{r[m]:9.2f}" for m in methods)
        for m in ("captum", "exact", "approx"):
            if m in methods:
                line += f" {r['brute'] / r[m]:8.2f}x" if "brute" in r else f" {'-':>9}"
        line += f" {r['ssim']:6.3f}" if "ssim" in r else f" {'-':>6}"
        line += f" {r['bound exact']:4.1f}/{r['bound thresholded']:4.1f}x "
        line += " " + " ".join(f"{r[m + ' MiB']:.0f}" for m in methods)
        print(line)
    if any(r["sweep"] for r in rows.values()):
        print(f"\n{'model':11} {'threshold':>9} {'tolerance':>9} {'seconds':>8} {'x brute':>8} {'x exact':>8} "
              f"{'ssim':>6} {'windows computed':>16}")
        for name, r in rows.items():
            for threshold, tolerance, seconds, sim, share in r["sweep"]:
                vs_brute = f"{r['brute'] / seconds:7.2f}x" if "brute" in r else f"{'-':>8}"
                print(f"{name:11} {threshold if threshold is not None else '-':>9} {tolerance:9.3g} {seconds:8.2f} "
                      f"{vs_brute} {r['exact'] / seconds:7.2f}x {sim:6.3f} {share:15.0%}")
    scaled = [n for n, r in rows.items() if r["base_stride"] != r["stride"]]
    if scaled:
        print(f"brute / captum / naive times of {', '.join(scaled)}: measured at stride {args.baseline_stride}, "
              "scaled by the number of positions")
    print(f"x method: speed-up over brute force. MAC bound: brute force's multiply-adds over the engine's, exact / "
          f"with projective-field thresholding at {args.threshold or 0.5} (before drill-down, which cuts the number "
          "of positions)")


if __name__ == "__main__":
    main()
