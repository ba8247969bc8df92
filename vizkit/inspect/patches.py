"""Maximally activating patches: for every channel of a layer, the images (and where in them) that
excite it most, found in one streaming pass, with their receptive-field crops."""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import _check
from .._types import Callback, Images
from ..distributed import finish, share
from .features import _count, flag, layers_outputs, one_layer
from .receptive import RF, channel_fields, receptive_field

if TYPE_CHECKING:
    from ..nets import Net


@dataclass
class TopPatches:
    """The k best images per channel, best first: values, indices (dataset index), ys, xs, each (C, k).

    One entry per image: its strongest position. Ties go to the lower dataset index.
    Entries an image set too small to fill hold value -inf and index -1.
    scanned: (M,) int64 dataset indices of every image searched (None where unknown); merge uses it
    to refuse overlapping shards.
    rf: the layer's local receptive field, the window that shapes a unit's response (a globally pooled branch,
    as in squeeze-and-excitation, reaches every unit but only rescales its channel, so the crop leaves it out);
    channel_rfs: each channel's own, where they differ (after a concatenation); field(channel) picks.
    """

    values: torch.Tensor
    indices: torch.Tensor
    ys: torch.Tensor
    xs: torch.Tensor
    layer: str
    rf: RF
    dataset: Dataset | None = None
    scanned: torch.Tensor | None = None
    channel_rfs: tuple[RF, ...] | None = None

    def field(self, channel: int) -> RF:
        """The receptive field of the channel's units: its own (after a concatenation) or the layer's."""
        self._check(channel)
        return self.rf if self.channel_rfs is None else self.channel_rfs[channel]

    @property
    def k(self) -> int:
        return self.values.shape[1]

    def merge(self, other: TopPatches) -> TopPatches:
        """The result of one pass over both datasets' images (computed on disjoint shards)."""
        if not isinstance(other, TopPatches):
            raise TypeError(f"can only merge another TopPatches; got {type(other).__name__}")
        if other.values.shape[0] != self.values.shape[0] or other.layer != self.layer:
            raise ValueError(f"cannot merge results of different layers or channel counts: {self.layer} "
                             f"{tuple(self.values.shape)} and {other.layer} {tuple(other.values.shape)}")
        if other.k != self.k:
            raise ValueError(f"cannot merge results with different k ({self.k} and {other.k}): the smaller one lacks "
                             f"the entries the merged list needs; search every shard with the same k")
        if tuple(other.rf) != tuple(self.rf) or other.channel_rfs != self.channel_rfs:
            raise ValueError(f"cannot merge results with different receptive fields ({self.rf} and {other.rf}): "
                             f"they come from different networks")
        if self.dataset is not None and other.dataset is not None and self.dataset is not other.dataset:
            raise ValueError(f"cannot merge results over different datasets ({_name(self.dataset)} and "
                             f"{_name(other.dataset)}): their indices number different images; search "
                             f"torch.utils.data.Subset shards of one dataset")
        common = _overlap(self, other)
        if len(common):
            raise ValueError(f"cannot merge overlapping shards: {len(common)} dataset indices were searched in both "
                             f"(e.g. {common[:5].tolist()}), and their images would count twice; merge results of "
                             f"disjoint Subsets of one dataset")
        values, indices, ys, xs = (torch.cat([getattr(self, f), getattr(other, f)], 1)
                                   for f in ("values", "indices", "ys", "xs"))
        merged = _best(values, indices, ys, xs, self.k)
        scanned = None if self.scanned is None or other.scanned is None else torch.cat([self.scanned, other.scanned])
        return TopPatches(*merged, self.layer, self.rf, self.dataset if self.dataset is not None else other.dataset,
                          scanned, self.channel_rfs)

    def boxes(self, channel: int) -> np.ndarray:
        """(k, 4) input-pixel boxes (top, left, bottom, right), bottom/right exclusive, unclipped."""
        return torch.stack(self.field(channel).box(self.ys[channel], self.xs[channel]), 1).numpy()

    def mean_crop(self, channel: int, dataset: Dataset | None = None) -> np.ndarray:
        """(size_h, size_w, C) mean of the channel's crops, NaN where no crop lies inside its image."""
        crops = self.crops(channel, dataset)
        inside = ~np.isnan(crops)
        total = np.where(inside, crops, 0.0).sum(0)
        count = inside.sum(0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)

    def crops(self, channel: int, dataset: Dataset | None = None) -> np.ndarray:
        """(k, size_h, size_w, C) image patches under each entry's receptive field, in [0, 1];
        the part of a field outside its image (clipped at the border) is NaN, drawn as blank."""
        self._check(channel)
        data = dataset if dataset is not None else self.dataset
        if data is None:
            raise ValueError("crops needs the dataset the patches came from (pass dataset=)")
        if isinstance(data, torch.utils.data.DataLoader):
            data = data.dataset
        indices = self.indices[channel].tolist()
        top = max(indices, default=-1)
        size = _check.length(data)
        if size is None:
            raise TypeError(f"dataset must be a Dataset of ([0, 1] image, label) items; got {type(data).__name__}")
        if top >= size:
            raise ValueError(f"dataset holds {size} items but the patches come from dataset index {top}: pass the "
                             f"dataset the patches were searched in (dataset=)")
        sh, sw = self.field(channel).size
        out = [crop_box(_item_image(data[idx], idx), box) for idx, box in zip(indices, self.boxes(channel))
               if idx >= 0]
        return np.stack(out) if out else np.zeros((0, sh, sw, 1), np.float32)

    def _check(self, channel):
        _check.integer(channel, "channel", 0, self.values.shape[0] - 1)


def _name(dataset: Dataset) -> str:
    kind = type(dataset).__name__
    return f"{kind} of {len(dataset)} items" if isinstance(dataset, Sized) else kind


def _overlap(a: TopPatches, b: TopPatches) -> torch.Tensor:
    """Dataset indices searched by both results: by .scanned where known, else by the images they list."""
    seen_a = a.scanned if a.scanned is not None else a.indices[a.indices >= 0]
    seen_b = b.scanned if b.scanned is not None else b.indices[b.indices >= 0]
    return torch.unique(seen_a[torch.isin(seen_a, seen_b)])


def _item_image(item, index: int) -> torch.Tensor:
    """A dataset item's (C, H, W) image of [0, 1] pixels (an item is (image, label) or the image alone)."""
    image = item[0] if isinstance(item, (tuple, list)) else item
    what = f"dataset item {index}'s image"
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{what} must be a (C, H, W) tensor of [0, 1] pixels; got {type(image).__name__}")
    if image.dim() != 3:
        raise ValueError(f"{what} must be a (C, H, W) tensor of [0, 1] pixels; got shape {tuple(image.shape)}")
    return _check.pixels(image, what)


def crop_box(image, box) -> np.ndarray:
    """(C, H, W) image and a (top, left, bottom, right) box, end-exclusive -> (h, w, C) float32 crop,
    NaN where the box leaves the image."""
    img = torch.as_tensor(image).detach().float().cpu()
    top, left, bottom, right = (int(v) for v in box)
    c, h, w = img.shape
    patch = np.full((bottom - top, right - left, c), np.nan, dtype=np.float32)
    t, lft, b, r = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    if b > t and r > lft:
        patch[t - top:b - top, lft - left:r - left] = img[:, t:b, lft:r].permute(1, 2, 0).numpy()
    return patch


def _best(values: torch.Tensor, indices: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
          k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep the k largest values per row, ties broken by lower index; -inf fillers last."""
    big = torch.iinfo(torch.int64).max
    key_index = torch.where(indices < 0, torch.full_like(indices, big), indices)
    order = torch.argsort(key_index, dim=1, stable=True)
    values, indices, ys, xs = (t.gather(1, order) for t in (values, indices, ys, xs))
    order = torch.argsort(values, dim=1, descending=True, stable=True)[:, :k]
    return values.gather(1, order), indices.gather(1, order), ys.gather(1, order), xs.gather(1, order)


def _source(images: Images) -> tuple[Dataset | None, torch.Tensor]:
    """(the dataset the images are numbered in, (N,) int64 index of each image there): a Subset (also nested,
    also inside a DataLoader) gives its parent's indices; a tensor numbers its own images (dataset None)."""
    if isinstance(images, torch.utils.data.DataLoader):  # input_batches refuses one that reorders its items
        images = images.dataset
    ids = None
    while isinstance(images, torch.utils.data.Subset):
        parent = _check.length(images.dataset)
        if parent is None:
            raise TypeError(f"a Subset's dataset must have a length; got {type(images.dataset).__name__}")
        idx = torch.as_tensor(list(images.indices), dtype=torch.int64).reshape(-1)
        idx = torch.where(idx < 0, idx + parent, idx)
        ids = idx if ids is None else idx[ids]
        images = images.dataset
    if ids is None:
        ids = torch.arange(_count(images))
    return (images if isinstance(images, torch.utils.data.Dataset) else None), ids


def top_patches(net: Net, images: Images, layer: str, k: int = 9, batch_size: int = 256,
                progress: bool = True, callback: Callback | None = None) -> TopPatches:
    """For each channel of a conv layer, the k images whose strongest position is highest.

    images: a Dataset of ([0, 1] image, label) (a Subset keeps its parent's indices), a DataLoader
    or a (N, C, H, W) model input. One streaming pass; memory O(k x channels) beyond a batch.
    callback(images done, total), if given, runs after each batch (a panel's progress bar).
    Under torch.distributed each process searches its shard and all get the merged result (vizkit.distributed).
    """
    return top_patches_of(net, images, [one_layer(layer)], k, batch_size, progress, callback)[layer]


def top_patches_of(net: Net, images: Images, layers: list[str], k: int = 9, batch_size: int = 256,
                   progress: bool = True, callback: Callback | None = None) -> dict[str, TopPatches]:
    """top_patches of several layers from one pass over the images (each forward pass stops after the last of them
    to run) -> layer -> TopPatches, each exactly as top_patches gives it alone; what `python -m vizkit scan` uses."""
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function (done, total) or None; got {callback!r}")
    k = _check.integer(k, "k", 1)
    batch_size = _check.integer(batch_size, "batch_size", 1)
    progress = flag(progress, "progress")
    if not isinstance(layers, (list, tuple)) or not layers or len(set(layers)) != len(layers):
        raise TypeError(f"layers must be a non-empty list of different layer names; got {layers!r}")
    layers = [one_layer(layer) for layer in layers]
    n = _count(images)
    if n == 0:
        raise ValueError("top_patches got no images (an empty dataset or tensor)")
    dataset, ids = _source(images)
    rfs = {layer: receptive_field(net, layer, local=True) for layer in layers}
    owns = {layer: tuple(channel_fields(net, layer, local=True)) for layer in layers}
    part = share(images, n, batch_size, "top_patches", model=net, layer=layers[0] if len(layers) == 1 else layers,
                 k=k)
    Best = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

    def scan() -> dict[str, Best]:
        best: dict[str, Best] = {}
        shard_ids, m, seen = ids[part.span.start:part.span.stop], len(part.span), 0
        desc = f"top patches {', '.join(layers)}" + (f" (rank 0 of {part.size})" if part.shared else "")
        for outputs in layers_outputs(net, part.images, layers, batch_size, progress and part.rank == 0, desc=desc,
                                      callback=callback if part.rank == 0 else None):
            for layer, a in outputs.items():
                if a.dim() != 4:
                    raise ValueError(f"layer {layer!r} gives {tuple(a.shape[1:])} outputs, not maps; "
                                     "top_patches needs a convolutional layer")
                b, c, h, w = a.shape
                if seen + b > m:
                    raise ValueError(f"the data yielded more than the {n} images it says it holds")
                flat = a.float().reshape(b, c, h * w)
                vals, pos = (t.cpu() for t in flat.max(dim=2))  # first position of the maximum; kept on the CPU
                batch_ids = shard_ids[seen:seen + b].view(b, 1).expand(b, c)
                cand = (vals.T, batch_ids.T.contiguous(), (pos // w).T, (pos % w).T)
                old = best.get(layer) or (torch.full((c, k), -torch.inf), torch.full((c, k), -1, dtype=torch.int64),
                                          torch.zeros((c, k), dtype=torch.int64),
                                          torch.zeros((c, k), dtype=torch.int64))
                values, indices, ys, xs = (torch.cat([o, nw], 1) for o, nw in zip(old, cand))
                best[layer] = _best(values, indices, ys, xs, k)
            seen += len(next(iter(outputs.values())))
        if seen != m:
            raise ValueError(f"expected {n} images but the data yielded {part.span.start + seen} (a DataLoader with "
                             f"drop_last=True skips the last ones: pass drop_last=False)")
        return best

    parts = [p for p in finish(part, scan) if p is not None]
    found = {}
    for layer in layers:
        # the shards' lists merged: the k best of all candidates, ties to the lower index, as in one pass
        shards: list[Best] = [p[layer] for p in parts]
        best = shards[0]
        if len(shards) > 1:
            values, indices, ys, xs = (torch.cat(fs, 1) for fs in zip(*shards))
            best = _best(values, indices, ys, xs, k)
        own = owns[layer]
        found[layer] = TopPatches(*best, layer, rfs[layer], dataset, ids, None if len(set(own)) <= 1 else own)
    return found
