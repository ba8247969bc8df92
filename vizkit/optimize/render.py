"""The one optimisation loop behind inversion, filter and class visualisation, adversarial examples,
DeepDream, texture synthesis and style transfer: make an image that minimises an Objective."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from .. import _check
from .._types import Parametrisation, Transform
from ..hooks import frozen, layout, record, resolve
from ..settings import RunOptions, RunSettings, run_settings
from .objectives import OUTPUT, Objective

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..nets import Net


@dataclass
class Result:
    """What an optimisation made: image (1, C, H, W) pixels in [0, 1] (feed it to the model with
    net.normalize), losses (one float per step), terms (name -> one unweighted float per step),
    snapshots [(step, image)] if asked for, and seconds."""

    image: torch.Tensor
    losses: list = field(default_factory=list)
    terms: dict = field(default_factory=dict)
    snapshots: list = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = f"{self.losses[-1]:.4g}" if self.losses else "-"
        return f"Result(image {tuple(self.image.shape)}, {len(self.losses)} steps, final loss {last})"


OPTIMIZERS = ["adam", "lbfgs", "sign", "l2", "normalized"]
"""The step rules `optimize` takes."""


class Steepest(torch.optim.Optimizer):
    """Steepest descent under a norm, one image (batch row) at a time: x -= lr * d, where d is
    sign(g) ("sign": the L-infinity step of FGSM and PGD), g / ||g||_2 ("l2": L2 PGD), or
    g / mean|g| ("normalized": DeepDream's step, whose size does not depend on the gradient's scale)."""

    def __init__(self, params, lr: float, norm: str):
        super().__init__(params, {"lr": lr})
        self.norm = norm

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if self.norm == "sign":
                    d = g.sign()
                else:
                    rows = g.reshape(g.shape[0], -1)
                    size = rows.norm(dim=1) if self.norm == "l2" else rows.abs().mean(1)
                    # a zero gradient (a unit that never fires) gives a zero step, not NaN
                    d = g / size.clamp_min(1e-20).view(-1, *[1] * (g.dim() - 1))
                p.add_(d, alpha=-group["lr"])
        return loss


OPTIMIZE_RUN = ("seed", "every", "callback", "progress")  # the RunSettings an optimisation reads


def optimize(net: Net, objective: Objective, param: Parametrisation, steps: int, lr: float = 0.05,
             optimizer: str = "adam", transforms: Transform | None = None, desc: str = "optimising",
             **run: Unpack[RunOptions]) -> Result:
    """Minimise objective over an image parametrisation `param` (Pixels, Fourier…) for `steps` steps -> Result
    (.image (1, C, H, W) in [0, 1]).

    transforms(image, generator) is applied before the network sees the image (fresh randomness each
    step; seeded). optimizer: "adam", "lbfgs" (deterministic objectives only: no transforms), or a
    steepest-descent step of size lr (see Steepest): "sign", "l2" or "normalized".
    run: RunSettings' seed, every, callback and progress: callback(step, image, loss) runs every `every` steps
    (and after the last) for live previews; with every > 0 the Result also keeps those snapshots; progress may be
    a tqdm bar to advance (techniques that call optimize several times share one). The forward pass stops at
    the deepest layer the objective reads; the model is left exactly as found. A NaN or infinite loss stops
    with a ValueError.
    """
    return optimize_with(net, objective, param, steps, run_settings(run, "optimize", OPTIMIZE_RUN), lr=lr,
                         optimizer=optimizer, transforms=transforms, desc=desc)


def optimize_with(net: Net, objective: Objective, param: Parametrisation, steps: int, settings: RunSettings, *,
                  lr: float = 0.05, optimizer: str = "adam", transforms: Transform | None = None,
                  desc: str = "optimising") -> Result:
    """optimize() with its run settings already made (what the techniques call)."""
    if not isinstance(objective, Objective) or not objective.terms:
        raise TypeError(f"objective must be a non-empty vizkit Objective (e.g. channel('conv3', 5)); "
                        f"got {objective!r}")
    steps = _check.integer(steps, "steps", 1)
    lr = _check.number(lr, "lr", 0, open_low=True)
    _check.choice(optimizer, "optimizer", OPTIMIZERS)
    every, callback = settings.every, settings.callback
    if optimizer == "lbfgs" and transforms is not None:
        raise ValueError("L-BFGS needs the same objective at every step: use optimizer='adam' with transforms")
    for w, _ in objective.terms:
        _check.number(w, "an objective's weight")
    layers = [n for n in objective.layers if n != OUTPUT]
    for name in layers:
        resolve(net, name)
        lay = layout(net, name)
        if lay is not None and not lay.reached:
            raise ValueError(f"layer {name!r} of {net.name} does not depend on the input image (e.g. a layer of a "
                             "position table or a constant), so no image can change it; pick a layer the image "
                             "passes through")
    wants_output = OUTPUT in objective.layers
    gen = torch.Generator().manual_seed(settings.seed)
    params = param.params()
    opt: torch.optim.Optimizer
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    elif optimizer == "lbfgs":
        # one iteration per step, with a line search so that lr = 1 is safe; max_eval must be given, as its
        # default (1.25 max_iter = 1) leaves the line search no evaluations at all
        opt = torch.optim.LBFGS(params, lr=lr, max_iter=1, max_eval=25, history_size=20, line_search_fn="strong_wolfe")
    else:
        opt = Steepest(params, lr, optimizer)
    result = Result(image=param().detach().clone(), terms={n: [] for n in objective.names})
    start = time.perf_counter()
    recording = record(net, layers, keep_graph=True, stop=not wants_output) if layers else contextlib.nullcontext()
    with frozen(net), recording as rec, settings.bar(steps, desc) as bar:
        seen: dict = {}

        def closure():
            opt.zero_grad(set_to_none=True)
            with torch.enable_grad():
                img = param()
                x = img if transforms is None else transforms(img, gen)
                acts = _forward(net, rec, net.normalize(x), wants_output)
                total, parts = objective(acts, img)
                loss = total.sum()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise ValueError(f"the loss became {value} at step {seen['step']}: lower lr (now {lr:g}) or "
                                 f"the objective's weights ({objective!r})")
            loss.backward()
            seen.update(loss=value, parts={k: float(v.detach().sum()) for k, v in parts.items()})
            return loss

        for step in range(1, steps + 1):
            seen["step"] = step
            opt.step(closure)
            param.project()
            result.losses.append(seen["loss"])
            for k, v in seen["parts"].items():
                result.terms[k].append(v)
            bar.update(1)
            if every and (step % every == 0 or step == steps):
                current = param().detach().clone()
                result.snapshots.append((step, current))
                if callback is not None:
                    callback(step, current, seen["loss"])
            elif callback is not None and step == steps:
                callback(step, param().detach().clone(), seen["loss"])
    result.image = param().detach().clone()
    result.seconds = time.perf_counter() - start
    return result


def _forward(net: Net, rec, x: torch.Tensor, wants_output: bool) -> dict:
    """Run the model on x, collecting the recorded layers, and its output if the objective reads it."""
    if rec is None:
        from ..hooks import run

        return {OUTPUT: run(net, x)}
    out = rec.forward(x)
    acts = dict(rec)
    if wants_output:
        acts[OUTPUT] = out
    return acts
