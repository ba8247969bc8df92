"""Panel for notebook 04: a query image and its nearest neighbours, in feature space and in pixel space."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from .._check import integer
from ..inspect import features, nearest, nearest_to
from ..plot import show_image
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
        self.query = widgets.IntSlider(0, 0, n - 1, description="query", continuous_update=False)
        self.layer = widgets.Dropdown(options=list(self.feats), description="layer")
        self.k = widgets.IntSlider(k, 1, min(16, n - 1), description="k")
        self.metric = widgets.ToggleButtons(options=["cosine", "euclidean"], description="distance")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="query image")
        self.use_upload = widgets.Checkbox(False, description="use the uploaded image", disabled=True)
        self.widget = widgets.VBox([widgets.HBox([self.query, self.layer, self.k]),
                                    widgets.HBox([self.metric, self.upload, self.use_upload]),
                                    self.view, self.message])
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
        mean, std = self.net._stats(x)
        self.uploaded = (x * std + mean).clamp(0, 1).cpu()  # back to [0, 1] pixels, as the images
        self.use_upload.disabled = False
        self.use_upload.value = True
        self._timed_render()

    def neighbours(self):
        """((indices, distances) by features, (indices, distances) by pixels) for the current query."""
        f, k, metric = self.feats[self.layer.value], self.k.value, self.metric.value
        if self.use_upload.value and self.uploaded is not None:
            q = features(self.net, self.net.normalize(self.uploaded), self.layer.value, progress=False)[0]
            return (nearest_to(f, q, k, metric), nearest_to(self.pixels, self.uploaded.reshape(-1).numpy(), k, metric))
        i = self.query.value
        return nearest(f, i, k, metric), nearest(self.pixels, i, k, metric)

    def render(self) -> None:
        """Query on the left; neighbours by features (top) and by pixels (bottom)."""
        (fi, fd), (pi, pd) = self.neighbours()
        k = self.k.value
        uploaded = self.use_upload.value and self.uploaded is not None
        query = self.uploaded[0] if uploaded else self.images[self.query.value]
        qlabel = None if uploaded else int(self.labels[self.query.value])
        fig = Figure(figsize=(1.3 * (k + 1), 3.2))
        axes = fig.subplots(2, k + 1, squeeze=False)
        for row, (idx, dist, name) in enumerate(((fi, fd, f"features {self.layer.value}"), (pi, pd, "pixels"))):
            show_image(query.permute(1, 2, 0).numpy(), axes[row, 0],
                       title="query" + ("" if qlabel is None else f"\n{self.classes[qlabel]}"))
            axes[row, 0].text(-0.15, 0.5, name, transform=axes[row, 0].transAxes, rotation=90,
                              va="center", ha="right", fontsize=8)
            for j, (i, d) in enumerate(zip(idx, dist), start=1):
                lab = int(self.labels[i])
                ax = show_image(self.images[i].permute(1, 2, 0).numpy(), axes[row, j])
                same = qlabel is None or lab == qlabel
                ax.set_title(f"{self.classes[lab]}\nd={d:.3f}", fontsize=7, color="black" if same else "#c00")
        for ax in axes.flat:
            ax.title.set_fontsize(7)
        fig.tight_layout()
        self._show(fig)
        if qlabel is not None:
            agree_f = np.mean(self.labels[fi] == qlabel)
            agree_p = np.mean(self.labels[pi] == qlabel)
            self.message.value = (f"same class as the query: <b>{agree_f:.0%}</b> of the feature neighbours, "
                                  f"<b>{agree_p:.0%}</b> of the pixel neighbours (red titles: another class)")
        else:
            self.message.value = "an uploaded query has no label; compare the classes of its neighbours"
