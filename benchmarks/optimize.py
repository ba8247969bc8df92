"""Cost per step of vizkit's optimisation engine against hand-written loops (goal: engine <= 1.15 x bare),
on fashion-cnn (28 px) and VGG16 (224 px, random weights: timings do not depend on them), one image:

  engine  vk.optimize(net, channel(layer, c), Pixels(start), steps): Adam, no transforms;
  bare    the same work by hand: Adam on an image tensor; each step normalise, run a truncated
          nn.Sequential of the modules up to the layer, loss -output[:, c].mean(), backward, step, clamp;
  full    the bare loop running the whole model and taking the layer's output with a forward hook (what
          an engine that does not cut the forward pass pays; in-place ReLUs are off, else they overwrite it).

All three start from the same [0, 1] noise image with the same lr; a first run of a few steps warms up and
asserts that they make the same image. Timings are interleaved (engine, bare, full, engine, ...) so drift
in the machine's speed hits all three; the best of --repeats is kept. engine/bare is the engine's
overhead, full/bare what stopping the forward pass at the layer saves.

    python benchmarks/optimize.py [--models fashion-cnn vgg16] [--steps-small 500] [--steps-vgg 3]
        [--repeats 3] [--channel 0] [--threads N] [--device cpu|cuda]
"""

import argparse

import torch
from _timing import add_machine_options, apply_machine_options, best_of
from torch import nn

import vizkit as vk
from vizkit.optimize import optimize
from vizkit.optimize.objectives import channel
from vizkit.optimize.param import Pixels

LAYERS = {"fashion-cnn": ["conv1", "relu2", "relu3", "fc5"], "vgg16": ["conv1_2", "conv3_3", "conv5_3"]}
LR = 0.05  # optimize's default


def truncated(model, path):
    """The modules up to `path` ("features.14", "classifier.5") as one nn.Sequential: the top-level children
    before its own, then its own sliced (fits models that are top-level Sequentials called in order)."""
    top, index = path.split(".")
    mods = []
    for name, child in model.named_children():
        if name == top:
            return nn.Sequential(*mods, *child[:int(index) + 1])
        mods.extend(child)
    raise KeyError(path)


def hand_loop(net, forward, start, c, steps, sync):
    """Adam on the pixels for `steps` steps, forward(normalised image) -> the layer's output; the final image."""
    model = net.model
    training, wants = model.training, [p.requires_grad for p in model.parameters()]
    model.eval().requires_grad_(False)
    mean = torch.tensor(net.mean, device=start.device).view(1, -1, 1, 1)
    std = torch.tensor(net.std, device=start.device).view(1, -1, 1, 1)
    x = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=LR)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = -forward((x - mean) / std)[:, c].mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    sync()
    model.train(training)
    for p, w in zip(model.parameters(), wants):
        p.requires_grad_(w)
    return x.detach()


def full_forward(model, module):
    """A forward function that runs the whole model and returns `module`'s output, caught by a hook."""
    relus = [m for m in model.modules() if getattr(m, "inplace", False) is True]

    def forward(x):
        seen = []
        handle = module.register_forward_hook(lambda m, i, out: seen.append(out))
        for m in relus:
            m.inplace = False
        try:
            model(x)
        finally:
            handle.remove()
            for m in relus:
                m.inplace = True
        return seen[0]
    return forward


def engine_loop(net, layer, start, c, steps, sync):
    """vk.optimize maximising channel c of layer from start; the final image."""
    image = optimize(net, channel(layer, c), Pixels(start), steps, lr=LR, progress=False).image
    sync()
    return image


def bench_layer(net, layer, start, steps, args, sync):
    """{method: best seconds per step} for one layer, after checking that the methods agree."""
    path = net.layers[layer]
    cut = truncated(net.model, path)
    whole = full_forward(net.model, dict(net.model.named_modules())[path])
    runs = {"engine": lambda n: engine_loop(net, layer, start, args.channel, n, sync),
            "bare": lambda n: hand_loop(net, cut, start, args.channel, n, sync),
            "full": lambda n: hand_loop(net, whole, start, args.channel, n, sync)}
    first = min(steps, 5)  # warm-up, and the like-for-like check: the same image after a few steps
    images = {k: fn(first) for k, fn in runs.items()}
    for k in ("engine", "full"):
        torch.testing.assert_close(images[k], images["bare"], rtol=0, atol=1e-4)
    times = {k: [] for k in runs}
    for _ in range(args.repeats):
        for k, fn in runs.items():
            times[k].append(best_of(lambda fn=fn: fn(steps), repeats=1) / steps)
    moved = float((images["bare"] - start).abs().max())
    diff = max(float((images[k] - images["bare"]).abs().max()) for k in ("engine", "full"))
    print(f"  {net.name} {layer} ({path}): engine = bare = full after {first} steps (pixels moved up to "
          f"{moved:.3f}, differ by at most {diff:.1e}); timed {steps} steps x {args.repeats}", flush=True)
    return {k: min(v) for k, v in times.items()}


def bench(name, args):
    """(input size, steps, {layer: {method: best seconds per step}}) for one network."""
    torch.manual_seed(0)
    net = vk.load(name, pretrained=False) if name == "vgg16" else vk.load(name)
    net.model.to(args.device)
    start = torch.rand(1, net.channels, *net.input_size, generator=torch.Generator().manual_seed(0))
    steps = args.steps_vgg if name == "vgg16" else args.steps_small
    sync = torch.cuda.synchronize if args.device == "cuda" else lambda: None
    rows = {layer: bench_layer(net, layer, start.to(args.device), steps, args, sync) for layer in LAYERS[name]}
    return net.input_size, steps, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    ap.add_argument("--steps-small", type=int, default=500, help="steps per timing on fashion-cnn")
    ap.add_argument("--steps-vgg", type=int, default=3, help="steps per timing on VGG16 at 224 px")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--channel", type=int, default=0, help="the channel (unit) to maximise")
    add_machine_options(ap)
    args = ap.parse_args()
    _, dev = apply_machine_options(ap, args)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}; Adam lr {LR}, "
          f"channel {args.channel}, best of {args.repeats}")
    results = {name: bench(name, args) for name in args.models}
    for name, (size, steps, rows) in results.items():
        print(f"\n{name} at {size[0]}x{size[1]}, {steps} steps per timing; ms per step:")
        print(f"{'layer':8} {'engine':>9} {'bare':>9} {'full':>9} {'engine/bare':>12} {'full/bare':>10}")
        for layer, t in rows.items():
            e, b, f = (1000 * t[k] for k in ("engine", "bare", "full"))
            flag = "" if e / b <= 1.15 else "  > 1.15"
            print(f"{layer:8} {e:9.2f} {b:9.2f} {f:9.2f} {e / b:12.2f} {f / b:10.2f}{flag}")
    print("\nengine/bare: the engine's overhead (goal <= 1.15); full/bare: what cutting the forward pass saves")


if __name__ == "__main__":
    main()
