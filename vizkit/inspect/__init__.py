"""Looking at the forward pass: activations, dead filters, filters, feature space."""

from .activations import activation_stats, activations, dead_filters, layer_stats
from .embed import embed, explained_variance, trustworthiness
from .features import NeighbourIndex, features, knn_agreement, nearest, nearest_to
from .filters import filter_smoothness, filter_weights
from .patches import TopPatches, top_patches
from .receptive import RF, receptive_field, receptive_fields

__all__ = ["activations", "activation_stats", "dead_filters", "layer_stats", "filter_weights", "filter_smoothness",
           "features", "nearest", "nearest_to", "NeighbourIndex", "knn_agreement", "embed", "explained_variance",
           "trustworthiness", "RF", "receptive_field", "receptive_fields", "TopPatches", "top_patches"]
