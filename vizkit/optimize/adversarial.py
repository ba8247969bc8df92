"""Adversarial examples: a change too small to see that changes the network's answer.

FGSM (Goodfellow et al. 2015) takes one step of size eps along the sign of the loss gradient:

    x' = clip(x + eps * sign(d CE(f(x), y) / d x), 0, 1)        (targeted: x - eps * sign(d CE(f(x), t) / d x))

PGD (Madry et al. 2018) takes many smaller steps of that kind and, after each, projects the image back
into the eps-ball about x and into [0, 1]: steepest ascent of the loss under the attack's norm. It runs
on the optimisation engine, whose objective is the cross-entropy and whose parameter is the ball.

Both take and return model inputs (as net.preprocess makes them); eps and the step are in [0, 1] pixel
units. Untargeted by default: target is the label to move away from; targeted=True moves toward it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F

from .. import _check
from .._types import ImageLike, Target, Targets
from ..hooks import frozen, inplace_off, resolve_target, run
from ..inspect._inputs import as_input
from ..settings import RunOptions, run_settings
from .objectives import OUTPUT, term
from .render import OPTIMIZE_RUN, optimize_with

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..nets import Net

NORMS = ["linf", "l2"]
"""The norms `fgsm` and `pgd` bound the perturbation in."""


def fgsm(net: Net, x: ImageLike, target: Targets = None, eps: float = 0.03,
         targeted: bool = False) -> torch.Tensor:
    """(N, C, H, W) model input x -> adversarial model input: one signed gradient step of eps pixels.

    target: a class index or name for all images, one per image (list or tensor), or None for the
    network's own predictions. The de-normalised result stays within eps of x and inside [0, 1].
    """
    inp, pixels = _inputs(net, x)
    eps = _check.number(eps, "eps", 0)
    labels = _labels(net, inp, target)
    sign = -1.0 if _flag(targeted, "targeted") else 1.0
    adversarial = (pixels + sign * eps * _loss_gradient(net, pixels, labels).sign()).clamp(0, 1)
    return net.normalize(adversarial)


def pgd(net: Net, x: ImageLike, target: Targets = None, eps: float = 0.03, steps: int = 20,
        step: float | None = None, norm: str = "linf", targeted: bool = False, random_start: bool = False,
        **run: Unpack[RunOptions]) -> torch.Tensor:
    """(N, C, H, W) model input x -> adversarial model input after `steps` projected gradient steps.

    norm: "linf" (sign steps; eps bounds every pixel's change) or "l2" (unit-norm steps; eps bounds each
    image's change as a whole). step: each step's size in pixels, by default 2.5 * eps / steps (Madry et
    al.: enough to reach the ball's edge from anywhere inside it). random_start: begin at a seeded random
    point of the ball rather than at x. target as in fgsm. run: seed (of the random start), every, callback
    (step, pixels, loss) as in vk.optimize, and progress (off by default: an attack is quick).
    """
    settings = run_settings(run, "pgd", OPTIMIZE_RUN, progress=False)
    inp, pixels = _inputs(net, x)
    eps = _check.number(eps, "eps", 0)
    steps = _check.integer(steps, "steps", 1)
    _check.choice(norm, "norm", NORMS)
    step = 2.5 * eps / steps if step is None else _check.number(step, "step", 0)
    targeted = _flag(targeted, "targeted")
    labels = _labels(net, inp, target)
    if eps == 0 or step == 0:
        return inp.detach().clone()
    ball = Ball(pixels, eps, norm)
    if _flag(random_start, "random_start"):
        ball.randomize(torch.Generator().manual_seed(settings.seed))
    objective = cross_entropy(labels, toward=targeted)
    optimize_with(net, objective, ball, steps, settings, lr=step, optimizer="sign" if norm == "linf" else "l2",
                  desc="PGD")
    return net.normalize(ball().detach())


def cross_entropy(labels: torch.Tensor, toward: bool = False):
    """Objective: each image's cross-entropy to its label (toward=True), or minus it (move away)."""
    def fn(acts, image):
        ce = F.cross_entropy(acts[OUTPUT].float(), labels.to(acts[OUTPUT].device), reduction="none")
        return ce if toward else -ce
    return term("cross-entropy" if toward else "-cross-entropy", fn, [OUTPUT])


class Ball:
    """Images within eps of a (N, C, H, W) pixel batch x0 (L-infinity: per pixel; L2: per image) and in
    [0, 1]: the parameter of PGD. project() brings the image back after each step."""

    def __init__(self, x0: torch.Tensor, eps: float, norm: str = "linf"):
        self.x0 = x0.detach()
        self.eps, self.norm = float(eps), norm
        self.x = self.x0.clone(memory_format=torch.contiguous_format).requires_grad_(True)

    def params(self) -> list[torch.Tensor]:
        """The tensors to optimise."""
        return [self.x]

    def __call__(self) -> torch.Tensor:
        """(N, C, H, W) image in [0, 1]."""
        return self.x

    @torch.no_grad()
    def randomize(self, generator: torch.Generator) -> None:
        """Move to a point drawn uniformly from the ball: per pixel (L-infinity), or a random direction at
        radius eps * u^(1/d) (L2; d pixels per image, so that the point is uniform in the ball's volume)."""
        shape = self.x0.shape
        if self.norm == "linf":
            delta = (torch.rand(shape, generator=generator) * 2 - 1) * self.eps
        else:
            d = torch.randn(shape, generator=generator)
            d = d / d.reshape(len(d), -1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            radius = torch.rand((len(d), 1, 1, 1), generator=generator) ** (1.0 / d[0].numel()) * self.eps
            delta = d * radius
        self.x.copy_(self.x0 + delta.to(self.x0))
        self.project()

    @torch.no_grad()
    def project(self) -> None:
        """Into the eps-ball about x0, then into [0, 1] (clipping to [0, 1] never leaves the ball, since
        x0 is inside [0, 1])."""
        delta = self.x - self.x0
        if self.norm == "linf":
            delta.clamp_(-self.eps, self.eps)
        else:
            size = delta.reshape(len(delta), -1).norm(dim=1).view(-1, 1, 1, 1)
            delta.mul_((self.eps / size.clamp_min(1e-12)).clamp(max=1.0))
        self.x.copy_((self.x0 + delta).clamp(0, 1))


def _inputs(net: Net, x: ImageLike) -> tuple[torch.Tensor, torch.Tensor]:
    """(model input (N, C, H, W), its pixels in [0, 1]); a model input that is not made of [0, 1] pixels is
    an error, since the attack's promise (stay within [0, 1]) would be meaningless."""
    inp = as_input(net, x, full=True).detach()
    pixels = net.pixels(inp, clamp=False)
    outside = float(torch.maximum(-pixels, pixels - 1).max())
    if outside > 1e-4:
        raise ValueError(f"x must be a model input made from [0, 1] pixels (net.normalize(pixels) or "
                         f"net.preprocess(image)); its pixels reach {outside:.3g} outside [0, 1]")
    return inp, pixels.clamp(0, 1)


def _labels(net: Net, inp: torch.Tensor, target: Targets) -> torch.Tensor:
    """(N,) class indices: target for every image, one target per image, or the predictions (None)."""
    n = len(inp)
    with frozen(net), torch.no_grad():
        k = run(net, inp[:1]).shape[1]
    if target is None:
        with frozen(net), torch.no_grad():
            return run(net, inp).argmax(1)
    if isinstance(target, torch.Tensor) and target.numel() > 1 or isinstance(target, (list, tuple)):
        values = target.tolist() if isinstance(target, torch.Tensor) else list(target)
        if len(values) != n:
            raise ValueError(f"give one target per image: {n} of them; got {len(values)}")
        indices = [resolve_target(net, t) for t in values]
    else:  # one target: anything but an index, a name or a one-element tensor is resolve_target's TypeError
        indices = [resolve_target(net, cast("Target | torch.Tensor", target))] * n
    if max(indices) >= k:
        raise ValueError(f"target class index {max(indices)} is out of range; {net.name} scores {k} classes")
    return torch.tensor(indices, device=inp.device)


def _loss_gradient(net: Net, pixels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """d CE / d pixels for each image (the losses summed, so no image's gradient depends on the others)."""
    p = pixels.detach().clone().requires_grad_(True)
    with frozen(net), inplace_off(net), torch.enable_grad():
        loss = F.cross_entropy(run(net, net.normalize(p)).float(), labels, reduction="sum")
        (g,) = torch.autograd.grad(loss, p)
    return g


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return value
