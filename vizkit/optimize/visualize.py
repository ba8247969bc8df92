"""Images that a unit or a class likes best, made by gradient ascent from noise.

visualize_filter maximises a channel's mean activation (or one neuron's); visualize_class maximises a
class score, as Simonyan et al. (2014): score - lambda ||x||^2 from a grey image, plainly, or with the
regularisers that make the picture readable (jitter, zoom and rotation, a smoothing blur, and for
colour networks a decorrelated Fourier parametrisation: Yosinski et al. 2015, Olah et al. 2017).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .. import _check
from .._types import Position, Target
from ..hooks import frozen, record, resolve, resolve_target
from ..settings import RunOptions, run_settings
from .objectives import channel, class_logit, l2, neuron, total_variation
from .param import Fourier, Pixels
from .render import OPTIMIZE_RUN, Result, optimize_with
from .transforms import blur, compose, standard

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..nets import Net


def _start(net: Net, seed: int, noise: float = 0.05) -> torch.Tensor:
    """(1, C, H, W) on the model's device: the dataset's mean colour plus a little seeded noise, in [0, 1]."""
    gen = torch.Generator().manual_seed(_check.integer(seed, "seed"))
    mean = torch.tensor(net.mean).view(1, -1, 1, 1)
    x = (mean + noise * torch.randn((1, net.channels, *net.input_size), generator=gen)).clamp(0, 1)
    return x.to(net.device)


def _param(net: Net, parametrisation: str, seed: int):
    _check.choice(parametrisation, "parametrisation", ["pixels", "fourier"])
    if parametrisation == "pixels":
        return Pixels(_start(net, seed))
    gen = torch.Generator().manual_seed(seed)
    return Fourier((1, net.channels, *net.input_size), generator=gen, device=net.device)


def visualize_filter(net: Net, layer: str, channel_index: int, steps: int = 256, position: Position = None,
                     lr: float = 0.05, tv: float = 0.0, transforms: bool = True, parametrisation: str = "pixels",
                     **run: Unpack[RunOptions]) -> Result:
    """Result (.image (1, C, H, W) in [0, 1]) maximising one channel's mean activation (or one neuron's, with
    position=(y, x)). A channels-last layer's channels are its last axis (hooks.record moves them first).

    tv weighs a total-variation prior; transforms=True asks the image to work under small jitter, zoom and
    rotation; parametrisation: "pixels" or "fourier" (decorrelated, for colour). run: seed (of the start and
    the transforms), every, callback, progress.
    """
    settings = run_settings(run, "visualize_filter", OPTIMIZE_RUN)
    seed = settings.seed
    _, module = resolve(net, layer)
    with frozen(net), torch.no_grad(), record(net, layer, stop=True) as rec:
        rec.forward(net.normalize(_start(net, seed)))
    c = rec[layer].shape[1]
    index = _check.integer(channel_index, "channel", 0, c - 1)
    lay = rec.layouts.get(layer)
    at = None if position is None else _position(rec[layer], position, layer, lay is None or lay.grid)
    objective = channel(layer, index) if at is None else neuron(layer, index, at)
    if tv:
        objective = objective + _check.number(tv, "tv", 0) * total_variation(2.0)
    shift = standard(min(net.input_size)) if transforms else None
    return optimize_with(net, objective, _param(net, parametrisation, seed), steps, settings, lr=lr,
                         transforms=shift, desc=f"visualising {layer}[{index}]")


def visualize_class(net: Net, target: Target, steps: int = 256, regularized: bool = True, lr: float = 0.02,
                    decay: float | None = None, tv: float | None = None, blur_sigma: float | None = None,
                    **run: Unpack[RunOptions]) -> Result:
    """Result (.image (1, C, H, W) in [0, 1]) the network scores as class target (index or name), by maximising the
    logit.

    regularized=False is Simonyan et al.'s class model: logit - decay * mean((x - mean)^2) over plain
    pixels (decay 0.1 by default), which the network scores highly but which looks like noise.
    regularized=True adds jitter, zoom, rotation and a blur the network sees (blur_sigma pixels; by
    default half a pixel per 28 of image size, 0 to turn it off), a stronger decay (30) and a
    total-variation prior (tv 1), and for colour networks the decorrelated Fourier parametrisation.
    Those weights were chosen by eye on fashion-cnn; on ImageNet networks take the papers' values
    (notebook 11 says which) rather than these. Result.terms records the objective as optimised,
    i.e. on the transformed image. run: seed, every, callback, progress.
    """
    settings = run_settings(run, "visualize_class", OPTIMIZE_RUN)
    seed = settings.seed
    t = resolve_target(net, target)
    decay = (30.0 if regularized else 0.1) if decay is None else _check.number(decay, "decay", 0)
    tv = (1.0 if regularized else 0.0) if tv is None else _check.number(tv, "tv", 0)
    objective = class_logit(t)
    if decay:
        objective = objective + decay * l2(net.mean)
    if tv:
        objective = objective + tv * total_variation(2.0)
    if regularized:
        size = min(net.input_size)
        sigma = 0.5 * max(1, round(size / 28)) if blur_sigma is None else _check.number(blur_sigma, "blur_sigma", 0)
        shift = compose(standard(size), blur(sigma)) if sigma > 0 else standard(size)
        param = _param(net, "fourier" if net.channels == 3 else "pixels", seed)
    else:
        shift, param = None, Pixels(_start(net, seed, noise=0.0))
    name = net.classes[t] if t < len(net.classes) else f"class {t}"
    return optimize_with(net, objective, param, steps, settings, lr=lr, transforms=shift, desc=f"class model {name}")


def _position(activation: torch.Tensor, position: Position, layer: str, grid: bool) -> tuple[int, int]:
    if activation.dim() != 4 or not grid:
        what = tuple(activation.shape[1:]) if grid else "channels over windows or tokens, not the image grid"
        raise ValueError(f"position needs a layer with maps; {layer!r} gives {what}")
    h, w = activation.shape[2:]
    if not isinstance(position, (tuple, list)) or len(position) != 2:
        raise ValueError(f"position must be a (y, x) pair; got {position!r}")
    return (_check.integer(position[0], "position y", 0, h - 1), _check.integer(position[1], "position x", 0, w - 1))
