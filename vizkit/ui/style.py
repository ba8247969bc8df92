"""Panels for notebooks 14 and 15: texture synthesis and style transfer, with a Run button, a live preview
and a Stop button (the optimisation runs in the background; finished settings come back at once)."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .._check import integer
from ..hooks import image_maps
from ..optimize import style_transfer, synthesize_texture
from ..optimize.style import default_layers, image_pixels
from ..plot import show_image
from ..settings import StyleSettings
from ._panel import check_dict, check_layers, check_net, uploaded_image
from .optimize import OptimizePanel


def _pictures(net, images, owner: str, size: int) -> dict:
    """name -> (1, C, H, W) pixels at `size` (shorter side); every image is checked now."""
    images = check_dict(images, owner, "images", "image", "name -> image (path, PIL image, array or tensor)")
    out = {}
    for name, image in images.items():
        try:
            out[name] = image_pixels(net, image, size, f"image {name!r}")
        except (ValueError, TypeError, FileNotFoundError) as e:
            raise type(e)(f"{owner}: image {name!r}: {e}") from None
    return out


def _picture(pixels) -> np.ndarray:
    a = pixels[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


class _StylePanel(OptimizePanel):
    """What the two panels share: an image size, layer check boxes, uploads."""

    def __init__(self, steps: int, every: int):
        super().__init__(steps, every)
        self.size: int  # the image size (shorter side), set by each subclass's __init__, after this one

    def _layer_boxes(self, layers: list[str]) -> widgets.HBox:
        self.boxes = {n: widgets.Checkbox(True, description=n, indent=False, layout=widgets.Layout(width="auto"))
                      for n in layers}
        for box in self.boxes.values():
            box.observe(self._guard(self._on_setting), "value")
        return widgets.HBox([widgets.Label("layers:"), *self.boxes.values()])

    def chosen_layers(self) -> list[str]:
        """The ticked layers (at least one, else a ValueError shown in the panel)."""
        names = [n for n, box in self.boxes.items() if box.value]
        if not names:
            raise ValueError("tick at least one layer")
        return names

    def _add_upload(self, dropdown: widgets.Dropdown, store: dict, files) -> None:
        if not files:
            return
        file, image = uploaded_image(files)
        name = f"uploaded: {file}"
        store[name] = image_pixels(self.net, image, self.size, f"the uploaded file {file!r}")
        self.results = {k: v for k, v in self.results.items() if name not in k}
        dropdown.options = list(store)
        dropdown.value = name


class TexturePanel(_StylePanel):
    """Texture synthesis (vk.synthesize_texture): pick a texture (or upload one), tick the layers whose Gram
    matrices must match, Run. Shows the texture, the synthesis, and the final Gram error of every layer."""

    def __init__(self, net, textures: dict, layers: list[str] | None = None, size: int = 128, steps: int = 100,
                 every: int = 5):
        super().__init__(steps, every)
        self.net = check_net(net, "TexturePanel")
        self.size = integer(size, "size", 8, 1024)
        self.textures = _pictures(net, textures, "TexturePanel", self.size)
        first = next(iter(self.textures.values()))
        layers = default_layers(net, first) if layers is None else check_layers(net, layers, "TexturePanel")
        self.image = widgets.Dropdown(options=list(self.textures), description="texture")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload")
        self._controls(widgets.HBox([self.image, self.upload, self.steps]), self._layer_boxes(layers))
        self.upload.observe(self._guard(lambda change: self._add_upload(self.image, self.textures,
                                                                        self.upload.value)), "value")
        for w in (self.image, self.steps):
            w.observe(self._guard(self._on_setting), "value")
        self.message.value = "<i>press Run to synthesise</i>"

    def key(self) -> tuple:
        return (self.image.value, tuple(self.chosen_layers()), self.steps.value)

    def compute(self, net, callback):
        return synthesize_texture(net, self.textures[self.image.value][0], self.chosen_layers(),
                                  steps=self.steps.value, callback=callback, every=self.every, progress=False)

    def render(self) -> None:
        """Texture | synthesis | each layer's Gram error per step."""
        result = self.results[self.key()]
        fig = Figure(figsize=(10, 3.3), dpi=80)
        a, b, c = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.4]})
        show_image(_picture(self.textures[self.image.value]), a, title="texture")
        show_image(_picture(result.image), b, title="synthesised")
        for name, values in result.terms.items():
            c.semilogy(np.maximum(values, 1e-12), label=name.replace("gram ", ""))
        c.set(xlabel="step", title="Gram error per layer")
        c.legend(fontsize=7)
        fig.tight_layout()
        self._show(fig)
        final = ", ".join(f"{n.replace('gram ', '')} {v[-1]:.1e}" for n, v in result.terms.items())
        self.message.value = f"final Gram errors: {final}; {result.seconds:.1f} s"
        self.show_preview(result.image)


class StylePanel(_StylePanel):
    """Style transfer (vk.style_transfer): a content and a style image (or uploads), the style weight, the
    content layer and the style layers, Run. Shows content | style | result and the loss terms."""

    def __init__(self, net, contents: dict, styles: dict, style_layers: list[str] | None = None,
                 content_layer: str | None = None, size: int = 128, steps: int = 100, every: int = 5):
        super().__init__(steps, every)
        self.net = check_net(net, "StylePanel")
        self.size = integer(size, "size", 8, 1024)
        self.contents = _pictures(net, contents, "StylePanel", self.size)
        self.styles = _pictures(net, styles, "StylePanel", self.size)
        first = next(iter(self.contents.values()))
        layers = default_layers(net, first) if style_layers is None else check_layers(net, style_layers, "StylePanel")
        if content_layer is None:
            content_layer = "relu4_2" if "relu4_2" in net.layers else layers[max(0, len(layers) - 2)]
        check_layers(net, content_layer, "StylePanel")
        self.content = widgets.Dropdown(options=list(self.contents), description="content")
        self.style = widgets.Dropdown(options=list(self.styles), description="style")
        self.content_upload = widgets.FileUpload(accept="image/*", multiple=False, description="content")
        self.style_upload = widgets.FileUpload(accept="image/*", multiple=False, description="style")
        # content layers need maps too: the net's layers that give maps over the image it reaches
        options = list(dict.fromkeys([content_layer, *layers, *image_maps(net, list(net.layers))]))
        self.content_layer = widgets.Dropdown(options=options, value=content_layer, description="content at")
        self.weight = widgets.FloatLogSlider(1.0, base=10, min=-2, max=2, step=0.25, description="style weight",
                                             continuous_update=False)
        self._controls(widgets.HBox([self.content, self.content_upload, self.style, self.style_upload]),
                       widgets.HBox([self.content_layer, self.weight, self.steps]), self._layer_boxes(layers))
        self.content_upload.observe(self._guard(lambda change: self._add_upload(
            self.content, self.contents, self.content_upload.value)), "value")
        self.style_upload.observe(self._guard(lambda change: self._add_upload(
            self.style, self.styles, self.style_upload.value)), "value")
        for w in (self.content, self.style, self.content_layer, self.weight, self.steps):
            w.observe(self._guard(self._on_setting), "value")
        self.message.value = "<i>press Run to transfer the style</i>"

    def key(self) -> tuple:
        return (self.content.value, self.style.value, self.content_layer.value, self.weight.value,
                tuple(self.chosen_layers()), self.steps.value)

    def compute(self, net, callback):
        settings = StyleSettings(content_layer=self.content_layer.value, style_layers=self.chosen_layers(),
                                 style_weight=self.weight.value)
        return style_transfer(net, self.contents[self.content.value][0], self.styles[self.style.value][0],
                              steps=self.steps.value, settings=settings, callback=callback, every=self.every,
                              progress=False)

    def render(self) -> None:
        """Content | style | result."""
        result = self.results[self.key()]
        fig = Figure(figsize=(10, 3.4), dpi=80)
        axes = fig.subplots(1, 3)
        show_image(_picture(self.contents[self.content.value]), axes[0], title="content")
        show_image(_picture(self.styles[self.style.value]), axes[1], title="style")
        show_image(_picture(result.image), axes[2], title=f"style weight {self.weight.value:g}")
        fig.tight_layout()
        self._show(fig)
        content = result.terms[f"features {self.content_layer.value}"][-1]
        style = sum(v[-1] for k, v in result.terms.items() if k.startswith("gram "))
        self.message.value = f"content error {content:.3f}, style (Gram) error {style:.2e}; {result.seconds:.1f} s"
        self.show_preview(result.image)
