"""Layer activations (feature maps) and dead filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from .. import _check
from .._types import ImageLike, Images
from ..hooks import preserved, record, resolve
from ._inputs import as_input, input_batches
from .features import one_layer

if TYPE_CHECKING:
    from ..nets import Net


@torch.no_grad()
def activations(net: Net, x: ImageLike, layers: str | Sequence[str]) -> dict[str, torch.Tensor]:
    """Feature maps of one image: layer -> (C, h, w) tensor ((N, C, h, w) for a batch of N > 1).

    x: a (N, C, H, W) model input or anything net.preprocess takes; layers: a name or a list.
    Linear layers give (D,) vectors. Channels-last layers (the Linear layers inside ConvNeXt, Swin and MaxViT
    blocks give (N, H, W, C)) come channels first, (C, h, w); a ViT's tokens as (C, tokens) (see hooks.layout).
    """
    names = _check.layer_list(layers)
    for name in names:
        resolve(net, name)  # an unknown layer is a KeyError before any work
    inp = as_input(net, x)
    with preserved(net), record(net, names, stop=True) as out:
        net.model.eval()
        out.forward(inp)
    return {n: out[n][0] if len(inp) == 1 else out[n] for n in names}


def activation_stats(maps: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-channel statistics of (C, h, w) maps: mean, max, and fraction of values <= 0 (zero after ReLU)."""
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"maps must be a (C, h, w) or (C,) tensor (one image's activations); got "
                        f"{type(maps).__name__}")
    if not 1 <= maps.dim() <= 3:
        hint = " (a batch: pass maps[i] for image i)" if maps.dim() == 4 else ""
        raise ValueError(f"maps must be one image's (C, h, w) or (C,) activations; got shape {tuple(maps.shape)}{hint}")
    if maps.numel() == 0:
        raise ValueError(f"maps are empty: shape {tuple(maps.shape)}; every channel needs at least one value")
    if maps.is_complex() or maps.dtype == torch.bool:
        raise TypeError(f"maps must hold real activations; got dtype {maps.dtype}")
    flat = _check.finite(maps.detach().reshape(maps.shape[0], -1).float(), "maps")
    return {"mean": flat.mean(1), "max": flat.max(1).values, "fraction_zero": (flat <= 0).float().mean(1)}


@torch.no_grad()
def dead_filters(net: Net, images: Images, layer: str, batch_size: int = 256) -> torch.Tensor:
    """(C,) bool: True for channels whose output is never positive over all the images.

    images: a (N, C, H, W) model input, a Dataset of ([0, 1] image, label) or a DataLoader.
    A channel that is never positive stays zero after its ReLU, passes no gradient, and so
    has stopped learning.
    """
    resolve(net, one_layer(layer))
    batch_size = _check.integer(batch_size, "batch_size", 1)
    peak = None
    with preserved(net), record(net, [layer], stop=True) as out:
        net.model.eval()
        for x in input_batches(net, images, batch_size, ordered=False):  # the order does not matter here
            out.forward(x)
            a = out[layer]
            if a.dim() < 2:
                raise ValueError(f"layer {layer!r} gives output of shape {tuple(a.shape)}; "
                                 "dead_filters needs (N, C, ...) activations")
            _check.finite(a, f"layer {layer!r}'s output (are the model's weights finite?)")  # NaN > 0 is False
            m = a.transpose(0, 1).reshape(a.shape[1], -1).amax(1)
            peak = m if peak is None else torch.maximum(peak, m)
    if peak is None:
        raise ValueError("dead_filters got no images")
    return peak <= 0
