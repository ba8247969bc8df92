"""Panel for notebook 05: 2-D maps of feature space by PCA, t-SNE or UMAP."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from .._check import choice, integer
from ..inspect import embed, explained_variance, trustworthiness
from ..plot import thumbnail_layer
from ._draw import above, text
from ._panel import Panel, class_labels, class_names, feature_table, pixel_batch

NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


class EmbeddingPanel(Panel):
    """Layer, method and its settings -> a 2-D map coloured by class (or thumbnails), with its
    trustworthiness and, for PCA, the explained-variance curve. Settings sliders recompute only
    on release, with a progress bar (t-SNE draws its map as it forms); every embedding is cached,
    so going back to one only redraws.

    feats: layer -> (N, D) features; labels: (N,) ints; images: (N, C, H, W) in [0, 1] for thumbnails.
    """

    METHODS = ("pca", "tsne", "umap")
    MIN_SAMPLES = 11  # trustworthiness compares each point's 5 nearest neighbours: N / 2 must exceed 5
    TRUST_SAMPLE = 1000  # trustworthiness ranks all pairs: a minute on 10,000 points, a second on 1,000
    EVERY = 25  # t-SNE iterations between two pictures of the forming map

    def __init__(self, feats: dict, labels, images=None, classes=None, method: str = "pca", seed: int = 0):
        super().__init__()
        self.feats = feature_table(feats, "EmbeddingPanel")
        n = len(next(iter(self.feats.values())))
        if n < self.MIN_SAMPLES:
            raise ValueError(f"EmbeddingPanel needs features of at least {self.MIN_SAMPLES} samples (its "
                             f"trustworthiness score compares 5 nearest neighbours); got {n}")
        narrow = {layer: f.shape[1] for layer, f in self.feats.items() if f.shape[1] < 2}
        if narrow:
            raise ValueError(f"a 2-D map needs features of at least 2 dimensions; got {narrow} (layer -> D)")
        self.classes = None if classes is None else class_names(classes)
        self.labels = class_labels(labels, n, self.classes or [])
        self.images = None if images is None else pixel_batch(images, "images", n)
        self.seed = integer(seed, "seed", 0)
        choice(method, "method", self.METHODS)
        rng = np.random.default_rng(self.seed)
        self.sample = np.sort(rng.choice(n, self.TRUST_SAMPLE, replace=False)) if n > self.TRUST_SAMPLE else None
        self._shown = rng.permutation(n)[:300]  # the points that get a thumbnail
        self._cache: dict[tuple, np.ndarray] = {}
        self._trust: dict[tuple, float] = {}
        self._variance: dict[str, np.ndarray] = {}
        # embedding key -> its thumbnails as one picture (key None: a passing frame's, popped when shown)
        self._thumbs: dict[tuple | None, np.ndarray] = {}
        self.title = ""  # the map's title now shown (layer, method, settings, trustworthiness)
        self.layer = widgets.Dropdown(options=list(self.feats), description="layer")
        self.method = widgets.Dropdown(options=list(self.METHODS), value=method, description="method")
        slow = dict(continuous_update=False)
        self.perplexity = widgets.FloatSlider(30, min=2, max=min(100, (n - 2) / 3), step=1, description="perplexity",
                                              **slow)
        self.n_neighbors = widgets.IntSlider(15, min=2, max=min(100, n - 1), description="n_neighbors", **slow)
        self.min_dist = widgets.FloatSlider(0.1, min=0.0, max=0.99, step=0.05, description="min_dist", **slow)
        self.show_thumbnails = widgets.Checkbox(False, description="thumbnails", disabled=images is None)
        self._layout(widgets.HBox([self.layer, self.method, self.show_thumbnails]),
                     widgets.HBox([self.perplexity, self.n_neighbors, self.min_dist]))
        for w in (self.layer, self.method, self.perplexity, self.n_neighbors, self.min_dist, self.show_thumbnails):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        for pca in (True, False):  # every layout's figure now (~0.1 s each), so that a first switch only redraws
            for thumbs in (False, True) if self.images is not None else (False,):
                self._figure((pca, thumbs), lambda pca=pca, thumbs=thumbs: self._build(pca, thumbs))
        self._guard(self._timed_render)()

    def _options(self) -> dict:
        if self.method.value == "tsne":
            return dict(perplexity=float(self.perplexity.value))
        if self.method.value == "umap":
            return dict(n_neighbors=int(self.n_neighbors.value), min_dist=float(self.min_dist.value))
        return {}

    def _key(self) -> tuple:
        return self.layer.value, self.method.value, tuple(sorted(self._options().items()))

    def points(self) -> np.ndarray:
        """(N, 2) embedding of the current layer with the current method and settings (cached)."""
        key = self._key()
        if key not in self._cache:
            layer, method = key[:2]
            f, opts = self.feats[layer], self._options()
            what = f"{NAMES[method]} of {layer} ({len(f):,} points{self._settings(opts)})"
            update = self._busy(f"computing the {what}")
            if method == "tsne":  # openTSNE calls back every EVERY iterations: show the map as it forms
                opts.update(callbacks=self._frames(update, what), callbacks_every_iters=self.EVERY)
            else:
                update(0, 2)  # PCA and UMAP report no progress: two stages, the map and its score
            points = embed(f, method, seed=self.seed, **opts)
            s = slice(None) if self.sample is None else self.sample
            self.message.value = (f"<i>scoring the trustworthiness of the {what}" +
                                  ("" if self.sample is None else f" on {len(self.sample):,} of them") + "…</i>")
            if method != "tsne":
                update(1, 2)
            self._trust[key] = trustworthiness(f[s], points[s])
            self._cache[key] = points
        return self._cache[key]

    def _frames(self, update, what: str):
        """An openTSNE callback drawing the forming map and moving the progress bar (its 250 early-exaggeration
        iterations, then 500)."""
        done, total = [0], 750

        def frame(iteration, error, embedding):
            done[0] += self.EVERY
            update(done[0], total)
            self._draw(np.asarray(embedding), f"{what}: iteration {done[0]} of {total}, forming…")
        return frame

    @staticmethod
    def _settings(opts: dict) -> str:
        return "".join(f", {k}={v:g}" for k, v in opts.items())

    def variance(self) -> np.ndarray:
        """The explained-variance ratios of the current layer's first 30 principal components (cached)."""
        layer = self.layer.value
        if layer not in self._variance:
            self._busy(f"computing the explained variance of {layer}")
            self._variance[layer] = explained_variance(self.feats[layer], 30)
        return self._variance[layer]

    def render(self) -> None:
        """The map (and for PCA the variance curve); the title gives the trustworthiness."""
        method = self.method.value
        self.perplexity.disabled = method != "tsne"
        self.n_neighbors.disabled = self.min_dist.disabled = method != "umap"
        p = self.points()
        trust = self._trust[self._key()]
        sampled = "" if self.sample is None else f" (on {len(self.sample):,} of the points)"
        self._draw(p, f"{self.layer.value}: {NAMES[method]}{self._settings(self._options())}, "
                      f"trustworthiness {trust:.3f}{sampled}", self.variance() if method == "pca" else None,
                   self._key())
        self._idle()

    def _build(self, pca: bool, thumbs: bool):
        """The figure of one layout: the map's axes (dots per class, or a picture of thumbnails), a legend
        outside them and, for PCA, the variance curve; all but the dots, pictures and titles drawn once."""
        fig = Figure(figsize=(11 if pca else 8, 6.5), dpi=80)
        legend = self.classes is not None and not thumbs
        ax = fig.add_axes((0.01, 0.02, 0.54 if pca else 0.8 if legend else 0.98, 0.92))
        ax.set_xticks([])
        ax.set_yticks([])
        parts: dict[str, Any] = {"ax": ax}  # the axes and the artists redrawn later, of different types
        ax.set_title(" ", fontsize=9)  # room for the title, written with PIL
        if thumbs:
            parts["thumbs"] = ax.imshow(np.zeros((1, 1, 4)), extent=(0, 1, 0, 1), aspect="auto",
                                        interpolation="nearest")
            dynamic = [parts["thumbs"]]
        else:
            cmap = matplotlib.colormaps["tab10" if self.labels.max() < 10 else "tab20"]
            parts["dots"] = {c: ax.scatter([], [], s=4, lw=0, color=cmap(c % cmap.N),
                                           label=self.classes[c] if self.classes and c < len(self.classes) else str(c))
                             for c in np.unique(self.labels).tolist()}
            dynamic = list(parts["dots"].values())
            if legend:
                fig.legend(handles=dynamic, fontsize=8, markerscale=3, loc="upper left",
                           bbox_to_anchor=(0.56 if pca else 0.815, 0.94), frameon=False)
        if pca:
            var = fig.add_axes((0.72, 0.1, 0.26, 0.8))
            parts["curve"], = var.plot([], [], marker=".")
            var.set(xlim=(0, 31), ylim=(0, 1.02), xlabel="number of principal components",
                    ylabel="cumulative explained variance")
            var.grid(alpha=0.3)
            var.set_title(" ", fontsize=9)
            parts["var"] = var
            dynamic.append(parts["curve"])
        parts["dynamic"] = dynamic
        return fig, parts

    def _draw(self, p: np.ndarray, title: str, ratios: np.ndarray | None = None, key: tuple | None = None) -> None:
        """Show (N, 2) points with a title (and, for PCA, the variance ratios), reusing the layout's figure;
        key: the cached embedding's, None for a passing one."""
        thumbs = self.show_thumbnails.value and self.images is not None
        parts = self._figure((ratios is not None, thumbs), lambda: self._build(ratios is not None, thumbs))
        ax = parts["ax"]
        lo, hi = p.min(0), p.max(0)
        margin = 0.04 * np.where(hi > lo, hi - lo, 1.0)
        limits = (lo[0] - margin[0], hi[0] + margin[0], lo[1] - margin[1], hi[1] + margin[1])
        ax.set_xlim(*limits[:2])
        ax.set_ylim(*limits[2:])
        if thumbs:
            assert self.images is not None  # thumbs is only true with images
            if key not in self._thumbs:  # one picture per embedding (not kept for t-SNE's passing frames)
                box, pictures = ax.get_window_extent(), self.images[torch.as_tensor(self._shown)]
                size = max(1, round(pictures.shape[2] * 0.5 * ax.figure.dpi / 72))
                layer = thumbnail_layer(p[self._shown], pictures, (round(box.height), round(box.width)), limits, size)
                self._thumbs[key] = (layer * 255).astype(np.uint8)
            parts["thumbs"].set_data(self._thumbs.pop(key) if key is None else self._thumbs[key])
            parts["thumbs"].set_extent(limits)
        else:
            for c, dots in parts["dots"].items():
                dots.set_offsets(p[self.labels == c])
        titles = [(ax, title)]
        if ratios is not None:
            parts["curve"].set_data(np.arange(1, len(ratios) + 1), np.cumsum(ratios))
            titles.append((parts["var"], f"first two: {ratios[:2].sum():.0%} of the variance"))

        def write(draw) -> None:
            for a, s in titles:
                text(draw, above(a, 3), s, 11, anchor="mb")

        self._redraw(write)
        self.title = title
