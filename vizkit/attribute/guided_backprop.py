"""Guided backpropagation (Springenberg et al. 2015): backprop and deconvnet combined at every ReLU."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .._types import ImageLike, Position
from .gradient import project

if TYPE_CHECKING:
    from ..nets import Net


def guided_backprop(net: Net, x: ImageLike, layer: str, channel: int, position: Position = None) -> torch.Tensor:
    """(1, C, H, W): one unit projected to model-input space, passing a signal through a ReLU only
    where the forward input was positive and the signal is positive. Unnormalised.

    The unit is (layer, channel, position); position=None takes the channel's strongest position.
    """
    return project(net, x, layer, channel, position, rule="guided")
