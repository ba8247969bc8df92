"""Gradient saliency (Simonyan et al. 2014), optionally smoothed (SmoothGrad, Smilkov et al. 2017).

saliency(x)[i, j] = max over colour channels c of |d logit_target / d x[c, i, j]|: how much a tiny
change of that pixel moves the class score (the pre-softmax logit, so other classes do not leak in).
SmoothGrad averages this map over copies of x with Gaussian noise added, which removes speckle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .._types import ImageLike, Target
from ._class import class_gradient
from ._units import one_input

if TYPE_CHECKING:
    from ..nets import Net


def saliency(net: Net, x: ImageLike, target: Target, smooth: int = 0, noise: float = 0.15, seed: int = 0,
             batch_size: int = 16) -> torch.Tensor:
    """(H, W) max over channels of |d logit_target / d x|, on the input grid; >= 0, unnormalised.

    smooth=n > 0 averages the map over n noisy copies (SmoothGrad), the noise's standard deviation
    being `noise` times the input's value range; `seed` makes the noise reproducible.
    """
    inp = one_input(net, x)
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 0:
        raise ValueError(f"smooth must be a number of noisy samples >= 0 (0: plain gradient); got {smooth!r}")
    if not isinstance(noise, (int, float)) or not 0 <= noise < float("inf"):
        raise ValueError(f"noise must be a finite fraction >= 0 of the input range; got {noise!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if smooth == 0:
        return class_gradient(net, inp, target)[0].abs().amax(0)
    sigma = noise * float(inp.max() - inp.min())
    gen = torch.Generator(device="cpu").manual_seed(seed)
    total = torch.zeros(inp.shape[2:], device=inp.device)
    for start in range(0, smooth, batch_size):
        n = min(batch_size, smooth - start)
        eps = torch.randn((n, *inp.shape[1:]), generator=gen).to(inp.device)
        g = class_gradient(net, inp + sigma * eps, target)
        total += g.abs().amax(1).sum(0)
    return total / smooth
