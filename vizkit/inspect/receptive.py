"""Receptive fields: which input pixels a unit of a layer can see, read off one interpreted forward pass.

Beside the real values of a blank input, the pass carries, for every element of every tensor, its map position
and its field, so permutes, reshapes, concatenations, channel shuffles and chunks are followed element by element.
A field has a local part (a window that moves with the unit) and a global part (a box every unit of the map sees:
a branch pooled over all positions, as in squeeze-and-excitation, reaches every unit). The pass runs once per
model and is cached."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import fx

from .. import _check
from ..hooks import _HOOK_DICTS, preserved, resolve
from ..nets import check_net
from ._fields import _Field, _pair, _Refuse, _union_all
from ._walk import _Summary, _Walk
from .features import flag

if TYPE_CHECKING:
    from ..nets import Net

from ._fields import Pair


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


# ------------------------------------------------------------------------------------------ per layer, and cached

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
