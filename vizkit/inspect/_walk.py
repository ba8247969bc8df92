"""The interpreted forward pass behind receptive.py: what each op, module or function does to the fields of its
inputs (_Walk, a torch.fx Interpreter), with the tables of ops it knows."""

from __future__ import annotations

import functools
import operator
import sys
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import fx, nn

from .. import _check
from ._fields import (
    EMPTY,
    INPUT,
    Pair,
    _compact,
    _dedupe,
    _Field,
    _hull,
    _Refuse,
    _union_all,
    _unions,
    _Value,
)

F = torch.nn.functional

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
