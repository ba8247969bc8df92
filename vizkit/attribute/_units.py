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


def pick_unit(activation: torch.Tensor, layer: str, channel, position: Position = None) -> tuple:
    """(channel, y, x) of a (1, C, h, w) map, or (channel,) of a (1, D) vector.

    position=None picks the channel's strongest position (the first in row-major order on ties).
    """
    c = check_channel(activation, layer, channel)
    if activation.dim() == 2:
        if position is not None:
            raise ValueError(f"layer {layer!r} gives a vector, not maps: leave position=None")
        return (c,)
    if activation.dim() != 4:
        raise ValueError(f"layer {layer!r} gives outputs of shape {tuple(activation.shape[1:])}; "
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
    """ReLU forward (in place if asked); backward by a rule: "deconvnet" rectifies the signal, "guided" also
    masks it where the ReLU's output was zero (backprop's mask), both dropping negative signals."""

    @staticmethod
    def forward(ctx, x, rule, inplace):
        ctx.rule = rule
        if inplace:
            ctx.mark_dirty(x)
            out = x.clamp_(min=0)
        else:
            out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        signal = grad.clamp(min=0)
        if ctx.rule == "guided":
            signal = signal * (out > 0)
        return signal, None, None


RULES = ("gradient", "deconvnet", "guided")
_RELUS = {F.relu: False, torch.relu: False, torch.Tensor.relu: False,
          F.relu_: True, torch.relu_: True, torch.Tensor.relu_: True}


class _ReLURule(TorchFunctionMode):
    """Every ReLU the forward pass calls (nn.ReLU modules, F.relu, torch.relu, x.relu()) follows the rule."""

    def __init__(self, rule: str):
        super().__init__()
        self.rule, self.calls = rule, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELUS and args and isinstance(args[0], torch.Tensor):
            self.calls += 1
            # x.relu_() must work in place; F.relu(x, inplace=True) need not (its result is what is used)
            return _RuleReLU.apply(args[0], self.rule, _RELUS[func])
        return func(*args, **kwargs)


@contextlib.contextmanager
def relu_rule(net: Net, rule: str):
    """Within the block, every ReLU's backward follows `rule` ("gradient" changes nothing): nn.ReLU modules
    and functional calls alike. A model that calls no ReLU, and has no nn.ReLU, gets a warning: the result
    is then the plain gradient."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}")
    if rule == "gradient":
        yield
        return
    mode = _ReLURule(rule)
    with mode:
        yield
    if mode.calls == 0 and not any(isinstance(m, nn.ReLU) for m in net.model.modules()):
        warnings.warn(f"{net.name} called no ReLU (nn.ReLU, F.relu, torch.relu) below this unit, so the {rule} "
                      "rule had nothing to act on: the result is the plain gradient", stacklevel=3)
