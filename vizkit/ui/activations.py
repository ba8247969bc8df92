"""Panel for notebook 01: pick an image, a layer and a channel; see the feature maps."""

from __future__ import annotations

import html
import math

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from ..data import open_image
from ..inspect import activation_stats, activations
from ..plot import bar_stats, feature_grid, overlay, show_image
from ._panel import Panel


class ActivationsPanel(Panel):
    """Feature maps of one image at one layer: all channels as a grid, or one channel over the image.

    images: name -> anything net.preprocess takes (photos, paths, [0, 1] tensors). Activations of
    all map-shaped layers are computed in one forward pass per image and cached, so changing the
    layer, channel or view only redraws.
    """

    def __init__(self, net, images: dict, layer: str | None = None):
        super().__init__()
        if not images:
            raise ValueError("ActivationsPanel needs at least one image (name -> image)")
        self.net = net
        self.images = dict(images)
        self._cache: dict[str, dict[str, torch.Tensor]] = {}
        self._pictures: dict[str, object] = {}  # name -> (H, W, C) array as the model sees it
        self.map_layers = self._map_layers()
        first = next(iter(self.images))
        self.image = widgets.Dropdown(options=list(self.images), value=first, description="image")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload")
        start = layer if layer in self.map_layers else self.map_layers[0]
        self.layer = widgets.Dropdown(options=self.map_layers, value=start, description="layer")
        self.channel = widgets.IntSlider(0, 0, 1, description="channel", continuous_update=True)
        self.mode = widgets.ToggleButtons(options=["all channels", "one channel"], value="all channels",
                                          description="view")
        self.joint = widgets.Checkbox(False, description="one colour scale for all maps")
        self.stats = widgets.HTML()
        self.widget = widgets.VBox([
            widgets.HBox([self.image, self.upload]), widgets.HBox([self.layer, self.channel]),
            widgets.HBox([self.mode, self.joint]), self.view, self.stats, self.message])
        self.image.observe(self._guard(self._on_image), "value")
        self.layer.observe(self._guard(self._on_layer), "value")
        self.upload.observe(self._guard(self._on_upload), "value")
        for w in (self.channel, self.mode, self.joint):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._on_layer)(None)

    def _map_layers(self) -> list[str]:
        """Aliases (or, with none, module paths) whose output is a stack of 2-D maps."""
        name, source = next(iter(self.images.items()))
        candidates = list(self.net.layers) or [n for n, _ in self.net.model.named_modules() if n]
        acts = activations(self.net, self.net.preprocess(source), candidates)
        self._cache[name] = acts
        layers = [n for n in candidates if acts[n].dim() == 3]
        if not layers:
            raise ValueError(f"{self.net.name} has no layer with (C, h, w) feature maps")
        self._cache[name] = {n: acts[n] for n in layers}
        return layers

    def maps(self) -> torch.Tensor:
        """(C, h, w) activations of the chosen image at the chosen layer (cached)."""
        name = self.image.value
        if name not in self._cache:
            x = self.net.preprocess(self.images[name])
            self._cache[name] = activations(self.net, x, self.map_layers)
        return self._cache[name][self.layer.value]

    def picture(self):
        """The chosen image as the model sees it, (H, W, C) in [0, 1] (cached)."""
        name = self.image.value
        if name not in self._pictures:
            self._pictures[name] = self.net.deprocess(self.net.preprocess(self.images[name]))
        return self._pictures[name]

    def _on_image(self, change):
        self._on_layer(change)

    def _on_layer(self, change):
        c = self.maps().shape[0]
        with self.channel.hold_trait_notifications():
            self.channel.max = c - 1
            self.channel.value = min(self.channel.value, c - 1)
        self._timed_render()

    def _on_upload(self, change):
        files = self.upload.value
        if not files:
            return
        f = files[-1] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = f"uploaded: {f['name']}"
        self.images[name] = open_image(bytes(f["content"]))
        self._cache.pop(name, None)
        self._pictures.pop(name, None)
        self.image.options = list(self.images)
        self.image.value = name

    def render(self) -> None:
        """Draw the chosen view and update the statistics line."""
        maps, ch = self.maps(), self.channel.value
        image = self.picture()
        stats = activation_stats(maps)
        if self.mode.value == "all channels":
            fig = Figure(figsize=(9, 4.6))
            a, b = fig.add_gridspec(1, 2, width_ratios=[1, 2]).subplots()
            show_image(image, a, title=self.image.value)
            feature_grid(maps, b, cols=math.ceil(math.sqrt(2 * maps.shape[0])),
                         normalize="joint" if self.joint.value else "each",
                         title=f"{self.layer.value}: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}")
        else:
            fig = Figure(figsize=(9, 4.6))
            gs = fig.add_gridspec(2, 2, height_ratios=[3, 1])
            overlay(image, maps[ch], fig.add_subplot(gs[0, 0]), title=f"{self.layer.value} channel {ch} over the image")
            feature_grid(maps[ch:ch + 1], fig.add_subplot(gs[0, 1]), labels=False, cmap="inferno",
                         title=f"channel {ch} alone ({maps.shape[1]}x{maps.shape[2]})")
            bar_stats(stats["fraction_zero"], fig.add_subplot(gs[1, :]), ylabel="fraction ≤ 0", highlight=ch)
        fig.tight_layout()
        self._show(fig)
        dead = int((stats["max"] <= 0).sum())
        self.stats.value = (
            f"<b>channel {ch}</b>: mean {stats['mean'][ch]:.3f}, max {stats['max'][ch]:.3f}, "
            f"fraction ≤ 0 {stats['fraction_zero'][ch]:.1%} &nbsp;|&nbsp; "
            f"<b>layer {html.escape(self.layer.value)}</b>: "
            f"mean fraction ≤ 0 {stats['fraction_zero'].mean():.1%}, {dead} of {maps.shape[0]} "
            f"channels silent on this image")
        self.message.value = ""
