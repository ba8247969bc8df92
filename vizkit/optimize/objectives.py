"""Objectives: small named losses to minimise, combined with +, - and * by a number.

Each term reads the activations the forward pass recorded (layer -> tensor, plus "output" for the
logits) and the image in [0, 1] pixels, and returns one loss per image in the batch (B,). Terms that
make a unit fire return its activation negated, so that minimising the total raises it.

    objective = channel("conv3", 5) + 0.1 * total_variation(2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .._types import Position

OUTPUT = "output"  # the name under which the model's output (the logits) is recorded


@dataclass
class Term:
    """One named loss: fn(acts, image) -> (B,); layers it reads ("output" for the logits)."""

    name: str
    fn: object
    layers: tuple = ()


@dataclass
class Objective:
    """A weighted sum of Terms; call it on (acts, image) -> (total (B,), {name: unweighted (B,)})."""

    terms: list = field(default_factory=list)   # [(weight, Term)]

    @property
    def layers(self) -> list[str]:
        """Every layer a term reads (the model's output last), without repeats."""
        names = [n for _, t in self.terms for n in t.layers]
        return list(dict.fromkeys(names))

    @property
    def names(self) -> list[str]:
        """The terms' names, in order."""
        return [t.name for _, t in self.terms]

    def __call__(self, acts: dict, image: torch.Tensor):
        parts = {}
        total = None
        for weight, term in self.terms:
            value = term.fn(acts, image)
            parts[term.name] = value
            weighted = value if weight == 1.0 else weight * value
            total = weighted if total is None else total + weighted
        return total, parts

    def __add__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + other.terms)

    def __sub__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-1.0) * other

    def __mul__(self, k):
        if isinstance(k, bool) or not isinstance(k, (int, float)):
            return NotImplemented
        return Objective([(w * float(k), t) for w, t in self.terms])

    __rmul__ = __mul__

    def __neg__(self):
        return -1.0 * self

    def __repr__(self) -> str:
        return " + ".join(f"{w:g} * {t.name}" for w, t in self.terms) or "Objective()"


def term(name: str, fn, layers: str | Sequence[str] = ()) -> Objective:
    """An Objective of one term named `name`."""
    return Objective([(1.0, Term(name, fn, tuple(layers)))])


# --------------------------------------------------------------------------- what to make fire

def channel(layer: str, index: int) -> Objective:
    """Minus the mean activation of one channel of a layer (maximises the channel)."""
    return term(f"-mean {layer}[{index}]", lambda acts, image: -_flat(acts[layer][:, index]).mean(1), [layer])


def neuron(layer: str, index: int, position: Position = None) -> Objective:
    """Minus one unit's activation; position (y, x), or None for the map's centre."""
    def fn(acts, image):
        a = acts[layer][:, index]
        if a.dim() == 1:
            return -a
        y, x = position if position is not None else (a.shape[1] // 2, a.shape[2] // 2)
        return -a[:, y, x]
    where = "" if position is None else f" at {tuple(position)}"
    return term(f"-{layer}[{index}]{where}", fn, [layer])


def class_logit(index: int) -> Objective:
    """Minus the class score (the logit before the softmax)."""
    return term(f"-logit[{index}]", lambda acts, image: -acts[OUTPUT][:, index], [OUTPUT])


def dream(layer: str, index: int | None = None) -> Objective:
    """DeepDream: minus half the mean squared activation of a layer (or of one of its channels)."""
    def fn(acts, image):
        a = acts[layer] if index is None else acts[layer][:, index]
        return -0.5 * _flat(a).pow(2).mean(1)
    return term(f"-L2 {layer}" + ("" if index is None else f"[{index}]"), fn, [layer])


# --------------------------------------------------------------------------- what to match

def feature_match(layer: str, target: torch.Tensor) -> Objective:
    """||Phi(x) - Phi_0||^2 / ||Phi_0||^2: the normalised squared error to a layer's target features."""
    goal = target.detach()
    norm = goal.pow(2).sum().clamp_min(1e-12)
    return term(f"features {layer}", lambda acts, image: _flat(acts[layer] - goal).pow(2).sum(1) / norm, [layer])


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) maps -> (B, C, C) channel correlations, divided by the number of positions h * w."""
    b, c = features.shape[:2]
    f = features.reshape(b, c, -1)
    return f @ f.transpose(1, 2) / f.shape[2]


def gram_match(layer: str, target: torch.Tensor) -> Objective:
    """||G(x) - G_0||^2 / ||G_0||^2 for the Gram matrix G of a layer's maps; target: (1, C, C) or (C, C)."""
    goal = target.detach().reshape(1, *target.shape[-2:])
    norm = goal.pow(2).sum().clamp_min(1e-12)
    return term(f"gram {layer}", lambda acts, image: _flat(gram(acts[layer]) - goal).pow(2).sum(1) / norm, [layer])


# --------------------------------------------------------------------------- image priors

def alpha_norm(alpha: float = 6.0, scale: float = 1.0, center=None) -> Objective:
    """N_alpha = sum |x - center|^alpha / (H W scale^alpha): large alpha keeps pixel values in a range."""
    def fn(acts, image):
        x = image if center is None else image - torch.as_tensor(center, dtype=image.dtype,
                                                                 device=image.device).view(1, -1, 1, 1)
        h, w = image.shape[2:]
        return _flat(x).abs().pow(alpha).sum(1) / (h * w * scale ** alpha)
    return term(f"alpha-norm ({alpha:g})", fn)


def total_variation(beta: float = 2.0, scale: float = 1.0) -> Objective:
    """TV_beta = sum ((x[i, j+1] - x[i, j])^2 + (x[i+1, j] - x[i, j])^2)^(beta / 2) / (H W scale^beta)."""
    def fn(acts, image):
        dx = image[:, :, :-1, 1:] - image[:, :, :-1, :-1]
        dy = image[:, :, 1:, :-1] - image[:, :, :-1, :-1]
        h, w = image.shape[2:]
        # a tiny epsilon keeps the gradient finite where the image is flat and beta < 2
        return _flat((dx.pow(2) + dy.pow(2) + 1e-12).pow(beta / 2)).sum(1) / (h * w * scale ** beta)
    return term(f"TV ({beta:g})", fn)


def l2(center=None) -> Objective:
    """Mean squared pixel value (about center): Simonyan's weight decay on the image."""
    def fn(acts, image):
        x = image if center is None else image - torch.as_tensor(center, dtype=image.dtype,
                                                                 device=image.device).view(1, -1, 1, 1)
        return _flat(x).pow(2).mean(1)
    return term("L2", fn)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)
