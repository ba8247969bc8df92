"""Receptive fields: which input pixels a unit of a layer can see, read off one interpreted forward pass.

Beside the real values of a blank input, the pass carries, for every element of every tensor, its map position
and its field, so permutes, reshapes, concatenations, channel shuffles and chunks are followed element by element.
A field has a local part (a window that moves with the unit) and a global part (a box every unit of the map sees:
a branch pooled over all positions, as in squeeze-and-excitation, reaches every unit). The pass runs once per
model and is cached."""

from __future__ import annotations

import functools
import operator
import sys
import weakref
from dataclasses import dataclass, replace
from functools import reduce
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import fx, nn

from .. import _check
from ..hooks import _HOOK_DICTS, preserved, resolve
from ..nets import check_net
from .features import flag

if TYPE_CHECKING:
    from ..nets import Net

Pair = tuple[int, int]
F = torch.nn.functional


class RF(NamedTuple):
    """Receptive field of a layer's units, per axis (h, w), in input pixels.

    size: extent of one unit's field; stride: step between neighbouring units' fields; start: input coordinate
    of the first pixel of unit (0, 0)'s field (negative where padding reaches outside the image). Unit (y, x) sees
    rows start[0] + y * stride[0] ... + size[0] - 1. Stride (0, 0): every unit sees the same box (the whole image,
    after global pooling, a fully connected layer, or a globally pooled branch such as squeeze-and-excitation).
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    start: tuple[int, int]

    def box(self, y: Any, x: Any) -> tuple[Any, Any, Any, Any]:
        """Unit (y, x)'s input pixels (top, left, bottom, right), end-exclusive, unclipped; y, x: ints or arrays."""
        top, left = self.start[0] + y * self.stride[0], self.start[1] + x * self.stride[1]
        return top, left, top + self.size[0], left + self.size[1]


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


# --------------------------------------------------------------------------------------------- what each op does

POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
             nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus, nn.Identity,
             nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
POINTWISE_FUNCTIONS = {torch.relu, F.relu, F.relu6, F.leaky_relu, F.elu, F.selu, F.gelu, F.silu, F.mish, F.hardswish,
                       F.hardsigmoid, F.hardtanh, F.softplus, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh,
                       F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout, F.batch_norm, torch.add, torch.sub,
                       torch.mul, torch.div, torch.true_divide, torch.where, torch.clamp, torch.abs, torch.exp,
                       torch.sqrt, torch.rsqrt, torch.pow, torch.neg, torch.erf, operator.add, operator.sub,
                       operator.mul, operator.truediv, operator.neg, operator.pow, operator.iadd, operator.isub,
                       operator.imul, operator.itruediv}
POINTWISE_METHODS = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "add", "add_", "sub", "sub_", "mul",
                     "mul_", "div", "div_", "clamp", "clamp_", "clamp_min", "clamp_max", "abs", "exp", "sqrt", "rsqrt",
                     "pow", "neg", "contiguous", "clone", "detach", "float", "double", "half", "bfloat16", "to",
                     "type", "type_as"}
LAYOUT_FUNCTIONS = {torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.swapaxes, torch.swapdims,
                    torch.movedim, torch.cat, torch.concat, torch.concatenate, torch.stack, torch.chunk, torch.split,
                    torch.tensor_split, torch.unbind, torch.squeeze, torch.unsqueeze, torch.narrow, operator.getitem}
LAYOUT_METHODS = {"view", "reshape", "permute", "transpose", "swapaxes", "swapdims", "movedim", "flatten",
                  "unflatten", "chunk", "split", "tensor_split", "unbind", "squeeze", "unsqueeze", "narrow", "expand",
                  "expand_as", "repeat", "view_as", "reshape_as"}
CONSTANT_OF = {torch.zeros_like, torch.ones_like, torch.full_like, torch.empty_like, torch.rand_like,
               torch.randn_like, "new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "size", "dim"}
MAX_POOLS = {F.max_pool2d, torch.max_pool2d}       # F.max_pool2d is a dispatcher fx records as "fn"
AVG_POOLS = {F.avg_pool2d}
ADAPTIVE_POOLS = {F.adaptive_avg_pool2d, F.adaptive_max_pool2d}
REDUCE = {torch.mean, torch.sum, torch.amax, torch.amin, torch.std, torch.var, "mean", "sum", "amax", "amin", "std",
          "var"}
SOFTMAX = {F.softmax, F.log_softmax, torch.softmax, torch.log_softmax, "softmax", "log_softmax"}
PRODUCTS = {torch.matmul, operator.matmul, torch.bmm, torch.einsum, "matmul", "bmm"}
ATTENTION = (nn.MultiheadAttention,)


@functools.cache
def _torchvision_functions() -> tuple[set, set, set]:
    """torchvision's fx-wrapped functions: (pointwise, window attention, 2x2 patch merging)."""
    pointwise, windowed, merging = set(), set(), set()
    try:
        from torchvision.ops import stochastic_depth
        pointwise.add(stochastic_depth)
        from torchvision.models import swin_transformer as swin
        windowed.add(swin.shifted_window_attention)
        merging.add(swin._patch_merging_pad)
    except (ImportError, AttributeError):  # an older or newer torchvision: these ops then refuse by name
        pass
    return pointwise, windowed, merging


def _extra_functions() -> tuple[set, set, set]:
    """The torchvision functions a model can call: none before torchvision is imported (importing it costs 2 s)."""
    return _torchvision_functions() if "torchvision" in sys.modules else (set(), set(), set())


def _name(target) -> str:
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def _arguments(node, args, kwargs, names, defaults) -> list:
    """A call's concrete arguments after its input, by position or keyword, with defaults."""
    values = dict(zip(names, args[1:]))
    values.update({k: v for k, v in kwargs.items() if k in names})
    return [values.get(n, d) for n, d in zip(names, defaults)]


def _dims(dim, rank: int) -> list[int]:
    if dim is None:
        return list(range(rank))
    dims = [dim] if isinstance(dim, int) else list(dim)
    return sorted(d % rank for d in dims)


class _Walk(fx.Interpreter):
    """Runs the traced model and, beside each tensor, its _Value (or the _Refuse that stopped it)."""

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.values: dict[fx.Node, Any] = {}
        self.summaries: dict[str, Any] = {}

    def run_node(self, n):
        result = super().run_node(n)
        try:
            value = self._value(n, result)
        except _Refuse as e:
            value = _Refuse(f"{e} (at {self._where(n)})")
        except Exception as e:  # noqa: BLE001 - whatever goes wrong becomes that node's refusal, named
            value = _Refuse(f"the walk failed at {self._where(n)} ({type(e).__name__}: {e})")
        if value is not None:
            self.values[n] = value
            self.summaries[n.name] = _summary(value)
        for dead in self.user_to_last_uses.get(n, []):
            self.values.pop(dead, None)
        return result

    def _where(self, n) -> str:
        if n.op == "call_module":
            return f"{n.target} ({type(self.submodules[n.target]).__name__})"
        what = f".{n.target}()" if n.op == "call_method" else f"{_name(n.target)}()"
        stack = list(n.meta.get("nn_module_stack", {}).values())
        return f"{what} in {stack[-1][0]}" if stack else what

    # ------------------------------------------------------------------------------------------------ dispatch
    def _value(self, n, result):
        if n.op == "placeholder":
            if not isinstance(result, torch.Tensor) or result.dim() != 4:
                return None
            return _Value.map([INPUT], torch.zeros(result.shape[1], dtype=torch.long), result.shape)
        if n.op in ("get_attr", "output") or not _has_tensor(result):
            return None
        operands = [a for a in n.all_input_nodes if a in self.values]
        if not operands:
            return None  # a constant: parameters, buffers, sizes
        for a in operands:
            if isinstance(self.values[a], _Refuse):
                return self.values[a]
        target = n.target
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        if n.op == "call_module":
            return self._module(n, self.submodules[target], result)
        if target in CONSTANT_OF:
            return None
        if target is operator.getitem and isinstance(self.values.get(n.args[0]), tuple):
            return self.values[n.args[0]][args[1]]
        if any(isinstance(self.values[a], tuple) for a in operands):
            raise _Refuse("it takes a tuple of tensors the walk cannot follow")
        v = self.values.get(n.args[0]) if n.args and isinstance(n.args[0], fx.Node) else None
        extra_pointwise, window_attention, patch_merging = _extra_functions()
        if target in POINTWISE_FUNCTIONS or target in POINTWISE_METHODS or target in extra_pointwise:
            return self._pointwise(operands, result)
        if target in LAYOUT_FUNCTIONS or target in LAYOUT_METHODS:
            return self._layout(n, result)
        if target in patch_merging:
            return self._merge_patches(self.values[n.args[0]], args[0], result)
        if isinstance(v, _Value):
            if target is F.conv2d:
                names = ["weight", "bias", "stride", "padding", "dilation", "groups"]
                weight, _, stride, pad, dil, groups = _arguments(n, args, kwargs, names, [None, None, 1, 0, 1, 1])
                return self._conv(v, result, weight.shape, stride, pad, dil, groups)
            if target in MAX_POOLS | AVG_POOLS:
                names = ["kernel_size", "stride", "padding"] + (["dilation"] if target in MAX_POOLS else [])
                k, stride, pad, *dil = _arguments(n, args, kwargs, names, [None, None, 0, 1])
                stride = k if stride is None or stride == [] or stride == () else stride
                return self._pool(v, result, k, stride, pad, dil[0] if dil else 1)
            if target in ADAPTIVE_POOLS:
                return self._adaptive(v, result, _name(target))
            if target is F.linear:
                return self._mix(v, [-1], result)
            if target is F.layer_norm:
                return self._mix(v, list(range(-len(args[1]), 0)), result)
            if target in (F.group_norm, F.instance_norm):
                return self._statistics(v, result, mix_channels=target is F.group_norm)
            if target in SOFTMAX:
                (dim,) = _arguments(n, args, kwargs, ["dim"], [None])
                return self._mix(v, [-1 if dim is None else dim], result)
            if target in REDUCE:
                (dim,) = _arguments(n, args, kwargs, ["dim"], [None])
                return self._mix(v, _dims(dim, v.fid.dim()), result)
        if target in PRODUCTS:
            if target is not torch.einsum and len(operands) == 1 and n.args[0] in operands:
                return self._mix(self.values[n.args[0]], [-1], result)  # a product with a constant: a linear map
            return self._attention(operands, result, "a product of two feature tensors, as in attention, which "
                                   "mixes positions with input-dependent weights")
        if target is F.scaled_dot_product_attention:
            return self._attention(operands, result)
        if target in window_attention:
            return self._attention(operands, result, "window attention, which mixes the positions of each (shifted) "
                                   "window with input-dependent weights: a unit's field depends on the window it "
                                   "falls in, not on a fixed sliding window")
        what = f"method .{target}()" if n.op == "call_method" else f"function {_name(target)}"
        raise _Refuse(f"receptive_field does not know how the {what} moves information across positions")

    def _module(self, n, m: nn.Module, result):
        v = self.values[n.args[0]] if n.args and n.args[0] in self.values else None
        if isinstance(m, ATTENTION):
            return self._attention([a for a in n.all_input_nodes if a in self.values], result)
        if not isinstance(v, _Value):
            raise _Refuse("its first input is not a tensor the walk follows")
        if isinstance(m, nn.Conv2d):
            return self._conv(v, result, m.weight.shape, m.stride, m.padding, m.dilation, m.groups)
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            return self._pool(v, result, m.kernel_size, m.stride if m.stride is not None else m.kernel_size,
                              m.padding, getattr(m, "dilation", 1))
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            return self._adaptive(v, result, type(m).__name__)
        if isinstance(m, nn.Linear):
            return self._mix(v, [-1], result)
        if isinstance(m, nn.LayerNorm):
            return self._mix(v, list(range(-len(m.normalized_shape), 0)), result)
        if isinstance(m, (nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d)):
            return self._statistics(v, result, mix_channels=isinstance(m, nn.GroupNorm))
        if isinstance(m, nn.LocalResponseNorm):
            return self._mix(v, [1], result)
        if isinstance(m, (nn.Softmax, nn.LogSoftmax, nn.Softmin)):
            return self._mix(v, [-1 if m.dim is None else m.dim], result)
        if isinstance(m, (nn.Flatten, nn.Unflatten)):
            return self._layout(n, result)
        if isinstance(m, POINTWISE):
            return self._pointwise([n.args[0]], result)
        raise _Refuse(f"receptive_field does not know how {type(m).__name__} moves information across positions; "
                      "it follows convolutions, pooling, linear layers, norms, pointwise layers, concatenation and "
                      "reshapes")

    # ------------------------------------------------------------------------------------------------ the ops
    def _pointwise(self, operands, result):
        """Elementwise (with broadcasting): each output element's field is the union of its operands' fields."""
        shape = result.shape
        vals = [self.values[a] for a in operands]
        if len(vals) == 1 and vals[0].fid.shape == shape:
            return vals[0]
        grids = {v.grid for v in vals if v.positional}
        if len(grids) > 1:  # a one-unit map broadcast over a larger one: its unit reaches every position
            vals = [_globalised(v) if v.positional and v.grid == (1, 1) else v for v in vals]
            grids = {v.grid for v in vals if v.positional}
            if len(grids) > 1:
                raise _Refuse(f"it combines maps of different sizes {sorted(grids)}")
        placed = [v for v in vals if v.positional] or vals[:1]
        pos = placed[0].pos.expand(shape) if placed[0].pos.shape == shape else torch.broadcast_to(placed[0].pos, shape)
        for other in placed[1:]:
            p = torch.broadcast_to(other.pos, shape)
            if p is not pos and not torch.equal(torch.where((p >= 0) & (pos >= 0), p, pos), pos):
                raise _Refuse("it combines values from different positions")
            pos = torch.maximum(pos, p)
        fields, fid = vals[0].fields, torch.broadcast_to(vals[0].fid, shape)
        for v in vals[1:]:
            if len(v.fields) == 1:
                fields = [f.union(v.fields[0]) for f in fields]
            elif len(fields) == 1:
                fields, fid = [fields[0].union(g) for g in v.fields], torch.broadcast_to(v.fid, shape)
            else:
                pairs = fid * len(v.fields) + torch.broadcast_to(v.fid, shape)
                codes, fid = torch.unique(pairs, return_inverse=True)
                fields = [fields[c // len(v.fields)].union(v.fields[c % len(v.fields)]) for c in codes.tolist()]
        fields, fid = _dedupe(fields, fid)
        layout = placed[0].layout if placed[0].pos.shape == shape and len(placed) == 1 else None
        grid = placed[0].grid
        return _Value(fields, fid, pos, grid, layout)

    def _layout(self, n, result):
        """Data movement (permute, view, cat, chunk, ...): the same op moves the fields and positions along."""
        joins = n.target in (torch.cat, torch.concat, torch.concatenate, torch.stack)
        moved = list(n.args[0]) if joins else n.args[:1]  # the rest (sizes, indices) stay as they are
        tensors = [a for a in moved if isinstance(a, fx.Node) and isinstance(self.env.get(a), torch.Tensor)]
        valued = [a for a in tensors if a in self.values]
        grids = {self.values[a].grid for a in valued if self.values[a].positional}
        if len(grids) > 1:
            raise _Refuse(f"it joins maps of different sizes {sorted(grids)}")
        grid = next(iter(grids), None) or next((self.values[a].grid for a in valued), None)
        fields: list[_Field] = []
        fids, poss = {}, {}
        for a in tensors:  # constants among the operands (a class token) get the empty field, no position
            v = self.values.get(a)
            if v is None:
                v = _Value([EMPTY], torch.zeros(1, dtype=torch.long).expand(self.env[a].shape),
                           torch.full((1,), -1).expand(self.env[a].shape), None)
            fids[a], poss[a] = (_compact(v.fid) + len(fields)).expand(v.fid.shape), v.pos
            fields += v.fields
        fid, pos = self._replay(n, fids), self._replay(n, poss)
        before = [self.values[a] for a in valued if self.values[a].layout is not None and self.values[a].positional]
        if isinstance(fid, torch.Tensor):
            out = _Value(*_dedupe(fields, fid), pos, grid)
            if before and out.layout is None and fid.dim() == 4 and out.positional:
                axes = (2, 3) if before[0].layout == "nchw" else (1, 2)
                h, w = before[0].grid
                raise _Refuse(f"it turns the {h}x{w} maps into {fid.shape[axes[0]]}x{fid.shape[axes[1]]} ones, "
                              "which moves every unit's field (only channels may be sliced or reshaped)")
            return out
        return tuple(_Value(*_dedupe(fields, f), p, grid) for f, p in zip(fid, pos))

    def _replay(self, n, swap: dict):
        """The node's own op with the index tensors in swap in place of those operands."""
        def sub(a):
            return swap[a] if a in swap else self.env[a]
        args, kwargs = fx.node.map_arg(n.args, sub), fx.node.map_arg(n.kwargs, sub)
        if n.op == "call_module":
            return self.submodules[n.target](*args, **kwargs)
        if n.op == "call_method":
            name = {"view": "reshape", "view_as": "reshape_as"}.get(n.target, n.target)
            return getattr(args[0], name)(*args[1:], **kwargs)
        return n.target(*args, **kwargs)

    def _merge_patches(self, v: _Value, x, result):
        """Swin's patch merging: (N, H, W, C) -> (N, H/2, W/2, 4C), channel block k from offset k of each 2x2 patch."""
        if any(size % 2 for size in x.shape[-3:-1]):
            raise _Refuse("it pads odd maps before merging 2x2 patches")
        if v.positional and v.layout != "nhwc":
            raise _Refuse("its input is not an (N, H, W, C) map with its positions in order")
        ids, fields = v.channel_ids(3), []
        for dy, dx in ((0, 0), (1, 0), (0, 1), (1, 1)):  # the order torchvision concatenates them in
            fields += [f.window((1, 1), (2, 2), (-dy, -dx), (1, 1)) for f in v.fields]
        fid = torch.cat([ids + k * len(v.fields) for k in range(4)])
        n, h, w, c = result.shape
        pos = torch.arange(h * w).view(1, h, w, 1).expand(n, h, w, c)
        fields, fid = _dedupe(fields, fid)
        return _Value(fields, fid.view(1, 1, 1, c).expand(n, h, w, c), pos, (h, w), "nhwc")

    def _maps_in(self, v: _Value, result) -> torch.Tensor:
        """(C,) field index per channel of an (N, C, H, W) input map."""
        if result.dim() != 4 or v.fid.dim() != 4:
            raise _Refuse(f"it takes {v.fid.dim()}-d input, not (N, C, H, W) maps")
        if v.positional and v.layout != "nchw":
            raise _Refuse("its input is not an (N, C, H, W) map with its positions in order")
        return v.channel_ids(1)

    def _conv(self, v, result, weight_shape, stride, padding, dilation, groups):
        ids = self._maps_in(v, result)
        kernel, stride, dilation = tuple(weight_shape[2:]), _check.pair(stride, "stride"), \
            _check.pair(dilation, "dilation")
        if isinstance(padding, str):
            padding = [(d * (k - 1)) // 2 if padding == "same" else 0 for k, d in zip(kernel, dilation)]
        fields = [f.window(kernel, stride, _check.pair(padding, "padding", 0), dilation) for f in v.fields]
        out_channels = result.shape[1]
        if len(fields) == 1:
            return _Value.map(fields, torch.zeros(out_channels, dtype=torch.long), result.shape)
        fields, ids = _unions(fields, ids.view(groups, -1), [1])  # each group of outputs sees its group of inputs
        return _Value.map(fields, ids.flatten().repeat_interleave(out_channels // groups), result.shape)

    def _pool(self, v, result, kernel, stride, padding, dilation):
        ids = self._maps_in(v, result)
        fields = [f.window(_check.pair(kernel, "kernel_size"), _check.pair(stride, "stride"),
                           _check.pair(padding, "padding", 0), _check.pair(dilation, "dilation")) for f in v.fields]
        return _Value.map(fields, ids, result.shape)

    def _adaptive(self, v, result, name):
        ids = self._maps_in(v, result)
        (hi, wi), (ho, wo) = v.fid.shape[2:], result.shape[2:]
        if (hi, wi) == (ho, wo):
            return v
        if (ho, wo) == (1, 1):  # global pooling: every channel sees every position
            return _Value.map([f.pooled(v.span()) for f in v.fields], ids, result.shape)
        if hi % ho == 0 and wi % wo == 0:
            k = (hi // ho, wi // wo)
            return _Value.map([f.window(k, k, (0, 0), (1, 1)) for f in v.fields], ids, result.shape)
        why = (f"{name} from {hi}x{wi} to {ho}x{wo} has uneven windows, so its units' fields differ in size (a "
               "later global pooling or linear layer sees the whole image again)")
        return _Value.map([replace(f.pooled(v.span()), inexact=why) for f in v.fields], ids, result.shape)

    def _mix(self, v, dims, result):
        """Each output element draws on all elements along dims (at its own position, unless dims hold
        positions too: then on every position)."""
        rank = v.fid.dim()
        dims = sorted(d % rank for d in dims)
        if v.grid is not None:
            marked = torch.where(v.pos >= 0, v.pos, v.pos.new_tensor(-2 ** 40))
            top, low = marked.amax(dim=dims, keepdim=True), torch.where(v.pos >= 0, v.pos, 2 ** 40).amin(
                dim=dims, keepdim=True)
            if bool(((top >= 0) & (low != top)).any()):
                return _everywhere([v], result)
            pos = torch.where(top >= 0, top, -1)
        else:
            pos = torch.full([1] * rank, -1)
        fields, fid = _unions(v.fields, v.fid, dims)
        if result.dim() == rank:
            fid, pos = fid.expand(result.shape), pos.expand(result.shape)
        else:
            fid, pos = fid.squeeze(dims).expand(result.shape), pos.squeeze(dims).expand(result.shape)
        return _Value(fields, fid, pos, v.grid if bool((pos >= 0).any()) else None)

    def _statistics(self, v, result, mix_channels):
        """Group / instance norm: the element's own value, scaled by statistics over every position."""
        out = self._mix(v, [1], result) if mix_channels else v
        span = v.span()
        return _Value([replace(f, box=_hull(f.box, _union_all(v.fields).pooled(span).box)) for f in out.fields],
                      out.fid, out.pos, out.grid, out.layout)

    def _attention(self, operands, result, inexact=None):
        """Every output element may draw on every position of every operand: exact for attention over all tokens,
        else (windows) only after a later pooling over all positions."""
        value = _everywhere([self.values[a] for a in operands], result, inexact)
        if isinstance(result, torch.Tensor):
            return value
        return tuple(value if isinstance(r, torch.Tensor) else None for r in result)


def _has_tensor(result) -> bool:
    if isinstance(result, torch.Tensor):
        return True
    return isinstance(result, (tuple, list)) and any(isinstance(r, torch.Tensor) for r in result)


def _globalised(v: _Value) -> _Value:
    span = v.span()
    return _Value([f.pooled(span) for f in v.fields], v.fid, torch.full((1,), -1).expand(v.pos.shape), None)


def _everywhere(vals: list, result, inexact: str | None = None) -> _Value:
    """One field for every element: the union of everything in vals, pooled over their positions."""
    field = _union_all([f.pooled(v.span()) for v in vals if isinstance(v, _Value) for f in v.fields])
    if inexact:
        field = replace(field, inexact=f"it depends on {inexact}")
    first = result if isinstance(result, torch.Tensor) else next(r for r in result if isinstance(r, torch.Tensor))
    shape = first.shape
    return _Value([field], torch.zeros(1, dtype=torch.long).expand(shape), torch.full((1,), -1).expand(shape), None)


# ------------------------------------------------------------------------------------------ per layer, and cached

@dataclass
class _Summary:
    """What a layer lookup needs of a node: its fields, per channel (maps) or per element (vectors)."""

    fields: list[_Field]
    shape: tuple
    kind: str                       # "map", "vector" or "other"
    grid: Pair | None
    ids: torch.Tensor | None        # (C,) or (D,) field index; None: all fields[0]
    pos: torch.Tensor | None = None  # vectors: (D,) position of each element, -1 for none


def _summary(value) -> Any:
    if isinstance(value, tuple):
        value = next((v for v in value if v is not None), None)
    if not isinstance(value, _Value):
        return value
    shape = tuple(value.fid.shape)
    if value.layout is not None:
        try:
            ids = value.channel_ids(1 if value.layout == "nchw" else 3) if len(value.fields) > 1 else None
            return _Summary(value.fields, shape, value.layout, value.grid, ids)
        except _Refuse:
            pass
    if value.fid.dim() == 2:
        return _Summary(value.fields, shape, "vector", value.grid, value.fid[0].clone(), value.pos[0].clone())
    if value.fid.dim() == 4 and not value.positional:  # a map every unit of which sees the same (1x1 pooled)
        return _Summary([_union_all(value.fields)], shape, "nchw", None, None)
    return _Summary(value.fields, shape, "other", value.grid, None)


class _Table:
    """Summaries of every node of one model's pass, and each module path's last node."""

    def __init__(self, summaries: dict, last: dict, run: set):
        self.summaries, self.last, self.run = summaries, last, run

    def node(self, path: str):
        key = path if path in self.last else next(
            (k for k in self.last if k.replace("L__self___", "").replace("_", ".") == path), None)
        return None if key is None else self.summaries.get(self.last[key])


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fingerprint(net) -> tuple:
    """What the pass depends on: input size and channels, and every module (identity, settings, forward)."""
    return (tuple(net.input_size), net.channels, tuple(
        (name, id(m), id(vars(m).get("forward")), *(repr(getattr(m, c, None)) for c in getattr(m, "__constants__", ())))
        for name, m in net.model.named_modules()))


def _table(net: Net) -> _Table:
    model, key = net.model, _fingerprint(net)
    cached = _CACHE.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    with preserved(model), torch.no_grad():
        model.eval()  # train mode would update batch-norm statistics (and fail on 1x1 maps)
        for m in model.modules():  # the caller's hooks would see a blank image; preserved() puts them back
            for name in _HOOK_DICTS:
                getattr(m, name, {}).clear()
        try:
            gm = fx.symbolic_trace(model)
        except Exception as e:  # noqa: BLE001 - tracing errors become one clear message
            raise ValueError(f"receptive_field could not trace {net.name} with torch.fx "
                             f"({type(e).__name__}: {e})") from None
        gm.eval()
        walk = _Walk(gm)
        try:
            walk.run(torch.zeros(1, net.channels, *net.input_size, dtype=dtype, device=net.device))
        except Exception as e:  # noqa: BLE001 - the model itself failed on the blank input
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ValueError(f"receptive_field could not run {net.name} on a blank {net.input_size[0]}x"
                             f"{net.input_size[1]} input ({type(e).__name__}: {first})") from None
    last: dict[str, str] = {}
    run: set[str] = set()
    for node in gm.graph.nodes:
        paths = [*node.meta.get("nn_module_stack", {}), *([node.target] if node.op == "call_module" else [])]
        run.update(paths)
        if node.name in walk.summaries:
            last.update(dict.fromkeys(paths, node.name))
    table = _Table(walk.summaries, last, {p.replace("L__self___", "") for p in run})
    _CACHE[model] = (key, table)
    return table


def _refusal(net, layer, reason: str) -> ValueError:
    return ValueError(f"receptive_field: layer {layer!r} of {net.name} has no receptive field: {reason}")


def _summary_of(net, table: _Table, layer: str) -> _Summary:
    path, _ = resolve(net, layer)
    s = table.node(path)
    if s is None and path in table.run:
        raise _refusal(net, layer, "its output does not depend on the input image (it works on constants only)")
    if s is None:
        raise ValueError(f"receptive_field: layer {layer!r} ({path}) of {net.name} is not used by the model's "
                         "forward pass")
    if isinstance(s, _Refuse):
        raise _refusal(net, layer, str(s))
    if s.kind == "other":
        what = ("a transformer's sequence of tokens (N, tokens, C), not a map of positions; self-attention lets a "
                "token draw on any part of the image with input-dependent weights rather than a fixed window"
                if len(s.shape) == 3 else "not a map of positions")
        raise _refusal(net, layer, f"its output {s.shape} is {what}. Receptive fields are defined for (N, C, H, W) "
                                   "or (N, H, W, C) maps and (N, D) vectors")
    return s


def _exported(net, layer, field: _Field, grid, local: bool) -> RF:
    if field.inexact:
        raise _refusal(net, layer, field.inexact)
    if field.size is None and field.box is None:
        raise _refusal(net, layer, "it does not depend on the input image")
    if field.size is not None and (local or field.box is None):
        assert field.stride is not None and field.start is not None
        return RF(field.size, field.stride, field.start)
    whole = field.pooled(((0, 0), (grid[0] - 1, grid[1] - 1)) if grid else None).box
    assert whole is not None
    return RF(_pair(e - s for s, e in zip(*whole)), (0, 0), whole[0])


def _fields_of(net, s: _Summary, layer, channel) -> list[tuple[_Field, Pair | None]]:
    """(field, grid to report it on) of the chosen channel (all channels for None)."""
    count = _channels(s)
    if channel is not None:
        if isinstance(channel, bool) or not hasattr(channel, "__index__"):
            raise TypeError(f"channel must be a channel index (int) or None; got {type(channel).__name__}")
        if not 0 <= int(channel) < count:
            raise ValueError(f"receptive_field: layer {layer!r} of {net.name} has {count} channels (0 to "
                             f"{count - 1}); got channel {channel}")
        channel = int(channel)
    if s.kind == "vector":  # each element sees its own position's field: a fixed box
        picks = range(count) if channel is None else [channel]
        ids = s.ids if s.ids is not None else torch.zeros(count, dtype=torch.long)
        pos = s.pos if s.pos is not None else torch.full((count,), -1)
        w = s.grid[1] if s.grid else 1
        chosen = torch.tensor(list(picks))
        out: list[tuple[_Field, Pair | None]] = []
        for k, p in torch.unique(torch.stack([ids[chosen], pos[chosen]], 1), dim=0).tolist():
            at = ((p // w, p % w), (p // w, p % w)) if p >= 0 else None
            out.append((s.fields[k].pooled(at), None))
        return out
    if s.ids is None:
        return [(s.fields[0], s.grid)]
    if channel is None:
        return [(s.fields[k], s.grid) for k in torch.unique(s.ids).tolist()]
    return [(s.fields[int(s.ids[channel])], s.grid)]


def _rf(net, table: _Table, layer: str, channel, local: bool) -> RF:
    s = _summary_of(net, table, layer)
    pairs = _fields_of(net, s, layer, channel)
    try:
        field = _union_all([f for f, _ in pairs])
    except _Refuse as e:
        raise _refusal(net, layer, f"its channels come from branches that cannot be combined: {e}") from None
    return _exported(net, layer, field, pairs[0][1], local)


def receptive_field(net: Net, layer: str, channel: int | None = None, local: bool = False) -> RF:
    """RF(size, stride, start) of the units of one layer (alias or dotted path), in input pixels.

    channel: None for the union over the layer's channels; a channel index for that channel's own field (after a
    concatenation, each channel keeps its branch's field). local=True leaves out branches pooled over every
    position (squeeze-and-excitation gates, group-norm statistics): they reach every unit, so the full field is
    the whole image, but they only rescale a channel, so the local field is what shapes the unit's pattern (the
    patch top_patches shows). A layer without a field (attention, tokens, not run) is a ValueError saying why."""
    check_net(net, "receptive fields")
    return _rf(net, _table(net), layer, channel, flag(local, "local"))


def channel_fields(net: Net, layer: str, local: bool = False) -> list[RF]:
    """Each channel's own RF, in channel order (see receptive_field), from the one cached pass."""
    check_net(net, "receptive fields")
    local, table = flag(local, "local"), _table(net)
    s = _summary_of(net, table, layer)
    count = _channels(s)
    ids = s.ids if s.ids is not None else torch.zeros(count, dtype=torch.long)
    if s.kind == "vector" and s.pos is not None:  # each element: its field at its own position
        keys, first = torch.unique(torch.stack([ids, s.pos], 1), dim=0, return_inverse=True)
        rfs = [_rf(net, table, layer, int((first == i).nonzero()[0]), local) for i in range(len(keys))]
        return [rfs[i] for i in first.tolist()]
    found = {k: _exported(net, layer, s.fields[k], s.grid, local) for k in torch.unique(ids).tolist()}
    return [found[k] for k in ids.tolist()]


def _channels(s: _Summary) -> int:
    return s.shape[3] if s.kind == "nhwc" else s.shape[1]


def receptive_fields(net: Net, layers: list[str] | None = None, local: bool = False) -> dict[str, RF]:
    """RF of each layer in layers, from one pass over the model; layers=None: every named layer (aliases when
    the net has them, else every module path) that has one, in forward order (ask for a missing one by name to
    hear why it has none)."""
    table, local = _table(check_net(net, "receptive fields")), flag(local, "local")
    if layers is not None:
        return {name: _rf(net, table, name, None, local) for name in _check.layer_list(layers, "layers")}
    names = list(net.layers) if getattr(net, "layers", None) else [n for n, _ in net.model.named_modules() if n]
    out = {}
    for name in names:
        try:
            out[name] = _rf(net, table, name, None, local)
        except ValueError:
            continue
    return out
