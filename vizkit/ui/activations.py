"""Panel for notebook 01: pick an image, a layer and a channel; see the feature maps."""

from __future__ import annotations

import html
import math

import ipywidgets as widgets
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..inspect import activation_stats, activations
from ..plot import canvas_png, feature_grid, overlay, show_image
from ._panel import Panel, check_net, choose, model_input, model_inputs, uploaded_image


class ActivationsPanel(Panel):
    """Feature maps of one image at one layer: all channels as a grid, or one channel over the image.

    images: name -> anything net.preprocess takes (photos, paths, [0, 1] tensors). Activations of
    all map-shaped layers are computed in one forward pass per image and cached, so changing the
    layer, channel or view only redraws.
    """

    def __init__(self, net, images: dict, layer: str | None = None):
        super().__init__()
        self.net = check_net(net, "ActivationsPanel")
        self._inputs = model_inputs(net, images, "ActivationsPanel")  # name -> (1, C, H, W), checked now
        self.images = dict(images)
        self._cache: dict[str, dict[str, torch.Tensor]] = {}
        self._pictures: dict[str, object] = {}  # name -> (H, W, C) array as the model sees it
        self.map_layers = self._map_layers()
        start = choose(layer, self.map_layers, "layer", net) or self.map_layers[0]
        first = next(iter(self.images))
        self.image = widgets.Dropdown(options=list(self.images), value=first, description="image")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload")
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
        name, x = next(iter(self._inputs.items()))
        candidates = list(self.net.layers) or [n for n, _ in self.net.model.named_modules() if n]
        acts = activations(self.net, x, candidates)
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
            self._cache[name] = activations(self.net, self._inputs[name], self.map_layers)
        return self._cache[name][self.layer.value]

    def picture(self):
        """The chosen image as the model sees it, (H, W, C) in [0, 1] (cached)."""
        name = self.image.value
        if name not in self._pictures:
            self._pictures[name] = self.net.deprocess(self._inputs[name])
        return self._pictures[name]

    def _on_image(self, change):
        self._on_layer(change)

    def _on_layer(self, change):
        c = self.maps().shape[0]
        self._set_max(self.channel, c - 1)
        self._timed_render()

    def _on_upload(self, change):
        files = self.upload.value
        if not files:
            return
        file, image = uploaded_image(files)
        name = f"uploaded: {file}"
        self.images[name], self._inputs[name] = image, model_input(self.net, image, f"the uploaded file {file!r}")
        self._cache.pop(name, None)
        self._pictures.pop(name, None)
        self._key = None  # a new image under an old name: rebuild the figure
        self.image.options = list(self.images)
        if self.image.value == name:  # the same name uploaded again: no change event, so redraw here
            self._on_layer(None)
        self.image.value = name

    def _build(self) -> dict:
        """A figure for the current image, layer, view and scale; a channel change only updates it."""
        maps, image = self.maps(), self.picture()
        c, h, w = maps.shape
        fig = Figure(figsize=(9, 4.6))
        parts = {"fig": fig, "stats": activation_stats(maps)}
        if self.mode.value == "all channels":
            a, b = fig.add_axes((0.01, 0.05, 0.3, 0.82)), fig.add_axes((0.33, 0.01, 0.66, 0.9))
            show_image(image, a, title=self.image.value)
            cols = math.ceil(math.sqrt(2 * c))
            feature_grid(maps, b, cols=cols, normalize="joint" if self.joint.value else "each",
                         title=f"{self.layer.value}: {c} maps of {h}x{w}", labels=c <= 64)
            parts["box"] = Rectangle((0, 0), w + 1, h + 1, fill=False, edgecolor="red", lw=1.5)
            b.add_patch(parts["box"])
            parts["cols"] = cols
            parts["dynamic"] = [parts["box"]]
        else:
            a, b = fig.add_axes((0.03, 0.3, 0.44, 0.62)), fig.add_axes((0.53, 0.3, 0.44, 0.62))
            bars = fig.add_axes((0.08, 0.07, 0.9, 0.15))
            parts["over"] = overlay(image, maps[0], a).images[-1]
            parts["alone"] = b.imshow(maps[0].numpy(), cmap="inferno", interpolation="nearest")
            b.set_axis_off()
            zero = parts["stats"]["fraction_zero"].numpy()
            bars.vlines(range(c), 0, zero, color="tab:blue", lw=max(0.5, 300 / c))
            parts["mark"] = bars.axvline(0, color="tab:orange", lw=2)
            bars.set_xlim(-0.5, c - 0.5)
            bars.set_ylim(0, 1)
            bars.set_ylabel("fraction ≤ 0", fontsize=8)
            bars.tick_params(labelsize=7)
            parts["axes"] = (a, b)
            parts["dynamic"] = [parts["over"], parts["alone"], parts["mark"], a.title, b.title]
        # draw everything that stays once; a channel change redraws only the dynamic artists on top
        for artist in parts["dynamic"]:
            artist.set_animated(True)
        parts["canvas"] = FigureCanvasAgg(fig)
        parts["canvas"].draw()
        parts["background"] = parts["canvas"].copy_from_bbox(fig.bbox)
        return parts

    def render(self) -> None:
        """Draw the chosen view (reusing the figure when only the channel moved) and the statistics."""
        key = (self.image.value, self.layer.value, self.mode.value, self.joint.value)
        if getattr(self, "_key", None) != key:
            self._parts, self._key = self._build(), key
        parts, maps, ch = self._parts, self.maps(), self.channel.value
        stats = parts["stats"]
        c, h, w = maps.shape
        if "box" in parts:
            r, k = divmod(ch, parts["cols"])
            parts["box"].set_xy((k * (w + 1) - 1, r * (h + 1) - 1))
        else:
            m = maps[ch].numpy()
            lo, hi = float(m.min()), float(m.max())
            for im in (parts["over"], parts["alone"]):
                im.set_data(m)
                im.set_clim(lo, hi if hi > lo else lo + 1)
            parts["mark"].set_xdata([ch, ch])
            parts["axes"][0].set_title(f"{self.layer.value} channel {ch} over the image", fontsize=10)
            parts["axes"][1].set_title(f"channel {ch} alone ({h}x{w})", fontsize=10)
        canvas = parts["canvas"]
        canvas.restore_region(parts["background"])
        for artist in parts["dynamic"]:
            parts["fig"].draw_artist(artist)
        self.view.value = canvas_png(canvas)
        dead = int((stats["max"] <= 0).sum())
        self.stats.value = (
            f"<b>channel {ch}</b>: mean {stats['mean'][ch]:.3f}, max {stats['max'][ch]:.3f}, "
            f"fraction ≤ 0 {stats['fraction_zero'][ch]:.1%} &nbsp;|&nbsp; "
            f"<b>layer {html.escape(self.layer.value)}</b>: "
            f"mean fraction ≤ 0 {stats['fraction_zero'].mean():.1%}, {dead} of {maps.shape[0]} "
            f"channels silent on this image")
        self.message.value = ""
