"""The field algebra behind receptive.py: a field (a local window that moves with the unit, and a global box
that every unit sees), a tensor of them (_Value: per element, its field and map position), and their unions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import reduce

import torch

Pair = tuple[int, int]


class _Refuse(Exception):
    """A reason the walk cannot follow a node; it becomes the ValueError of every layer downstream."""


def _hull(a: tuple[Pair, Pair] | None, b: tuple[Pair, Pair] | None) -> tuple[Pair, Pair] | None:
    if a is None or b is None:
        return a or b
    return ((min(a[0][0], b[0][0]), min(a[0][1], b[0][1])), (max(a[1][0], b[1][0]), max(a[1][1], b[1][1])))


@dataclass(frozen=True)
class _Field:
    """One element's field: a local window at its map position (size, stride, start per axis; None: none), a
    global box (first pixel, end) every element sees (None: none), and why the element has no fixed window
    (attention, uneven pooling; None: it has one), which pooling over every position clears."""

    size: Pair | None = None
    stride: Pair | None = None
    start: Pair | None = None
    box: tuple[Pair, Pair] | None = None
    inexact: str | None = None

    def window(self, kernel, stride, padding, dilation) -> _Field:
        if self.size is None or self.stride is None or self.start is None:
            return self
        k = [d * (kk - 1) + 1 for kk, d in zip(kernel, dilation)]
        return replace(self, size=_pair(s + (kk - 1) * st for s, kk, st in zip(self.size, k, self.stride)),
                       stride=_pair(st * s for st, s in zip(self.stride, stride)),
                       start=_pair(b - p * st for b, p, st in zip(self.start, padding, self.stride)))

    def extent(self, lo: Pair, hi: Pair) -> tuple[Pair, Pair] | None:
        """(first pixel, end) of the local windows of positions lo..hi (inclusive); None without a local part."""
        if self.size is None or self.stride is None or self.start is None:
            return None
        return (_pair(b + y * s for b, y, s in zip(self.start, lo, self.stride)),
                _pair(b + y * s + n for b, y, s, n in zip(self.start, hi, self.stride, self.size)))

    def pooled(self, span: tuple[Pair, Pair] | None) -> _Field:
        """The field of an element that draws on every position in span = (lo, hi): all of it global, exact."""
        return _Field(box=_hull(self.box, self.extent(*span) if span else None))

    def union(self, other: _Field) -> _Field:
        local = self
        if self.size is None:
            local = other
        elif other.size is not None:
            assert self.start is not None and other.start is not None and other.stride is not None
            if self.stride != other.stride:
                raise _Refuse(f"it merges branches with different strides {self.stride} and {other.stride}")
            start = _pair(min(a, b) for a, b in zip(self.start, other.start))
            end = _pair(max(a + s, b + t) for a, s, b, t in zip(self.start, self.size, other.start, other.size))
            local = replace(self, size=_pair(e - s for e, s in zip(end, start)), start=start)
        return _Field(local.size, local.stride, local.start, _hull(self.box, other.box), self.inexact or other.inexact)


def _pair(values) -> Pair:
    a, b = values
    return int(a), int(b)


INPUT = _Field((1, 1), (1, 1), (0, 0))
EMPTY = _Field()  # a constant: it sees no pixel


class _Value:
    """A tensor's elements: fields (distinct), fid (index into fields per element) and pos (y * W + x on the
    (H, W) grid, -1 where none), both shaped like the tensor (mostly broadcast views); layout: "nchw" or "nhwc"
    where pos is exactly the grid in that order, else None."""

    __slots__ = ("fields", "fid", "pos", "grid", "layout", "chan")

    def __init__(self, fields, fid, pos, grid, layout=None):
        self.fields, self.fid, self.pos, self.grid = fields, fid, pos, grid
        self.chan: tuple[int, torch.Tensor] | None = None  # (axis, channel_ids(axis)), once known
        self.layout = layout if layout is not None else _layout_of(pos, grid)

    @classmethod
    def map(cls, fields: list[_Field], ids: torch.Tensor, shape) -> _Value:
        """A fresh (N, C, H, W) map: channel c has fields[ids[c]], positions in order."""
        n, c, h, w = shape
        pos = torch.arange(h * w).view(1, 1, h, w).expand(n, c, h, w)
        value = cls(fields, ids.view(1, c, 1, 1).expand(n, c, h, w), pos, (h, w), "nchw")
        value.chan = (1, ids)
        return value

    @property
    def positional(self) -> bool:
        return any(f.size is not None for f in self.fields)

    def span(self) -> tuple[Pair, Pair] | None:
        """(lo, hi) of the positions present, inclusive; None where none."""
        if self.grid is None:
            return None
        if self.layout is not None:
            return (0, 0), (self.grid[0] - 1, self.grid[1] - 1)
        present = self.pos[self.pos >= 0]
        if present.numel() == 0:
            return None
        ys, xs = present // self.grid[1], present % self.grid[1]
        return (int(ys.min()), int(xs.min())), (int(ys.max()), int(xs.max()))

    def channel_ids(self, axis: int) -> torch.Tensor:
        """(C,) field index of each channel along axis; a _Refuse where one channel's elements differ."""
        size = self.fid.shape[axis]
        if len(self.fields) == 1:
            return torch.zeros(size, dtype=torch.long)
        if self.chan is not None and self.chan[0] == axis:
            return self.chan[1]
        fid = _compact(self.fid)
        other = [d for d in range(fid.dim()) if d != axis]
        lo, hi = fid.amin(dim=other), fid.amax(dim=other)
        if not torch.equal(lo, hi):
            raise _Refuse("its elements' fields differ along the map's positions")
        ids = lo.expand(size).contiguous()
        shape = [size if d == axis else 1 for d in range(fid.dim())]
        self.fid, self.chan = ids.view(shape).expand(self.fid.shape), (axis, ids)  # the same values, compact
        return ids


def _compact(t: torch.Tensor) -> torch.Tensor:
    """t without its broadcast copies: size 1 along every axis it is expanded over (stride 0)."""
    return t[tuple(slice(0, 1) if st == 0 and n > 1 else slice(None) for st, n in zip(t.stride(), t.shape))]


def _layout_of(pos: torch.Tensor, grid: Pair | None) -> str | None:
    if grid is None or pos.dim() != 4:
        return None
    h, w = grid
    for name, shape in (("nchw", (1, 1, h, w)), ("nhwc", (1, h, w, 1))):
        axes = (2, 3) if name == "nchw" else (1, 2)
        if (pos.shape[axes[0]], pos.shape[axes[1]]) == (h, w) and \
                torch.equal(pos, torch.arange(h * w).view(shape).expand(pos.shape)):
            return name
    return None


def _dedupe(fields: list[_Field], fid: torch.Tensor) -> tuple[list[_Field], torch.Tensor]:
    index: dict[_Field, int] = {}
    remap = [index.setdefault(f, len(index)) for f in fields]
    if len(index) == len(fields):
        return fields, fid
    if len(index) == 1:
        return list(index), torch.zeros(1, dtype=torch.long).expand(fid.shape)
    return list(index), torch.tensor(remap)[fid]


def _unions(fields: list[_Field], fid: torch.Tensor, dims: list[int]) -> tuple[list[_Field], torch.Tensor]:
    """Per element after collapsing dims (kept with size 1): the union of the fields along them."""
    kept = [1 if d in dims else n for d, n in enumerate(fid.shape)]
    if len(fields) == 1:
        return fields, torch.zeros(1, dtype=torch.long).expand(kept)
    small = _compact(fid)
    present = torch.stack([(small == k).amax(dim=dims, keepdim=True) for k in range(len(fields))], -1)
    rows, inverse = torch.unique(present.reshape(-1, len(fields)), dim=0, return_inverse=True)
    merged = [reduce(_Field.union, [fields[k] for k in row.nonzero().flatten().tolist()], EMPTY) for row in rows]
    fields, ids = _dedupe(merged, inverse.view(present.shape[:-1]))
    return fields, ids.expand(kept)


def _union_all(fields: list[_Field]) -> _Field:
    return reduce(_Field.union, fields, EMPTY)
