"""Panels for notebook 06: a unit's receptive field on an image, and a channel's top patches."""

from __future__ import annotations

import ipywidgets as widgets
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from ..hooks import layers_of_type
from ..inspect import activations, receptive_field, top_patches
from ..plot import patch_mosaic, show_image  # patch_mosaic moved to plot; still importable from here
from ._panel import Panel, check_layers, check_net, dataset_panel, map_layers, model_inputs

POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)


class FieldPanel(Panel):
    """The receptive field of one unit (layer, y, x) drawn on an image, beside the layer's map.

    images: name -> anything net.preprocess takes. Fields are computed once per layer."""

    def __init__(self, net, images: dict, layers: list[str] | None = None):
        super().__init__()
        self.net = check_net(net, "FieldPanel")
        self._inputs = model_inputs(net, images, "FieldPanel")
        self.images = dict(images)
        if layers is not None:
            layers = check_layers(net, layers, "FieldPanel")
        layers = layers or layers_of_type(net, (nn.Conv2d, *POOLS))
        if not layers:
            raise ValueError(f"{net.name} has no conv or pooling layers; pass layers=[...] with map-shaped layers")
        first = next(iter(self._inputs.values()))
        self._maps: dict[str, dict] = {next(iter(self._inputs)): dict(picture=net.deprocess(first),
                                                                     maps=map_layers(net, first, layers, "FieldPanel"))}
        self._fields = {name: receptive_field(net, name) for name in layers}
        self.image = widgets.Dropdown(options=list(self.images), description="image")
        self.layer = widgets.Dropdown(options=layers, description="layer")
        self.y = widgets.IntSlider(0, 0, 1, description="y")
        self.x = widgets.IntSlider(0, 0, 1, description="x")
        self.caption = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.image, self.layer]), widgets.HBox([self.y, self.x]),
                                    self.view, self.caption, self.message])
        self.layer.observe(self._guard(self._on_layer), "value")
        self.image.observe(self._guard(self._on_layer), "value")
        for w in (self.y, self.x):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._on_layer)(None)

    def _state(self):
        name = self.image.value
        if name not in self._maps:
            x = self._inputs[name]
            self._maps[name] = dict(picture=self.net.deprocess(x), maps=activations(self.net, x, list(self._fields)))
        return self._maps[name]

    def _on_layer(self, change):
        h, w = self._state()["maps"][self.layer.value].shape[1:]
        self._set_max(self.y, h - 1)
        self._set_max(self.x, w - 1)
        self._timed_render()

    def render(self) -> None:
        """Image with the unit's field (dashed where it leaves the image) and the layer's mean map."""
        st, layer = self._state(), self.layer.value
        rf, y, x = self._fields[layer], self.y.value, self.x.value
        top, left, bottom, right = rf.box(y, x)
        img = st["picture"]
        H, W = img.shape[:2]
        fig = Figure(figsize=(9, 4.4))
        a, b = fig.subplots(1, 2)
        show_image(img, a, title=f"{layer} unit ({y}, {x}) sees {rf.size[0]}x{rf.size[1]} pixels")
        a.add_patch(Rectangle((left - 0.5, top - 0.5), rf.size[1], rf.size[0], fill=False, edgecolor="red",
                              lw=2, ls="--" if top < 0 or left < 0 or bottom > H or right > W else "-"))
        a.set_xlim(min(-0.5, left - 1.5), max(W - 0.5, right + 0.5))
        a.set_ylim(max(H - 0.5, bottom + 0.5), min(-0.5, top - 1.5))
        m = st["maps"][layer].mean(0).numpy()
        b.imshow(m, cmap="viridis", interpolation="nearest")
        b.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
        b.set_title(f"{layer}: mean over its {st['maps'][layer].shape[0]} maps ({m.shape[0]}x{m.shape[1]})")
        b.set_axis_off()
        fig.tight_layout()
        self._show(fig)
        self.caption.value = (f"field: size {rf.size}, stride {rf.stride}, start {rf.start}; this unit covers rows "
                              f"{top}…{bottom - 1}, columns {left}…{right - 1} "
                              f"(a dashed box reaches into the padding outside the image)")
        self.message.value = ""


class PatchesPanel(Panel):
    """Layer and channel sliders over the top-k patches of a dataset; each layer is searched once
    (with a progress bar) and cached, so moving the channel only redraws."""

    def __init__(self, net, dataset, layers: list[str], k: int = 9, batch_size: int = 256):
        super().__init__()
        layers, self.k, self.batch_size = dataset_panel(net, dataset, layers, k, batch_size, "PatchesPanel")
        self.net, self.dataset = net, dataset
        self._results: dict = {}
        self.layer = widgets.Dropdown(options=list(layers), description="layer")
        self.channel = widgets.IntSlider(0, 0, 1, description="channel")
        self.widget = widgets.VBox([widgets.HBox([self.layer, self.channel]), self.view, self.message])
        self.layer.observe(self._guard(self._on_layer), "value")
        self.channel.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._on_layer)(None)

    def result(self, layer: str | None = None):
        """The TopPatches of a layer (computed on first use)."""
        layer = layer or self.layer.value
        if layer not in self._results:
            self._results[layer] = top_patches(self.net, self.dataset, layer, k=self.k, batch_size=self.batch_size)
        return self._results[layer]

    def _on_layer(self, change):
        c = self.result().values.shape[0]
        self._set_max(self.channel, c - 1)
        self._timed_render()

    def render(self) -> None:
        """The k crops of the chosen channel, best first, as one image."""
        tp, ch = self.result(), self.channel.value
        crops = tp.crops(ch)
        fig = Figure(figsize=(5, 5.4))
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.88))
        ax.imshow(patch_mosaic(crops), interpolation="nearest")
        ax.set_axis_off()
        vals = tp.values[ch][: len(crops)]
        ax.set_title(f"{tp.layer} channel {ch}: top {len(crops)} of {len(self.dataset)} images\n"
                     f"field {tp.rf.size[0]}x{tp.rf.size[1]} px; "
                     f"activations {float(vals[-1]):.2f}…{float(vals[0]):.2f}",
                     fontsize=9)
        self._show(fig)
        self.message.value = ""
