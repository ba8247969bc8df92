"""Saliency by occlusion (Zeiler & Fergus 2014): slide a grey square over the image and watch the output.

For every position where a window x window square fits (top-left corner at (i * stride, j * stride)),
the square is filled with one colour and the network is run again; the class probability (or a
unit's activation) at each position forms a map. Where covering the image makes the probability
fall is where the evidence was. The class maps are computed incrementally and exactly (incremental.py);
a unit's map, and graphs that are not chains, run every occluded copy (scan.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .. import _check
from .._types import ImageLike, Position, Size, Target
from ..hooks import frozen, record
from ..settings import RunOptions, run_settings
from ._units import check_channel, one_input, pick_unit
from .incremental import Approximation, incremental_occlusion, incremental_probs
from .scan import SCAN_RUN, brute_force, grid_shape

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..nets import Net


def occlusion_probs(net: Net, x: ImageLike, window: Size, stride: Size, fill: float | str = "mean",
                    approximate: bool | Approximation = False, **run: Unpack[RunOptions]) -> torch.Tensor:
    """(K, h, w) softmax probability of every class with the window at each position of x (a model input).

    .argmax(0) is Zeiler & Fergus's map of the most probable label (their Fig. 7e). Computed incrementally
    (incremental.py, after Krypton: the same numbers as running every occluded image, for chains of layers;
    other graphs run every image); approximate=True, or a vk.Approximation tuning it, adds adaptive drill-down.
    run: batch_size (window positions at once), progress, callback(done, total).
    """
    return incremental_probs(net, x, window, stride, fill, approximate, **run)


def occlusion(net: Net, x: ImageLike, target: Target, window: Size, stride: Size, fill: float | str = "mean",
              approximate: bool | Approximation = False, **run: Unpack[RunOptions]) -> torch.Tensor:
    """(h, w) softmax probability of class target with a window x window square at (i * stride, j * stride).

    h = (H - window) // stride + 1 (w likewise); fill: "mean" (the dataset's mean colour, 0 in model
    input) or a pixel value in [0, 1]. window and stride may also be (h, w) pairs. Exact and incremental
    by default; approximate=True, or a vk.Approximation tuning it: a faster map by adaptive drill-down (see
    incremental.py). run: batch_size, progress, callback(done, total).
    """
    return incremental_occlusion(net, x, target, window, stride, fill, approximate, **run)


def occlusion_activation(net: Net, x: ImageLike, layer: str, channel: int, window: Size, stride: Size,
                         fill: float | str = "mean", position: Position = None, total: bool = False,
                         **run: Unpack[RunOptions]) -> torch.Tensor:
    """(h, w) activation of one unit with the window at each position of x, a model input (the unit chosen
    on the unoccluded image: position=None is the channel's strongest position); total=True gives the channel's summed
    activation instead, as in Zeiler & Fergus's Fig. 7b. run: batch_size, progress, callback(done, total)."""
    settings = run_settings(run, "occlusion_activation", SCAN_RUN)
    if total and position is not None:
        raise ValueError("total=True sums the whole channel: leave position=None")
    inp = one_input(net, x)
    with frozen(net), torch.no_grad(), record(net, layer, stop=True) as rec:
        rec.forward(inp)
        a, lay = rec[layer], rec.layouts.get(layer)
        unit = check_channel(a, layer, channel) if total else pick_unit(a, layer, channel, position,
                                                                          grid=lay is None or lay.grid)
    if total and a.dim() != 4:
        raise ValueError(f"total=True needs a layer with maps; {layer!r} gives {tuple(a.shape[1:])}")

    def forward(batch):
        with record(net, layer, stop=True) as r:
            r.forward(batch)
        out = r[layer]
        if total:
            return out[:, unit].sum((1, 2))
        index = (slice(None), *unit) if isinstance(unit, tuple) else (slice(None), unit)  # out[:, *unit]
        return out[index]

    return brute_force(net, inp, window, stride, fill, forward, settings, desc=f"occlusion {layer}")


def to_pixels(grid: torch.Tensor, window: Size, stride: Size, image_size) -> torch.Tensor:
    """(h, w) per-window-position values -> (H, W): each pixel gets the mean over the windows covering
    it (0 where none does), so an occlusion map can be compared pixel by pixel with other maps."""
    win, st = _check.pair(window, "window"), _check.pair(stride, "stride")
    H, W = image_size
    h, w = grid_shape(image_size, window, stride)
    if tuple(grid.shape) != (h, w):
        raise ValueError(f"a {window}/{stride} occlusion map of a {H}x{W} image is {h}x{w}; got {tuple(grid.shape)}")
    total = torch.zeros(H, W, dtype=torch.float64)
    count = torch.zeros(H, W, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            total[i * st[0]:i * st[0] + win[0], j * st[1]:j * st[1] + win[1]] += float(grid[i, j])
            count[i * st[0]:i * st[0] + win[0], j * st[1]:j * st[1] + win[1]] += 1
    return torch.where(count > 0, total / count.clamp(min=1), torch.zeros(())).float()


