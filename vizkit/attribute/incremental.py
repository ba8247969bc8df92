"""Occlusion at interactive speed: incremental inference, after Krypton (Nakandala, Kumar & Papakonstantinou,
"Incremental and Approximate Inference for Faster Occlusion-based Deep CNN Explanations", SIGMOD 2019).

Covering a window x window square changes only part of each layer's activations: the square's
*projective field* (the converse of a receptive field), which every conv or pool widens by its kernel
and stride. Brute force (occlusion.py) runs the whole network again for every window position; this
engine runs the unoccluded image once, keeps every layer's activation, and then, for a batch of
window positions and layer by layer, recomputes only a box around each position's projective field:
the box's input is cut out of the unoccluded activation (padded as the layer pads: zeros for conv,
-inf for max-pool) with the changed values of the layer below patched in. Positions are batched by
the size of their boxes (the image's borders clip them). At the first layer that cannot be cropped
(flatten, linear), the boxes are written into copies of the unoccluded activation and the rest of the
network runs on whole maps. Exact: the same numbers as brute force, to float precision. It needs a
chain of layers (fashion-cnn, AlexNet, VGG: conv, ReLU and friends, max / avg / adaptive pools,
batch-norm and dropout in eval mode, flatten, linear); other graphs (ResNet's skip connections) fall
back to brute force, with a warning.

approximate=True adds Krypton's two approximations:
  adaptive drill-down: the map is computed on a grid `coarse` times sparser first; each cell of that
    grid gets its midpoints computed, and where they stray from bilinear interpolation between the
    cell's corners by more than `tolerance` of the map's range, its quarters are refined the same way,
    down to the full stride; elsewhere the map is filled bilinearly;
  projective-field thresholding (threshold=, off by default): a box stops growing at `threshold` of
    its map's side (centred on the field), so the deep layers recompute a fixed part of their maps and
    what the occluder changes further out is dropped. Off by default: on fashion-cnn, whose deep maps are
    7 x 7 and 3 x 3, it changes the map a lot (tests/test_incremental.py); benchmarks/occlusion.py --sweep
    compares it with drill-down on any network (on a large trained one, try 0.5).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import _check
from .._types import ImageLike, Size, Target
from ..hooks import frozen, resolve_target, run
from ..settings import RunOptions, RunSettings, run_settings
from ._chain import NotAChain, trace_chain
from ._units import one_input
from .scan import SCAN_RUN, brute_force, fill_value, grid_shape

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..nets import Net

# Layers that act on each position separately (in eval mode): a box of their input gives the same box out.
POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
             nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Identity,
             nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.LocalResponseNorm)


# --------------------------------------------------------------------------- geometry of one layer

@dataclass(frozen=True)
class Axis:
    """One spatial axis of a conv or pool: kernel, stride, dilation, padding before, input and output lengths."""

    k: int
    s: int
    d: int
    p: int
    n_in: int
    n_out: int

    @property
    def pad_after(self) -> int:
        """Padding the last output's window reads past the end of the input (ceil_mode may add to it)."""
        return max(0, (self.n_out - 1) * self.s - self.p + (self.k - 1) * self.d + 1 - self.n_in)

    def grow(self, c0: np.ndarray, c1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,) changed input ranges [c0, c1) -> the output ranges [o0, o1) whose windows touch them."""
        reach = (self.k - 1) * self.d
        o0 = np.clip(-((reach - c0 - self.p) // self.s), 0, self.n_out)  # ceil((c0 + p - reach) / s)
        o1 = np.clip((c1 - 1 + self.p) // self.s + 1, 0, self.n_out)
        return o0, np.maximum(o1, o0)

    def source(self, o0: np.ndarray, size: int) -> tuple[np.ndarray, int]:
        """Start (in input coordinates, < 0 in the padding) and length of the input that outputs
        [o0, o0 + size) read."""
        return o0 * self.s - self.p, (size - 1) * self.s + (self.k - 1) * self.d + 1


def cap(o0: np.ndarray, o1: np.ndarray, n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Projective-field thresholding: ranges longer than fraction * n shrink to that length about their centre."""
    most = max(1, math.ceil(fraction * n))
    start = np.clip((o0 + o1) // 2 - most // 2, 0, max(0, n - most))
    long = o1 - o0 > most
    return np.where(long, start, o0), np.where(long, start + most, o1)


# --------------------------------------------------------------------------- the chain

class Map:
    """An unoccluded activation (1, C, H, W), padded with `value` and laid out channels-last, (Hp * Wp, C),
    so that cutting B windows out of it and patching changed values in are two gathers, whatever B."""

    def __init__(self, a: torch.Tensor, top: int = 0, bottom: int = 0, left: int = 0, right: int = 0,
                 value: float = 0.0):
        self.C, self.H, self.W = a.shape[1:]
        self.top, self.left = top, left
        padded = F.pad(a, (left, right, top, bottom), value=value) if top or bottom or left or right else a
        self.Wp = padded.shape[3]
        self.table = padded[0].permute(1, 2, 0).reshape(-1, self.C).contiguous()

    def cut(self, y0, x0, h: int, w: int, patch: torch.Tensor, py, px) -> torch.Tensor:
        """(B, C, h, w), channels-last: the windows with top-left corners (y0[b], x0[b]) (map coordinates,
        negative in the padding), with patch[b] ((B, C, ph, pw), top-left (py[b], px[b])) written over them."""
        B, _, ph, pw = patch.shape  # index arithmetic in numpy: a couple of torch calls per cut, whatever B
        y0, x0, py, px = (np.asarray(v, dtype=np.int64)[:, None, None] for v in (y0, x0, py, px))
        cells = (y0 + self.top + np.arange(h)[:, None]) * self.Wp + x0 + self.left + np.arange(w)  # (B, h, w)
        out = self.table[torch.from_numpy(cells.reshape(-1)).to(self.table.device)]  # (B * h * w, C)
        r = py - y0 + np.arange(ph)[:, None]  # (B, ph, 1): the patch's rows in window coordinates
        c = px - x0 + np.arange(pw)  # (B, 1, pw)
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)  # (B, ph, pw)
        into = (np.arange(B)[:, None, None] * (h * w) + r * w + c)[inside]
        values = patch.permute(0, 2, 3, 1).reshape(-1, self.C)
        if not inside.all():
            values = values[torch.from_numpy(np.flatnonzero(inside)).to(values.device)]
        out[torch.from_numpy(into).to(out.device)] = values
        return out.view(B, h, w, self.C).permute(0, 3, 1, 2)


@dataclass
class Step:
    """One leaf module of the chain as the engine runs it.

    kind: "conv", "max", "avg" (a box in, a box out), "point" (position by position), "skip" (an
    adaptive pool that changes nothing), "full" (run on whole maps). flatten: the model flattens the
    previous output before this layer (torch.flatten in its forward). base: this layer's input for the
    unoccluded image, as a Map (padded as the layer pads); axes: (rows, cols) geometry of a conv or pool.
    """

    name: str
    module: nn.Module
    kind: str
    flatten: bool
    in_shape: tuple
    out_shape: tuple
    base: Map | torch.Tensor | None = None  # a plain (1, C, H, W) tensor until a cut needs the Map
    axes: tuple[Axis, Axis] | None = None
    divisors: tuple[torch.Tensor, torch.Tensor] | None = None  # avg pools: per-output divisor along each axis

    def whole(self) -> Map:
        """This layer's unoccluded input as a Map (made on first use for layers that do not cut crops)."""
        if isinstance(self.base, torch.Tensor):
            self.base = Map(self.base)
        assert self.base is not None, f"{self.name}'s input is not (1, C, H, W) maps"  # the engine asks 4-D ones
        return self.base

    def apply(self, crop: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
        """(B, C, h_in, w_in) crop read by outputs starting at (rows[b], cols[b]) -> (B, C', h, w) those outputs."""
        m, axes = self.module, self.axes
        assert axes is not None, f"{self.name} is not a conv or pool step"  # only those are applied to crops
        ay, ax = axes
        if self.kind == "conv":
            assert isinstance(m, nn.Conv2d)  # _classify made it a conv step
            return F.conv2d(crop, m.weight, m.bias, (ay.s, ax.s), 0, (ay.d, ax.d), m.groups)
        if self.kind == "max":
            return F.max_pool2d(crop, (ay.k, ax.k), (ay.s, ax.s), 0, (ay.d, ax.d))
        total = F.avg_pool2d(crop, (ay.k, ax.k), (ay.s, ax.s), divisor_override=1)  # sums over each window
        assert self.divisors is not None  # _classify gives every avg step its divisors
        dy, dx = self.divisors
        h, w = total.shape[2:]
        iy = torch.as_tensor(rows, device=dy.device)[:, None] + torch.arange(h, device=dy.device)
        ix = torch.as_tensor(cols, device=dx.device)[:, None] + torch.arange(w, device=dx.device)
        return total / (dy[iy][:, None, :, None] * dx[ix][:, None, None, :])


def _avg_divisors(m: nn.AvgPool2d, ay: Axis, ax: Axis, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_out,) per axis: what each output of an AvgPool2d divides by, as PyTorch counts (the product of the two)."""
    out = []
    for a in (ay, ax):
        start = np.arange(a.n_out) * a.s - a.p
        end = np.minimum(start + a.k, a.n_in + a.p)
        if m.divisor_override:
            n = np.full(a.n_out, float(m.divisor_override) if a is ay else 1.0)
        elif m.count_include_pad:
            n = (end - start).astype(float)
        else:
            n = (np.minimum(end, a.n_in) - np.maximum(start, 0)).astype(float)
        out.append(torch.as_tensor(n, dtype=ref.dtype, device=ref.device))
    return out[0], out[1]


_M = TypeVar("_M", bound=nn.Module)


def _plain(module: nn.Module, kind: type[_M]) -> TypeGuard[_M]:
    """module is a `kind` that computes what `kind` does (a subclass may change forward: leave it whole)."""
    return isinstance(module, kind) and type(module).forward is kind.forward


def _classify(name: str, module: nn.Module, flatten: bool, base: torch.Tensor, out: torch.Tensor) -> Step:
    """The Step for a leaf module, from its (unflattened) input and its output on the unoccluded image."""
    step = Step(name, module, "full", flatten, tuple(base.shape), tuple(out.shape))
    if base.dim() == 4:
        step.base = base
    if flatten or base.dim() != 4 or out.dim() != 4:
        return step
    n_in, n_out = base.shape[2:], out.shape[2:]

    def axes(k: Sequence[int], s: Sequence[int], d: Sequence[int], p: Sequence[int]) -> tuple[Axis, Axis]:
        return Axis(k[0], s[0], d[0], p[0], n_in[0], n_out[0]), Axis(k[1], s[1], d[1], p[1], n_in[1], n_out[1])

    k: Sequence[int]
    p: Sequence[int]
    if _plain(module, nn.Conv2d) and module.padding_mode == "zeros":
        k, s, d = module.kernel_size, module.stride, module.dilation
        if isinstance(module.padding, str):  # "valid", or "same" (the odd extra on the far side, as PyTorch pads)
            p = (0, 0) if module.padding == "valid" else tuple(d[i] * (k[i] - 1) // 2 for i in range(2))
        else:
            p = module.padding
        step.kind, geometry, pad = "conv", axes(k, s, d, p), 0.0
    elif _plain(module, nn.MaxPool2d) and not module.return_indices:
        k, s, d, p = (_check.pair(v, name, low) for v, name, low in (
            (module.kernel_size, "kernel_size", 1), (module.stride or module.kernel_size, "stride", 1),
            (module.dilation, "dilation", 1), (module.padding, "padding", 0)))
        step.kind, geometry, pad = "max", axes(k, s, d, p), -math.inf
    elif _plain(module, nn.AvgPool2d):
        k, s, p = (_check.pair(v, name, low) for v, name, low in (
            (module.kernel_size, "kernel_size", 1), (module.stride or module.kernel_size, "stride", 1),
            (module.padding, "padding", 0)))
        step.kind, geometry, pad = "avg", axes(k, s, (1, 1), p), 0.0
        step.divisors = _avg_divisors(module, *geometry, base)
    elif (_plain(module, nn.AdaptiveAvgPool2d) or _plain(module, nn.AdaptiveMaxPool2d)) and \
            not getattr(module, "return_indices", False) and all(a % b == 0 for a, b in zip(n_in, n_out)):
        if tuple(n_in) == tuple(n_out):
            step.kind = "skip"
            return step
        k = tuple(a // b for a, b in zip(n_in, n_out))  # equal bins: a pool with kernel = stride
        step.kind = "max" if isinstance(module, nn.AdaptiveMaxPool2d) else "avg"
        geometry, pad = axes(k, k, (1, 1), (0, 0)), (-math.inf if step.kind == "max" else 0.0)
        if step.kind == "avg":
            dy, dx = (torch.full((n,), float(kk), dtype=base.dtype, device=base.device) for n, kk in zip(n_out, k))
            step.divisors = (dy, dx)
    elif isinstance(module, POINTWISE) or (_plain(module, nn.BatchNorm2d) and not module.training
                                           and module.running_mean is not None):
        step.kind = "point"
        return step
    else:
        return step
    step.axes = geometry
    ay, ax = geometry
    step.base = Map(base, ay.p, ay.pad_after, ax.p, ax.pad_after, pad)
    return step


def trace(net: Net, inp: torch.Tensor) -> tuple[list[Step], torch.Tensor]:
    """Run the model once on inp, checking that it is a chain of leaf modules (trace_chain): (steps, model output).

    Raises NotAChain when a leaf's input is not the previous leaf's output (a skip connection, a
    functional operation in between), or the model's output is not the last leaf's.
    """
    links, out = trace_chain(net, inp)
    return [_classify(link.name, link.module, link.flatten, link.input, link.output) for link in links], out


# --------------------------------------------------------------------------- the engine

class Incremental:
    """Krypton's incremental inference for one image: run(tops, lefts) -> the model's (B, ...) outputs with a
    window x window square of fill at each (top, left), recomputing only each layer's projective field."""

    def __init__(self, net: Net, inp: torch.Tensor, window: tuple[int, int], fill: torch.Tensor):
        if inp.dim() != 4:
            raise NotAChain(f"the input is not (1, C, H, W) but {tuple(inp.shape)}")
        self.steps, output = trace(net, inp)
        self.incremental = next((i for i, s in enumerate(self.steps) if s.kind == "full"), len(self.steps))
        if not any(s.kind in ("conv", "max", "avg") for s in self.steps[:self.incremental]):
            raise NotAChain("no layer before the first unsupported one is a conv or pool")
        self.last = Map(output) if output.dim() == 4 else None  # the chain may end in maps
        self.inp, self.window = inp, window
        self.fill = fill.to(inp).view(1, -1, 1, 1)

    def boxes(self, top: np.ndarray, left: np.ndarray, threshold: float | None = None):
        """Yield (step index, changed rows (r0, r1), changed cols (c0, c1)) per conv/pool step, (N,) arrays each."""
        r, c = (top, top + self.window[0]), (left, left + self.window[1])
        for i, step in enumerate(self.steps[:self.incremental]):
            if step.axes is None:
                continue
            (ay, ax) = step.axes
            r, c = ay.grow(*r), ax.grow(*c)
            if threshold is not None:
                r, c = cap(*r, ay.n_out, threshold), cap(*c, ax.n_out, threshold)
            yield i, r, c

    def order(self, top: np.ndarray, left: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Positions sorted by their boxes' sizes (borders clip them), the deepest layer's first: a batch then holds
        positions whose boxes have about the same size, and computes little more than each needs."""
        sizes = [s for _, r, c in self.boxes(top, left, threshold) for s in (r[1] - r[0], c[1] - c[0])]
        return np.lexsort(sizes) if sizes else np.arange(len(top))  # lexsort: the last key is the first

    def run(self, top: np.ndarray, left: np.ndarray, threshold: float | None = None) -> torch.Tensor:
        """(B, ...) model output for B occluded copies, the window's top-left corner at (top[b], left[b])."""
        B, C = len(top), self.inp.shape[1]
        patch = self.fill.expand(B, C, *self.window).contiguous()  # the changed values, a box per copy...
        at = (top, left)  # ...with its top-left corner here in the current map
        boxes = {i: (r, c) for i, r, c in self.boxes(top, left, threshold)}
        for i, step in enumerate(self.steps[:self.incremental]):
            if step.kind == "point":
                patch = step.module.forward(patch)  # forward, not __call__: no user hook sees a crop
            elif step.kind != "skip":  # conv / pool: a box of outputs, from a crop of the unoccluded input, patched
                assert step.axes is not None and isinstance(step.base, Map)  # _classify gives conv / pool both
                (ay, ax), (r, c) = step.axes, boxes[i]
                h, w = max(1, int((r[1] - r[0]).max())), max(1, int((c[1] - c[0]).max()))
                rows, cols = np.minimum(r[0], ay.n_out - h), np.minimum(c[0], ax.n_out - w)
                (y0, ih), (x0, iw) = ay.source(rows, h), ax.source(cols, w)
                patch, at = step.apply(step.base.cut(y0, x0, ih, iw, patch, *at), rows, cols), (rows, cols)
        # the rest runs on whole maps: the boxes written into copies of the unoccluded activation
        base = self.steps[self.incremental].whole() if self.incremental < len(self.steps) else self.last
        assert base is not None  # a chain of conv / pool / pointwise steps only ends in maps
        zero = np.zeros(B, dtype=np.int64)
        x = base.cut(zero, zero, base.H, base.W, patch, *at)
        for step in self.steps[self.incremental:]:
            x = step.module(x.flatten(1) if step.flatten else x)
        return x

    def check(self, net: Net, top: int, left: int) -> None:
        """Raise NotAChain unless run() agrees with the model itself on one occluded copy: a last guard against
        an operation the trace cannot see (one that happens to change nothing on the unoccluded image)."""
        y = self.inp.clone()
        y[0, :, top:top + self.window[0], left:left + self.window[1]] = self.fill[0]
        ref, got = run(net, y), self.run(np.array([top]), np.array([left]))
        if got.shape != ref.shape or not torch.allclose(got, ref, rtol=1e-3, atol=1e-4 * float(ref.abs().max())):
            raise NotAChain("its output on an occluded copy differs from the layer-by-layer computation")


# --------------------------------------------------------------------------- adaptive drill-down

def drill_down(evaluate, h: int, w: int, coarse: int, tolerance: float) -> np.ndarray:
    """(h, w, D) map from evaluate(rows, cols) -> (N, D) values at grid points, computed exactly on a grid
    coarse times sparser than the full one and refined where it matters (Krypton's adaptive drill-down).

    Each cell of the sparse grid gets its edge midpoints and centre evaluated; where all five agree with
    bilinear interpolation from the cell's corners to within tolerance x the map's range (per output, the
    largest), its four quarters are final and filled bilinearly; elsewhere each quarter is refined the
    same way, down to single steps.
    """
    known: dict[tuple[int, int], np.ndarray] = {}

    def fetch(points):
        todo = sorted({p for p in points if p not in known})
        if todo:
            rows, cols = (np.array(a, dtype=np.int64) for a in zip(*todo))
            for p, v in zip(todo, evaluate(rows, cols)):
                known[p] = v

    def lines(n):  # every coarse-th grid line, and the last one
        return sorted(set(range(0, n, coarse)) | {n - 1})

    def halves(a, b):  # a cell's side [a, b] split in two (a side of one step stays whole)
        m = (a + b) // 2
        return [(a, m), (m, b)] if b - a > 1 else [(a, b)]

    def bilinear(cell, r, c):  # the value at (r, c) interpolated from the cell's four corners
        r0, r1, c0, c1 = cell
        ty, tx = (r - r0) / max(r1 - r0, 1), (c - c0) / max(c1 - c0, 1)
        a, b, cc, d = (known[(y, x)] for y in (r0, r1) for x in (c0, c1))
        return (a * (1 - tx) + b * tx) * (1 - ty) + (cc * (1 - tx) + d * tx) * ty

    R, Cl = lines(h), lines(w)
    fetch([(r, c) for r in R for c in Cl])
    cells = [(r0, r1, c0, c1) for r0, r1 in (list(zip(R, R[1:])) or [(0, 0)])
             for c0, c1 in (list(zip(Cl, Cl[1:])) or [(0, 0)])]
    final = [cell for cell in cells if cell[1] - cell[0] <= 1 and cell[3] - cell[2] <= 1]
    cells = [cell for cell in cells if cell not in final]
    while cells:
        points = {cell: [(r, c) for r in {cell[0], (cell[0] + cell[1]) // 2, cell[1]}
                         for c in {cell[2], (cell[2] + cell[3]) // 2, cell[3]}] for cell in cells}
        fetch([p for ps in points.values() for p in ps])
        values = np.stack(list(known.values()))
        spread = max(float((values.max(0) - values.min(0)).max()), 1e-30)
        refine: list[tuple[int, int, int, int]] = []
        for cell, ps in points.items():
            error = max(float(np.abs(known[p] - bilinear(cell, *p)).max()) for p in ps)
            quarters = [(a, b, c, d) for a, b in halves(*cell[:2]) for c, d in halves(*cell[2:])]
            for q in quarters:
                small = q[1] - q[0] <= 1 and q[3] - q[2] <= 1
                (final if error <= tolerance * spread or small else refine).append(q)
        cells = refine
    out = np.zeros((h, w, len(next(iter(known.values())))))
    for r0, r1, c0, c1 in final:  # bilinear between the four corners
        ty = (np.arange(r0, r1 + 1) - r0) / max(r1 - r0, 1)
        tx = (np.arange(c0, c1 + 1) - c0) / max(c1 - c0, 1)
        a, b, cc, d = (known[(r, c)] for r in (r0, r1) for c in (c0, c1))
        top = a[None] * (1 - tx)[:, None] + b[None] * tx[:, None]  # (nx, D)
        bottom = cc[None] * (1 - tx)[:, None] + d[None] * tx[:, None]
        out[r0:r1 + 1, c0:c1 + 1] = top[None] * (1 - ty)[:, None, None] + bottom[None] * ty[:, None, None]
    for (r, c), v in known.items():
        out[r, c] = v
    return out


# --------------------------------------------------------------------------- the public functions

def _default_batch(engine: Incremental, budget: int = 2**22) -> int:
    """Positions per batch: about budget elements (16 MB of float32) in the largest tensor of one batch."""
    top, left = np.array([engine.inp.shape[2] // 2]), np.array([engine.inp.shape[3] // 2])
    largest = engine.inp[0].numel()
    boxes = {i: (r, c) for i, r, c in engine.boxes(top, left)}
    for i, s in enumerate(engine.steps):
        if i in boxes:
            assert s.axes is not None  # boxes() has only the steps with axes
            (r, c), (ay, ax) = boxes[i], s.axes
            largest = max(largest, s.in_shape[1] * ay.source(r[0], int((r[1] - r[0])[0]))[1]
                          * ax.source(c[0], int((c[1] - c[0])[0]))[1])
        elif s.kind == "full" or i >= engine.incremental:
            largest = max(largest, math.prod(s.in_shape[1:]))
    return max(1, min(1024, budget // largest))


@dataclass(frozen=True)
class Approximation:
    """Krypton's approximations for occlusion maps (approximate=Approximation(...); approximate=True takes these
    defaults): adaptive drill-down from a grid `coarse` times sparser (None: the largest power of two that keeps
    the sparse grid's spacing within a window, so that no pixel escapes every sparse window), refining the cells
    whose midpoints stray from bilinear interpolation by more than `tolerance` of the map's range; and, if
    threshold is given, projective-field thresholding at that fraction of each map's side."""

    threshold: float | None = None
    coarse: int | None = None
    tolerance: float = 0.08

    def __post_init__(self):
        if self.threshold is not None:
            _check.number(self.threshold, "threshold (a fraction of each map's side; None: off)", 0, 1,
                          open_low=True)
        _check.number(self.tolerance, "tolerance (a fraction of the map's range)", 0)
        if self.coarse is not None:
            _check.integer(self.coarse, "coarse (how many times sparser the first grid is)", 1)

    def coarse_for(self, win: tuple[int, int], st: tuple[int, int]) -> int:
        """The drill-down's coarse factor for this window and stride."""
        if self.coarse is not None:
            return self.coarse
        return 2 ** int(math.log2(max(1, min(win[0] // st[0], win[1] // st[1]))))


def _approximate(approximate: bool | Approximation) -> Approximation | None:
    if isinstance(approximate, Approximation):
        return approximate
    if not isinstance(approximate, (bool, np.bool_)):
        raise TypeError(f"approximate must be True, False or a vk.Approximation(...); got {approximate!r}")
    return Approximation() if approximate else None


def incremental_scan(net: Net, x: ImageLike, window: Size, stride: Size, fill: float | str,
                     head: Callable[[torch.Tensor], torch.Tensor], approximate: bool | Approximation = False,
                     desc: str = "occlusion", **run: Unpack[RunOptions]) -> torch.Tensor:
    """(h, w, ...) of head((B, K) model outputs) -> (B, ...) with the window at each position: occlusion_scan with
    forward(batch) = head(net.model(batch)), computed by Krypton's incremental inference.

    run: batch_size (window positions per batch; None: chosen by the boxes' size), progress, and callback(done,
    total). approximate=True or an Approximation: see Approximation; callback's total is then h * w, an upper
    bound. Models that are not a supported chain run by brute force (occlusion_scan), with a warning.
    """
    return scan_with(net, x, window, stride, fill, head, run_settings(run, "occlusion", SCAN_RUN),
                     approximate=approximate, desc=desc)


def scan_with(net: Net, x: ImageLike, window: Size, stride: Size, fill: float | str,
              head: Callable[[torch.Tensor], torch.Tensor], settings: RunSettings, *,
              approximate: bool | Approximation = False, desc: str = "occlusion") -> torch.Tensor:
    """incremental_scan() with its run settings already made."""
    inp = one_input(net, x)
    h, w = grid_shape(inp.shape[2:], window, stride)
    win, st = _check.pair(window, "window"), _check.pair(stride, "stride")
    value = fill_value(net, fill)
    approx = _approximate(approximate)
    cut = approx.threshold if approx is not None else None
    callback = settings.callback
    with frozen(net), torch.no_grad():
        try:
            engine = Incremental(net, inp, win, value)
            engine.check(net, (h // 2) * st[0], (w // 2) * st[1])
        except NotAChain as e:
            engine, why = None, str(e)
        if engine is not None:
            size = settings.batch_size or _default_batch(engine)
            done = [0]  # windows computed so far (tqdm counts nothing when disabled)
            with settings.bar(h * w, desc, unit="window") as bar:

                def evaluate(rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
                    """(N, ...) head outputs at grid points (rows[n], cols[n]), batched by box size."""
                    top, left = rows * st[0], cols * st[1]
                    order = engine.order(top, left, cut)
                    outs = []
                    for start in range(0, len(order), size):
                        pick = order[start:start + size]
                        outs.append(head(engine.run(top[pick], left[pick], cut)).float().cpu())
                        bar.update(len(pick))
                        done[0] += len(pick)
                        if callback is not None:
                            callback(done[0], h * w)
                    return torch.cat(outs)[torch.as_tensor(np.argsort(order))]  # back in the order asked

                if approx is None:
                    rows, cols = np.divmod(np.arange(h * w), w)
                    out = evaluate(rows, cols)
                    return out.reshape(h, w, *out.shape[1:])
                shape: list[int] = []

                def flat(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
                    out = evaluate(rows, cols)
                    shape[:] = out.shape[1:]
                    return out.reshape(len(rows), -1).double().numpy()

                grid = drill_down(flat, h, w, approx.coarse_for(win, st), approx.tolerance)
                return torch.from_numpy(grid).float().reshape(h, w, *shape)
    warnings.warn(f"{getattr(net, 'name', 'this model')} is not a chain of conv / pool / pointwise / linear layers "
                  f"({why}): occlusion runs by brute force, every window through the whole network", stacklevel=3)
    return brute_force(net, inp, window, stride, fill, lambda batch: head(run(net, batch)), settings, desc)


def _softmax(logits: torch.Tensor, name: str) -> torch.Tensor:
    if logits.dim() != 2:
        raise ValueError(f"{name} gives outputs of shape {tuple(logits.shape)}, not (N, classes) scores")
    return torch.softmax(logits.float(), dim=1)


def incremental_probs(net: Net, x: ImageLike, window: Size, stride: Size, fill: float | str = "mean",
                      approximate: bool | Approximation = False, **run: Unpack[RunOptions]) -> torch.Tensor:
    """(K, h, w) softmax probability of every class with the window at each position: occlusion_probs, computed
    incrementally (approximate: see incremental_scan)."""
    return incremental_scan(net, x, window, stride, fill, lambda out: _softmax(out, net.name), approximate,
                            **run).permute(2, 0, 1)


def incremental_occlusion(net: Net, x: ImageLike, target: Target, window: Size, stride: Size,
                          fill: float | str = "mean", approximate: bool | Approximation = False,
                          **run: Unpack[RunOptions]) -> torch.Tensor:
    """(h, w) softmax probability of class target with the window at each position: occlusion(), computed
    incrementally (approximate: see incremental_scan; the drill-down follows this class's map)."""
    t = resolve_target(net, target)

    def head(out):
        probs = _softmax(out, net.name)
        if t >= probs.shape[1]:
            raise ValueError(f"target class index {t} is out of range; {net.name} scores {probs.shape[1]} classes")
        return probs[:, t]

    return incremental_scan(net, x, window, stride, fill, head, approximate, **run)
