"""Layer activations (feature maps), their statistics over a dataset, and dead filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from .. import _check
from .._types import ImageLike, Images
from ..distributed import finish, share
from ..hooks import preserved, record, resolve
from ._inputs import as_input, input_batches
from .features import _count, flag, one_layer

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
    has stopped learning. Under torch.distributed each process scans its shard (vizkit.distributed).
    """
    peaks = [p["max"] for p in _scan(net, images, layer, batch_size, False, "dead_filters")]
    return torch.stack(peaks).amax(0).to(net.device) <= 0


def layer_stats(net: Net, images: Images, layer: str, batch_size: int = 256,
                progress: bool = True) -> dict[str, torch.Tensor]:
    """Per-channel statistics of a layer over every image and position: (C,) float32 "mean", "max" and
    "fraction_zero" (the share of values <= 0), as activation_stats gives for one image's maps, on the
    model's device.

    images: a (N, C, H, W) model input, a Dataset of ([0, 1] image, label) or a DataLoader. Sums run in
    float64, batch by batch in dataset order, so they do not depend on how the pass was split; under
    torch.distributed each process scans its shard and all get the same numbers (vizkit.distributed).
    """
    parts = _scan(net, images, layer, batch_size, flag(progress, "progress"), "layer_stats")
    count = sum(p["values"] for p in parts)
    stats = {"mean": torch.stack([p["sum"] for p in parts]).sum(0) / count,
             "max": torch.stack([p["max"] for p in parts]).amax(0),
             "fraction_zero": torch.stack([p["zero"] for p in parts]).sum(0).double() / count}
    return {key: value.float().to(net.device) for key, value in stats.items()}


def _scan(net: Net, images: Images, layer: str, batch_size: int, progress: bool, what: str) -> list[dict]:
    """One dict per batch, in dataset order: per channel the float64 sum, the max, the count of values <= 0,
    and the values per channel."""
    resolve(net, one_layer(layer))
    batch_size = _check.integer(batch_size, "batch_size", 1)
    n = _count(images)
    if n == 0:
        raise ValueError(f"{what} got no images (an empty dataset or tensor)")
    part = share(images, n, batch_size, what, model=net, layer=layer)

    def scan() -> list[dict]:
        found = []
        with preserved(net), record(net, [layer], stop=True) as out:
            net.model.eval()
            bar = tqdm(total=len(part.span), desc=f"{what} {layer}", unit="img", mininterval=0.5,
                       disable=not progress or part.rank != 0)
            with bar:
                for x in input_batches(net, part.images, batch_size, ordered=False):  # any order gives the same
                    out.forward(x)
                    a = out[layer]
                    if a.dim() < 2:
                        raise ValueError(f"layer {layer!r} gives output of shape {tuple(a.shape)}; "
                                         f"{what} needs (N, C, ...) activations")
                    _check.finite(a, f"layer {layer!r}'s output (are the model's weights finite?)")  # NaN > 0 is False
                    flat = a.transpose(0, 1).reshape(a.shape[1], -1)
                    found.append({"sum": flat.double().sum(1).cpu(), "max": flat.amax(1).cpu(),
                                  "zero": (flat <= 0).sum(1).cpu(), "values": flat.shape[1]})
                    bar.update(len(x))
        return found

    found = [batch for shard in finish(part, scan) if shard is not None for batch in shard]
    if not found:
        raise ValueError(f"{what} got no images")
    return found
