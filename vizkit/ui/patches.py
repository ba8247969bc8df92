"""Panels for notebook 06: a unit's receptive field on an image, and a channel's top patches."""

from __future__ import annotations

import ipywidgets as widgets
from torch import nn

from ..inspect import TopPatches, activations, receptive_fields
from ..plot import patch_mosaic  # patch_mosaic moved to plot; still importable from here
from ._draw import RED, colours, enlarge, fit, paste, pixels, png, sheet, text, width
from ._panel import Panel, TopPatchesPanel, images_and_layers, map_layers

POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)


class FieldPanel(Panel):
    """The receptive field of one unit (layer, y, x) drawn on an image, beside the layer's map.

    images: name -> anything net.preprocess takes. The fields of every layer come from one pass over the model.
    The box is the unit's local field; where a globally pooled branch (squeeze-and-excitation) also reaches every
    unit, its full field is the whole image, and the caption says so."""

    def __init__(self, net, images: dict, layers: list[str] | None = None):
        super().__init__()
        self.net, self._inputs, self.images, layers = images_and_layers(net, images, layers, (nn.Conv2d, *POOLS),
                                                                        "FieldPanel")
        first = next(iter(self._inputs.values()))
        self._maps: dict[str, dict] = {next(iter(self._inputs)): dict(picture=net.deprocess(first),
                                                                     maps=map_layers(net, first, layers, "FieldPanel"))}
        self._fields = receptive_fields(net, layers, local=True)
        self._whole = {name: rf for name, rf in receptive_fields(net, layers).items() if rf != self._fields[name]}
        self.image = widgets.Dropdown(options=list(self.images), description="image")
        self.layer = widgets.Dropdown(options=layers, description="layer")
        self.y = widgets.IntSlider(0, 0, 1, description="y")
        self.x = widgets.IntSlider(0, 0, 1, description="x")
        self.caption = widgets.HTML()
        self._layout(widgets.HBox([self.image, self.layer]), widgets.HBox([self.y, self.x]), below=[self.caption])
        self._wire((self.layer, self.image), (self.y, self.x))

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
        """Image with the unit's field (grey: padding outside the image) beside the layer's mean map."""
        st, layer = self._state(), self.layer.value
        rf, y, x = self._fields[layer], self.y.value, self.x.value
        top, left, bottom, right = rf.box(y, x)
        maps = st["maps"][layer]
        c, h, w = maps.shape
        pic = pixels(st["picture"])
        H, W = pic.shape[:2]
        # the left view spans every field of the layer, so that the image stays put while the unit moves
        t0, l0 = min(0, rf.box(0, 0)[0]), min(0, rf.box(0, 0)[1])
        b0, r0 = max(H, rf.box(h - 1, w - 1)[2]), max(W, rf.box(h - 1, w - 1)[3])
        f, g = max(1, 320 // max(b0 - t0, r0 - l0)), max(1, 320 // max(h, w))
        xb = 10 + (r0 - l0) * f + 30  # where the map starts
        img, draw = sheet(max(xb + w * g, 560) + 10, 36 + max((b0 - t0) * f, h * g) + 8)
        draw.rectangle((10, 36, 9 + (r0 - l0) * f, 35 + (b0 - t0) * f), fill=(215, 215, 215))
        paste(img, enlarge(pic, f), 10 - l0 * f, 36 - t0 * f)
        draw.rectangle((10 + (left - l0) * f, 36 + (top - t0) * f, 9 + (right - l0) * f, 35 + (bottom - t0) * f),
                       outline=RED, width=2)
        paste(img, enlarge(colours(maps.mean(0).cpu().numpy()), g), xb, 36)
        draw.rectangle((xb + x * g, 36 + y * g, xb + (x + 1) * g - 1, 36 + (y + 1) * g - 1), outline=RED, width=2)
        text(draw, (10, 8), f"{layer} unit ({y}, {x}) sees {rf.size[0]}x{rf.size[1]} pixels", 13)
        text(draw, (xb, 8), f"{layer}: mean of its {c} maps ({h}x{w})", 13)
        self._picture(png(img))
        whole = (f" A branch pooled over the whole image (squeeze-and-excitation) rescales every unit too, so its "
                 f"full field is the whole image ({self._whole[layer].size[0]}x{self._whole[layer].size[1]}); the "
                 f"box is the local field that shapes its pattern." if layer in self._whole else "")
        self.caption.value = (f"field: size {rf.size}, stride {rf.stride}, start {rf.start}; this unit covers rows "
                              f"{top}…{bottom - 1}, columns {left}…{right - 1} "
                              f"(grey: the padding outside the image).{whole}")
        self._idle()


class PatchesPanel(TopPatchesPanel):
    """Layer and channel sliders over the top-k patches of a dataset; each layer is searched once
    (with a progress bar) and cached, so moving the channel only redraws. found: layer -> TopPatches searched
    beforehand (vk.load_scan's, from `python -m vizkit scan`), shown instead of searching those layers."""

    def __init__(self, net, dataset, layers: list[str], k: int = 9, batch_size: int = 256, found=None):
        super().__init__()
        self._search(net, dataset, layers, k, batch_size, "PatchesPanel", found=found)

    def result(self, layer: str | None = None) -> TopPatches:
        """The TopPatches of a layer (searched on first use, with a progress bar)."""
        return self.top(layer)

    def render(self) -> None:
        """The k crops of the chosen channel, best first, as one image."""
        tp, ch = self.result(), self.channel.value
        crops = tp.crops(ch)
        mosaic = pixels(patch_mosaic(crops))
        f = fit(mosaic, 360, 360)
        vals = tp.values[ch][: len(crops)]
        (fh, fw), low, high = tp.field(ch).size, float(vals[-1]), float(vals[0])
        lines = [f"{tp.layer} channel {ch}: top {len(crops)} of {len(self.dataset):,} images",
                 f"field {fh}x{fw} px; activations {low:.2f}…{high:.2f}"]
        img, draw = sheet(max(mosaic.shape[1] * f, *(width(t, 12) for t in lines)) + 20, mosaic.shape[0] * f + 50)
        for i, t in enumerate(lines):
            text(draw, (img.width // 2, 6 + 17 * i), t, 12, anchor="mt")
        paste(img, enlarge(mosaic, f), (img.width - mosaic.shape[1] * f) // 2, 42)
        self._picture(png(img))
        self._idle()
