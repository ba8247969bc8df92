"""DeepDream (Mordvintsev, Olah & Tyka 2015): ask the network to enhance whatever it detects.

Gradient ascent on the image for a layer's L2 (half the mean squared activation, or one channel's),
with steps normalised by the gradient's mean absolute value and a random shift (jitter) every step.
It works on an image pyramid, from small to large ("octaves"): each octave starts from the image
resized to its scale plus the detail the smaller octaves added, so large patterns form at the small
scales and fine ones at the large scale.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .. import _check
from .._types import ImageLike
from ..hooks import NotRunError, frozen, record, resolve
from ..inspect._inputs import as_input
from ..settings import RunOptions, run_settings
from .objectives import dream
from .param import Pixels
from .render import OPTIMIZE_RUN, Result, optimize_with
from .transforms import jitter as shift

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..nets import Net


OCTAVE_SCALE = 1.4  # each octave this many times larger than the one before, as in the original code


def deepdream(net: Net, x: ImageLike, layer: str, octaves: int = 4, steps: int = 10, channel: int | None = None,
              lr: float = 0.03, jitter: int | None = None, size: int | tuple[int, int] | None = None,
              **run: Unpack[RunOptions]) -> Result:
    """Result whose image (1, C, H, W) in [0, 1] is x dreamed at `layer` (all channels, or one with channel=).

    x: a (1, C, H, W) model input (any size the layer takes) or anything net.preprocess takes.
    octaves: pyramid levels, each OCTAVE_SCALE (1.4) times smaller than the next; steps: gradient steps per
    octave, each moving pixels by lr on average; jitter: the largest random shift in pixels (default an
    eighth of each octave's smaller side, at most 32 as in the original); size: (H, W) or an int to
    resize the image to first (bilinear), e.g. to give a 28-pixel item room for the octaves.
    run: seed (of the jitter), every, callback, progress; callback(step, image, loss) sees each octave's image
    at its own scale (steps counted across octaves).
    """
    settings = run_settings(run, "deepdream", OPTIMIZE_RUN)
    callback, octave_scale = settings.callback, OCTAVE_SCALE
    inp = as_input(net, x)
    if inp.shape[0] != 1:
        raise ValueError(f"deepdream dreams one image; got a batch of {inp.shape[0]} (pass x[i:i + 1])")
    pixels = net.pixels(inp)
    if size is not None:
        pixels = _resize(pixels, _check.pair(size, "size"))
    octaves = _check.integer(octaves, "octaves", 1)
    steps = _check.integer(steps, "steps", 1)
    lr = _check.number(lr, "lr", 0, open_low=True)
    if jitter is not None:
        jitter = _check.integer(jitter, "jitter", 0)
    h, w = pixels.shape[2:]
    sizes = [(round(h / octave_scale ** i), round(w / octave_scale ** i)) for i in reversed(range(octaves))]
    index = _check_layer(net, layer, channel, sizes[0], octaves)
    objective = dream(layer, index)

    result = Result(image=pixels.clone())
    start = time.perf_counter()
    detail = torch.zeros_like(_resize(pixels, sizes[0]))
    with settings.bar(octaves * steps, f"dreaming {layer}") as bar:
        for octave, octave_size in enumerate(sizes):
            base = pixels if octave_size == (h, w) else _resize(pixels, octave_size)
            detail = _resize(detail, octave_size)
            d = min(max(1, min(octave_size) // 8), 32) if jitter is None else min(jitter, min(octave_size) - 1)
            done = octave * steps

            def report(step, image, loss, done=done):
                if callback is not None:
                    callback(done + step, image, loss)
            part = optimize_with(net, objective, Pixels((base + detail).clamp(0, 1)), steps,
                                 settings.but(seed=settings.seed + octave, callback=report, progress=bar), lr=lr,
                                 optimizer="normalized", transforms=shift(d) if d > 0 else None)
            detail = part.image - base
            result.losses += part.losses
            for name, values in part.terms.items():
                result.terms.setdefault(name, []).extend(values)
            result.snapshots += [(done + s, image) for s, image in part.snapshots]
    result.image = part.image
    result.seconds = time.perf_counter() - start
    return result


def octaves_that_fit(net: Net, layer: str, size: tuple[int, int], most: int = 8) -> int:
    """How many octaves (at most `most`) deepdream can take at layer from an image of size (H, W): its smallest octave
    must still run up to the layer (0: not even the image itself; 1 for a model that takes one input size only)."""
    h, w = _check.pair(size, "size")
    for n in range(1, most + 1):
        try:
            _check_layer(net, layer, None, (round(h / OCTAVE_SCALE ** (n - 1)), round(w / OCTAVE_SCALE ** (n - 1))), n)
        except ValueError:
            return n - 1
    return most


def _check_layer(net: Net, layer: str, channel, smallest: tuple[int, int], octaves: int) -> int | None:
    """The channel index checked against the layer, which must give maps at the smallest octave's size."""
    resolve(net, layer)
    if min(smallest) < 1:
        raise ValueError(f"{octaves} octaves leave the smallest image {smallest[0]}x{smallest[1]} pixels: use fewer "
                         "octaves or a larger size=")
    probe = torch.zeros((1, net.channels, *smallest), device=net.device, dtype=net.dtype)
    try:
        with frozen(net), torch.no_grad(), record(net, layer, stop=True) as rec:
            rec.forward(probe)
    except NotRunError:
        raise
    except ValueError as e:
        raise ValueError(f"{layer} cannot run on the smallest octave, {smallest[0]}x{smallest[1]} pixels: use fewer "
                         f"octaves or a larger size= ({e})") from None
    a = rec[layer]
    if channel is None:
        return None
    return _check.integer(channel, "channel", 0, a.shape[1] - 1)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[2:]) == tuple(size):
        return x
    down = size[0] < x.shape[2]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=down)
