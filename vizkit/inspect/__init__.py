"""Looking at the forward pass: activations, dead filters, filter weights."""

from .activations import activation_stats, activations, dead_filters
from .filters import filter_smoothness, filter_weights

__all__ = ["activations", "activation_stats", "dead_filters", "filter_weights", "filter_smoothness"]
