"""Receptive fields: which input pixels a unit of a layer can see, computed from the traced graph."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import fx, nn

from .. import _check
from ..hooks import _HOOK_DICTS, preserved, resolve
from ..nets import check_net

if TYPE_CHECKING:
    from ..nets import Net

Pair = tuple[int, int]


class RF(NamedTuple):
    """Receptive field of a layer's units, per axis (h, w), in input pixels.

    size: extent of one unit's field; stride: step between neighbouring units' fields;
    start: input coordinate of the first pixel of unit (0, 0)'s field (negative where padding
    reaches outside the image). Unit (y, x) sees rows start[0] + y * stride[0] ... + size[0] - 1.
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    start: tuple[int, int]

    def box(self, y: Any, x: Any) -> tuple[Any, Any, Any, Any]:
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


def _trace(net):
    """The model's fx graph, its nodes annotated with shapes by one forward pass on a blank input.

    The pass runs in eval mode, without gradients or the model's hooks, and the model is restored after
    it: in train mode it would update batch-norm running statistics (and fail on 1x1 maps with a batch
    of one), and the caller's hooks would see a blank image."""
    from torch.fx.passes.shape_prop import ShapeProp

    model = net.model
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    with preserved(model), torch.no_grad():
        model.eval()
        for m in model.modules():  # preserved() puts them back
            for name in _HOOK_DICTS:
                getattr(m, name, {}).clear()
        gm = fx.symbolic_trace(model)
        gm.eval()
        ShapeProp(gm).propagate(torch.zeros(1, net.channels, *net.input_size, dtype=dtype, device=net.device))
    return gm


def _shape(node) -> tuple | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _module_field(module, field: _Field, node, arg) -> _Field:
    if isinstance(module, nn.Conv2d):
        pad: Sequence[int]
        if isinstance(module.padding, str):
            pad = [(d * (k - 1)) // 2 if module.padding == "same" else 0
                   for k, d in zip(module.kernel_size, module.dilation)]
        else:
            pad = module.padding
        return field.window(module.kernel_size, module.stride, pad, module.dilation)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        dilation = _check.pair(getattr(module, "dilation", 1), "dilation")
        stride = _check.pair(module.stride if module.stride is not None else module.kernel_size, "stride")
        kernel, pad = _check.pair(module.kernel_size, "kernel_size"), _check.pair(module.padding, "padding", 0)
        return field.window(kernel, stride, pad, dilation)
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return _adaptive(field, node, arg, type(module).__name__)
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


F = torch.nn.functional
MAX_POOLS = {F.max_pool2d, torch.max_pool2d}       # F.max_pool2d is a dispatcher fx records as "fn"
AVG_POOLS = {F.avg_pool2d}
ADAPTIVE_POOLS = {F.adaptive_avg_pool2d, F.adaptive_max_pool2d}
REDUCE_FUNCTIONS = {torch.mean, torch.sum, torch.amax, torch.amin}
REDUCE_METHODS = {"mean", "sum", "amax", "amin"}


def _arguments(node, names, defaults) -> list:
    """A call's arguments after its input, by position or keyword, with defaults."""
    values = dict(zip(names, node.args[1:]))
    values.update({k: v for k, v in node.kwargs.items() if k in names})
    return [values.get(n, d) for n, d in zip(names, defaults)]


def _adaptive(field: _Field, node, arg, name: str) -> _Field:
    shape_in, shape_out = _shape(arg), _shape(node)
    if shape_in is None or shape_out is None:
        raise ValueError(f"receptive_field could not tell the shapes around {name}")
    (hi, wi), (ho, wo) = shape_in[2:], shape_out[2:]
    if (hi, wi) == (ho, wo):
        return field
    if hi % ho or wi % wo:
        raise ValueError(f"{name} from {hi}x{wi} to {ho}x{wo} has uneven windows; its receptive field differs per unit")
    k = (hi // ho, wi // wo)
    return field.window(k, k, (0, 0), (1, 1))


def _function_field(node, field: _Field, arg) -> _Field | None:
    """The field after a functional conv / pool / reduction (F.conv2d, F.max_pool2d, x.mean((2, 3)), ...);
    None if the call is not one of these."""
    target = node.target
    if node.op == "call_function" and target in MAX_POOLS | AVG_POOLS:
        names = ["kernel_size", "stride", "padding"] + (["dilation"] if target in MAX_POOLS else [])
        k, stride, pad, *dil = _arguments(node, names, [None, None, 0, 1])
        stride = k if stride is None or stride == [] or stride == () else stride
        return field.window(_check.pair(k, "kernel_size"), _check.pair(stride, "stride"),
                            _check.pair(pad, "padding", 0), _check.pair(dil[0] if dil else 1, "dilation"))
    if node.op == "call_function" and target is F.conv2d:
        weight, _, stride, pad, dil = _arguments(node, ["weight", "bias", "stride", "padding", "dilation"],
                                                 [None, None, 1, 0, 1])
        weight_shape = _shape(weight) if isinstance(weight, fx.Node) else None
        kernel = weight_shape[2:] if weight_shape else None
        if kernel is None:
            raise ValueError(f"receptive_field could not tell the kernel size of {node.name}")
        dilation = _check.pair(dil, "dilation")
        if isinstance(pad, str):
            pad = [(d * (k - 1)) // 2 if pad == "same" else 0 for k, d in zip(kernel, dilation)]
        return field.window(tuple(kernel), _check.pair(stride, "stride"), _check.pair(pad, "padding", 0), dilation)
    if node.op == "call_function" and target in ADAPTIVE_POOLS:
        return _adaptive(field, node, arg, node.name)
    if (node.op == "call_function" and target in REDUCE_FUNCTIONS) or (node.op == "call_method"
                                                                       and target in REDUCE_METHODS):
        grid_in, grid_out = _grids(node, arg)
        if grid_in is None or grid_out == grid_in:
            return field                      # over channels, or not over maps at all
        return field.everything(grid_in)      # over positions (global pooling): every unit sees everything
    return None


def _grids(node, arg) -> tuple[tuple | None, tuple | None]:
    """The (h, w) grids of a node's input and output maps; None where one is not a 4-D map."""
    shape_in, shape_out = _shape(arg), _shape(node)
    return (shape_in[2:] if shape_in is not None and len(shape_in) == 4 else None,
            shape_out[2:] if shape_out is not None and len(shape_out) == 4 else None)


def _same_grid(node, arg, name: str) -> None:
    """Slicing or reshaping that keeps maps must keep their grid: a crop would move every unit's field."""
    grid_in, grid_out = _grids(node, arg)
    if grid_in is not None and grid_out is not None and grid_in != grid_out:
        raise ValueError(f"receptive_field does not support {node.name} in {name}: it turns the {grid_in[0]}x"
                         f"{grid_in[1]} maps into {grid_out[0]}x{grid_out[1]} ones, which moves every unit's field "
                         "(only channels may be sliced or reshaped)")


def _reshaped(field: _Field, node, arg, name: str) -> _Field:
    """A flatten / view / reshape: maps to vectors see everything; maps to maps of the same grid see as before."""
    grid_in, grid_out = _grids(node, arg)
    if grid_in is None:
        return field
    if grid_out is None:
        return field.everything(grid_in)
    _same_grid(node, arg, name)
    return field


def _fields(net: Net) -> tuple[dict[str, _Field], dict[str, str]]:
    """Field of every node of the traced model; and, for every module path, its last node."""
    try:
        gm = _trace(net)
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
        elif (functional := _function_field(node, field, tensor_args[0])) is not None:
            field = functional
        else:  # call_function or call_method
            is_function = node.op == "call_function"
            flattens = FLATTENS_FUNCTIONS if is_function else FLATTENS_METHODS
            merges = MERGES if is_function else POINTWISE_METHODS
            if node.target in flattens:
                field = _reshaped(field, node, tensor_args[0], net.name)
            elif node.target in merges:  # elementwise with several inputs: the union of their fields
                for other in inputs[1:]:
                    field = field.union(other)
            elif not (is_function and node.target in POINTWISE_FUNCTIONS):
                name = getattr(node.target, "__name__", str(node.target))
                what = (f"function {node.name if name == 'fn' else name}" if is_function
                        else f"method .{node.target}()")
                raise ValueError(f"receptive_field does not support the {what} in {net.name}")
            elif node.target is operator.getitem:
                _same_grid(node, tensor_args[0], net.name)
        fields[node.name] = field
        for path in node.meta.get("nn_module_stack", {}):
            last_node[path] = node.name
        if node.op == "call_module":
            last_node[node.target] = node.name
    return fields, last_node


def receptive_field(net: Net, layer: str) -> RF:
    """RF(size, stride, start) of the units of one layer (alias or dotted path), in input pixels."""
    path, _ = resolve(check_net(net, "receptive fields"), layer)
    fields, last = _fields(net)
    f = _lookup(fields, last, path, layer)
    return RF(f.size, f.stride, f.start)


def receptive_fields(net: Net) -> dict[str, RF]:
    """RF of every named layer (aliases when the net has them, else every module path), in forward order."""
    fields, last = _fields(check_net(net, "receptive fields"))
    names = list(net.layers) if getattr(net, "layers", None) else [n for n, _ in net.model.named_modules() if n]
    out = {}
    for name in names:
        path, _ = resolve(net, name)
        out[name] = _lookup(fields, last, path, name)
    return {n: RF(f.size, f.stride, f.start) for n, f in out.items()}


def _lookup(fields, last, path: str, layer) -> _Field:
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
