"""Exercises of notebooks 01-06: activations, training, filters, neighbours, embeddings, receptive fields
(beyond the contract's nine in implement.py and the first measured ones in measured.py)."""

from __future__ import annotations

from .runner import Exercise, Find, Predict

IMPLEMENTS: list[Exercise] = []
PREDICTIONS: list[Predict] = []
FINDS: list[Find] = []
