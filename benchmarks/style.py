"""Texture synthesis on the engine: its cost per evaluation against a bare forward + backward (goal <= 1.15 x),
and Adam against L-BFGS for the same final loss. Network: random-multiscale (or VGG16 with random weights,
cut at relu4_1), a square crop of scikit-learn's china photo.

  engine   vk.optimize with the Gram objective of every layer, Sigmoid image, Adam (one evaluation per step)
           and L-BFGS (a step is one iteration; its line search takes one or more evaluations: counted);
  bare     by hand: sigmoid, normalise, run the model with hooks on the layers (stopping after the deepest),
           the normalised Gram errors summed, backward to the logits: one evaluation, nothing else.

Then L-BFGS runs --lbfgs-steps steps and Adam (lr --adam-lr) runs until it reaches L-BFGS's final loss, or
--adam-max steps: evaluations and seconds each needed.

    python benchmarks/style.py [--model random-multiscale|vgg16] [--size 128] [--steps 20] [--repeats 3]
        [--lbfgs-steps 100] [--adam-lr 0.05] [--adam-max 1000] [--threads N]
"""

import argparse
import time

import torch
from _timing import best_of

import vizkit as vk
from vizkit.hooks import StopForward
from vizkit.optimize import objectives, optimize
from vizkit.optimize.param import Sigmoid
from vizkit.optimize.style import default_layers, grams, image_pixels

VGG_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]


def bare_loop(net, layers, goals, start, steps):
    """Adam by hand on the logits of the image; the final loss."""
    modules = dict(net.model.named_modules())
    u = torch.logit(start.clamp(0.01, 0.99)).clone().requires_grad_(True)
    opt = torch.optim.Adam([u], lr=0.05)
    seen = {}

    def hook(name):
        def fn(module, inputs, output):
            seen[name] = output
            if len(seen) == len(layers):
                raise StopForward
        return fn
    handles = [modules[net.layers[n]].register_forward_hook(hook(n)) for n in layers]
    try:
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            seen.clear()
            try:
                net.model(net.normalize(torch.sigmoid(u)))
            except StopForward:
                pass
            loss = 0
            for n in layers:
                f = seen[n].flatten(2)
                g = f @ f.transpose(1, 2) / f.shape[2]
                loss = loss + (g - goals[n]).pow(2).sum() / goals[n].pow(2).sum()
            loss.backward()
            opt.step()
    finally:
        for h in handles:
            h.remove()
    return float(loss.detach())


def counted(net):
    """A forward pre-hook counting the model's evaluations; returns (counter list, handle)."""
    calls = []
    return calls, net.model.register_forward_pre_hook(lambda *a: calls.append(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="random-multiscale", choices=["random-multiscale", "vgg16"])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="steps per timing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lbfgs-steps", type=int, default=100)
    ap.add_argument("--adam-lr", type=float, default=0.05)
    ap.add_argument("--adam-max", type=int, default=1000)
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: leave as is)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = vk.load(args.model) if args.model == "random-multiscale" else vk.load("vgg16", pretrained=False)
    net.model.eval().requires_grad_(False)
    texture = image_pixels(net, vk.sample_image("china"), args.size)[:, :, :, :args.size]
    layers = default_layers(net, texture) if args.model == "random-multiscale" else VGG_LAYERS
    goals = grams(net, texture, layers)
    objective = None
    for n in layers:
        part = objectives.gram_match(n, goals[n])
        objective = part if objective is None else objective + part
    start = (0.5 + 0.1 * torch.randn(texture.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {net.name} at {args.size} px, layers "
          f"{layers}; best of {args.repeats}, {args.steps} steps per timing")

    def engine(optimizer, steps, lr):
        return optimize(net, objective, Sigmoid(start), steps, lr=lr, optimizer=optimizer, progress=False)

    engine("adam", 2, 0.05)  # warm-up
    bare_loop(net, layers, goals, start, 2)
    times = {"engine adam": [], "engine lbfgs": [], "bare": []}
    evals = []
    for _ in range(args.repeats):
        times["engine adam"].append(best_of(lambda: engine("adam", args.steps, 0.05), 1) / args.steps)
        calls, handle = counted(net)
        t = best_of(lambda: engine("lbfgs", args.steps, 1.0), 1)
        handle.remove()
        evals.append(len(calls))
        times["engine lbfgs"].append(t / len(calls))
        times["bare"].append(best_of(lambda: bare_loop(net, layers, goals, start, args.steps), 1) / args.steps)
    best = {k: 1000 * min(v) for k, v in times.items()}
    print(f"\nms per evaluation: engine (Adam) {best['engine adam']:.1f}, engine (L-BFGS) {best['engine lbfgs']:.1f} "
          f"({evals[-1] / args.steps:.2f} evaluations per step), bare forward + backward {best['bare']:.1f}")
    adam, lbfgs = best["engine adam"] / best["bare"], best["engine lbfgs"] / best["bare"]
    print(f"engine / bare: Adam {adam:.3f}, L-BFGS {lbfgs:.3f} (goal <= 1.15)")

    calls, handle = counted(net)
    start_t = time.perf_counter()
    lbfgs = engine("lbfgs", args.lbfgs_steps, 1.0)
    lbfgs_s, lbfgs_evals = time.perf_counter() - start_t, len(calls)
    handle.remove()
    goal = lbfgs.losses[-1]
    reached = {}

    def watch(step, image, loss):
        if loss <= goal and "step" not in reached:
            reached.update(step=step, seconds=time.perf_counter() - start_t)
    start_t = time.perf_counter()
    adam = optimize(net, objective, Sigmoid(start), args.adam_max, lr=args.adam_lr, optimizer="adam", progress=False,
                    callback=watch, every=1)
    print(f"\nL-BFGS: {args.lbfgs_steps} steps, {lbfgs_evals} evaluations, {lbfgs_s:.1f} s -> loss {goal:.2e}")
    if reached:
        print(f"Adam (lr {args.adam_lr}): reached it after {reached['step']} steps (= evaluations), "
              f"{reached['seconds']:.1f} s: L-BFGS needs {reached['step'] / lbfgs_evals:.1f}x fewer evaluations")
    else:
        print(f"Adam (lr {args.adam_lr}): did not reach it in {args.adam_max} steps (final loss {adam.losses[-1]:.2e}, "
              f"{time.perf_counter() - start_t:.1f} s)")


if __name__ == "__main__":
    main()
