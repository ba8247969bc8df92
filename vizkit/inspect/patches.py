"""Maximally activating patches: for every channel of a layer, the images (and where in them) that
excite it most, found in one streaming pass, with their receptive-field crops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .features import _count, layer_outputs
from .receptive import RF, receptive_field


@dataclass
class TopPatches:
    """The k best images per channel, best first: values, indices (dataset index), ys, xs, each (C, k).

    One entry per image: its strongest position. Ties go to the lower dataset index.
    Entries an image set too small to fill hold value -inf and index -1.
    """

    values: torch.Tensor
    indices: torch.Tensor
    ys: torch.Tensor
    xs: torch.Tensor
    layer: str
    rf: RF
    dataset: object = None

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
        both = [torch.cat([getattr(self, f), getattr(other, f)], 1) for f in ("values", "indices", "ys", "xs")]
        merged = _best(*both, max(self.k, other.k))
        return TopPatches(*merged, self.layer, self.rf, self.dataset if self.dataset is not None else other.dataset)

    def boxes(self, channel: int) -> np.ndarray:
        """(k, 4) input-pixel boxes (top, left, bottom, right), bottom/right exclusive, unclipped."""
        self._check(channel)
        return torch.stack(self.rf.box(self.ys[channel], self.xs[channel]), 1).numpy()

    def crops(self, channel: int, dataset=None) -> np.ndarray:
        """(k, size_h, size_w, C) image patches under each entry's receptive field, in [0, 1];
        the part of a field outside its image (clipped at the border) is NaN, drawn as blank."""
        self._check(channel)
        data = dataset if dataset is not None else self.dataset
        if data is None:
            raise ValueError("crops needs the dataset the patches came from (pass dataset=)")
        sh, sw = self.rf.size
        out = [crop_box(data[idx][0], box) for idx, box in zip(self.indices[channel].tolist(), self.boxes(channel))
               if idx >= 0]
        return np.stack(out) if out else np.zeros((0, sh, sw, 1), np.float32)

    def _check(self, channel):
        c = self.values.shape[0]
        if not isinstance(channel, (int, np.integer)) or not 0 <= channel < c:
            raise ValueError(f"channel must be an integer in [0, {c - 1}]; got {channel!r}")


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


def _best(values, indices, ys, xs, k):
    """Keep the k largest values per row, ties broken by lower index; -inf fillers last."""
    big = torch.iinfo(torch.int64).max
    key_index = torch.where(indices < 0, torch.full_like(indices, big), indices)
    order = torch.argsort(key_index, dim=1, stable=True)
    values, indices, ys, xs = (t.gather(1, order) for t in (values, indices, ys, xs))
    order = torch.argsort(values, dim=1, descending=True, stable=True)[:, :k]
    return tuple(t.gather(1, order) for t in (values, indices, ys, xs))


def _global_indices(images, n: int) -> torch.Tensor:
    """Dataset indices of the images as the whole dataset numbers them (Subset -> parent's indices)."""
    if isinstance(images, torch.utils.data.Subset):
        return torch.as_tensor(list(images.indices), dtype=torch.int64)
    return torch.arange(n)


def top_patches(net, images, layer: str, k: int = 9, batch_size: int = 256, progress: bool = True) -> TopPatches:
    """For each channel of a conv layer, the k images whose strongest position is highest.

    images: a Dataset of ([0, 1] image, label) (a Subset keeps its parent's indices), a DataLoader
    or a (N, C, H, W) model input. One streaming pass; memory O(k x channels) beyond a batch.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    n = _count(images)
    if n == 0:
        raise ValueError("top_patches got no images")
    rf = receptive_field(net, layer)
    ids = _global_indices(images, n)
    best, seen = None, 0
    for a in layer_outputs(net, images, layer, batch_size, progress, desc=f"top patches {layer}"):
        if a.dim() != 4:
            raise ValueError(f"layer {layer!r} gives {tuple(a.shape[1:])} outputs, not maps; "
                             "top_patches needs a convolutional layer")
        b, c, h, w = a.shape
        flat = a.float().reshape(b, c, h * w)
        vals, pos = flat.max(dim=2)  # first position of the maximum
        batch_ids = ids[seen:seen + b].view(b, 1).expand(b, c)
        cand = (vals.T, batch_ids.T.contiguous(), (pos // w).T, (pos % w).T)
        if best is None:
            filler = (torch.full((c, k), -torch.inf), torch.full((c, k), -1, dtype=torch.int64),
                      torch.zeros((c, k), dtype=torch.int64), torch.zeros((c, k), dtype=torch.int64))
            best = filler
        best = _best(*(torch.cat([o, nw], 1) for o, nw in zip(best, cand)), k)
        seen += b
    dataset = images.dataset if isinstance(images, (torch.utils.data.Subset, torch.utils.data.DataLoader)) else (
        images if isinstance(images, torch.utils.data.Dataset) else None)
    return TopPatches(*best, layer, rf, dataset)
