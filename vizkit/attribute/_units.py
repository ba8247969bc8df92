"""What the projection techniques share: one input image, one chosen unit, and ReLU backward rules."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from ..inspect._inputs import as_input


def one_input(net, x) -> torch.Tensor:
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


def pick_unit(activation: torch.Tensor, layer: str, channel, position=None) -> tuple:
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
    """ReLU forward; backward by a rule: "deconvnet" rectifies the signal, "guided" also masks it by
    the forward input's sign (backprop's mask), both dropping negative signals."""

    @staticmethod
    def forward(ctx, x, rule):
        ctx.rule = rule
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        out = grad.clamp(min=0)
        if ctx.rule == "guided":
            out = out * (x > 0)
        return out, None


RULES = ("gradient", "deconvnet", "guided")


@contextlib.contextmanager
def relu_rule(net, rule: str):
    """Within the block, every nn.ReLU's backward follows `rule` ("gradient" changes nothing).

    Needs in-place ReLUs turned off (record(keep_graph=True) or inplace_off does it): an in-place
    ReLU would have overwritten the input the rule reads.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}")
    if rule == "gradient":
        yield
        return
    relus = [m for m in net.model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(f"{net.name} has no nn.ReLU modules, so the {rule} rule has nothing to act on "
                         "(a ReLU called as a function cannot be reached)")

    def hook(module, inputs, output):
        return _RuleReLU.apply(inputs[0], rule)

    handles = [m.register_forward_hook(hook) for m in relus]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
