"""Projecting one unit back to the pixels by backpropagation, with a ReLU backward rule.

The three classic projections differ only in what the backward pass does at a ReLU:
  backprop (the gradient)   passes the signal where the forward input was positive;
  deconvnet (Zeiler-Fergus) passes the signal where the signal itself is positive;
  guided backprop           passes it only where both are positive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .._types import ImageLike, Position
from ..hooks import frozen, record
from ._units import one_input, pick_unit, relu_rule, unit_seed

if TYPE_CHECKING:
    from ..nets import Net


def project(net: Net, x: ImageLike, layer: str, channel: int, position: Position = None,
            rule: str = "gradient") -> torch.Tensor:
    """(1, C, H, W): a unit (layer, channel, position) sent back to model-input space by `rule`.

    The backward pass starts from the layer's activations with all but the unit set to zero
    (the unit keeps its value); position=None takes the channel's strongest position for x. A channels-last layer
    (hooks.layout) is read with its channels as channels.
    rule: "gradient", "deconvnet" or "guided". Unnormalised: scale it for display.
    """
    inp = one_input(net, x).requires_grad_(True)
    with frozen(net), relu_rule(net, rule), record(net, layer, keep_graph=True, stop=True) as rec:
        with torch.enable_grad():
            rec.forward(inp)
        a, lay = rec[layer], rec.layouts.get(layer)
        unit = pick_unit(a, layer, channel, position, grid=lay is None or lay.grid)
        if not a.requires_grad:
            raise ValueError(f"layer {layer!r} does not depend on the input image")
        (g,) = torch.autograd.grad(a, inp, grad_outputs=unit_seed(a, unit))
    return g.detach()


def backprop(net: Net, x: ImageLike, layer: str, channel: int, position: Position = None) -> torch.Tensor:
    """(1, C, H, W): the plain gradient of one unit with respect to x (a model input), scaled by the unit's value."""
    return project(net, x, layer, channel, position, rule="gradient")
