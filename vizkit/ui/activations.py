"""Panel for notebook 01: pick an image, a layer and a channel; see the feature maps."""

from __future__ import annotations

import html
import math

import ipywidgets as widgets
import numpy as np
import torch
from PIL import ImageDraw

from ..hooks import RepeatedLayerError, image_maps
from ..inspect import activation_stats, activations
from ..plot import mosaic, tile_origin
from ._draw import ORANGE, RED, colours, enlarge, fit, paste, pixels, png, sheet, shorten, text
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
        self._bases: dict[tuple, dict] = {}  # (image, layer, view, scale) -> what a channel change keeps
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
        self._layout(widgets.HBox([self.image, self.upload]), widgets.HBox([self.layer, self.channel]),
                     widgets.HBox([self.mode, self.joint]), below=[self.stats])
        self.image.observe(self._guard(self._on_image), "value")
        self.layer.observe(self._guard(self._on_layer), "value")
        self.upload.observe(self._guard(self._on_upload), "value")
        for w in (self.channel, self.joint):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self.mode.observe(self._guard(self._on_mode), "value")
        self._guard(self._on_layer)(None)

    def _on_mode(self, change):
        """One channel has its own colour scale: the 'one colour scale' box applies to the grid only."""
        self.joint.disabled = self.mode.value == "one channel"
        self._timed_render()

    def _map_layers(self) -> list[str]:
        """Aliases (or, with none, module paths) whose output is a stack of 2-D maps over the image that the image
        reaches (channels-last layers included, their channels moved first; layers the forward does not run left
        out)."""
        name, x = next(iter(self._inputs.items()))
        candidates = image_maps(self.net, list(self.net.layers) or [n for n, _ in self.net.model.named_modules() if n])
        try:
            acts = activations(self.net, x, candidates)
        except RepeatedLayerError as e:  # a module the forward uses twice (a shared ReLU) has no one map to show
            candidates = [n for n in candidates if n not in e.layers]
            acts = activations(self.net, x, candidates) if candidates else {}
        layers = [n for n in candidates if acts[n].dim() == 3]
        if not layers:
            raise ValueError(f"{self.net.name} has no layer with (C, h, w) feature maps")
        self._cache[name] = {n: acts[n] for n in layers}
        return layers

    def maps(self) -> torch.Tensor:
        """(C, h, w) activations of the chosen image at the chosen layer (cached)."""
        name = self.image.value
        if name not in self._cache:
            self._busy(f"computing the activations of {name}")
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
        self._bases = {k: v for k, v in self._bases.items() if k[0] != name}  # a new image under an old name
        self.image.options = list(self.images)
        if self.image.value == name:  # the same name uploaded again: no change event, so redraw here
            self._on_layer(None)
        self.image.value = name

    def _base(self) -> dict:
        """What stays while only the channel moves (kept per image, layer, view and scale): the statistics and,
        for all channels, the picture without its red box."""
        key = (self.image.value, self.layer.value, self.mode.value, self.joint.value)
        if key not in self._bases:
            maps, c = self.maps(), self.maps().shape[0]
            cols = math.ceil(math.sqrt(2 * c))
            base = {"stats": activation_stats(maps), "cols": cols}
            if self.mode.value == "all channels":
                base.update(self._grid(maps, cols))
            self._bases[key] = base
        return self._bases[key]

    def _grid(self, maps, cols: int) -> dict:
        """The image (left) and all maps in a grid with their channel numbers (right), as a picture."""
        c, h, w = maps.shape
        pic = pixels(self.picture())
        grid = colours(mosaic(maps, cols, "joint" if self.joint.value else "each"), "viridis", 0, 1)
        f, g = fit(pic, 220, 300), fit(grid, 600, 380)
        xg = 20 + pic.shape[1] * f
        img, draw = sheet(xg + grid.shape[1] * g + 10, 30 + max(pic.shape[0] * f, grid.shape[0] * g) + 8)
        paste(img, enlarge(pic, f), 10, 30)
        paste(img, enlarge(grid, g), xg, 30)
        text(draw, (10, 8), shorten(self.image.value, 12, xg - 20), 12)
        text(draw, (xg, 8), f"{self.layer.value}: {c} maps of {h}x{w}", 13)
        if c <= 64:
            for i in range(c):
                y, x = tile_origin(i, cols, (h, w))
                text(draw, (xg + x * g + 1, 30 + y * g + 1), str(i), 9, "white", box=(0, 0, 0, 128))
        return {"picture": img, "origin": (xg, 30), "scale": g}

    def render(self) -> None:
        """Draw the chosen view (all channels: the kept picture with the channel's box) and the statistics."""
        base, maps, ch = self._base(), self.maps(), self.channel.value
        stats, (h, w) = base["stats"], maps.shape[1:]
        if self.mode.value == "all channels":
            img = base["picture"].copy()
            (x0, y0), g = base["origin"], base["scale"]
            y, x = tile_origin(ch, base["cols"], (h, w))
            ImageDraw.Draw(img).rectangle((x0 + x * g - 2, y0 + y * g - 2, x0 + (x + w) * g + 1, y0 + (y + h) * g + 1),
                                          outline=RED, width=2)
        else:
            img = self._one(maps, ch, stats["fraction_zero"].cpu().numpy())
        self._picture(png(img))
        dead = int((stats["max"] <= 0).sum())
        self.stats.value = (
            f"<b>channel {ch}</b>: mean {stats['mean'][ch]:.3f}, max {stats['max'][ch]:.3f}, "
            f"fraction ≤ 0 {stats['fraction_zero'][ch]:.1%} &nbsp;|&nbsp; "
            f"<b>layer {html.escape(self.layer.value)}</b>: "
            f"mean fraction ≤ 0 {stats['fraction_zero'].mean():.1%}, {dead} of {maps.shape[0]} "
            f"channels silent on this image")
        self._idle()

    def _one(self, maps, ch: int, zero):
        """One channel over the image (each map pixel covers its share of it) and alone, above a strip with
        every channel's fraction of values <= 0 (orange: this channel)."""
        c, h, w = maps.shape
        m = maps[ch].cpu().numpy()
        pic = self.picture()
        H, W = pic.shape[:2]
        heat = colours(m[np.arange(H) * h // H][:, np.arange(W) * w // W], "inferno")
        over = (0.45 * pixels(pic) + 0.55 * heat).astype(np.uint8)
        f, g = fit(over, 330, 300), fit(m, 330, 300)
        top = 30 + max(over.shape[0] * f, h * g)
        img, draw = sheet(720, top + 100)
        paste(img, enlarge(over, f), 10, 30)
        paste(img, enlarge(colours(m, "inferno"), g), 370, 30)
        text(draw, (10, 8), f"{self.layer.value} channel {ch} over the image", 13)
        text(draw, (370, 8), f"channel {ch} alone ({h}x{w})", 13)
        left, right, bottom, tall = 40, 710, top + 88, 56  # the strip: one bar per channel
        step = (right - left) / c
        for i, v in enumerate(zero.tolist()):
            draw.rectangle((left + i * step, bottom - v * tall, left + (i + 1) * step - (step > 3), bottom),
                           fill=ORANGE if i == ch else (31, 119, 180))
        draw.line((left, bottom - tall, right, bottom - tall), fill=(190, 190, 190))
        draw.line((left, bottom, right, bottom), fill=(120, 120, 120))
        text(draw, (left - 4, bottom - tall), "1", 10, anchor="rm")
        text(draw, (left - 4, bottom), "0", 10, anchor="rm")
        text(draw, (left, top + 8), f"fraction of values ≤ 0 in each of the {c} channels (orange: channel {ch})", 11)
        return img
