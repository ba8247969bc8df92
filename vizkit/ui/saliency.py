"""Panels for notebook 08: occlusion maps (Zeiler & Fergus's Fig. 7) and gradient saliency, SmoothGrad
and Grad-CAM side by side (with a student's own saliency function beside them, once it works)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from .._check import integer, number
from ..attribute import heat_maps
from ..attribute.occlusion import occlusion_probs
from ..hooks import frozen, image_maps, layers_of_type, resolve, resolve_target
from ..inspect import activations
from ..plot import heat_rgb, label_colors
from ._draw import above, text
from ._panel import Panel, check_layers, check_net, map_layers, model_inputs

PREDICTED = "predicted class"
FILLS = {"dataset mean": "mean", "black": 0.0, "grey": 0.5, "white": 1.0}
YOURS = "your saliency"


class _ImagesPanel(Panel):
    """Shared by the two panels: images by name, their model inputs and predictions, a class choice."""

    def _setup_images(self, net, images: dict):
        owner = type(self).__name__
        self.net = check_net(net, owner)
        self._checked = model_inputs(net, images, owner)  # name -> (1, C, H, W) model input
        self.images = dict(images)
        self._inputs: dict = {}
        self.image = widgets.Dropdown(options=list(self.images), description="image")
        self.target = widgets.Dropdown(options=[PREDICTED, *net.classes], description="class")

    def _input(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(model input, softmax probabilities) of the chosen image, computed once."""
        name = self.image.value
        if name not in self._inputs:
            x = self._checked[name]
            probs = self.net.probs(x)[0]
            self._inputs[name] = (x, probs)
        return self._inputs[name]

    def target_index(self) -> int:
        """The chosen class, or the image's predicted class."""
        _, probs = self._input()
        return int(probs.argmax()) if self.target.value == PREDICTED else resolve_target(self.net, self.target.value)


class OcclusionPanel(_ImagesPanel):
    """Slide a square over the image: the probability of a class at every window position, and the
    most probable label there. Window, stride and fill recompute (with a progress bar); the class
    only redraws (every class's probabilities are kept)."""

    def __init__(self, net, images: dict, window: int | None = None, stride: int | None = None,
                 fill="mean", batch_size: int | None = None):
        super().__init__()
        self._setup_images(net, images)
        side = min(net.input_size)
        window = max(1, side // 4) if window is None else integer(window, "window", 1, side)
        stride = max(1, window // 3) if stride is None else integer(stride, "stride", 1, side)
        self.batch_size = None if batch_size is None else integer(batch_size, "batch_size", 1)
        fills = dict(FILLS)
        if not (isinstance(fill, str) and fill == "mean"):
            if isinstance(fill, str):
                raise ValueError(f"fill must be 'mean' or a pixel value in [0, 1]; got {fill!r}")
            fill = number(fill, "fill (a pixel value; or 'mean')", 0, 1)
            if fill not in fills.values():
                fills[f"pixel value {fill:g}"] = fill
        self.window = widgets.IntSlider(window, 1, side, description="window", continuous_update=False)
        self.stride = widgets.IntSlider(stride, 1, max(1, side // 2, stride), description="stride",
                                        continuous_update=False)
        self.fill = widgets.Dropdown(options=fills, value=fill, description="fill")
        self._probs: dict = {}
        self.caption = widgets.HTML()
        self._layout(widgets.HBox([self.image, self.target]), widgets.HBox([self.window, self.stride, self.fill]),
                     below=[self.caption])
        for w in (self.image, self.window, self.stride, self.fill, self.target):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._timed_render)()

    def probs(self) -> torch.Tensor:
        """(K, h, w) class probabilities for the current image, window, stride and fill (cached)."""
        key = (self.image.value, self.window.value, self.stride.value, self.fill.value)
        if key not in self._probs:
            x, _ = self._input()
            update = self._busy("occluding")
            self._probs[key] = occlusion_probs(self.net, x, self.window.value, self.stride.value, self.fill.value,
                                               batch_size=self.batch_size, progress=False, callback=update)
        return self._probs[key]

    def _build(self, shape):
        fig = Figure(figsize=(11, 3.5), dpi=80)
        a, b, c = (fig.add_axes(r) for r in ((0.0, 0.05, 0.26, 0.8), (0.28, 0.05, 0.3, 0.8), (0.65, 0.05, 0.24, 0.8)))
        h, w = self.net.input_size
        parts: dict[str, Any] = {"axes": (a, b, c), "image": a.imshow(np.zeros((h, w, 3)), interpolation="nearest"),
                 "box": a.add_patch(Rectangle((0, 0), 1, 1, fill=True, facecolor="red", alpha=0.35, edgecolor="red",
                                              lw=1.5)),
                 "map": b.imshow(np.zeros(shape), cmap="viridis", vmin=0, vmax=1, interpolation="nearest"),
                 "labels": c.imshow(np.zeros((*shape, 3)), interpolation="nearest")}
        fig.colorbar(parts["map"], ax=b, fraction=0.046, pad=0.03)
        parts["dynamic"] = [parts["image"], parts["box"], parts["map"], parts["labels"]]
        a.set_title("most damaging window")
        c.set_title("most probable label")
        for ax in (a, b, c):
            ax.set_axis_off()
        return fig, parts

    def render(self) -> None:
        """Image with the most damaging window, the class's probability map, and the label map."""
        x, p0 = self._input()
        probs, t = self.probs(), self.target_index()
        pmap = probs[t]
        i, j = divmod(int(pmap.reshape(-1).argmin()), pmap.shape[1])
        win, st = self.window.value, self.stride.value
        name = self.net.classes[t] if t < len(self.net.classes) else f"class {t}"
        parts = self._figure(("occlusion", tuple(pmap.shape)), lambda: self._build(tuple(pmap.shape)))
        a, b, c = parts["axes"]
        picture = self.net.deprocess(x)
        parts["image"].set_data(picture.repeat(3, 2) if picture.shape[2] == 1 else picture)
        parts["box"].set_bounds(j * st - 0.5, i * st - 0.5, win, win)
        parts["map"].set_data(pmap.cpu().numpy())
        labels = probs.argmax(0)
        parts["labels"].set_data(label_colors(labels, self.net.classes))

        def write(draw):  # the title and the legend of the classes present, with PIL: they change every time
            text(draw, above(b), f"p({name}) with the window there", 13, anchor="mb")
            x, y = c.bbox.x1 + 8, c.figure.bbox.height - c.bbox.y1
            for k in sorted(set(labels.flatten().tolist())):
                colour = tuple(int(v * 255) for v in label_colors(np.array([k]), self.net.classes)[0])
                draw.rectangle((x, y + 2, x + 9, y + 11), fill=colour)
                text(draw, (x + 14, y), self.net.classes[k] if k < len(self.net.classes) else str(k), 10)
                y += 15
        self._redraw(write)
        self.caption.value = (f"p({name}) = {float(p0[t]):.3f} unoccluded; {float(pmap.min()):.3f} at its lowest, "
                              f"window at row {i * st}, column {j * st}; map {pmap.shape[0]}x{pmap.shape[1]} "
                              f"({win}x{win} window, stride {st})")
        self._idle()


class SaliencyPanel(_ImagesPanel):
    """Gradient saliency, SmoothGrad, Grad-CAM and guided Grad-CAM of one class on one image, side by
    side. Every (image, class, layer, samples) is computed once; then it only redraws.

    yours: a saliency function of the coursework's `saliency` exercise, fn(model, x, target) -> (H, W) (model:
    the net's nn.Module, in eval mode with its weights not requiring grad, and restored afterwards; x: the
    (1, C, H, W) model input; target: a class index), shown as one more map, "your saliency". Until it works
    (it raises NotImplementedError, fails, or returns something other than an (H, W) map of finite numbers),
    vizkit's gradient stands in for it and the message line says why."""

    METHODS = ("gradient", "SmoothGrad", "Grad-CAM", "guided Grad-CAM")

    def __init__(self, net, images: dict, layers: list[str] | None = None, smooth: int = 16,
                 yours: Callable[..., Any] | None = None):
        super().__init__()
        self._setup_images(net, images)
        smooth = integer(smooth, "smooth (SmoothGrad's number of samples)", 2, 64)
        if yours is not None and not callable(yours):
            raise TypeError(f"yours must be your saliency function, fn(model, x, target) -> (H, W); got "
                            f"{type(yours).__name__}")
        self.yours = yours
        self._notes: dict = {}  # the key of maps() -> why "your saliency" shows vizkit's gradient ('' if it does not)
        first = next(iter(self._checked.values()))
        if layers is not None:
            layers = check_layers(net, layers, "SaliencyPanel")
            map_layers(net, first, layers, "SaliencyPanel")
        layers = layers or self._map_layers(net, first)
        if not layers:
            raise ValueError(f"{net.name} has no conv, ReLU or pooling layers with maps for Grad-CAM")
        relus = [n for n in layers if isinstance(resolve(net, n)[1], nn.ReLU)]
        self.layer = widgets.Dropdown(options=list(layers), value=(relus or layers)[-1], description="Grad-CAM at")
        self.smooth = widgets.IntSlider(smooth, 2, 64, description="samples", continuous_update=False)
        self.overlay = widgets.Checkbox(True, description="over the image")
        self._maps: dict = {}
        self._layout(widgets.HBox([self.image, self.target, self.layer]), widgets.HBox([self.smooth, self.overlay]))
        for w in (self.image, self.target, self.layer, self.smooth, self.overlay):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._timed_render)()

    @staticmethod
    def _map_layers(net, x) -> list[str]:
        """Conv, ReLU and pooling layers whose output is maps over the image that the image reaches (not SwinV2's
        position-table ReLU); Grad-CAM is usually taken at the last rectified one (before a ReLU the weighted sum
        of maps can be negative everywhere)."""
        names = image_maps(net, layers_of_type(net, (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d)))
        acts = activations(net, x, names) if names else {}
        return [n for n in names if acts[n].dim() == 3]

    def maps(self) -> dict:
        """method -> (H, W) map for the current choices (cached); with `yours`, "your saliency" last."""
        t = self.target_index()
        key = self._key(t)
        if key not in self._maps:
            x, _ = self._input()
            self._busy("computing the maps")
            maps = heat_maps(self.net, x, t, self.layer.value, smooth=self.smooth.value, methods=self.METHODS)
            if self.yours is not None:
                maps[YOURS], self._notes[key] = self._your_map(self.yours, x, t, maps["gradient"])
            self._maps[key] = maps
        return self._maps[key]

    def _key(self, t: int) -> tuple:
        return (self.image.value, t, self.layer.value, self.smooth.value)

    def yours_note(self) -> str:
        """'' when "your saliency" shows the map your function returned for the current choices; else why it
        shows vizkit's gradient instead (also the panel's message line)."""
        return self._notes.get(self._key(self.target_index()), "") if self.yours is not None else ""

    def _your_map(self, fn: Callable[..., Any], x: torch.Tensor, t: int,
                  gradient: torch.Tensor) -> tuple[torch.Tensor, str]:
        """(the student's map of class t on x, '') or (vizkit's gradient, why); the model left as found."""
        instead = "showing vizkit's gradient in its place"
        try:
            with frozen(self.net) as model:
                got = fn(model, x.detach().clone(), t)
        except NotImplementedError:
            return gradient, f"your saliency is not done yet: {instead}"
        except Exception as e:  # noqa: BLE001 - the student's own error is shown, and the panel still works
            return gradient, f"your saliency raised {type(e).__name__}: {e}; {instead}"
        if isinstance(got, np.ndarray):
            got = torch.from_numpy(got)
        if not isinstance(got, torch.Tensor):
            return gradient, f"your saliency returned a {type(got).__name__}, not an (H, W) tensor; {instead}"
        want = tuple(x.shape[2:])
        if tuple(got.shape) != want:
            return gradient, f"your saliency returned shape {tuple(got.shape)}; expected {want}; {instead}"
        got = got.detach().to("cpu", torch.float32)
        if not bool(torch.isfinite(got).all()):
            return gradient, f"your saliency contains NaN or infinite values; {instead}"
        return got, ""

    def _build(self, n: int):
        fig = Figure(figsize=(2.24 * (1 + n), 2.8), dpi=80)
        axes = fig.subplots(1, 1 + n)
        h, w = self.net.input_size
        ims = [ax.imshow(np.zeros((h, w, 3)), interpolation="nearest") for ax in axes]
        for ax in axes:
            ax.set_axis_off()
            ax.set_title(" ", fontsize=9)  # room for the titles, written with PIL
        fig.tight_layout()
        return fig, {"axes": axes, "images": ims, "dynamic": ims}

    def render(self) -> None:
        """The image and one map per method (bright: where the class's evidence lies)."""
        x, probs = self._input()
        t, maps = self.target_index(), self.maps()
        picture = self.net.deprocess(x)
        grey = picture.mean(2, keepdims=True)
        parts = self._figure(("saliency", len(maps)), lambda: self._build(len(maps)))
        name = self.net.classes[t] if t < len(self.net.classes) else f"class {t}"
        parts["images"][0].set_data(picture.repeat(3, 2) if picture.shape[2] == 1 else picture)
        titles = [f"{name} (p = {float(probs[t]):.2f})"]
        note = self.yours_note()
        for im, (m, heat) in zip(parts["images"][1:], maps.items()):
            rgb = heat_rgb(heat)
            im.set_data(0.45 * grey + 0.55 * rgb if self.overlay.value else rgb)
            if m == YOURS and note:
                titles.append("gradient, for yours")
            else:
                titles.append(m + (f" (at {self.layer.value})" if "CAM" in m else ""))

        def write(draw) -> None:
            for ax, s in zip(parts["axes"], titles):
                text(draw, above(ax), s, 12, anchor="mb")

        self._redraw(write)
        self._idle()
        if note:
            self.message.value = f"<span style='color:#9a6700'>{html.escape(note, quote=False)}</span>"
