"""Optimising an input image: one loop (render.optimize), composable objectives, parametrisations and
transforms, and the techniques built on them."""

from . import objectives, param, transforms
from .adversarial import fgsm, pgd
from .dream import deepdream
from .invert import invert
from .objectives import Objective, gram
from .render import Result, optimize
from .style import image_pixels, starting_noise, style_transfer, synthesize_texture
from .visualize import visualize_class, visualize_filter

__all__ = ["objectives", "param", "transforms", "Objective", "Result", "optimize", "gram", "invert", "image_pixels",
           "visualize_filter", "visualize_class",
           "fgsm", "pgd", "deepdream", "synthesize_texture", "starting_noise", "style_transfer"]
