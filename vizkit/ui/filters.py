"""Panel for notebook 03: filters of several nets, with their smoothness scores."""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import nn

from ..hooks import layers_of_type
from ..inspect import filter_smoothness, filter_weights
from ..plot import filter_grid
from ._panel import Panel


class FiltersPanel(Panel):
    """Pick a net (e.g. trained, untrained, too-high lr), a conv layer and, for deeper layers, an
    input channel; see every filter with its roughness score.
    nets: name -> Net, or name -> {layer: (out, in, kh, kw) weights} for filters kept without their net."""

    def __init__(self, nets: dict, layer: str | None = None):
        super().__init__()
        if not nets:
            raise ValueError("FiltersPanel needs at least one net (name -> Net)")
        self.nets = dict(nets)
        first = next(iter(self.nets.values()))
        names = list(first) if isinstance(first, dict) else list(first.layers)
        if isinstance(first, dict):  # kept filters: the layers whose weights are (out, in, kh, kw)
            convs = [a for a in names if torch.as_tensor(first[a]).dim() == 4]
        else:
            convs = layers_of_type(first, nn.Conv2d)
        if not convs:
            raise ValueError(f"the first network has no conv layers to show (layers: {names})")
        self._weights: dict[tuple[str, str], torch.Tensor] = {}
        self.net = widgets.Dropdown(options=list(self.nets), description="network")
        self.layer = widgets.Dropdown(options=convs, value=layer if layer in convs else convs[0],
                                      description="layer")
        self.channel = widgets.IntSlider(0, 0, 0, description="input ch.")
        self.joint = widgets.Checkbox(False, description="one colour scale for all filters")
        self.summary = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.net, self.layer]), widgets.HBox([self.channel, self.joint]),
                                    self.view, self.summary, self.message])
        self.layer.observe(self._guard(self._on_layer), "value")
        for w in (self.net, self.channel, self.joint):
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
                self._weights[key] = torch.as_tensor(source[key[1]])
            else:
                self._weights[key] = filter_weights(source, key[1])
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
        shown = w if w.shape[1] == 3 else w[:, self.channel.value:self.channel.value + 1]
        scores = filter_smoothness(w)
        fig = Figure(figsize=(7, 7))
        part = "" if w.shape[1] in (1, 3) else f", input channel {self.channel.value} of {w.shape[1]}"
        filter_grid(shown, fig.add_subplot(), normalize="joint" if self.joint.value else "each",
                    scores=scores if len(w) <= 64 else None,
                    title=f"{self.net.value}: {self.layer.value}, {w.shape[0]} filters of "
                          f"{w.shape[2]}x{w.shape[3]}{part}")
        fig.tight_layout()
        self._show(fig)
        self.summary.value = (f"roughness (normalised total variation): median <b>{scores.median():.2f}</b>, "
                              f"range {scores.min():.2f}–{scores.max():.2f} "
                              f"(independent noise ≈ 1.13, smooth ≈ 0.3)")
        self.message.value = ""
