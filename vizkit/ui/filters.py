"""Panel for notebook 03: filters of several nets, with their smoothness scores."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..hooks import layers_of_type
from ..inspect import filter_smoothness, filter_weights
from ..nets import Net
from ..plot import filter_grid
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
        first = next(iter(self.nets.values()))
        names = list(first) if isinstance(first, dict) else list(first.layers)
        if isinstance(first, dict):  # kept filters: the layers whose weights are (out, in, kh, kw)
            convs = [a for a in names if first[a].dim() == 4]
        else:
            convs = layers_of_type(first, nn.Conv2d)
        if not convs:
            raise ValueError(f"the first network has no conv layers to show (layers: {names})")
        start = choose(layer, convs, "layer", None if isinstance(first, dict) else first) or convs[0]
        self._weights: dict[tuple[str, str], torch.Tensor] = {}
        self.net = widgets.Dropdown(options=list(self.nets), description="network")
        self.layer = widgets.Dropdown(options=convs, value=start, description="layer")
        self.channel = widgets.IntSlider(0, 0, 0, description="input ch.")
        self.joint = widgets.Checkbox(False, description="one colour scale for all filters")
        self.summary = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.net, self.layer]), widgets.HBox([self.channel, self.joint]),
                                    self.view, self.summary, self.message])
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
            self._weights[key] = w
        return self._weights[key]

    def _on_layer(self, change):
        w = self.weights()
        colour = w.shape[1] == 3
        self._set_max(self.channel, 0 if colour else w.shape[1] - 1)
        self.channel.disabled = colour or w.shape[1] == 1
        self._timed_render()

    def render(self) -> None:
        """The filter grid (with per-filter scores) of the chosen view."""
        w = self.weights()
        bad = ~torch.isfinite(w.flatten(1)).all(1)  # a diverged run's filters: shown as zero, and said so
        drawn = w.masked_fill(bad[:, None, None, None], 0.0) if bad.any() else w
        shown = drawn if w.shape[1] == 3 else drawn[:, self.channel.value:self.channel.value + 1]
        scores = self._scores(w, bad)
        fig = Figure(figsize=(7, 7))
        part = "" if w.shape[1] in (1, 3) else f", input channel {self.channel.value} of {w.shape[1]}"
        filter_grid(shown, fig.add_subplot(), normalize="joint" if self.joint.value else "each",
                    scores=scores if scores is not None and len(w) <= 64 else None,
                    title=f"{self.net.value}: {self.layer.value}, {w.shape[0]} filters of "
                          f"{w.shape[2]}x{w.shape[3]}{part}")
        fig.tight_layout()
        self._show(fig)
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
        self.message.value = ""

    @staticmethod
    def _scores(w: torch.Tensor, bad: torch.Tensor) -> torch.Tensor | None:
        """Roughness of each filter (nan for non-finite ones); None for kernels under 2x2 (1x1 convs)."""
        if w.shape[2] < 2 or w.shape[3] < 2:
            return None
        scores = torch.full((len(w),), float("nan"))
        if not bad.all():
            scores[~bad] = filter_smoothness(w[~bad])
        return scores


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
