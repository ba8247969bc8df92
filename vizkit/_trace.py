"""One traced forward pass of a model: which modules run, where each module's output keeps its channels, and
whether the image reaches it. vizkit.hooks caches it per model and decides every layer's layout from it.

A layout names each axis of an output: N the batch, C the channels (features), H and W the image grid, ? anything
else (tokens, windows, a flattened grid). The trace follows every torch call of the forward pass:
- nn.Linear / F.linear maps the last axis, so its output has its channels last: (N, H, W, C) when its input was
  (N, H, W, C) (a ConvNeXt or Swin block after a permute), (N, ?, C) on tokens (a ViT), and (N, ?, ?, C)
  where the axes before were not the image grid (MaxViT's windows, SwinV2's position table);
- permute / transpose / movedim move the axes' letters with them;
- indexing that keeps the rank, padding, concatenation, rolling, and every call whose output has the shape of a
  traced input (elementwise ops, layer norm, activations, x + y) keep their input's layout;
- a tensor no rule has seen (a convolution's or a pooling's output, a reshape's, a parameter) is laid out as CNNs lay
  theirs: (N, C, H, W) for 4 axes (also when permuted), (N, C, ?…) otherwise; F.linear on one gives (N, ?…, C).
A module whose output no rule has seen, and that maps an input to an output of the same shape, keeps that input's
layout (Swin's window attention). "Reached" is whether the output requires grad with the input requiring it and the
model's parameters not (the caller freezes them): an output that does not depend on the image does not.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode


def default_axes(rank: int) -> str:
    """How CNNs lay out an output of this rank: "NCHW" for maps, "NC" for vectors, "NC?" for sequences."""
    return "NCHW" if rank == 4 else ("NC" + "?" * (rank - 2) if rank >= 2 else "?" * rank)


@dataclass(frozen=True)
class Layout:
    """Where a layer's output keeps its channels: axes (one letter per axis, see the module docstring) and whether
    the image reaches the layer."""

    axes: str
    reached: bool = True

    @property
    def channel(self) -> int:
        """The index of the channel axis (1 unless the channels were traced elsewhere)."""
        return self.axes.index("C") if self.axes.count("C") == 1 else 1

    @property
    def moved(self) -> bool:
        """True when the channels are not the axis after the batch (channels-last outputs)."""
        return self.channel != 1

    @property
    def first(self) -> str:
        """The axes once the channels are moved to the axis after the batch."""
        c = self.channel
        return self.axes[0] + self.axes[c] + self.axes[1:c] + self.axes[c + 1:]

    @property
    def grid(self) -> bool:
        """True when the output is maps over the image grid, (N, C, H, W) once the channels come first."""
        return self.first == "NCHW"

    def describe(self) -> str:
        """The axes in words, e.g. "(N, H, W, C): channels last"."""
        shown = "(" + ", ".join(a if a in "NC" or self.grid else "·" for a in self.axes) + ")"
        if self.grid:
            return shown + (": channels last, maps over the image grid" if self.moved else ": maps")
        return shown + ": the axes besides the channels are tokens or windows, not the image grid (· marks them)"


@dataclass
class Trace:
    """What one forward pass showed: the module paths that ran and each one's output layout (tensors only)."""

    ran: set[str] = field(default_factory=set)
    layouts: dict[str, Layout] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)  # outputs the rest of the pass changes in place (x += y)


_PERMUTE = {torch.permute, torch.Tensor.permute}
_SWAP = {torch.transpose, torch.Tensor.transpose, torch.swapaxes, torch.Tensor.swapaxes, torch.swapdims,
         torch.Tensor.swapdims}
_MOVE = {torch.movedim, torch.Tensor.movedim, torch.moveaxis, torch.Tensor.moveaxis}
_LINEAR = {F.linear}
_KEEP = {torch.Tensor.__getitem__, F.pad, torch._C._nn.pad, torch.cat, torch.concat, torch.concatenate, torch.roll,
         torch.Tensor.roll}
# outputs laid out channels-first whatever their input: convolution, pooling and batch statistics over channels
_FIRST = {F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, F.max_pool1d,
          F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d,
          F.adaptive_avg_pool2d, F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.batch_norm, F.instance_norm,
          F.group_norm, F.interpolate}


def _tensors(value: object) -> list[torch.Tensor]:
    """The tensors in a call's arguments, lists and tuples included, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _dims(args: Sequence, rank: int) -> list[int] | None:
    """The integer dimensions given after the tensor: varargs or one sequence, made non-negative."""
    given = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple, torch.Size)) else args
    if not all(isinstance(d, int) for d in given):
        return None
    return [d % rank for d in given] if rank else None


class _Axes(TorchFunctionMode):
    """Follows the layout of every tensor the forward pass makes (see the module docstring)."""

    def __init__(self):
        super().__init__()
        self.seen: dict[int, tuple[weakref.ref, str]] = {}

    def axes(self, t: torch.Tensor) -> str | None:
        """The traced layout of t, None where no rule saw it."""
        entry = self.seen.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def mark(self, t: torch.Tensor, axes: str | None) -> None:
        if axes is not None and len(axes) == t.dim():
            self.seen[id(t)] = (weakref.ref(t), axes)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and func not in _FIRST:
            self.mark(out, self._rule(func, args, kwargs or {}, out))
        return out

    def _rule(self, func: Callable, args: tuple, kwargs: dict, out: torch.Tensor) -> str | None:
        inputs = _tensors(list(args) + list(kwargs.values()))
        if not inputs:
            return None
        rank, traced = inputs[0].dim(), self.axes(inputs[0])
        # an untraced input's axes are a guess: trusted as a convolution's (N, C, H, W) for 4 axes only
        src = traced or (default_axes(rank) if rank == 4 else None)
        if func in _PERMUTE or func in _SWAP or func in _MOVE:
            if src is None:
                return None
            rest = list(args[1:]) + [v for k, v in kwargs.items() if k in ("dims", "dim0", "dim1", "source",
                                                                             "destination")]
            order = self._order(func, rest, rank)
            return None if order is None else "".join(src[i] for i in order)
        if func in _LINEAR:
            before = traced[:-1] if traced else "N" + "?" * (rank - 2)
            return "".join("?" if a == "C" else a for a in before) + "C"
        if func in _KEEP and out.dim() == rank:
            same = {self.axes(t) for t in inputs if t.dim() == rank}
            return traced if len(same) == 1 else None
        for t in inputs:  # elementwise and the like: the first traced input of the same shape
            if t.shape == out.shape and self.axes(t) is not None:
                return self.axes(t)
        return None

    @staticmethod
    def _order(func: Callable, rest: list, rank: int) -> list[int] | None:
        """The output's axes as indices of the input's, for permute, transpose and movedim."""
        if func in _PERMUTE:
            dims = _dims(rest, rank)
            return dims if dims is not None and sorted(dims) == list(range(rank)) else None
        if len(rest) != 2:
            return None
        if func in _SWAP:
            a, b = _dims(rest, rank) or (None, None)
            if a is None or b is None:
                return None
            order = list(range(rank))
            order[a], order[b] = order[b], order[a]
            return order
        src, dst = ([r] if isinstance(r, int) else list(r) for r in rest)
        src, dst = [s % rank for s in src], [d % rank for d in dst]
        moved = dict(zip(dst, src))
        others = iter(i for i in range(rank) if i not in src)
        return [moved[i] if i in moved else next(others) for i in range(rank)]


def trace(model: nn.Module, x: torch.Tensor) -> Trace:
    """Run model on x once (the caller puts it in eval mode with frozen parameters, and restores it) -> Trace."""
    paths: dict[nn.Module, list[str]] = {}
    for path, module in model.named_modules(remove_duplicate=False):
        paths.setdefault(module, []).append(path)
    mode, found = _Axes(), Trace()
    versions: list[tuple[list[str], torch.Tensor, int]] = []

    def hook(module, inputs, output):
        names = paths[module]
        found.ran.update(names)
        if not isinstance(output, torch.Tensor) or output.dim() < 1 or names[0] in found.layouts:
            return
        axes = mode.axes(output)
        if axes is None:  # nothing traced it: a module keeps its input's layout where it keeps its input's shape
            first = next(iter(_tensors(inputs)), None)
            axes = mode.axes(first) if first is not None and first.shape == output.shape else None
            mode.mark(output, axes)
        layout = Layout(axes or default_axes(output.dim()), bool(output.requires_grad))
        versions.append((names, output, output._version))
        for name in names:
            found.layouts[name] = layout
            found.shapes[name] = tuple(output.shape[1:])

    handles = [m.register_forward_hook(hook) for m in paths]
    try:
        with torch.enable_grad(), mode:
            model(x.detach().clone().requires_grad_(True))
    finally:
        for h in handles:
            h.remove()
    found.changed = {n for names, t, version in versions if t._version != version for n in names}
    return found
