"""Panels for notebook 07: a unit projected back to pixels three ways, and Zeiler & Fergus's figure
(top patches beside their deconvnet projections)."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from ..attribute import backprop, deconvnet, guided_backprop
from ..inspect import activations, receptive_field
from ..inspect.patches import crop_box
from ..plot import patch_mosaic, projection_rgb
from ._draw import above, text
from ._panel import Panel, TopPatchesPanel, images_and_layers, map_layers

METHODS = {"deconvnet": deconvnet, "backprop": backprop, "guided backprop": guided_backprop}
MAP_TYPES = (nn.Conv2d, nn.MaxPool2d)


class ProjectionPanel(Panel):
    """One unit (layer, channel, its strongest position) sent back to the pixels by deconvnet, plain
    backprop and guided backprop, side by side; or one method large. images: name -> image.

    Each (image, layer, channel) is computed once; the view buttons only redraw."""

    def __init__(self, net, images: dict, layers: list[str] | None = None):
        super().__init__()
        self.net, self._inputs, self.images, layers = images_and_layers(net, images, layers, MAP_TYPES,
                                                                        "ProjectionPanel")
        first = next(iter(self._inputs))
        self._maps: dict = {first: map_layers(net, self._inputs[first], layers, "ProjectionPanel")}
        self._done: dict = {}
        self._fields: dict = {}  # layer -> its receptive field (one pass over the net serves every layer)
        self.image = widgets.Dropdown(options=list(self.images), description="image")
        self.layer = widgets.Dropdown(options=list(layers), value=layers[-1], description="layer")
        self.channel = widgets.IntSlider(0, 0, 1, description="channel", continuous_update=False)
        self.show = widgets.ToggleButtons(options=["side by side", *METHODS], description="show")
        self.caption = widgets.HTML()
        self._layout(widgets.HBox([self.image, self.layer, self.channel]), self.show, below=[self.caption])
        self._wire((self.image, self.layer), (self.channel, self.show))

    def _input(self):
        name = self.image.value
        if name not in self._maps:
            self._maps[name] = activations(self.net, self._inputs[name], list(self.layer.options))
        return self._inputs[name], self._maps[name]

    def _on_layer(self, change):
        _, maps = self._input()
        self._set_max(self.channel, maps[self.layer.value].shape[0] - 1)
        self._timed_render()

    def projections(self) -> dict:
        """method -> (1, C, H, W) projection of the chosen unit (computed once)."""
        key = (self.image.value, self.layer.value, self.channel.value)
        if key not in self._done:
            x, _ = self._input()
            self._busy(f"projecting {self.layer.value} channel {self.channel.value} back to the pixels")
            self._done[key] = {m: f(self.net, x, self.layer.value, self.channel.value) for m, f in METHODS.items()}
        return self._done[key]

    def _build(self, shown: list[str]):
        fig = Figure(figsize=(2.6 * (1 + len(shown)), 3.0) if len(shown) > 1 else (7, 3.6), dpi=80)
        axes = fig.subplots(1, 1 + len(shown))
        h, w = self.net.input_size
        ims = [ax.imshow(np.zeros((h, w, 3)), interpolation="nearest") for ax in axes]
        box = axes[0].add_patch(Rectangle((0, 0), 1, 1, fill=False, edgecolor="red", lw=1.5, clip_on=False))
        for ax, m in zip(axes, ["", *shown]):
            ax.set_axis_off()
            ax.set_title(m or " ", fontsize=10)
        fig.tight_layout()
        return fig, {"axes": axes, "images": ims, "box": box, "dynamic": [*ims, box]}

    def render(self) -> None:
        """The image with the unit's receptive field, and the projections."""
        x, maps = self._input()
        layer, ch = self.layer.value, self.channel.value
        a = maps[layer][ch]
        y, xx = divmod(int(a.reshape(-1).argmax()), a.shape[-1])
        proj = self.projections()
        shown = list(METHODS) if self.show.value == "side by side" else [self.show.value]
        parts = self._figure(("projection", *shown), lambda: self._build(shown))
        picture = self.net.deprocess(x)
        parts["images"][0].set_data(picture.repeat(3, 2) if picture.shape[2] == 1 else picture)
        if layer not in self._fields:
            self._fields[layer] = receptive_field(self.net, layer)
        top, left, bottom, right = self._fields[layer].box(y, xx)
        parts["box"].set_bounds(left - 0.5, top - 0.5, right - left, bottom - top)
        for im, m in zip(parts["images"][1:], shown):
            im.set_data(projection_rgb(proj[m]))
        self._redraw(lambda draw: text(draw, above(parts["axes"][0]), self.image.value, 12, anchor="mb"))
        self.caption.value = (f"{layer} channel {ch}, strongest unit at ({y}, {xx}), activation "
                              f"{float(a[y, xx]):.3f}; red box: its receptive field. Zero is white (mid-grey for "
                              "colour images); each projection is scaled by its own largest value.")
        self._idle()


class TopProjectionsPanel(TopPatchesPanel):
    """Zeiler & Fergus's figure, live: for a layer and channel, the top-k image patches of a dataset
    and, beside them, the deconvnet projection of the same unit in each image, cropped alike.

    Each layer's search runs once (progress bar); each channel's k projections are computed once. found: layer ->
    TopPatches searched beforehand (vk.load_scan's), shown instead of searching those layers."""

    def __init__(self, net, dataset, layers: list[str], k: int = 9, batch_size: int = 256, found=None):
        super().__init__()
        self._proj: dict = {}
        self._search(net, dataset, layers, k, batch_size, "TopProjectionsPanel", continuous=False, found=found)

    def crops(self, layer: str | None = None, channel: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(patches, projections): two (k, h, w, 3) arrays, the field crops and their deconvnet crops."""
        layer = layer or self.layer.value
        channel = self.channel.value if channel is None else channel
        key = (layer, channel)
        if key not in self._proj:
            tp = self.top(layer)
            done = self._busy(f"projecting the top {self.k} units of {layer} channel {channel}")
            tiles = []
            entries = [(i, y, x) for i, y, x in zip(tp.indices[channel].tolist(), tp.ys[channel].tolist(),
                                                    tp.xs[channel].tolist()) if i >= 0]
            for n, (i, y, x) in enumerate(entries):
                signal = deconvnet(self.net, self.net.normalize(self.dataset[i][0].unsqueeze(0)), layer, channel,
                                   position=(y, x))
                rgb = projection_rgb(signal)  # (H, W, 3), zero mid-grey, scaled per image
                crop = crop_box(rgb.transpose(2, 0, 1), tp.field(channel).box(y, x))
                tiles.append(crop)
                done(n + 1, len(entries))
            self._proj[key] = (tp.crops(channel), np.stack(tiles))
        return self._proj[key]


    def _build(self, shape):
        fig = Figure(figsize=(9, 4.9), dpi=80)
        a, b = fig.add_axes((0.01, 0.02, 0.48, 0.84)), fig.add_axes((0.51, 0.02, 0.48, 0.84))
        parts = {"patches": a.imshow(np.ones(shape), interpolation="nearest"),
                 "projections": b.imshow(np.ones(shape), interpolation="nearest"),
                 "width": fig.bbox.width}
        parts["dynamic"] = [parts["patches"], parts["projections"]]
        a.set_title("top patches", fontsize=10)
        b.set_title("their deconvnet projections", fontsize=10)
        for ax in (a, b):
            ax.set_axis_off()
        return fig, parts

    def render(self) -> None:
        """Top patches (left) and their deconvnet projections (right), best first."""
        patches, projections = self.crops()
        tp = self.top()
        left, right = patch_mosaic(patches), patch_mosaic(projections)
        parts = self._figure(("top projections", left.shape), lambda: self._build(left.shape))
        parts["patches"].set_data(left)
        parts["projections"].set_data(right)
        title = (f"{tp.layer} channel {self.channel.value}: top {len(patches)} of {len(self.dataset):,} images, "
                 f"field {tp.field(self.channel.value).size[0]}x{tp.field(self.channel.value).size[1]} px")
        self._redraw(lambda draw: text(draw, (parts["width"] / 2, 4), title, 12, anchor="ma"))
        self._idle()
