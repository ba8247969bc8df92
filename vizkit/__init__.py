"""vizkit: visualizing and understanding convolutional networks, one lecture topic per function.

Techniques run on the model's device (net.device; vk.load picks CUDA when there is one) whatever device their
input is on. Tensors they return live there too, except occlusion maps, TopPatches and training snapshots (CPU);
features, neighbours and embeddings are NumPy arrays.

Everything below is also importable as `vk.<name>` (`import vizkit as vk`). Where each technique lives:

- `vizkit.inspect`: the forward pass: activations, dead filters, filters, features and neighbours, embeddings,
  receptive fields, top patches;
- `vizkit.attribute`: back to pixels: deconvnet, backprop and guided backprop, saliency, Grad-CAM, occlusion;
- `vizkit.optimize`: optimising an image: inversion, filter and class visualisation, adversarial examples,
  DeepDream, texture synthesis, style transfer;
- `vizkit.nets`, `vizkit.data`, `vizkit.hooks`: models, images and datasets, recording and layer lookup;
- `vizkit.measure`: every number a notebook asserts; `vizkit.plot` and `vizkit.ui`: pictures and panels;
- `vizkit.exercises`: the course's exercises and `check`; `vizkit.train`, `vizkit.runs`: training;
- `vizkit.distributed`, `vizkit.scan`: dataset passes over several processes; `vizkit.cli`: `python -m vizkit`.
"""

from . import distributed, measure, plot, runs
from .attribute import (
    Approximation,
    DeconvStep,
    backprop,
    deconvnet,
    deconvnet_steps,
    grad_cam,
    guided_backprop,
    guided_grad_cam,
    mass_share,
    occlusion,
    occlusion_activation,
    occlusion_probs,
    saliency,
)
from .data import FashionMNIST, ImageFolder, open_image, sample_image, sample_images
from .hooks import preserved, record
from .imagenet import ImageNetSection, imagenet_section, imagenet_setting, published_weights
from .inspect import (
    RF,
    NeighbourIndex,
    TopPatches,
    activation_stats,
    activations,
    dead_filters,
    embed,
    explained_variance,
    features,
    filter_smoothness,
    filter_weights,
    knn_agreement,
    layer_stats,
    nearest,
    nearest_to,
    receptive_field,
    receptive_fields,
    top_patches,
    trustworthiness,
)
from .nets import Net, WeightsUnavailableError, available_models, load, wrap
from .optimize import (
    Objective,
    Result,
    deepdream,
    fgsm,
    gram,
    image_pixels,
    invert,
    optimize,
    pgd,
    style_transfer,
    synthesize_texture,
    visualize_class,
    visualize_filter,
)
from .scan import load_scan
from .settings import RunSettings, SnapshotSettings, StyleSettings, TrainSettings
from .train import History, evaluate, train

__version__ = "0.1.0"
__all__ = [
    "distributed", "measure", "plot", "runs", "FashionMNIST", "ImageFolder", "open_image", "sample_image",
    "sample_images", "preserved", "record",
    "activations", "activation_stats", "dead_filters", "layer_stats", "filter_weights", "filter_smoothness",
    "features", "nearest", "nearest_to", "NeighbourIndex", "knn_agreement", "embed", "explained_variance",
    "trustworthiness",
    "RF", "receptive_field", "receptive_fields", "TopPatches", "top_patches", "load_scan",
    "Net", "WeightsUnavailableError", "available_models", "load", "wrap",
    "ImageNetSection", "imagenet_section", "imagenet_setting", "published_weights",
    "History", "evaluate", "train", "RunSettings", "TrainSettings", "SnapshotSettings", "StyleSettings",
    "deconvnet", "deconvnet_steps", "DeconvStep", "backprop", "guided_backprop", "saliency", "grad_cam",
    "guided_grad_cam", "Approximation", "occlusion", "occlusion_probs", "occlusion_activation", "mass_share",
    "optimize", "Objective", "Result", "gram", "image_pixels", "invert", "visualize_filter", "visualize_class",
    "fgsm", "pgd", "deepdream", "synthesize_texture", "style_transfer",
]
