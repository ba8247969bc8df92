"""Do saliency maps find the object? The share of each map's mass on the object's pixels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .._types import ImageLike, Target
from ..hooks import frozen, resolve_target, run
from ..measure import mass_share, object_mask
from ._units import one_input
from .grad_cam import grad_cam, guided_grad_cam
from .occlusion import occlusion, to_pixels
from .saliency import saliency

if TYPE_CHECKING:
    from ..nets import Net

METHODS = ("occlusion", "gradient", "SmoothGrad", "Grad-CAM", "guided Grad-CAM")
"""The heat-map methods `heat_maps` computes, in its order."""


def heat_maps(net: Net, x: ImageLike, target: Target, layer: str, window: int = 6, stride: int = 2, smooth: int = 16,
              methods=METHODS, fill: float | str = "mean") -> dict[str, torch.Tensor]:
    """Method -> (H, W) non-negative map of where the evidence for class target lies, on the input grid.

    occlusion: the fall of the target's probability, max(p - p_occluded, 0), averaged over the windows
    covering each pixel (window, stride, fill as for vk.occlusion); gradient / SmoothGrad: saliency;
    Grad-CAM at `layer`; guided Grad-CAM: its largest magnitude over colour channels.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    inp = one_input(net, x)
    t = resolve_target(net, target)
    out = {}
    for m in methods:
        if m == "occlusion":
            with frozen(net), torch.no_grad():
                p = float(torch.softmax(run(net, inp).float(), 1)[0, t])
            drop = (p - occlusion(net, inp, t, window, stride, fill, progress=False)).clamp(min=0)
            out[m] = to_pixels(drop, window, stride, inp.shape[2:])
        elif m == "gradient":
            out[m] = saliency(net, inp, t)
        elif m == "SmoothGrad":
            out[m] = saliency(net, inp, t, smooth=smooth)
        elif m == "Grad-CAM":
            out[m] = grad_cam(net, inp, t, layer)
        else:
            out[m] = guided_grad_cam(net, inp, t, layer)[0].abs().amax(0)
    return out


def object_mass(net: Net, dataset: Dataset, indices, layer: str, threshold: float = 0.05, margins=(0,),
                progress: bool = True,
                **options) -> dict[str, np.ndarray]:
    """For dataset items (image in [0, 1] on a black background, label), the share of each method's map
    (explaining the true label) on the object's pixels -> method -> (N, len(margins)) shares, one column
    per margin (the object grown by that many pixels); "object" -> the share of the image it covers.

    options go to heat_maps (window, stride, fill, smooth, methods).
    """
    indices = list(indices)
    if not indices:
        raise ValueError("object_mass needs at least one image index")
    shares: dict[str, list[list[float]]] = {}
    for i in tqdm(indices, desc="object mass", unit="img", disable=not progress, mininterval=0.5):
        image, label = dataset[i]
        masks = [object_mask(image, threshold, m) for m in margins]
        maps = heat_maps(net, net.normalize(image.unsqueeze(0)), int(label), layer, **options)
        shares.setdefault("object", []).append([float(m.double().mean()) for m in masks])
        for name, heat in maps.items():
            row = [mass_share(heat, m) if float(heat.sum()) > 0 else float("nan") for m in masks]
            shares.setdefault(name, []).append(row)
    return {k: np.asarray(v) for k, v in shares.items()}
