"""The gradient of one class score with respect to the input, shared by saliency and guided Grad-CAM."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .._types import Target
from ..hooks import frozen, inplace_off, resolve_target, run
from ._units import relu_rule

if TYPE_CHECKING:
    from ..nets import Net


def logit_index(net: Net, logits: torch.Tensor, target: Target) -> int:
    """target (index or name) checked against the model's (N, K) logits."""
    t = resolve_target(net, target)
    if logits.dim() != 2:
        raise ValueError(f"{net.name} gives outputs of shape {tuple(logits.shape)}, not (N, classes) scores")
    if t >= logits.shape[1]:
        raise ValueError(f"target class index {t} is out of range; {net.name} scores {logits.shape[1]} classes")
    return t


def class_gradient(net: Net, inp: torch.Tensor, target: Target, rule: str = "gradient") -> torch.Tensor:
    """(N, C, H, W) d logit_target / d input for a batch of model inputs (pre-softmax score)."""
    xg = inp.detach().clone().requires_grad_(True)
    with frozen(net), inplace_off(net), relu_rule(net, rule), torch.enable_grad():
        logits = run(net, xg)
        t = logit_index(net, logits, target)
        (g,) = torch.autograd.grad(logits[:, t].sum(), xg)
    return g.detach()
