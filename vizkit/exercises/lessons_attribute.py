"""Exercises of notebooks 07, 08 and 12: deconvnet, saliency, occlusion, adversarial examples
(beyond the contract's nine in implement.py and the first measured ones in measured.py)."""

from __future__ import annotations

from .runner import Exercise, Find, Predict

IMPLEMENTS: list[Exercise] = []
PREDICTIONS: list[Predict] = []
FINDS: list[Find] = []
