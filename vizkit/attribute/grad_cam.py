"""Grad-CAM (Selvaraju et al. 2017): where in a layer's maps the evidence for a class lies.

With A_k the maps of a conv layer and a_k = mean over positions of d logit_target / d A_k,
    cam = ReLU(sum_k a_k A_k),
upsampled bilinearly to the input and divided by its maximum. Guided Grad-CAM multiplies it with
the guided-backprop gradient of the class score, for pixel-sharp detail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .._types import ImageLike, Target
from ..hooks import frozen, record
from ._class import class_gradient, logit_index
from ._units import one_input

if TYPE_CHECKING:
    from ..nets import Net


def grad_cam(net: Net, x: ImageLike, target: Target, layer: str) -> torch.Tensor:
    """(H, W) Grad-CAM map of the class target at a conv layer, in [0, 1] (all zero stays zero).

    A channels-last layer (a Linear in a ConvNeXt or Swin block, (N, H, W, C)) is read with its channels as
    channels; a layer whose other axes are not the image grid (tokens, windows) or that the image does not reach
    is a ValueError."""
    inp = one_input(net, x).requires_grad_(True)
    with frozen(net), record(net, layer, keep_graph=True) as rec, torch.enable_grad():
        logits = rec.forward(inp)
        a, lay = rec[layer], rec.layouts.get(layer)
        if a.dim() != 4 or (lay is not None and not lay.grid):
            shape = f"{tuple(a.shape[1:])}" + (f", laid out {lay.describe()}" if lay is not None else "")
            raise ValueError(f"Grad-CAM needs a layer with (C, h, w) maps over the image; layer {layer!r} of "
                             f"{net.name} gives {shape}. Pick a conv, ReLU or pooling layer")
        if not a.requires_grad:
            raise ValueError(f"layer {layer!r} of {net.name} does not depend on the input image (e.g. a layer of a "
                             "position table or a constant), so Grad-CAM has nothing to show there; pick a layer "
                             "the image passes through")
        t = logit_index(net, logits, target)
        (g,) = torch.autograd.grad(logits[0, t], a, allow_unused=True)
    if g is None:
        raise ValueError(f"the score of class {t} does not depend on layer {layer!r}")
    weights = g.mean((2, 3), keepdim=True)            # a_k: (1, C, 1, 1)
    cam = (weights * a.detach()).sum(1, keepdim=True).clamp(min=0)
    cam = F.interpolate(cam, size=inp.shape[2:], mode="bilinear", align_corners=False)[0, 0]
    top = cam.max()
    return cam / top if top > 0 else cam


def guided_grad_cam(net: Net, x: ImageLike, target: Target, layer: str) -> torch.Tensor:
    """(1, C, H, W): guided-backprop gradient of the class score times its Grad-CAM map. Unnormalised."""
    cam = grad_cam(net, x, target, layer)
    return class_gradient(net, one_input(net, x), target, rule="guided") * cam
