"""Projecting back to pixels: which pixels made a unit, or a class, respond."""

from .deconvnet import DeconvStep, deconvnet, deconvnet_steps
from .grad_cam import grad_cam, guided_grad_cam
from .gradient import backprop
from .guided_backprop import guided_backprop
from .incremental import Approximation
from .mass import heat_maps, mass_share, object_mask, object_mass
from .occlusion import occlusion, occlusion_activation, occlusion_probs, to_pixels
from .saliency import saliency

__all__ = ["Approximation", "deconvnet", "deconvnet_steps", "DeconvStep", "backprop", "guided_backprop", "saliency",
           "grad_cam", "guided_grad_cam", "occlusion", "occlusion_probs", "occlusion_activation", "to_pixels",
           "mass_share", "heat_maps", "object_mask", "object_mass"]
