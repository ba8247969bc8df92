"""Panel for notebook 03: filters of several nets, with their smoothness scores."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from ..inspect import filter_smoothness, filter_weights
from ..nets import Net
from ..plot import filter_mosaic, tile_origin
from ._draw import colours, enlarge, fit, layer, paste, pixels, png, sheet, text, width
from ._panel import Panel, check_dict, check_name, choose


class FiltersPanel(Panel):
    """Pick a net (e.g. trained, untrained, too-high lr), a conv layer and, for deeper layers, an
    input channel; see every filter with its roughness score.
    nets: name -> Net, or name -> {layer: (out, in, kh, kw) weights} for filters kept without their net."""

    def __init__(self, nets: dict, layer: str | None = None):
        super().__init__()
        self.nets = check_dict(nets, "FiltersPanel", "nets", "net", "name -> Net, or name -> {layer: weights}")
        for name, source in self.nets.items():
            if isinstance(source, Mapping):
                self.nets[name] = {check_name(a, f"nets[{name!r}]"): kept_weights(w, f"nets[{name!r}][{a!r}]")
                                   for a, w in source.items()}
            elif not isinstance(source, Net):
                raise TypeError(f"FiltersPanel: nets[{name!r}] must be a vizkit Net or a dict layer -> (out, in, kh, "
                                f"kw) weights; got {type(source).__name__}")
        first_name, first = next(iter(self.nets.items()))
        if isinstance(first, dict):  # kept filters: the layers whose weights are (out, in, kh, kw)
            convs = [a for a in first if first[a].dim() == 4]
            if not convs:
                kept = ", ".join(f"{a!r}: {tuple(w.shape)}" for a, w in first.items())
                raise ValueError(f"the first network, {first_name!r}, has no conv layers to show: it keeps {kept}, and "
                                 "the panel draws a convolution's (out, in, kh, kw) weights")
        else:
            convs = conv_layers(first)
            if not convs:
                raise ValueError(f"the first network, {first_name!r} ({first.name}), has no conv layers to show: none "
                                 f"of its modules is an nn.Conv2d (it has {module_types(first.model)})")
        start = choose(layer, convs, "layer", None if isinstance(first, dict) else first) or convs[0]
        self._weights: dict[tuple, torch.Tensor] = {}  # (net, layer) -> weights
        self._roughness: dict[tuple, torch.Tensor] = {}  # (net, layer) -> each filter's score
        self._labels_drawn: dict[tuple, object] = {}  # (net, layer, picture size) -> the scores as a picture
        self.net = widgets.Dropdown(options=list(self.nets), description="network")
        self.layer = widgets.Dropdown(options=convs, value=start, description="layer")
        self.channel = widgets.IntSlider(0, 0, 0, description="input ch.")
        self.joint = widgets.Checkbox(False, description="one colour scale for all filters")
        self.summary = widgets.HTML()
        self._layout(widgets.HBox([self.net, self.layer]), widgets.HBox([self.channel, self.joint]),
                     below=[self.summary])
        for w in (self.net, self.layer):  # another net's layer may have another number of input channels
            w.observe(self._guard(self._on_layer), "value")
        for w in (self.channel, self.joint):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._on_layer)(None)

    def weights(self) -> torch.Tensor:
        """(out, in, kh, kw) weights of the chosen net and layer (cached)."""
        key = (self.net.value, self.layer.value)
        if key not in self._weights:
            source = self.nets[key[0]]
            if isinstance(source, dict):
                if key[1] not in source:
                    raise KeyError(f"{key[0]!r} keeps only the filters of {sorted(source)}")
                w = source[key[1]]
            else:
                w = filter_weights(source, key[1])
            if w.dim() != 4:
                raise ValueError(f"{key[0]!r} has {key[1]!r} weights of shape {tuple(w.shape)}, not a convolution's "
                                 f"(out, in, kh, kw)")
            self._weights[key] = w.detach().cpu()  # drawn and scored on the CPU, whatever the net's device
        return self._weights[key]

    def _on_layer(self, change):
        w = self.weights()
        colour = w.shape[1] == 3
        self._set_max(self.channel, 0 if colour else w.shape[1] - 1)
        self.channel.disabled = colour or w.shape[1] == 1
        self._timed_render()

    def render(self) -> None:
        """The filter grid (with per-filter scores) of the chosen view, composed in numpy and PIL."""
        w = self.weights()
        bad = ~torch.isfinite(w.flatten(1)).all(1)  # a diverged run's filters: shown as zero, and said so
        drawn = w.masked_fill(bad[:, None, None, None], 0.0) if bad.any() else w
        shown = drawn if w.shape[1] == 3 else drawn[:, self.channel.value:self.channel.value + 1]
        scores = self._scores(w, bad)
        part = "" if w.shape[1] in (1, 3) else f", input channel {self.channel.value} of {w.shape[1]}"
        title = f"{self.net.value}: {self.layer.value}, {w.shape[0]} filters of {w.shape[2]}x{w.shape[3]}{part}"
        grid, pad = filter_mosaic(shown, "joint" if self.joint.value else "each")
        rgb = pixels(grid) if grid.ndim == 3 else colours(grid, "RdBu_r", -1, 1)
        f = fit(rgb, 540, 500)
        img, draw = sheet(max(rgb.shape[1] * f, width(title, 13)) + 20, rgb.shape[0] * f + 36)
        left = (img.width - rgb.shape[1] * f) // 2
        paste(img, enlarge(rgb, f), left, 28)
        text(draw, (img.width // 2, 6), title, 13, anchor="mt")
        if scores is not None and len(w) <= 64:
            paste(img, self._labels(scores, img.size, left, f, pad), 0, 0)
        self._picture(png(img))
        finite = None if scores is None else scores[~bad]
        if finite is None:
            summary = f"roughness needs filters of at least 2x2 weights; these are {w.shape[2]}x{w.shape[3]}"
        elif not len(finite):
            summary = "roughness: no filter has finite weights"
        else:
            summary = (f"roughness (normalised total variation): median <b>{finite.median():.2f}</b>, "
                       f"range {finite.min():.2f}–{finite.max():.2f} (independent noise ≈ 1.13, smooth ≈ 0.3)")
        if bad.any():
            summary += (f"<br><b style='color:#b00'>{int(bad.sum())} of {len(w)} filters hold NaN or infinite "
                        f"weights</b> (drawn as zero, scored nan; did the training diverge?)")
        self.summary.value = summary
        self._idle()

    def _scores(self, w: torch.Tensor, bad: torch.Tensor) -> torch.Tensor | None:
        """Roughness of each filter of the chosen net and layer (nan for non-finite ones; cached); None for
        kernels under 2x2 (1x1 convs)."""
        if w.shape[2] < 2 or w.shape[3] < 2:
            return None
        key = (self.net.value, self.layer.value)
        if key not in self._roughness:
            self._roughness[key] = torch.full((len(w),), float("nan"))
            if not bad.all():
                self._roughness[key][~bad] = filter_smoothness(w[~bad])
        return self._roughness[key]

    def _labels(self, scores, size, left: int, f: int, pad: int):
        """The scores under the tiles, as a transparent picture (drawn once per net and layer)."""
        key = (self.net.value, self.layer.value, size)
        if key not in self._labels_drawn:
            (kh, kw), cols = self.weights().shape[2:], math.ceil(math.sqrt(len(scores)))
            self._labels_drawn[key], draw = layer(size)
            for i, sc in enumerate(scores.tolist()):
                y, x = tile_origin(i, cols, (kh, kw), pad)
                text(draw, (left + (x + kw / 2) * f, 28 + (y + kh) * f - 1), f"{sc:.2f}", 10, anchor="md",
                     box=(255, 255, 255, 180))
        return self._labels_drawn[key]


def conv_layers(net: Net) -> list[str]:
    """Every nn.Conv2d of the net in module order, named by its alias where one names it, else by its path (an alias
    may name a block around the convolution, and a net's aliases need not cover every convolution)."""
    alias: dict[str, str] = {}
    for a, path in net.layers.items():
        alias.setdefault(path, a)
    return [alias.get(path, path) for path, m in net.model.named_modules() if path and isinstance(m, nn.Conv2d)]


def module_types(model: nn.Module) -> str:
    """The kinds of module a model has, e.g. "Linear x2, ReLU", or "no submodules"."""
    kinds = Counter(type(m).__name__ for path, m in model.named_modules() if path and not list(m.children()))
    return ", ".join(f"{k} x{n}" if n > 1 else k for k, n in kinds.items()) or "no submodules"


def kept_weights(w, what: str) -> torch.Tensor:
    """Weights kept without their net: a tensor or array of numbers."""
    if isinstance(w, np.ndarray) and w.dtype.kind in "iuf":
        w = torch.from_numpy(w)
    if not isinstance(w, torch.Tensor) or not (w.is_floating_point() or w.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{what} must be a tensor or array of weights (e.g. vk.filter_weights(net, layer)); got "
                        f"{type(w).__name__}{f' of {w.dtype}' if hasattr(w, 'dtype') else ''}")
    if w.dim() == 4 and 0 in w.shape:
        raise ValueError(f"{what} holds no filters: shape {tuple(w.shape)}")
    return w.detach().float().cpu()
