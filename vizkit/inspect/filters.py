"""Filter weights: what pattern each unit of a layer matches."""

from __future__ import annotations

import torch

from ..hooks import resolve


def filter_weights(net, layer: str) -> torch.Tensor:
    """A copy of a layer's weights: (out, in, kh, kw) for convolutions, (out, in) for linear layers."""
    path, module = resolve(net, layer)
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"layer {layer!r} ({path}: {type(module).__name__}) has no weights; "
                         "pick a convolution (conv1, features.0, …) or a linear layer")
    return weight.detach().clone()
