"""Exercises of notebooks 09-11 and 13-15: inversion, filter and class visualisation, DeepDream, texture, style
(beyond the contract's nine in implement.py and the first measured ones in measured.py)."""

from __future__ import annotations

from .runner import Exercise, Find, Predict

IMPLEMENTS: list[Exercise] = []
PREDICTIONS: list[Predict] = []
FINDS: list[Find] = []
