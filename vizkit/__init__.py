"""vizkit: visualizing and understanding convolutional networks, one lecture topic per function."""

from .data import FashionMNIST, open_image, sample_image, sample_images
from .hooks import preserved, record
from .nets import Net, WeightsUnavailableError, available_models, load, wrap
from .train import History, evaluate, train

__version__ = "0.1.0"
