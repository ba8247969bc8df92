"""Occlusion by brute force: every occluded copy of the image runs through the whole network.

The reference every faster occlusion is tested against (incremental.py is exact for chains of layers)
and the fallback for graphs it cannot run. Positions: the window's top-left corner at
(i * stride, j * stride) wherever the window lies inside the image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from .. import _check
from .._types import ImageLike, Size
from ..hooks import frozen
from ..settings import RunOptions, RunSettings, run_settings
from ._units import one_input

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..nets import Net

SCAN_RUN = ("batch_size", "progress", "callback")  # the RunSettings an occlusion scan reads


def grid_shape(image_size: Sequence[int], window: Size, stride: Size) -> tuple[int, int]:
    """(h, w) of the occlusion map: ((H - window) // stride + 1, (W - window) // stride + 1)."""
    win, st = _check.pair(window, "window"), _check.pair(stride, "stride")
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


def occlusion_scan(net: Net, x: ImageLike, window: Size, stride: Size, fill: float | str,
                   forward: Callable[[torch.Tensor], torch.Tensor], desc: str = "occlusion",
                   **run: Unpack[RunOptions]) -> torch.Tensor:
    """(h, w, ...) of forward((B, C, H, W) occluded inputs) -> (B, ...), one entry per window position.

    The model is left as found; forward runs under no_grad with the model in eval mode. run: batch_size occluded
    copies go through the model at once (None: as many as fit in about 16 MB of input); progress; callback(done,
    total), if given, is called after every batch (for a panel's progress bar).
    """
    return brute_force(net, x, window, stride, fill, forward, run_settings(run, "occlusion_scan", SCAN_RUN), desc)


def brute_force(net: Net, x: ImageLike, window: Size, stride: Size, fill: float | str,
                forward: Callable[[torch.Tensor], torch.Tensor], settings: RunSettings,
                desc: str = "occlusion") -> torch.Tensor:
    """occlusion_scan() with its run settings already made."""
    inp = one_input(net, x)
    h, w = grid_shape(inp.shape[2:], window, stride)
    win, st = _check.pair(window, "window"), _check.pair(stride, "stride")
    # about 16 MB of input per batch: 27 ImageNet images, 256 Fashion-MNIST ones
    batch_size = settings.batch_size or max(1, min(256, 2**22 // inp[0].numel()))
    value = fill_value(net, fill).to(inp).view(1, -1, 1, 1)
    corners = [(i * st[0], j * st[1]) for i in range(h) for j in range(w)]
    outs = []
    with frozen(net), torch.no_grad(), settings.bar(len(corners), desc, unit="window") as bar:
        for start in range(0, len(corners), batch_size):
            chunk = corners[start:start + batch_size]
            batch = inp.repeat(len(chunk), 1, 1, 1)
            for b, (top, left) in enumerate(chunk):
                batch[b, :, top:top + win[0], left:left + win[1]] = value[0]
            outs.append(forward(batch).float().cpu())
            bar.update(len(chunk))
            if settings.callback is not None:
                settings.callback(start + len(chunk), len(corners))
    out = torch.cat(outs)
    return out.reshape(h, w, *out.shape[1:])
