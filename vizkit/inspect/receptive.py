"""Receptive fields: which input pixels a unit of a layer can see, computed from the traced graph."""

from __future__ import annotations

import operator
from typing import NamedTuple

import torch
from torch import fx, nn

from ..hooks import resolve

Pair = tuple[int, int]


class RF(NamedTuple):
    """Receptive field of a layer's units, per axis (h, w), in input pixels.

    size: extent of one unit's field; stride: step between neighbouring units' fields;
    start: input coordinate of the first pixel of unit (0, 0)'s field (negative where padding
    reaches outside the image). Unit (y, x) sees rows start[0] + y * stride[0] ... + size[0] - 1.
    """

    size: Pair
    stride: Pair
    start: Pair

    def box(self, y, x):
        """Unit (y, x)'s input pixels (top, left, bottom, right), end-exclusive, unclipped; y, x: ints or arrays."""
        top, left = self.start[0] + y * self.stride[0], self.start[1] + x * self.stride[1]
        return top, left, top + self.size[0], left + self.size[1]


# Layers that act on each position separately (or on channels only): the field passes unchanged.
POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
             nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus, nn.Identity,
             nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LocalResponseNorm, nn.Dropout, nn.Dropout2d,
             nn.Softmax, nn.LogSoftmax)
POINTWISE_FUNCTIONS = {torch.relu, torch.nn.functional.relu, torch.sigmoid, torch.tanh, torch.nn.functional.gelu,
                       torch.nn.functional.silu, torch.nn.functional.dropout, torch.nn.functional.hardswish,
                       torch.nn.functional.relu6, torch.nn.functional.softmax, torch.nn.functional.log_softmax,
                       torch.nn.functional.hardsigmoid, operator.mul, torch.mul, operator.getitem}
MERGES = {operator.add, torch.add, operator.iadd, torch.cat, operator.mul, torch.mul}
POINTWISE_METHODS = {"relu", "relu_", "sigmoid", "tanh", "contiguous", "clone", "mul", "mul_", "add", "add_",
                     "size", "dim"}
FLATTENS_FUNCTIONS = {torch.flatten}
FLATTENS_METHODS = {"flatten", "view", "reshape"}


class _Field:
    """Per axis: size, stride, start; whole=True once spatial position is gone (after flattening)."""

    def __init__(self, size, stride, start, whole=False):
        self.size, self.stride, self.start, self.whole = tuple(size), tuple(stride), tuple(start), whole

    def window(self, kernel, stride, padding, dilation):
        k = [d * (kk - 1) + 1 for kk, d in zip(kernel, dilation)]
        return _Field([s + (kk - 1) * st for s, kk, st in zip(self.size, k, self.stride)],
                      [st * s for st, s in zip(self.stride, stride)],
                      [b - p * st for b, p, st in zip(self.start, padding, self.stride)], self.whole)

    def union(self, other):
        if self.stride != other.stride and not (self.whole or other.whole):
            raise ValueError(f"cannot merge branches with different strides {self.stride} and {other.stride}")
        start = [min(a, b) for a, b in zip(self.start, other.start)]
        end = [max(a + s, b + t) for a, s, b, t in zip(self.start, self.size, other.start, other.size)]
        return _Field([e - s for e, s in zip(end, start)], self.stride, start, self.whole or other.whole)

    def everything(self, extent):
        """The union over all `extent` (h, w) positions: what a unit after flattening sees."""
        if self.whole:
            return self
        size = [s + (n - 1) * st for s, n, st in zip(self.size, extent, self.stride)]
        return _Field(size, size, self.start, whole=True)


def _pair(v) -> Pair:
    return (v, v) if isinstance(v, int) else tuple(v)


def _trace(model: nn.Module, input_size, channels: int):
    gm = fx.symbolic_trace(model)
    from torch.fx.passes.shape_prop import ShapeProp

    ShapeProp(gm).propagate(torch.zeros(1, channels, *input_size))
    return gm


def _shape(node) -> tuple | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _module_field(module, field: _Field, node, arg) -> _Field:
    if isinstance(module, nn.Conv2d):
        if isinstance(module.padding, str):
            pad = [(d * (k - 1)) // 2 if module.padding == "same" else 0
                   for k, d in zip(module.kernel_size, module.dilation)]
        else:
            pad = module.padding
        return field.window(module.kernel_size, module.stride, pad, module.dilation)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        dilation = _pair(getattr(module, "dilation", 1))
        stride = _pair(module.stride if module.stride is not None else module.kernel_size)
        return field.window(_pair(module.kernel_size), stride, _pair(module.padding), dilation)
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        shape_in, shape_out = _shape(arg), _shape(node)
        (hi, wi), (ho, wo) = shape_in[2:], shape_out[2:]
        if (hi, wi) == (ho, wo):
            return field
        if hi % ho or wi % wo:
            raise ValueError(f"{type(module).__name__} from {hi}x{wi} to {ho}x{wo} has uneven windows; "
                             "its receptive field differs per unit")
        k = (hi // ho, wi // wo)
        return field.window(k, k, (0, 0), (1, 1))
    if isinstance(module, nn.Flatten) or isinstance(module, nn.Linear):
        shape_in = _shape(arg)
        if isinstance(module, nn.Linear) and shape_in is not None and len(shape_in) == 4:
            raise ValueError("a Linear layer applied to 4-D maps is not supported")
        if shape_in is not None and len(shape_in) == 4:
            return field.everything(shape_in[2:])
        return field
    if isinstance(module, POINTWISE):
        return field
    raise ValueError(f"receptive_field does not know how layer {node.target!r} ({type(module).__name__}) "
                     "moves information across positions; supported: Conv2d, MaxPool2d, AvgPool2d, adaptive "
                     "pools with even windows, Flatten, Linear and pointwise layers")


def _fields(net) -> tuple[dict[str, _Field], dict[str, str]]:
    """Field of every node of the traced model; and, for every module path, its last node."""
    model = getattr(net, "model", net)
    try:
        gm = _trace(model, net.input_size, net.channels)
    except Exception as e:  # noqa: BLE001 - tracing errors become one clear message
        raise ValueError(f"receptive_field could not trace {net.name} with torch.fx "
                         f"({type(e).__name__}: {e})") from None
    fields: dict[str, _Field] = {}
    last_node: dict[str, str] = {}
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        tensor_args = [a for a in node.args if isinstance(a, fx.Node)]
        if node.op == "placeholder":
            fields[node.name] = _Field((1, 1), (1, 1), (0, 0))
            continue
        if node.op in ("output", "get_attr"):
            continue
        inputs = [fields[a.name] for a in tensor_args if a.name in fields]
        if node.op == "call_function" and node.target is torch.cat:
            inputs = [fields[a.name] for a in node.args[0] if isinstance(a, fx.Node) and a.name in fields]
        if not inputs:
            continue  # constants, sizes
        field = inputs[0]
        if node.op == "call_module":
            field = _module_field(modules[node.target], field, node, tensor_args[0])
        else:  # call_function or call_method
            is_function = node.op == "call_function"
            flattens = FLATTENS_FUNCTIONS if is_function else FLATTENS_METHODS
            merges = MERGES if is_function else POINTWISE_METHODS
            if node.target in flattens:
                shape_in = _shape(tensor_args[0])
                field = field.everything(shape_in[2:]) if shape_in is not None and len(shape_in) == 4 else field
            elif node.target in merges:  # elementwise with several inputs: the union of their fields
                for other in inputs[1:]:
                    field = field.union(other)
            elif not (is_function and node.target in POINTWISE_FUNCTIONS):
                what = f"function {node.target}" if is_function else f"method .{node.target}()"
                raise ValueError(f"receptive_field does not support the {what} in {net.name}")
        fields[node.name] = field
        for path in node.meta.get("nn_module_stack", {}):
            last_node[path] = node.name
        if node.op == "call_module":
            last_node[node.target] = node.name
    return fields, last_node


def receptive_field(net, layer: str) -> RF:
    """RF(size, stride, start) of the units of one layer (alias or dotted path), in input pixels."""
    path, _ = resolve(net, layer)
    fields, last = _fields(net)
    f = _lookup(fields, last, path, layer)
    return RF(f.size, f.stride, f.start)


def receptive_fields(net) -> dict[str, RF]:
    """RF of every named layer (aliases when the net has them, else every module path), in forward order."""
    fields, last = _fields(net)
    names = list(net.layers) if getattr(net, "layers", None) else [n for n, _ in net.model.named_modules() if n]
    out = {}
    for name in names:
        path, _ = resolve(net, name)
        out[name] = _lookup(fields, last, path, name)
    return {n: RF(f.size, f.stride, f.start) for n, f in out.items()}


def _lookup(fields, last, path, layer) -> _Field:
    key = _stack_key(last, path)
    if key is None:
        raise ValueError(f"layer {layer!r} ({path}) is not used by the model's forward pass")
    return fields[last[key]]


def _stack_key(last: dict, path: str) -> str | None:
    if path in last:
        return path
    # nn_module_stack keys may be qualified names like "L__self___features_0" in some torch versions
    for key in last:
        if key.replace("L__self___", "").replace("_", ".") == path:
            return key
    return None
