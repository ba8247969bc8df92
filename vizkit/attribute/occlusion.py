"""Saliency by occlusion (Zeiler & Fergus 2014): slide a grey square over the image and watch the output.

For every position where a window x window square fits (top-left corner at (i * stride, j * stride)),
the square is filled with one colour and the network is run again; the class probability (or a
unit's activation) at each position forms a map. Where covering the image makes the probability
fall is where the evidence was. Occluded copies are run in batches; occlusion_scan is the one core
every variant goes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from .._types import Callback, ImageLike, Position, Size, Target
from ..hooks import frozen, record
from ._units import check_channel, one_input, pick_unit

if TYPE_CHECKING:
    from ..nets import Net


def _size(v, what: str) -> tuple[int, int]:
    pair = (v, v) if not isinstance(v, (tuple, list)) else tuple(v)
    if len(pair) != 2 or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in pair):
        raise ValueError(f"{what} must be a positive integer or an (h, w) pair of them; got {v!r}")
    if min(pair) < 1:
        raise ValueError(f"{what} must be at least 1; got {v!r}")
    return int(pair[0]), int(pair[1])


def grid_shape(image_size, window: Size, stride: Size) -> tuple[int, int]:
    """(h, w) of the occlusion map: ((H - window) // stride + 1, (W - window) // stride + 1)."""
    win, st = _size(window, "window"), _size(stride, "stride")
    H, W = image_size
    if win[0] > H or win[1] > W:
        raise ValueError(f"window {window!r} is larger than the {H}x{W} image; use at most {min(H, W)}")
    return (H - win[0]) // st[0] + 1, (W - win[1]) // st[1] + 1


def fill_value(net: Net, fill: float | str) -> torch.Tensor:
    """(C,) model-input value of the occluder: "mean" is the dataset's mean colour (0 in model input),
    a number is a pixel value in [0, 1]."""
    if isinstance(fill, str):
        if fill != "mean":
            raise ValueError(f"fill must be 'mean' or a pixel value in [0, 1]; got {fill!r}")
        return torch.zeros(net.channels)
    if isinstance(fill, bool) or not isinstance(fill, (int, float)) or not 0 <= fill <= 1:
        raise ValueError(f"fill must be 'mean' or a pixel value in [0, 1]; got {fill!r}")
    return torch.tensor([(fill - m) / s for m, s in zip(net.mean, net.std)])


def occlusion_scan(net: Net, x: ImageLike, window: Size, stride: Size, fill: float | str, forward,
                   batch_size: int | None = None, progress: bool = True,
                   desc: str = "occlusion", callback: Callback | None = None) -> torch.Tensor:
    """(h, w, ...) of forward((B, C, H, W) occluded inputs) -> (B, ...), one entry per window position.

    The model is left as found; forward runs under no_grad with the model in eval mode. batch_size
    occluded copies go through the model at once (None: as many as fit in about 16 MB of input).
    callback(done, total), if given, is called after every batch (for a panel's progress bar).
    """
    inp = one_input(net, x)
    h, w = grid_shape(inp.shape[2:], window, stride)
    win, st = _size(window, "window"), _size(stride, "stride")
    if batch_size is None:  # about 16 MB of input per batch: 27 ImageNet images, 256 Fashion-MNIST ones
        batch_size = max(1, min(256, 2**22 // inp[0].numel()))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer (None: chosen by image size); got {batch_size!r}")
    value = fill_value(net, fill).to(inp).view(1, -1, 1, 1)
    corners = [(i * st[0], j * st[1]) for i in range(h) for j in range(w)]
    outs = []
    with frozen(net), torch.no_grad(), tqdm(total=len(corners), desc=desc, unit="window", disable=not progress,
                                            mininterval=0.5) as bar:
        for start in range(0, len(corners), batch_size):
            chunk = corners[start:start + batch_size]
            batch = inp.repeat(len(chunk), 1, 1, 1)
            for b, (top, left) in enumerate(chunk):
                batch[b, :, top:top + win[0], left:left + win[1]] = value[0]
            outs.append(forward(batch).float().cpu())
            bar.update(len(chunk))
            if callback is not None:
                callback(start + len(chunk), len(corners))
    out = torch.cat(outs)
    return out.reshape(h, w, *out.shape[1:])


def occlusion_probs(net: Net, x: ImageLike, window: Size, stride: Size, fill: float | str = "mean",
                    batch_size: int | None = None, progress: bool = True,
                    callback: Callback | None = None, approximate: bool = False, **approximation) -> torch.Tensor:
    """(K, h, w) softmax probability of every class with the window at each position of x (a model input).

    .argmax(0) is Zeiler & Fergus's map of the most probable label (their Fig. 7e). Computed incrementally
    (incremental.py, after Krypton: the same numbers as running every occluded image, for chains of layers;
    other graphs run every image); approximate=True adds adaptive drill-down, tuned by the keywords
    threshold, coarse and tolerance of incremental.incremental_scan.
    """
    from .incremental import incremental_probs  # it builds on this module

    return incremental_probs(net, x, window, stride, fill, batch_size, progress, callback, approximate=approximate,
                             **approximation)


def occlusion(net: Net, x: ImageLike, target: Target, window: Size, stride: Size, fill: float | str = "mean",
              batch_size: int | None = None,
              progress: bool = True, approximate: bool = False, **approximation) -> torch.Tensor:
    """(h, w) softmax probability of class target with a window x window square at (i * stride, j * stride).

    h = (H - window) // stride + 1 (w likewise); fill: "mean" (the dataset's mean colour, 0 in model
    input) or a pixel value in [0, 1]. window and stride may also be (h, w) pairs. Exact and incremental
    by default; approximate=True: a faster map by adaptive drill-down (see incremental.py; the keywords
    threshold, coarse and tolerance tune it).
    """
    from .incremental import incremental_occlusion

    return incremental_occlusion(net, x, target, window, stride, fill, batch_size, progress, approximate=approximate,
                                 **approximation)


def occlusion_activation(net: Net, x: ImageLike, layer: str, channel: int, window: Size, stride: Size,
                         fill: float | str = "mean", position: Position = None,
                         total: bool = False, batch_size: int | None = None, progress: bool = True) -> torch.Tensor:
    """(h, w) activation of one unit with the window at each position of x, a model input (the unit chosen
    on the unoccluded image: position=None is the channel's strongest position); total=True gives the channel's summed
    activation instead, as in Zeiler & Fergus's Fig. 7b."""
    if total and position is not None:
        raise ValueError("total=True sums the whole channel: leave position=None")
    inp = one_input(net, x)
    with frozen(net), torch.no_grad(), record(net, layer, stop=True) as rec:
        rec.forward(inp)
        a = rec[layer]
        unit = check_channel(a, layer, channel) if total else pick_unit(a, layer, channel, position)
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

    return occlusion_scan(net, inp, window, stride, fill, forward, batch_size, progress,
                          desc=f"occlusion {layer}")


def to_pixels(grid: torch.Tensor, window: Size, stride: Size, image_size) -> torch.Tensor:
    """(h, w) per-window-position values -> (H, W): each pixel gets the mean over the windows covering
    it (0 where none does), so an occlusion map can be compared pixel by pixel with other maps."""
    win, st = _size(window, "window"), _size(stride, "stride")
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


