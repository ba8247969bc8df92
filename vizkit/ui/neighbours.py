"""Panel for notebook 04: a query image and its nearest neighbours, in feature space and in pixel space."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from .._check import integer
from ..inspect import NeighbourIndex, features
from ._draw import RED, paste, pixels, png, sheet, shorten, text
from ._panel import Panel, check_net, class_labels, class_names, feature_table, model_input, pixel_batch, uploaded_image


class NeighboursPanel(Panel):
    """Pick a query (an index into the images, or an upload), a layer, k and a metric; see the k
    nearest images by the layer's features (top row) and by raw pixels (bottom row).

    net: the Net; images: (N, C, H, W) tensor in [0, 1]; labels: (N,) ints; feats: layer -> (N, D)
    features of those images (from vk.features). Features are computed beforehand, so every
    control only searches and redraws.
    """

    def __init__(self, net, images: torch.Tensor, labels, feats: dict, classes=None, k: int = 8):
        super().__init__()
        self.net = check_net(net, "NeighboursPanel")
        images = pixel_batch(images, "images")
        n = len(images)
        if n < 2:
            raise ValueError(f"NeighboursPanel needs at least 2 images (a query and a neighbour); got {n}")
        if tuple(images.shape[1:]) != (net.channels, *net.input_size):
            raise ValueError(f"images must have the net's input shape (N, {net.channels}, {net.input_size[0]}, "
                             f"{net.input_size[1]}), as the features were computed from them; got "
                             f"{tuple(images.shape)}")
        self.feats = feature_table(feats, "NeighboursPanel", n, net)
        self.images = images
        self.classes = class_names(classes, net)
        self.labels = class_labels(labels, n, self.classes)
        if not self.classes:
            self.classes = [f"class {i}" for i in range(int(self.labels.max()) + 1)]
        k = integer(k, "k", 1, min(16, n - 1))  # the k slider's range: at most 16 neighbours fit the figure
        self.pixels = images.reshape(n, -1).numpy()
        self.uploaded: torch.Tensor | None = None
        self._found: dict = {}  # (query or "upload", layer or "pixels", metric) -> nearest (indices, distances)
        self._index: dict = {}  # (layer or "pixels", metric) -> NeighbourIndex, prepared once
        self.query = widgets.IntSlider(0, 0, n - 1, description="query", continuous_update=False)
        self.layer = widgets.Dropdown(options=list(self.feats), description="layer")
        self.k = widgets.IntSlider(k, 1, min(16, n - 1), description="k")
        self.metric = widgets.ToggleButtons(options=["cosine", "euclidean"], description="distance")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="query image")
        self.use_upload = widgets.Checkbox(False, description="use the uploaded image", disabled=True)
        self._layout(widgets.HBox([self.query, self.layer, self.k]),
                     widgets.HBox([self.metric, self.upload, self.use_upload]))
        for w in (self.query, self.layer, self.k, self.metric, self.use_upload):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self.upload.observe(self._guard(self._on_upload), "value")
        self._guard(self._timed_render)()

    def _on_upload(self, change):
        files = self.upload.value
        if not files:
            return
        file, image = uploaded_image(files)
        x = model_input(self.net, image, f"the uploaded file {file!r}")
        self.uploaded = self.net.pixels(x).cpu()  # back to [0, 1] pixels, as the images
        self._found = {k: v for k, v in self._found.items() if k[0] != "upload"}
        self.use_upload.disabled = False
        self.use_upload.value = True
        self._timed_render()

    def _search(self, space: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """The nearest self.k.max (indices, distances) to the query in a feature space (a layer, or "pixels");
        cached, so that k, the layer and the metric only redraw once a query was searched."""
        uploaded = self.uploaded if self.use_upload.value else None  # the query when not None
        key = ("upload" if uploaded is not None else self.query.value, space, metric)
        if key not in self._found:
            self._busy(f"searching {len(self.images):,} images by " + ("pixels" if space == "pixels" else space))
            if (space, metric) not in self._index:
                f = self.pixels if space == "pixels" else self.feats[space]
                self._index[space, metric] = NeighbourIndex(f, metric)
            index = self._index[space, metric]
            if uploaded is not None:
                q = (uploaded.reshape(-1).numpy() if space == "pixels" else
                     features(self.net, self.net.normalize(uploaded), space, progress=False)[0])
                self._found[key] = index.nearest_to(q, self.k.max)
            else:
                self._found[key] = index.nearest(self.query.value, self.k.max)
        return self._found[key]

    def neighbours(self):
        """((indices, distances) by features, (indices, distances) by pixels) for the current query and k."""
        k, metric = self.k.value, self.metric.value
        return tuple((i[:k], d[:k]) for i, d in (self._search(self.layer.value, metric),
                                                 self._search("pixels", metric)))

    def render(self) -> None:
        """Query on the left; neighbours by features (top row) and by pixels (bottom row); red: another class."""
        (fi, fd), (pi, pd) = self.neighbours()
        k = self.k.value
        uploaded = self.uploaded if self.use_upload.value else None  # the query when not None
        query = uploaded[0] if uploaded is not None else self.images[self.query.value]
        qlabel = None if uploaded is not None else int(self.labels[self.query.value])
        cell = min(72, 860 // (k + 1) - 8)
        step, row_h = cell + 8, cell + 52
        img, draw = sheet(max(step * (k + 1) + 8, 420), 2 * row_h + 4)
        distance = f"{self.metric.value} distance"
        for row, (idx, dist, name) in enumerate(((fi, fd, f"by the features of {self.layer.value} ({distance})"),
                                                 (pi, pd, f"by raw pixels ({distance})"))):
            top = row * row_h + 4
            text(draw, (8, top), name, 12)
            # (image, two lines of text, their colour: a name or an RGB tuple)
            cells: list[tuple[torch.Tensor, str, str, str | tuple[int, int, int]]] = [
                (query, "query", "" if qlabel is None else self.classes[qlabel], "black")]
            for i, d in zip(idx.tolist(), dist.tolist()):
                lab = int(self.labels[i])
                same = qlabel is None or lab == qlabel
                cells.append((self.images[i], f"d={d:.3f}", self.classes[lab], "black" if same else RED))
            for j, (image, line1, line2, colour) in enumerate(cells):
                x = 8 + j * step
                text(draw, (x + cell // 2, top + 18), shorten(line2, 10, step - 2), 10, colour, anchor="mt")
                text(draw, (x + cell // 2, top + 30), line1, 10, colour, anchor="mt")
                pic = Image.fromarray(pixels(image.permute(1, 2, 0).numpy()))
                paste(img, pic.resize((cell, cell), Image.Resampling.NEAREST), x, top + 44)
            draw.line((7 + step - 4, top + 18, 7 + step - 4, top + row_h - 6), fill=(150, 150, 150), width=1)
        self._picture(png(img))
        if qlabel is not None:
            agree_f = np.mean(self.labels[fi] == qlabel)
            agree_p = np.mean(self.labels[pi] == qlabel)
            self.message.value = (f"same class as the query: <b>{agree_f:.0%}</b> of the feature neighbours, "
                                  f"<b>{agree_p:.0%}</b> of the pixel neighbours (red: another class)")
        else:
            self.message.value = "an uploaded query has no label; compare the classes of its neighbours"
        self.progress.layout.display = "none"
