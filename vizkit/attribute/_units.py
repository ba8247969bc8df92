"""What the projection techniques share: one input image, one chosen unit, and ReLU backward rules."""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .._types import ImageLike, Position
from ..inspect._inputs import as_input

if TYPE_CHECKING:
    from ..nets import Net


def one_input(net: Net, x: ImageLike) -> torch.Tensor:
    """A fresh (1, C, H, W) model input from x (never the caller's tensor, never requiring grad)."""
    inp = as_input(net, x)
    if inp.shape[0] != 1:
        raise ValueError(f"this technique explains one image; got a batch of {inp.shape[0]} "
                         "(pass x[i:i + 1])")
    return inp.detach().clone()


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_channel(activation: torch.Tensor, layer: str, channel) -> int:
    """channel validated against a (1, C, ...) activation."""
    c = activation.shape[1]
    if not _is_int(channel) or not 0 <= channel < c:
        raise ValueError(f"channel must be an integer in [0, {c - 1}] for layer {layer!r} ({c} channels); "
                         f"got {channel!r}")
    return int(channel)


def pick_unit(activation: torch.Tensor, layer: str, channel, position: Position = None, grid: bool = True) -> tuple:
    """(channel, y, x) of a (1, C, h, w) map, or (channel,) of a (1, D) vector.

    position=None picks the channel's strongest position (the first in row-major order on ties). grid=False: the
    two axes after the channels are not the image grid (windows: hooks.layout); a position is then refused.
    """
    c = check_channel(activation, layer, channel)
    if not grid and position is not None:
        raise ValueError(f"layer {layer!r} gives channels over windows or tokens, not maps over the image grid, so a "
                         "(y, x) position means nothing there: leave position=None (the channel's strongest unit)")
    if activation.dim() == 2:
        if position is not None:
            raise ValueError(f"layer {layer!r} gives a vector, not maps: leave position=None")
        return (c,)
    if activation.dim() != 4:
        what = " (channels over a transformer's tokens, not maps over the image)" if activation.dim() == 3 else ""
        raise ValueError(f"layer {layer!r} gives outputs of shape {tuple(activation.shape[1:])}{what}; "
                         "expected (C, h, w) maps or a (D,) vector")
    h, w = activation.shape[2:]
    if position is None:
        flat = int(activation[0, c].reshape(-1).argmax())  # argmax returns the first maximum
        return (c, flat // w, flat % w)
    if (not isinstance(position, (tuple, list)) or len(position) != 2 or not all(map(_is_int, position))
            or not (0 <= position[0] < h and 0 <= position[1] < w)):
        raise ValueError(f"position must be a (y, x) pair with 0 <= y < {h} and 0 <= x < {w} for layer "
                         f"{layer!r}; got {position!r}")
    return (c, int(position[0]), int(position[1]))


def unit_seed(activation: torch.Tensor, unit: tuple) -> torch.Tensor:
    """The layer's activation with every value but the unit's set to zero (ZF's starting signal)."""
    seed = torch.zeros_like(activation)
    index = (0, *unit)
    seed[index] = activation.detach()[index]
    return seed


class _RuleReLU(torch.autograd.Function):
    """ReLU forward, or ReLU6 with top=6 (in place if asked); backward by a rule: "deconvnet" rectifies the signal,
    "guided" also masks it where the forward passed no gradient (backprop's mask: output 0, or top for ReLU6), both
    dropping negative signals."""

    @staticmethod
    def forward(ctx, x, rule, inplace, top=None):
        ctx.rule, ctx.top = rule, top
        if inplace:
            ctx.mark_dirty(x)
            out = x.clamp_(min=0, max=top)
        else:
            out = x.clamp(min=0, max=top)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        signal = grad.clamp(min=0)
        if ctx.rule == "guided":
            passed = out > 0 if ctx.top is None else (out > 0) & (out < ctx.top)
            signal = signal * passed
        return signal, None, None, None


RULES = ("gradient", "deconvnet", "guided")
_RELUS = {F.relu: False, torch.relu: False, torch.Tensor.relu: False,
          F.relu_: True, torch.relu_: True, torch.Tensor.relu_: True}
_RELU6 = {F.relu6: None, torch._C._nn.relu6: False, torch._C._nn.relu6_: True}
_HARDTANH = {F.hardtanh: None, torch._C._nn.hardtanh: False, torch._C._nn.hardtanh_: True, F.hardtanh_: True}


def _relu6(func, args, kwargs) -> tuple[torch.Tensor, bool] | None:
    """(input, in place) when func(*args, **kwargs) is ReLU6: F.relu6, or F.hardtanh between 0 and 6 (nn.ReLU6)."""
    if (func not in _RELU6 and func not in _HARDTANH) or not args or not isinstance(args[0], torch.Tensor):
        return None
    names = ("inplace",) if func in _RELU6 else ("min_val", "max_val", "inplace")
    given = {**dict(zip(names, args[1:])), **{k: v for k, v in kwargs.items() if k in names}}
    if func in _HARDTANH and (given.get("min_val", -1.0) != 0 or given.get("max_val", 1.0) != 6):
        return None
    fixed = _RELU6.get(func, _HARDTANH.get(func))
    return args[0], bool(given.get("inplace", False) if fixed is None else fixed)


class _ReLURule(TorchFunctionMode):
    """Every ReLU the forward pass calls (nn.ReLU modules, F.relu, torch.relu, x.relu()) follows the rule, and so
    does every ReLU6 (nn.ReLU6, F.relu6, F.hardtanh(x, 0, 6)), with its upper clip in the guided mask."""

    def __init__(self, rule: str):
        super().__init__()
        self.rule, self.calls = rule, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELUS and args and isinstance(args[0], torch.Tensor):
            self.calls += 1
            # x.relu_() must work in place; F.relu(x, inplace=True) need not (its result is what is used)
            return _RuleReLU.apply(args[0], self.rule, _RELUS[func])
        six = _relu6(func, args, kwargs)
        if six is not None:
            self.calls += 1
            return _RuleReLU.apply(six[0], self.rule, six[1], 6.0)
        return func(*args, **kwargs)


@contextlib.contextmanager
def relu_rule(net: Net, rule: str):
    """Within the block, every ReLU's backward follows `rule` ("gradient" changes nothing): nn.ReLU modules
    and functional calls alike, ReLU6 too. A model that calls no ReLU, and has no nn.ReLU or nn.ReLU6, gets a
    warning: the result is then the plain gradient."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}")
    if rule == "gradient":
        yield
        return
    mode = _ReLURule(rule)
    with mode:
        yield
    if mode.calls == 0 and not any(isinstance(m, (nn.ReLU, nn.ReLU6)) for m in net.model.modules()):
        warnings.warn(f"{net.name} called no ReLU (nn.ReLU, nn.ReLU6, F.relu, torch.relu) below this unit, so the "
                      f"{rule} rule had nothing to act on: the result is the plain gradient", stacklevel=3)
