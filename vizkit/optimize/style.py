"""Texture synthesis and neural style transfer (Gatys, Ecker & Bethge 2015, 2016).

A texture is described by the Gram matrices G = F F^T / (h w) of a network's feature maps F at a few
layers: which channels fire together, wherever in the image. Texture synthesis starts from noise and
matches them:

    sum_l w_l ||G_l(x) - G_l(texture)||^2 / ||G_l(texture)||^2

Style transfer adds a content term, the normalised error to the content image's features at one
layer, and starts from the content image:

    content_weight * ||F(x) - F(content)||^2 / ||F(content)||^2 + style_weight * (the sum above, for the style)
        + tv_weight * TV(x)

Both terms are normalised (each is 1 when x is blank), so the weights say how much each matters
relative to the other; they are not Gatys et al.'s raw alpha and beta, whose sums are unnormalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .. import _check
from .._types import ImageLike
from ..data import open_image
from ..hooks import ACTIVATIONS, frozen, image_maps, layers_of_type, record, resolve_layers
from ..inspect._inputs import as_input
from ..settings import RunOptions, RunSettings, StyleSettings, run_settings
from .objectives import Objective, feature_match, gram, gram_match, total_variation
from .param import Sigmoid
from .render import OPTIMIZE_RUN, Result, optimize_with

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..nets import Net


def image_pixels(net: Net, image: ImageLike, size: int | None = None, what: str = "the image") -> torch.Tensor:
    """An image -> (1, C, H, W) pixels in [0, 1], at its own size or with its shorter side resized to `size`.

    image: a (1, C, H, W) model input (de-normalised here), a (C, H, W) or (1, C, H, W) [0, 1] tensor read as
    pixels when 3-D, or anything vk.open_image takes (path, bytes, PIL image, array). Unlike net.preprocess,
    nothing is cropped: textures and styles may have any shape.
    """
    if isinstance(image, torch.Tensor):
        x = image.detach()
        if x.dim() == 4:
            if x.shape[0] != 1 or x.shape[1] != net.channels:
                raise ValueError(f"{what} must be one model input (1, {net.channels}, H, W); got {tuple(x.shape)}")
            x = net.pixels(as_input(net, x))
        elif x.dim() == 3 and x.shape[0] in (1, 3):
            x = _check.pixels(x.float(), what)[None]
            if x.shape[1] != net.channels:
                x = x.mean(1, keepdim=True) if net.channels == 1 else x.expand(-1, 3, -1, -1)
        else:
            raise ValueError(f"{what} must be a (1, C, H, W) model input or a (C, H, W) tensor of [0, 1] pixels; "
                             f"got shape {tuple(x.shape)}")
    else:
        img = open_image(image).convert("L" if net.channels == 1 else "RGB")
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).float().div(255)
        x = x.view(img.size[1], img.size[0], net.channels).permute(2, 0, 1)[None].contiguous()
    if size is not None:
        short = _check.integer(size, "size", 8)
        h, w = x.shape[2:]
        scale = short / min(h, w)
        x = F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="bilinear",
                          align_corners=False, antialias=scale < 1)
    return x.clamp(0, 1).to(net.device, net.dtype)


def grams(net: Net, pixels: torch.Tensor, layers: list[str], what: str = "the image") -> dict[str, torch.Tensor]:
    """layer -> (1, C, C) Gram matrix of the image's maps there (and a clear error if a layer gives none)."""
    acts = _features(net, pixels, layers, what)
    return {n: gram(a) for n, a in acts.items()}


def synthesize_texture(net: Net, texture: ImageLike, layers: str | Sequence[str] | None = None, steps: int = 200,
                       size: int | None = None, layer_weights: Sequence[float] | None = None,
                       optimizer: str = "lbfgs", lr: float | None = None, init: ImageLike | None = None,
                       **run: Unpack[RunOptions]) -> Result:
    """Result: an image whose Gram matrices at `layers` match the texture's, grown from seeded noise.

    texture: any image (see image_pixels); size: resize its shorter side first (the output has the texture's
    size); layers: names or aliases, e.g. ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]; layer_weights: one
    weight per layer (default 1 each). optimizer "lbfgs" (lr 1 by default) or "adam" (lr 0.02).
    init: (1, C, H, W) [0, 1] pixels to start from instead of noise. Result.terms has each layer's Gram error.
    run: seed (of the starting noise), every, callback, progress.
    """
    settings = run_settings(run, "synthesize_texture", OPTIMIZE_RUN)
    target = image_pixels(net, texture, size, "the texture")
    layers = default_layers(net, target) if layers is None else resolve_layers(net, layers, "layers")
    goals = grams(net, target, layers, "the texture")
    objective = _gram_objective(goals, _weights(layer_weights, layers))
    start = starting_noise(target, settings.seed) if init is None else _init(init, target)
    return _run(net, objective, start, steps, optimizer, lr, settings, "texture")


def style_transfer(net: Net, content: ImageLike, style: ImageLike, steps: int = 200,
                   settings: StyleSettings | None = None, **run: Unpack[RunOptions]) -> Result:
    """Result (.image (1, C, H, W) in [0, 1]): the content image repainted with the style's Gram matrices (Gatys et
    al. 2016).

    content, style: any images (see image_pixels). settings: a vk.StyleSettings (layers, weights, sizes, start,
    optimizer; None: its defaults): its size is the content's shorter side (default: as given), style_size the
    style's (default: the content's, so both are seen at the same scale); style_layers default as default_layers;
    content_layer defaults to relu4_2 (Gatys et al.'s conv4_2, rectified) where the net has it, else the
    second-to-last style layer; content_weight and style_weight weigh the normalised errors (see the module
    docstring). Result.terms has the content error and each layer's Gram error. run: seed (of a noise start),
    every, callback, progress.
    """
    if settings is None:
        settings = StyleSettings()
    if not isinstance(settings, StyleSettings):
        raise TypeError(f"settings must be a vk.StyleSettings (e.g. vk.StyleSettings(style_weight=10)); got "
                        f"{type(settings).__name__}")
    how = run_settings(run, "style_transfer", OPTIMIZE_RUN)
    c = image_pixels(net, content, settings.size, "the content image")
    style_layers = default_layers(net, c) if settings.style_layers is None else \
        resolve_layers(net, settings.style_layers, "style_layers")
    content_layer = settings.content_layer
    if content_layer is None:
        content_layer = "relu4_2" if "relu4_2" in net.layers else style_layers[max(0, len(style_layers) - 2)]
    content_layer = resolve_layers(net, content_layer, "content_layer")[0]
    s = image_pixels(net, style, min(c.shape[2:]) if settings.style_size is None else settings.style_size,
                     "the style image")
    goal = _features(net, c, [content_layer], "the content image")[content_layer]
    objective = settings.content_weight * feature_match(content_layer, goal)
    objective = objective + settings.style_weight * _gram_objective(
        grams(net, s, style_layers, "the style image"), _weights(settings.layer_weights, style_layers))
    if settings.tv_weight:
        objective = objective + settings.tv_weight * total_variation(2.0)
    start = c if settings.init == "content" else starting_noise(c, how.seed)
    return _run(net, objective, start, steps, settings.optimizer, settings.lr, how, "style transfer")


def default_layers(net: Net, pixels: torch.Tensor) -> list[str]:
    """Gatys et al.'s relu1_1 ... relu5_1 where the net has them (VGG); otherwise every ReLU layer that
    gives maps over the image it reaches, for this image (random-multiscale: relu_3x3 ... relu_15x15); with no
    such ReLU, five of the other activations' spread over the depth (GELU in ConvNeXt and Swin, ReLU6, SiLU,
    Hardswish), and with none of those (ReLUs called as F.relu: GoogLeNet, Inception; one ReLU module called in
    several places: ResNet), five convolutions'."""
    names: list[str] = [n for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1") if n in net.layers]
    if names:
        return names
    why = ""
    for types in ((torch.nn.ReLU,), ACTIVATIONS, (torch.nn.Conv2d,)):
        relus = image_maps(net, layers_of_type(net, types))
        try:
            acts = _features(net, pixels, relus, "the image", maps_only=False) if relus else {}
        except ValueError as e:   # e.g. one ReLU module called at several places (ResNet's blocks): try the next kind
            why = f"; {e}"
            continue
        names = [n for n in relus if acts[n].dim() == 4]
        if len(names) > 5 and types != (torch.nn.ReLU,):  # five spread over the depth, as Gatys et al.'s
            names = [names[round(i * (len(names) - 1) / 4)] for i in range(5)]
        if names:
            return names
    raise ValueError(f"{net.name} has no ReLU, activation or conv layers with feature maps: pass layers=[...] "
                     f"(its layers: {list(net.layers)}){why}")


# --------------------------------------------------------------------------- shared

def _weights(weights, layers: list[str]) -> list[float]:
    if weights is None:
        return [1.0] * len(layers)
    if isinstance(weights, dict):
        unknown = set(weights) - set(layers)
        if unknown:
            raise KeyError(f"layer_weights names layers not in use: {sorted(unknown)}; layers: {layers}")
        weights = [weights.get(n, 1.0) for n in layers]
    if not isinstance(weights, (list, tuple)) or len(weights) != len(layers):
        raise ValueError(f"layer_weights needs one weight per layer ({len(layers)}: {layers}); got {weights!r}")
    return [_check.number(w, f"the weight of {n}", 0, open_low=True) for w, n in zip(weights, layers)]


def _features(net: Net, pixels: torch.Tensor, layers: list[str], what: str, maps_only: bool = True) -> dict:
    """layer -> (1, C, h, w) maps of the image; a layer without maps, or an image too small, is a ValueError."""
    try:
        with frozen(net), torch.no_grad(), record(net, layers, stop=True) as rec:
            rec.forward(net.normalize(pixels))
    except ValueError as e:
        raise ValueError(f"{what} ({pixels.shape[2]}x{pixels.shape[3]} px) is too small or of the wrong shape "
                         f"for {net.name} up to {layers[-1]}: {e}") from None
    for n in layers if maps_only else []:
        a = rec[n]
        if a.dim() != 4:
            raise ValueError(f"layer {n!r} gives {tuple(a.shape[1:])}, not feature maps: Gram matrices need "
                             "conv, ReLU or pooling layers")
        if min(a.shape[2:]) < 1:
            raise ValueError(f"{what} ({pixels.shape[2]}x{pixels.shape[3]} px) is too small for {n!r}: use a "
                             "larger image (size=) or shallower layers")
    return dict(rec)


def _gram_objective(goals: dict, weights: list[float]):
    objective = None
    for (name, goal), w in zip(goals.items(), weights):
        part = w * gram_match(name, goal)
        objective = part if objective is None else objective + part
    return objective


def starting_noise(like: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(1, C, H, W) pixels in [0, 1] that texture synthesis (and style transfer from noise) start from, for a
    (1, C, H, W) image `like`: its mean colour plus seeded Gaussian noise of standard deviation 0.2."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(like.shape, generator=gen).to(like) * 0.2
    return (like.mean((2, 3), keepdim=True) + noise).clamp(0, 1)


def _init(init, like: torch.Tensor) -> torch.Tensor:
    x = _check.pixels(torch.as_tensor(init).float(), "init")
    if x.dim() != 4 or x.shape[:2] != like.shape[:2]:
        raise ValueError(f"init must be (1, {like.shape[1]}, H, W) pixels; got {tuple(x.shape)}")
    return x.to(like)


def _run(net: Net, objective: Objective, start: torch.Tensor, steps: int, optimizer: str, lr: float | None,
         settings: RunSettings, desc: str) -> Result:
    _check.choice(optimizer, "optimizer", ["lbfgs", "adam"])
    lr = (1.0 if optimizer == "lbfgs" else 0.02) if lr is None else lr
    return optimize_with(net, objective, Sigmoid(start), steps, settings, lr=lr, optimizer=optimizer, desc=desc)
