"""Zeiler & Fergus's deconvnet: a unit's activation sent back to the pixels through the layers below.

For a chain of conv / ReLU / max-pool layers (fashion-cnn, AlexNet and VGG up to pool5) the path is
made explicit, layer by layer, going down from the unit:
  max-pool -> unpool: put each value back where the forward pass found the maximum (the switches);
  ReLU     -> rectify: keep the positive part of the signal;
  conv     -> filter: transposed convolution with the same filters (flipped, channels swapped).
Overlapping pools (AlexNet's 3x3, stride 2) add the values that land on the same switch.
For other graphs (branches, batch-norm: ResNet) the same result comes from the gradient with the
deconvnet rule at every ReLU (see gradient.py); on chains the two agree (tested).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .._types import ImageLike, Position
from ..hooks import frozen, resolve
from ._chain import Link, NotAChain, trace_chain
from ._units import one_input, pick_unit, unit_seed
from .gradient import project

if TYPE_CHECKING:
    from ..nets import Net

CHAIN_LAYERS = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout, nn.Identity)


@dataclass
class DeconvStep:
    """One step of the explicit path: the layer undone (its alias, else its module path), what was done
    ("unit", "unpool", "rectify", "filter", "identity"), and the signal after it, (1, C, h, w) in that
    layer's input space."""

    layer: str
    kind: str
    signal: torch.Tensor


class NotAChainError(ValueError):
    """The layers below a unit are not a plain chain of conv / ReLU / max-pool layers."""


def _forward_chain(net: Net, inp: torch.Tensor, layer: str) -> tuple[list[Link], torch.Tensor]:
    """The chain of leaf modules up to `layer` (trace_chain), each of a kind the explicit path can undo; the layer's
    activation, which must be (1, C, h, w) maps."""
    _, target = resolve(net, layer)
    try:
        with torch.no_grad():
            links, out = trace_chain(net, inp, until=target)
    except NotAChain as e:
        if e.reached is not None:
            _maps(e.reached, layer)  # a layer without maps is the user's to fix, chain or not
        raise
    _maps(out, layer)
    for link in links:
        module = link.module
        if not isinstance(module, CHAIN_LAYERS) or link.flatten:
            raise NotAChain(f"{link.name} ({type(module).__name__})")
        if isinstance(module, nn.Conv2d) and (module.padding_mode != "zeros" or module.padding == "same"
                                              and any(k % 2 == 0 for k in module.kernel_size)):
            raise NotAChain(f"{link.name} (padding {module.padding!r}, {module.padding_mode})")
    return links, out


def _maps(out: torch.Tensor, layer: str) -> None:
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"deconvnet projects units of convolutional layers (C, h, w maps); layer {layer!r} "
                         f"gives {shape}. Pick a conv, ReLU or pooling layer")


def _switches(pool: nn.MaxPool2d, x: torch.Tensor) -> torch.Tensor:
    """Where each window of a max-pool found its maximum in x (flat indices per channel): the switches."""
    return F.max_pool2d(x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode,
                        return_indices=True)[1]


def _padding(conv: nn.Conv2d) -> tuple[int, int]:
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        (kh, kw), (dh, dw) = conv.kernel_size, conv.dilation
        return (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
    if isinstance(conv.padding, str):
        raise ValueError(f"unknown padding {conv.padding!r}")  # nn.Conv2d takes no other string
    ph, pw = conv.padding
    return (ph, pw)


def _filter(signal: torch.Tensor, conv: nn.Conv2d, in_shape) -> torch.Tensor:
    """Transposed convolution with the layer's own filters (no bias), back to its input's size."""
    pad = _padding(conv)
    extra = []
    for axis in range(2):
        size = ((signal.shape[2 + axis] - 1) * conv.stride[axis] - 2 * pad[axis]
                + conv.dilation[axis] * (conv.kernel_size[axis] - 1) + 1)
        extra.append(in_shape[2 + axis] - size)
    return F.conv_transpose2d(signal, conv.weight, None, conv.stride, pad, tuple(extra), conv.groups,
                              conv.dilation)


def _unpool(signal: torch.Tensor, switches: torch.Tensor, in_shape) -> torch.Tensor:
    """Each pooled value back at its switch (the recorded position of the maximum); collisions add."""
    n, c, h, w = in_shape
    out = signal.new_zeros(n, c, h * w)
    out.scatter_add_(2, switches.reshape(n, c, -1), signal.reshape(n, c, -1))
    return out.view(n, c, h, w)


def deconvnet_steps(net: Net, x: ImageLike, layer: str, channel: int, position: Position = None) -> list[DeconvStep]:
    """The explicit deconvnet path of one unit of x ((1, C, H, W) model input) down to the pixels, one DeconvStep
    per layer.

    Only for chains of conv / ReLU / max-pool layers below the unit (fashion-cnn, AlexNet, VGG);
    the last step's signal is deconvnet(net, x, layer, channel, position).
    """
    inp = one_input(net, x)
    with frozen(net):
        try:
            calls, act = _forward_chain(net, inp, layer)
        except NotAChain as e:
            raise NotAChainError(f"the layers below {layer!r} in {net.name} are not a chain of conv / ReLU / "
                                 f"max-pool layers (at {e}); use deconvnet(), which then follows the "
                                 "gradient rule") from None
        unit = pick_unit(act, layer, channel, position)
        signal = unit_seed(act, unit)
        steps = [DeconvStep(layer, "unit", signal)]
        alias: dict[str, str] = {}
        for name, path in getattr(net, "layers", {}).items():
            alias.setdefault(path, name)
        with torch.no_grad():
            for link in reversed(calls):
                module, x_in = link.module, link.input
                if isinstance(module, nn.Conv2d):
                    signal, kind = _filter(signal, module, x_in.shape), "filter"
                elif isinstance(module, nn.ReLU):
                    signal, kind = signal.clamp(min=0), "rectify"
                elif isinstance(module, nn.MaxPool2d):
                    signal, kind = _unpool(signal, _switches(module, x_in), x_in.shape), "unpool"
                else:
                    kind = "identity"
                steps.append(DeconvStep(alias.get(link.name, link.name), kind, signal))
    return steps


def deconvnet(net: Net, x: ImageLike, layer: str, channel: int, position: Position = None) -> torch.Tensor:
    """(1, C, H, W): Zeiler & Fergus's projection of one unit to model-input space. Unnormalised.

    The unit is (layer, channel, position), position=None taking the channel's strongest position;
    all other activations of the layer are set to zero. Chains of conv / ReLU / max-pool use the
    explicit path (deconvnet_steps); other networks the gradient-rule formulation, with a warning.
    """
    try:
        return deconvnet_steps(net, x, layer, channel, position)[-1].signal
    except NotAChainError:
        pass
    warnings.warn(f"{net.name}: the layers below {layer!r} are not a plain conv / ReLU / max-pool chain; "
                  "deconvnet uses the gradient-rule formulation (rectify the signal at every ReLU)",
                  stacklevel=2)
    return project(net, x, layer, channel, position, rule="deconvnet")
