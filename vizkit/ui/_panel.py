"""What every panel shares: a PNG view, a message line, and errors shown instead of lost."""

from __future__ import annotations

import dataclasses
import functools
import html
import io
import time
from collections.abc import Mapping

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from .._check import integer, pixels, shown
from ..data import open_image
from ..hooks import layers_of_type, resolve, resolve_layers
from ..inspect import TopPatches, activations, top_patches
from ..nets import Net, check_net
from ..plot import canvas_png, to_png
from . import _draw


class Panel:
    """Base of the panels: self.view (the PNG, shown at its own pixel size), self.message (HTML) and
    self.progress right above it, self.widget (the layout)."""

    def __init__(self):
        # flex-start: a VBox stretches its children to the output's width, which would blur the picture
        self.view = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start", object_fit="contain"))
        self.message = widgets.HTML()
        self.progress = widgets.IntProgress(0, 0, 1, description="computing", bar_style="info",
                                            layout=widgets.Layout(display="none"))
        self.last_error: Exception | None = None
        self.render_seconds = 0.0
        self._fresh = b""  # the last picture rendered, before any fading
        self._quiet = False  # True while the panel adjusts its own sliders
        self.widget: widgets.Widget = widgets.VBox([self.progress, self.message, self.view])

    def _layout(self, *controls, below=()) -> None:
        """controls, then the progress bar and message line right above the picture (where the eye is), then below."""
        self.widget = widgets.VBox([*controls, self.progress, self.message, self.view, *below])

    def _guard(self, fn):
        """Wrap a callback so an exception is shown in the panel (JupyterLab shows callback errors nowhere)."""
        @functools.wraps(fn)
        def run(*args, **kwargs):
            if self._quiet:  # a slider the panel itself is adjusting
                return None
            try:
                result = fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - shown to the user and kept in last_error
                self._error(e)
                return None
            self.last_error = None
            return result
        return run

    def _error(self, e: Exception) -> None:
        """Show e above the picture and fade the picture, which no longer matches the controls."""
        self.last_error = e
        self.progress.layout.display = "none"
        stale = " (the faded picture is the last view that worked)" if self._fresh else ""
        self.message.value = (f"<span style='color:#b00'><b>{type(e).__name__}</b>: {html.escape(str(e))}"
                              f"{stale}</span>")
        self._fade()

    def _busy(self, what: str):
        """Show `what` in the message line and the progress bar now, and fade the old picture; returns
        callback(done, total) for the bar. Widget changes inside a callback reach the browser at once."""
        self.message.value = f"<i>{html.escape(what)}…</i>"
        self.progress.value, self.progress.max = 0, 1
        self.progress.layout.display = ""
        self._fade()

        def update(done: int, total: int) -> None:
            self.progress.max = max(total, 1)
            self.progress.value = done
        return update

    def _idle(self) -> None:
        """Hide the progress bar and clear the message line."""
        self.progress.layout.display = "none"
        self.message.value = ""

    def _fade(self) -> None:
        """Grey the picture shown (once): it no longer matches the controls."""
        if self._fresh and bytes(self.view.value) == self._fresh:
            self.view.value = faded(self._fresh)

    def _set_max(self, slider, top: int) -> None:
        """Give an integer slider the range [min, top], keeping its value inside, as one change that calls none
        of the panel's callbacks (the caller redraws once); a range of one value (one channel, one position)
        disables the slider instead of failing."""
        top = max(int(top), slider.min)
        self._quiet = True
        try:
            with slider.hold_trait_notifications():
                slider.max = top
                slider.value = min(slider.value, top)
        finally:
            self._quiet = False
        slider.disabled = top == slider.min

    def _picture(self, png: bytes) -> None:
        """Show png at its own pixel size (figures are drawn at the size they are shown)."""
        w, h = png_size(png)
        layout = self.view.layout
        if (layout.width, layout.height) != (f"{w}px", f"{h}px"):
            layout.width, layout.height = f"{w}px", f"{h}px"
        self._fresh = png
        self.view.value = png

    def _show(self, fig: Figure) -> None:
        self._picture(to_png(fig))

    def _figure(self, key, build, keep: int = 8) -> dict:
        """The parts of the panel's figure for a layout key: build() -> (Figure, parts dict) runs on a key's
        first use; after that the figure is reused (`keep` layouts are kept) and the caller updates its artists.
        Artists listed in parts["dynamic"] are drawn over a saved background by _redraw (blitting)."""
        figures = self.__dict__.setdefault("_figures", {})
        if key not in figures:
            if len(figures) >= keep:
                figures.pop(next(iter(figures)))
            fig, parts = build()
            canvas, background = FigureCanvasAgg(fig), None
            if parts.get("dynamic"):
                for artist in parts["dynamic"]:
                    artist.set_animated(True)
                canvas.draw()
                background = canvas.copy_from_bbox(fig.bbox)
            figures[key] = (fig, parts, canvas, background)
        self._figure_parts = figures[key]
        return self._figure_parts[1]

    def _redraw(self, write=None) -> None:
        """Draw the reused figure after its artists changed, into the view: only the dynamic artists over the
        saved background when there are some, else the whole figure (about half the cost of a new one).
        write(draw): writes the changing labels with PIL's ImageDraw (quicker than matplotlib's text)."""
        fig, parts, canvas, background = self._figure_parts
        if background is None:
            canvas.draw()
        else:
            canvas.restore_region(background)
            for artist in parts["dynamic"]:
                fig.draw_artist(artist)
        if write is None:
            self._picture(canvas_png(canvas))
            return
        w, h = canvas.get_width_height(physical=True)
        img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
        write(ImageDraw.Draw(img, "RGBA"))
        self._picture(_draw.png(img))

    def _wire(self, recompute: tuple, redraw: tuple) -> None:
        """Controls that change what is computed call self._on_layer, those that change only the view redraw;
        then the first view is drawn."""
        for w in recompute:
            w.observe(self._guard(self._on_layer), "value")
        for w in redraw:
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._on_layer)(None)

    def _on_layer(self, change) -> None:  # overridden by the panels that _wire
        """A control that changes what is computed moved: recompute what is needed and redraw."""
        self._timed_render()

    def _timed_render(self) -> None:
        start = time.perf_counter()
        self.render()
        self.render_seconds = time.perf_counter() - start

    def render(self) -> None:  # overridden by each panel
        """Draw the current view into self.view."""

    def png(self) -> bytes:
        """The PNG bytes now shown."""
        return bytes(self.view.value)

    def _repr_mimebundle_(self, **kwargs):
        """The live widget; viewers without widgets (GitHub, nbconvert) get one line instead of its repr
        (the notebooks keep a snapshot of each panel's picture in the cell below it)."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle = {**bundle, "text/plain": f"[{type(self).__name__}: a live panel; run the notebook to use it]"}
        return bundle


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels of PNG bytes, read from the header."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def faded(png: bytes) -> bytes:
    """PNG bytes of the same picture, washed out towards light grey (a stale view)."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    Image.blend(img, Image.new("RGB", img.size, (238, 238, 238)), 0.75).save(out, format="png", compress_level=1)
    return out.getvalue()


# --------------------------------------------------------------------------- argument checks
# Panels check their constructor arguments here, before any widget exists, so that a bad argument is a
# ValueError / TypeError / KeyError naming it, never a TraitError from a slider or a traceback from torch.

def check_name(name, what: str) -> str:
    """A label shown in a dropdown: a string."""
    if not isinstance(name, str):
        raise TypeError(f"the names in {what} must be strings (they label the dropdown); got {name!r} "
                        f"({type(name).__name__}); use e.g. {{'{name}': ...}}")
    return name


def check_dict(value, owner: str, what: str, one: str, example: str) -> dict:
    """A non-empty dict with string keys, copied. what: the argument; one: what one entry is."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{owner}: {what} must be a dict {example}; got {shown(value)}")
    if not value:
        raise ValueError(f"{owner} needs at least one {one} ({what}: {example}); got an empty dict")
    for name in value:
        check_name(name, what)
    return dict(value)


def model_input(net, source, what: str) -> torch.Tensor:
    """One image (anything net.preprocess takes) -> (1, C, H, W) model input; errors name the image."""
    if isinstance(source, torch.Tensor):
        shape = tuple(source.shape)
        if source.dim() not in (3, 4) or (source.dim() == 4 and shape[0] != 1) or shape[-3] not in (1, 3) \
                or 0 in shape[-2:]:
            raise ValueError(f"{what} must be a (C, H, W) or (1, C, H, W) tensor of [0, 1] pixels with C = 1 or 3; "
                             f"got shape {shape}")
        pixels(source, what)
    try:
        return net.preprocess(source)
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise type(e)(f"{what}: {e}") from None


def model_inputs(net, images, owner: str) -> dict[str, torch.Tensor]:
    """images: name -> image -> name -> (1, C, H, W) model input; every image is checked now."""
    images = check_dict(images, owner, "images", "image", "name -> image")
    return {name: model_input(net, source, f"image {name!r}") for name, source in images.items()}


def pixel_batch(images, what: str, n: int | None = None) -> torch.Tensor:
    """(N, C, H, W) tensor (or ndarray) of finite [0, 1] pixels -> tensor."""
    if isinstance(images, np.ndarray) and images.dtype.kind in "fiub":
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{what} must be an (N, C, H, W) tensor of [0, 1] pixels (e.g. from dataset.tensors()); "
                        f"got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] not in (1, 3) or 0 in images.shape[2:]:
        raise ValueError(f"{what} must be an (N, C, H, W) tensor with C = 1 or 3; got shape {tuple(images.shape)}")
    if n is not None and len(images) != n:
        raise ValueError(f"{what} must hold one image per row of the features: {n}; got {len(images)}")
    pixels(images, what)
    return images.detach().cpu()


def class_names(classes, net=None) -> list[str]:
    """classes (None: the net's) as a list of names."""
    if classes is None:
        return list(getattr(net, "classes", None) or [])
    if isinstance(classes, (str, bytes)) or not isinstance(classes, (list, tuple, np.ndarray)):
        raise TypeError(f"classes must be a list of class names; got {shown(classes)}")
    return [str(c) for c in classes]


def class_labels(labels, n: int, classes: list[str]) -> np.ndarray:
    """(n,) integer class indices, each with a name in classes (when classes are known)."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels) if isinstance(labels, (list, tuple, np.ndarray)) else None
    if y is None:
        raise TypeError(f"labels must be a list, array or tensor of class indices; got {type(labels).__name__}")
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"labels must hold one class index per image: {n} of them; got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices; got dtype {y.dtype}"
                        + (" (use labels.astype(int))" if y.dtype.kind == "f" else ""))
    if len(y) and (y.min() < 0 or (classes and y.max() >= len(classes))):
        span = f"[0, {len(classes) - 1}] (one per class name)" if classes else "non-negative integers"
        raise ValueError(f"labels must be class indices in {span}; got values in [{y.min()}, {y.max()}]")
    return y.astype(np.int64)


def feature_table(feats, owner: str, n: int | None = None, net=None) -> dict[str, np.ndarray]:
    """layer -> (N, D) finite features, the same N for every layer (and n when given)."""
    feats = check_dict(feats, owner, "feats", "layer's features", "layer -> (N, D) features")
    out = {}
    for layer, f in feats.items():
        if net is not None:
            resolve(net, layer)  # the panel computes features of an upload at this layer: it must exist
        if isinstance(f, torch.Tensor):
            f = f.detach().float().cpu().numpy()
        if not isinstance(f, np.ndarray) or f.dtype.kind not in "iuf":
            raise TypeError(f"features of {layer!r} must be an (N, D) array or tensor of numbers (vk.features); "
                            f"got {type(f).__name__}{'' if not isinstance(f, np.ndarray) else f' of {f.dtype}'}")
        if f.ndim != 2 or 0 in f.shape:
            raise ValueError(f"features of {layer!r} must be an (N, D) array; got shape {f.shape}")
        n = len(f) if n is None else n
        if len(f) != n:
            raise ValueError(f"features of {layer!r} have {len(f)} rows for {n} images; give every layer's "
                             f"features of the same images")
        if f.dtype.kind == "f" and not np.isfinite(f).all():
            raise ValueError(f"features of {layer!r} contain {int((~np.isfinite(f)).sum())} NaN or infinite "
                             f"value(s); compute them again from finite inputs")
        out[layer] = f if f.dtype.kind == "f" else f.astype(np.float32)
    return out


def check_layers(net, layers, owner: str, what: str = "layer") -> list[str]:
    """A layer name or non-empty list of them, each known to the net (KeyError lists the valid ones)."""
    if isinstance(layers, (list, tuple)) and not layers:
        raise ValueError(f"{owner} needs at least one {what}; got an empty list (leave layers=None for the default)")
    return resolve_layers(net, layers)


def map_layers(net, x: torch.Tensor, layers: list[str], owner: str) -> dict[str, torch.Tensor]:
    """The (C, h, w) activations of x at layers; a layer that gives a vector is a ValueError."""
    try:
        acts = activations(net, x, layers)
    except RuntimeError as e:  # e.g. a dataset whose images have a size the net cannot take
        raise ValueError(f"{owner}: {net.name} cannot run on an image of shape {tuple(x.shape[1:])}: {e}") from None
    flat = [n for n in layers if acts[n].dim() != 3]
    if flat:
        raise ValueError(f"{owner}: layers {flat} give vectors, not (C, h, w) feature maps; pick conv, ReLU or "
                         f"pooling layers before the classifier")
    return acts


def choose(value, options: list[str], name: str, net=None) -> str | None:
    """A layer (or other name) chosen among options; None stays None (the panel's default).
    Unknown: KeyError listing the options; known to the net but not offered here: ValueError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a name (str) or None; got {value!r} ({type(value).__name__}); "
                        f"one of {options}")
    if value in options:
        return value
    if net is not None:
        path = resolve(net, value)[0]  # KeyError listing every layer of the net
        same = [o for o in options if resolve(net, o)[0] == path]
        if same:
            return same[0]
        raise ValueError(f"{name} {value!r} is not one this panel can show; choose one of {options}")
    raise KeyError(f"no {name} {value!r}; valid: {options}")


def dataset_items(dataset, net, owner: str) -> torch.Tensor:
    """Check a dataset of ([0, 1] image, label) items; returns its first image (C, H, W)."""
    if isinstance(dataset, torch.utils.data.DataLoader) or not hasattr(dataset, "__getitem__") \
            or not hasattr(dataset, "__len__"):
        raise TypeError(f"{owner}: dataset must be a Dataset of ([0, 1] image, label) items (e.g. "
                        f"vk.FashionMNIST(train=False).subset(500)); got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError(f"{owner}: the dataset is empty (0 images)")
    item = dataset[0]
    image = item[0] if isinstance(item, (tuple, list)) else None
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise TypeError(f"{owner}: dataset items must be (image, label) with a (C, H, W) tensor image; got "
                        f"{type(item).__name__}" + ("" if image is None else f" holding a {type(image).__name__}"))
    pixels(image, "dataset[0] image")
    if image.shape[0] != net.channels:
        raise ValueError(f"{owner}: {net.name} takes {net.channels}-channel images; the dataset's are "
                         f"{tuple(image.shape)}")
    return image


def dataset_panel(net, dataset, layers, k, batch_size, owner: str) -> tuple[list[str], int, int]:
    """The checks of a panel that searches a dataset at some conv layers -> (layers, k, batch_size)."""
    check_net(net, owner)
    image = dataset_items(dataset, net, owner)
    layers = check_layers(net, layers, owner, "conv layer")
    map_layers(net, net.normalize(image[None]), layers, owner)
    return (layers, *check_k(k, batch_size, len(dataset)))


def images_and_layers(net, images, layers, types: tuple, owner: str) -> tuple[Net, dict, dict, list[str]]:
    """(net, model inputs, images, layers) of a panel over a few images: the given layers checked, or else the net's
    layers of these module types (a ValueError if it has none)."""
    net = check_net(net, owner)
    inputs = model_inputs(net, images, owner)
    layers = check_layers(net, layers, owner) if layers is not None else layers_of_type(net, types)
    if not layers:
        kinds = " or ".join(sorted({t.__name__ for t in types}))
        raise ValueError(f"{owner}: {net.name} has no layers of the kinds it shows ({kinds}); pass layers=[...] "
                         "with layers that give feature maps")
    return net, inputs, dict(images), layers


class TopPatchesPanel(Panel):
    """A layer menu and a channel slider over the top-k patches of a dataset: each layer is searched once, on first
    use, with the panel's progress bar; subclasses draw a channel's patches."""

    def _search(self, net, dataset, layers, k: int, batch_size: int, owner: str, continuous: bool = True,
                found=None) -> None:
        layers, self.k, self.batch_size = dataset_panel(net, dataset, layers, k, batch_size, owner)
        self.net, self.dataset = net, dataset
        self._tops: dict = found_patches(found, layers, dataset, owner)
        self.layer = widgets.Dropdown(options=list(layers), description="layer")
        self.channel = widgets.IntSlider(0, 0, 1, description="channel", continuous_update=continuous)
        self._layout(widgets.HBox([self.layer, self.channel]))
        self._wire((self.layer,), (self.channel,))

    def top(self, layer: str | None = None) -> TopPatches:
        """The TopPatches of a layer (the shown one by default), searched on first use."""
        layer = layer or self.layer.value
        if layer not in self._tops:
            update = self._busy(f"searching {len(self.dataset):,} images for the top patches of {layer}")
            self._tops[layer] = top_patches(self.net, self.dataset, layer, k=self.k, batch_size=self.batch_size,
                                            progress=False, callback=update)
        return self._tops[layer]

    def _on_layer(self, change) -> None:
        self._set_max(self.channel, self.top().values.shape[0] - 1)
        self._timed_render()


def found_patches(found, layers: list[str], dataset, owner: str) -> dict[str, TopPatches]:
    """A panel's found= (layer -> TopPatches searched beforehand, e.g. vk.load_scan's), checked against its layers
    and dataset -> the same, each cropping from the panel's dataset; None -> {} (every layer searched on first use)."""
    if found is None:
        return {}
    if not isinstance(found, Mapping) or not all(isinstance(v, TopPatches) for v in found.values()):
        raise TypeError(f"{owner}: found must be a dict layer -> TopPatches (vk.top_patches's or vk.load_scan's) "
                        f"or None; got {type(found).__name__}")
    out = {}
    for layer, tp in found.items():
        if layer not in layers:
            raise ValueError(f"{owner}: found holds layer {layer!r}, which the panel does not show (layers={layers})")
        if tp.layer != layer:
            raise ValueError(f"{owner}: found[{layer!r}] holds the top patches of layer {tp.layer!r}")
        top = int(tp.indices.max()) if tp.indices.numel() else -1
        if top >= len(dataset):
            raise ValueError(f"{owner}: found[{layer!r}] lists dataset index {top} but dataset holds {len(dataset)} "
                             f"images: pass the dataset the patches were searched in")
        out[layer] = dataclasses.replace(tp, dataset=dataset)
    return out


def check_k(k, batch_size, n: int) -> tuple[int, int]:
    """(k, batch_size) of a top-patch search over n images."""
    return integer(k, "k", 1, n), integer(batch_size, "batch_size", 1)


def uploaded_image(files) -> tuple[str, Image.Image]:
    """The last file of a FileUpload value -> (its name, a validated PIL image); a non-image is a ValueError
    naming the file."""
    f = files[-1] if isinstance(files, (list, tuple)) else next(iter(files.values()))
    name = str(f.get("name") or "upload")
    try:
        return name, open_image(bytes(f["content"]))
    except (ValueError, TypeError) as e:
        raise ValueError(f"the uploaded file {name!r} is not an image vizkit can use: {e}") from None
