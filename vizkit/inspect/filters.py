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


def filter_smoothness(weights: torch.Tensor) -> torch.Tensor:
    """Per-filter roughness of (out, in, kh, kw) weights -> (out,) scores >= 0: low = smooth, high = noisy.

    The score is a normalised total variation: the mean absolute difference between
    horizontally and vertically neighbouring weights (within each input channel), divided by the
    standard deviation of the filter's weights. It ignores the filter's scale. Independent
    Gaussian noise scores about 2/sqrt(pi) = 1.13; a k x k linear ramp sqrt(3 / (k^2 - 1))
    (0.35 for k = 5); a constant filter 0.
    """
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"filter_smoothness needs a tensor of weights; got {type(weights).__name__}")
    w = weights.detach().float()
    if w.dim() == 2:
        w = w[None, None]
    elif w.dim() == 3:
        w = w[:, None]
    if w.dim() != 4 or w.shape[-1] < 2 or w.shape[-2] < 2 or w.shape[0] == 0:
        raise ValueError(f"filter_smoothness needs (out, in, kh, kw) weights with kh, kw >= 2; "
                         f"got shape {tuple(weights.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError("the weights contain NaN or infinite values")
    dy = (w[:, :, 1:, :] - w[:, :, :-1, :]).abs().flatten(1)
    dx = (w[:, :, :, 1:] - w[:, :, :, :-1]).abs().flatten(1)
    jumps = torch.cat([dy, dx], dim=1).mean(1)
    spread = w.flatten(1).std(1, unbiased=False)
    return torch.where(spread > 0, jumps / spread.clamp_min(1e-30), torch.zeros_like(spread))
