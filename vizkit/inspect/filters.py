"""Filter weights: what pattern each unit of a layer matches."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..hooks import resolve
from .features import one_layer

if TYPE_CHECKING:
    from ..nets import Net


def filter_weights(net: Net, layer: str) -> torch.Tensor:
    """A copy of a layer's weights: (out, in, kh, kw) for convolutions, (out, in) for linear layers."""
    path, module = resolve(net, one_layer(layer))
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
    (0.35 for k = 5); a constant filter 0. Only 4-D weights are taken: a linear layer's (out, in) weights have
    no neighbouring positions to compare (one (kh, kw) filter is w[None, None]).
    """
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"filter_smoothness needs a tensor of weights (e.g. vk.filter_weights(net, 'conv1')); "
                        f"got {type(weights).__name__}")
    if weights.is_complex() or weights.dtype == torch.bool:
        raise TypeError(f"filter_smoothness needs real-valued weights; got dtype {weights.dtype}")
    shape = tuple(weights.shape)
    if weights.dim() == 2:
        raise ValueError(f"filter_smoothness needs (out, in, kh, kw) conv filters; got 2-D weights of shape {shape}, "
                         "as a linear layer's (out, in) weights are, and those have no spatial neighbours to be smooth "
                         "or rough across. Pick a convolution (e.g. vk.filter_weights(net, 'conv1')); for one "
                         "(kh, kw) filter pass w[None, None]")
    if weights.dim() == 3:
        raise ValueError(f"filter_smoothness needs (out, in, kh, kw) conv filters; got 3-D weights of shape {shape}: "
                         "pass w[:, None] for (out, kh, kw) filters or w[None] for one (in, kh, kw) filter")
    w = weights.detach().double()  # float64: differences of huge float32 weights would overflow
    if w.dim() != 4 or w.shape[-1] < 2 or w.shape[-2] < 2 or w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"filter_smoothness needs (out, in, kh, kw) weights with out, in >= 1 and kh, kw >= 2 "
                         f"(a convolution's); got shape {shape}")
    bad = ~torch.isfinite(w.flatten(1)).all(1)
    if bad.any():
        shown = bad.nonzero()[:, 0].tolist()
        raise ValueError(f"the weights of {len(shown)} of {len(w)} filters contain NaN or infinite values "
                         f"(filters {shown[:10]}{' …' if len(shown) > 10 else ''}); did the training diverge?")
    dy = (w[:, :, 1:, :] - w[:, :, :-1, :]).abs().flatten(1)
    dx = (w[:, :, :, 1:] - w[:, :, :, :-1]).abs().flatten(1)
    jumps = torch.cat([dy, dx], dim=1).mean(1)
    spread = w.flatten(1).std(1, unbiased=False)
    score = torch.where(spread > 0, jumps / spread.clamp_min(1e-300), torch.zeros_like(spread))
    return score.float()
