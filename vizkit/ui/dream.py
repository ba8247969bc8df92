"""Panel for notebook 13: DeepDream with a Run button and a live preview of each octave as it forms."""

from __future__ import annotations

import ipywidgets as widgets
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from .._check import integer
from ..hooks import ACTIVATIONS, image_maps, layers_of_type
from ..inspect import activations
from ..measure import activation_norm
from ..optimize import deepdream
from ..optimize.dream import octaves_that_fit
from ..plot import show_image
from ._panel import check_layers, check_net, map_layers, model_inputs
from .optimize import OptimizePanel


class DeepDreamPanel(OptimizePanel):
    """Dream an image at a layer (all channels, or one): layer, channel, octaves, steps per octave and jitter
    are controls; Run starts it in the background, the preview shows each octave as it forms."""

    def __init__(self, net, images: dict, layers: list[str] | None = None, size: int | None = None,
                 octaves: int = 4, steps: int = 10, every: int = 5):
        super().__init__(steps, every)
        self.net = check_net(net, "DeepDreamPanel")
        self.inputs = model_inputs(net, images, "DeepDreamPanel")
        first = next(iter(self.inputs.values()))
        if layers is None:
            layers = dream_layers(net, first)
            if not layers:
                raise ValueError(f"{net.name} has no activation or pooling layers with maps over the image to dream "
                                 "at; pass layers=[...]")
        else:
            layers = check_layers(net, layers, "DeepDreamPanel")
        self._channels = {n: a.shape[0] for n, a in map_layers(net, first, layers, "DeepDreamPanel").items()}
        side = min(net.input_size)
        self.size = integer(size, "size", 8) if size is not None else (4 * side if side < 100 else None)
        start = layers[len(layers) // 2]
        self._fits: dict[str, int] = {}  # layer -> how many octaves its smallest image still reaches it with
        if size is None and self.size is not None and not self._octaves_fit(start):
            self.size, self._fits = None, {}  # a model that takes its own input size only (a ViT, MaxViT)
        self.image = widgets.Dropdown(options=list(self.inputs), description="image")
        self.layer = widgets.Dropdown(options=layers, value=start, description="layer")
        self.all = widgets.Checkbox(True, description="all channels")
        self.channel = widgets.IntSlider(0, 0, 1, description="channel", disabled=True, continuous_update=False)
        self.octaves = widgets.IntSlider(integer(octaves, "octaves", 1, 8), 1, 8, description="octaves",
                                         continuous_update=False)
        self.jitter = widgets.IntSlider(-1, -1, 32, description="jitter", continuous_update=False,
                                        tooltip="largest random shift in pixels; -1: an eighth of the octave")
        self.steps.description = "steps/octave"
        self.steps.max = 100
        self._controls(widgets.HBox([self.image, self.layer, self.all, self.channel]),
                       widgets.HBox([self.octaves, self.steps, self.jitter]))
        self.layer.observe(self._guard(self._on_layer), "value")
        self.all.observe(self._guard(self._on_all), "value")
        for w in (self.image, self.channel, self.octaves, self.jitter, self.steps):
            w.observe(self._guard(self._on_setting), "value")
        self._on_layer(None)
        self.message.value = "<i>press Run to dream</i>"

    def _octaves_fit(self, layer: str) -> int:
        """How many octaves the model takes at layer from the dream's size (cached; 0: not even one)."""
        if layer not in self._fits:
            size = (self.size, self.size) if self.size is not None else self.net.input_size
            self._fits[layer] = octaves_that_fit(self.net, layer, size)
        return self._fits[layer]

    def _on_layer(self, change) -> None:
        self._set_max(self.channel, self._channels[self.layer.value] - 1)
        self.channel.disabled = self.all.value or self.channel.max == 0
        self._set_max(self.octaves, max(1, self._octaves_fit(self.layer.value)))  # models of one input size: 1
        if change is not None:
            self._on_setting(change)

    def _on_all(self, change) -> None:
        self.channel.disabled = self.all.value or self.channel.max == 0
        self._on_setting(change)

    def total_steps(self) -> int:
        return self.octaves.value * self.steps.value

    def key(self) -> tuple:
        return (self.image.value, self.layer.value, None if self.all.value else self.channel.value,
                self.octaves.value, self.steps.value, self.jitter.value)

    def compute(self, net, callback):
        return deepdream(net, self.inputs[self.image.value], self.layer.value,
                         channel=None if self.all.value else self.channel.value, octaves=self.octaves.value,
                         steps=self.steps.value, jitter=None if self.jitter.value < 0 else self.jitter.value,
                         size=self.size, callback=callback, every=self.every, progress=False)

    def render(self) -> None:
        """The image as the network saw it (enlarged to the dream's size) | the dream."""
        result = self.results[self.key()]
        x = self.inputs[self.image.value]
        original = F.interpolate(self.net.pixels(x), size=tuple(result.image.shape[2:]), mode="bilinear",
                                 align_corners=False)
        fig = Figure(figsize=(7, 3.6), dpi=80)
        a, b = fig.subplots(1, 2)
        what = f"{self.layer.value}" + ("" if self.all.value else f" channel {self.channel.value}")
        show_image(original[0].permute(1, 2, 0).cpu().numpy(), a, title="original")
        show_image(result.image[0].permute(1, 2, 0).cpu().numpy(), b, title=f"dreamed at {what}")
        fig.tight_layout()
        self._show(fig)
        channel = None if self.all.value else self.channel.value
        before, after = (activation_norm(self.net, self.net.normalize(p), self.layer.value, channel)
                         for p in (original, result.image))
        gain = after / max(before, 1e-12)
        self.message.value = f"{what}: activation norm {before:.1f} → {after:.1f} (x{gain:.1f}); {result.seconds:.1f} s"
        self.show_preview(result.image)


def dream_layers(net, x) -> list[str]:
    """The net's ReLU and pooling layers (or, with no ReLU, its other activations) that give maps over the image
    it reaches, in module order."""
    for types in ((nn.ReLU, nn.MaxPool2d, nn.AvgPool2d), (*ACTIVATIONS, nn.MaxPool2d, nn.AvgPool2d)):
        layers = image_maps(net, layers_of_type(net, types))
        acts = activations(net, x, layers) if layers else {}
        layers = [n for n in layers if acts[n].dim() == 3]
        if layers:
            return layers
    return []
