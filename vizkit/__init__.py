"""vizkit: visualizing and understanding convolutional networks, one lecture topic per function."""

from . import plot
from .data import FashionMNIST, open_image, sample_image, sample_images
from .hooks import preserved, record
from .inspect import activation_stats, activations, dead_filters, filter_weights
from .nets import Net, WeightsUnavailableError, available_models, load, wrap
from .train import History, evaluate, train

__version__ = "0.1.0"
__all__ = [
    "plot", "FashionMNIST", "open_image", "sample_image", "sample_images", "preserved", "record",
    "activations", "activation_stats", "dead_filters", "filter_weights",
    "Net", "WeightsUnavailableError", "available_models", "load", "wrap",
    "History", "evaluate", "train",
]
