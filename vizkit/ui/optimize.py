"""Panels for notebooks 09, 10 and 11: images made by optimisation, with a Run button, a live preview
and a Stop button. The optimisation runs in a background thread, so the other controls (and other
panels) keep answering while it works; each finished result is kept, so going back to a setting
shows it at once."""

from __future__ import annotations

import copy
import io
import threading
import time
from collections.abc import Mapping

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from .._check import integer, number
from ..hooks import image_layers, layers_of_type, resolve_target
from ..inspect import top_patches
from ..measure import pixel_correlation
from ..nets import Net
from ..optimize import invert, visualize_class, visualize_filter
from ..plot import patch_mosaic, show_image
from ._panel import Panel, check_layers, check_net, dataset_panel, model_inputs, png_size


class _Stopped(Exception):
    """Raised from the preview callback when the Stop button was pressed."""


def preview_png(image: torch.Tensor, size: int = 168) -> bytes:
    """(1, C, H, W) [0, 1] image -> PNG bytes with its longer side `size` px (nearest neighbours: cheap, and
    the same size at every octave or image size, so the preview does not jump)."""
    a = (image[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8)
    pic = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    scale = size / max(pic.size)
    buf = io.BytesIO()
    size_px = (round(pic.size[0] * scale), round(pic.size[1] * scale))
    pic.resize(size_px, Image.Resampling.NEAREST).save(buf, format="png")
    return buf.getvalue()


class OptimizePanel(Panel):
    """Shared by the optimisation panels: Run / Stop buttons, steps, a live preview, results by setting."""

    def __init__(self, steps: int, every: int):
        super().__init__()
        self.steps = widgets.IntSlider(integer(steps, "steps", 1), 1, max(512, steps), description="steps",
                                       continuous_update=False)
        self.every = integer(every, "every", 1)
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.preview = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        self.results: dict = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.net: Net  # set by each subclass's __init__, after this one
        self._worker: Net | None = None
        self._drawn: dict[tuple, tuple] = {}  # key -> (result, picture, message, preview) as first drawn
        self.run_button.on_click(lambda b: self._guard(self.run)())
        self.stop_button.on_click(lambda b: self._stop.set())

    def show_preview(self, image: torch.Tensor) -> None:
        """A (1, C, H, W) [0, 1] image in the preview, shown at its pixel size."""
        self._preview(preview_png(image))

    def _preview(self, png: bytes) -> None:
        w, h = png_size(png)
        self.preview.layout.width, self.preview.layout.height = f"{w}px", f"{h}px"
        self.preview.value = png

    def _timed_render(self) -> None:
        """Draw the current setting's result; one drawn before comes back from its saved picture (a settings
        control then only swaps PNGs, instead of redrawing a figure)."""
        key = self.key()
        result, saved = self.results.get(key), self._drawn.get(key)
        if result is not None and saved is not None and saved[0] is result:
            start = time.perf_counter()
            self._picture(saved[1])
            self.message.value = saved[2]
            if saved[3]:
                self._preview(saved[3])
            self.render_seconds = time.perf_counter() - start
            return
        super()._timed_render()
        if result is not None:
            self._drawn[key] = (result, self._fresh, self.message.value, bytes(self.preview.value))

    def key(self) -> tuple:
        """The settings a result depends on."""
        raise NotImplementedError

    def total_steps(self) -> int:
        """How many steps a run takes (for the progress bar)."""
        return self.steps.value

    def compute(self, net, callback):
        """Run the optimisation for the current settings on net -> what render() shows."""
        raise NotImplementedError

    def worker_net(self):
        """A private copy of the net for background runs: techniques switch a model to eval mode and back,
        which must not race with other panels using the caller's model meanwhile (costs one model copy)."""
        if self._worker is None:
            self._worker = copy.copy(self.net)
            self._worker.model = copy.deepcopy(self.net.model)
        return self._worker

    def run(self, block: bool = False) -> None:
        """Compute the current setting (in a background thread unless block) and show it when done."""
        if self._thread is not None and self._thread.is_alive():
            self.message.value = "<i>already running: press Stop first</i>"
            return
        key = self.key()
        if key in self.results:
            self._guard(self._timed_render)()
            return
        self._stop.clear()
        update = self._busy(f"optimising ({self.total_steps()} steps)")
        self.run_button.disabled, self.stop_button.disabled = True, False

        def callback(step, image, loss):
            update(step, self.total_steps())
            self.show_preview(image)
            if self._stop.is_set():
                raise _Stopped

        net = self.net if block else self.worker_net()

        def work():
            try:
                self.results[key] = self.compute(net, callback)
                self._timed_render()
                self.last_error = None
            except _Stopped:
                self.message.value = "stopped: press Run to start again"
            except Exception as e:  # noqa: BLE001 - shown in the panel, kept in last_error
                self._error(e)
            finally:
                self.progress.layout.display = "none"
                self.stop_button.disabled = True
                self._offer_run()

        if block:
            work()
        else:
            self._thread = threading.Thread(target=work, daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background run has finished."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _offer_run(self) -> None:
        """Run is enabled only when the setting shown has no result yet (and nothing runs)."""
        thread = self._thread
        running = thread is not None and thread.is_alive() and thread is not threading.current_thread()
        self.run_button.disabled = running or self.key() in self.results

    def _on_setting(self, change) -> None:
        """A finished setting shows at once; a new one waits for Run."""
        if self.key() in self.results:
            self._timed_render()
        else:
            self.message.value = "<i>press Run to compute this setting</i> (the faded picture is another setting's)"
            self._fade()
        self._offer_run()

    def _controls(self, *rows) -> None:
        buttons = widgets.HBox([self.run_button, self.stop_button, self.progress])
        self.widget = widgets.VBox([*rows, buttons, self.message, widgets.HBox([self.preview, self.view])])


class InversionPanel(OptimizePanel):
    """Reconstruct an image from one layer's features (vk.invert): the original, the reconstruction, and
    the loss terms as the optimisation went. Weight C and the two priors can be changed or switched off.

    weights: C for every layer (one number), or layer -> C (others 100): the slider moves to the layer's C when
    the layer changes; lrs: Adam's step size, one number or layer -> lr (others 0.05)."""

    def __init__(self, net, images: dict, layers: list[str] | None = None, steps: int = 200, every: int = 10,
                 weights: float | Mapping[str, float] = 100.0, lrs: float | Mapping[str, float] = 0.05):
        super().__init__(steps, every)
        self.net = check_net(net, "InversionPanel")
        self.inputs = model_inputs(net, images, "InversionPanel")
        layers = check_layers(net, layers, "InversionPanel") if layers is not None else \
            image_layers(net, list(net.layers))  # the ones the forward runs and the image reaches
        self.weights = per_layer(weights, layers, "weights", 100.0, low=0.0)
        self.lrs = per_layer(lrs, layers, "lrs", 0.05, low=0.0)
        self.image = widgets.Dropdown(options=list(self.inputs), description="image")
        self.layer = widgets.Dropdown(options=layers, description="layer")
        self.weight = widgets.FloatLogSlider(self.weights[layers[0]], base=10, min=0, max=4, step=0.5,
                                             description="weight C", continuous_update=False)
        self.layer.observe(self._guard(lambda change: setattr(self.weight, "value", self.weights[change["new"]])),
                           "value")
        self.tv = widgets.FloatLogSlider(1.0, base=10, min=-2, max=2, step=0.5, description="λ TV",
                                         continuous_update=False)
        self.use_tv = widgets.Checkbox(True, description="total variation")
        self.use_alpha = widgets.Checkbox(True, description="α-norm")
        self._controls(widgets.HBox([self.image, self.layer, self.steps]),
                       widgets.HBox([self.weight, self.tv, self.use_tv, self.use_alpha]))
        for w in (self.image, self.layer, self.weight, self.tv, self.use_tv, self.use_alpha, self.steps):
            w.observe(self._guard(self._on_setting), "value")
        self.message.value = "<i>press Run to reconstruct</i>"

    def key(self) -> tuple:
        return (self.image.value, self.layer.value, self.steps.value, self.weight.value,
                self.tv.value if self.use_tv.value else 0.0, self.use_alpha.value)

    def compute(self, net, callback):
        return invert(net, self.inputs[self.image.value], self.layer.value, steps=self.steps.value,
                      lr=self.lrs[self.layer.value], weight=self.weight.value,
                      lambda_tv=self.tv.value if self.use_tv.value else 0.0,
                      lambda_alpha=1.0 if self.use_alpha.value else 0.0, callback=callback, every=self.every,
                      progress=False)

    def render(self) -> None:
        """Original | reconstruction | loss terms per step."""
        result = self.results[self.key()]
        x = self.inputs[self.image.value]
        fig = Figure(figsize=(10, 3.2), dpi=80)
        a, b, c = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.6]})
        show_image(self.net.deprocess(x), a, title="original")
        show_image(result.image[0].permute(1, 2, 0).cpu().numpy(), b, title=f"from {self.layer.value}")
        for name, values in result.terms.items():
            c.semilogy(np.maximum(values, 1e-12), label=name)
        c.set_xlabel("step")
        c.legend(fontsize=7)
        c.set_title("loss terms", fontsize=10)
        fig.tight_layout()
        self._show(fig)
        corr = pixel_correlation(result.image[0].cpu(), self.net.pixels(x)[0].cpu())
        self.message.value = (f"pixel correlation with the original {corr:.3f}; feature error "
                              f"{result.terms[f'features {self.layer.value}'][-1]:.4f}; {result.seconds:.1f} s")
        self.show_preview(result.image)


def per_layer(value: float | Mapping[str, float], layers: list[str], name: str, default: float,
              low: float) -> dict[str, float]:
    """layer -> a positive number, from one number for all or a dict (layers it leaves out get default)."""
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in layers]
        if unknown:
            raise KeyError(f"InversionPanel: {name} names {unknown[0]!r}, not one of the panel's layers {layers}")
        return {layer: number(value.get(layer, default), f"{name}[{layer!r}]", low, open_low=True)
                for layer in layers}
    v = number(value, name, low, open_low=True)
    return dict.fromkeys(layers, v)


class FilterPanel(OptimizePanel):
    """A channel's optimised image (vk.visualize_filter) beside its top patches in a dataset: do they agree?"""

    def __init__(self, net, dataset, layers: list[str] | None = None, steps: int = 128, every: int = 8, k: int = 9):
        super().__init__(steps, every)
        layers = layers if layers is not None else layers_of_type(net, (nn.Conv2d,))
        layers, self.k, _ = dataset_panel(net, dataset, layers, k, 256, "FilterPanel")
        self.net, self.dataset = net, dataset
        self._tops: dict = {}
        self.layer = widgets.Dropdown(options=layers, value=layers[-1], description="layer")
        self.channel = widgets.IntSlider(0, 0, 1, description="channel")
        self.transforms = widgets.Checkbox(True, description="jitter, zoom, rotate")
        self._controls(widgets.HBox([self.layer, self.channel, self.steps, self.transforms]))
        self.layer.observe(self._guard(self._on_layer), "value")
        for w in (self.channel, self.transforms, self.steps):
            w.observe(self._guard(self._on_setting), "value")
        self._guard(self._on_layer)(None)

    def top(self, layer: str):
        """The layer's TopPatches in the dataset (searched once)."""
        if layer not in self._tops:
            update = self._busy(f"searching {len(self.dataset):,} images for {layer}'s top patches")
            self._tops[layer] = top_patches(self.net, self.dataset, layer, k=self.k, batch_size=256,
                                            progress=False, callback=update)
            self._idle()
        return self._tops[layer]

    def _on_layer(self, change):
        self._set_max(self.channel, self.top(self.layer.value).values.shape[0] - 1)
        self._on_setting(change)

    def key(self) -> tuple:
        return (self.layer.value, self.channel.value, self.steps.value, self.transforms.value)

    def compute(self, net, callback):
        return visualize_filter(net, self.layer.value, self.channel.value, steps=self.steps.value,
                                transforms=self.transforms.value, callback=callback, every=self.every,
                                progress=False)

    def render(self) -> None:
        """Optimised image | the channel's top patches."""
        result = self.results[self.key()]
        tp = self.top(self.layer.value)
        fig = Figure(figsize=(8, 3.6), dpi=80)
        a, b = fig.subplots(1, 2)
        show_image(result.image[0].permute(1, 2, 0).cpu().numpy(), a, title="optimised image")
        b.imshow(patch_mosaic(tp.crops(self.channel.value)), interpolation="nearest")
        b.set_title(f"top {self.k} patches ({tp.rf.size[0]}x{tp.rf.size[1]} px)", fontsize=10)
        b.set_axis_off()
        fig.suptitle(f"{self.layer.value} channel {self.channel.value}", fontsize=11)
        self._show(fig)
        self.message.value = f"{result.seconds:.1f} s"
        self.show_preview(result.image)


class ClassModelPanel(OptimizePanel):
    """Simonyan's class model (plain pixels, L2 decay) beside the regularised one (jitter, zoom, rotation,
    blur, and a decorrelated Fourier image on colour networks), with what the network says of each."""

    def __init__(self, net, steps: int = 128, every: int = 8, start=None):
        super().__init__(steps, every)
        self.net = check_net(net, "ClassModelPanel")
        if not net.classes:
            raise ValueError("ClassModelPanel needs a net with class names (vk.wrap(..., classes=[...]))")
        start = net.classes[resolve_target(net, start)] if start is not None else net.classes[0]
        self.target = widgets.Dropdown(options=list(net.classes), value=start, description="class")
        self._controls(widgets.HBox([self.target, self.steps]))
        for w in (self.target, self.steps):
            w.observe(self._guard(self._on_setting), "value")
        self.message.value = "<i>press Run to make the class models</i>"

    def key(self) -> tuple:
        return (self.target.value, self.steps.value)

    def compute(self, net, callback):
        steps = self.steps.value

        def half(offset):
            return lambda step, image, loss: callback(offset + step // 2, image, loss)
        plain = visualize_class(net, self.target.value, steps=steps, regularized=False, callback=half(0),
                                every=self.every, progress=False)
        regular = visualize_class(net, self.target.value, steps=steps, regularized=True,
                                  callback=half(steps // 2), every=self.every, progress=False)
        made = {"plain (Simonyan)": plain, "regularised": regular}
        return {name: (r, net.predict(net.normalize(r.image), k=3)) for name, r in made.items()}

    def render(self) -> None:
        """The two class models with the network's top-3 for each."""
        made = self.results[self.key()]
        fig = Figure(figsize=(8, 4), dpi=80)
        axes = fig.subplots(1, 2)
        for ax, (name, (result, top)) in zip(axes, made.items()):
            show_image(result.image[0].permute(1, 2, 0).cpu().numpy(), ax, title=name)
            ax.text(0.5, -0.04, "\n".join(f"{c}: {p:.3f}" for c, p in top), transform=ax.transAxes, ha="center",
                    va="top", fontsize=9)
        fig.suptitle(f"class model of {self.target.value!r}", fontsize=11)
        fig.subplots_adjust(bottom=0.22)
        self._show(fig)
        self.message.value = ""


