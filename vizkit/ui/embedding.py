"""Panel for notebook 05: 2-D maps of feature space by PCA, t-SNE or UMAP."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .._check import choice, integer
from ..inspect import embed, explained_variance, trustworthiness
from ..plot import scatter, thumbnails
from ._panel import Panel, class_labels, class_names, feature_table, pixel_batch


class EmbeddingPanel(Panel):
    """Layer, method and its settings -> a 2-D map coloured by class (or thumbnails), with its
    trustworthiness and, for PCA, the explained-variance curve. Settings sliders recompute only
    on release; every embedding is cached, so going back to one is instant.

    feats: layer -> (N, D) features; labels: (N,) ints; images: (N, C, H, W) in [0, 1] for thumbnails.
    """

    METHODS = ("pca", "tsne", "umap")
    MIN_SAMPLES = 11  # trustworthiness compares each point's 5 nearest neighbours: N / 2 must exceed 5

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
        self._cache: dict[tuple, np.ndarray] = {}
        self._trust: dict[tuple, float] = {}
        self.layer = widgets.Dropdown(options=list(self.feats), description="layer")
        self.method = widgets.Dropdown(options=list(self.METHODS), value=method, description="method")
        slow = dict(continuous_update=False)
        self.perplexity = widgets.FloatSlider(30, min=2, max=min(100, (n - 2) / 3), step=1, description="perplexity",
                                              **slow)
        self.n_neighbors = widgets.IntSlider(15, min=2, max=min(100, n - 1), description="n_neighbors", **slow)
        self.min_dist = widgets.FloatSlider(0.1, min=0.0, max=0.99, step=0.05, description="min_dist", **slow)
        self.show_thumbnails = widgets.Checkbox(False, description="thumbnails", disabled=images is None)
        self.widget = widgets.VBox([widgets.HBox([self.layer, self.method, self.show_thumbnails]),
                                    widgets.HBox([self.perplexity, self.n_neighbors, self.min_dist]),
                                    self.view, self.message])
        for w in (self.layer, self.method, self.perplexity, self.n_neighbors, self.min_dist, self.show_thumbnails):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._timed_render)()

    def _options(self) -> dict:
        if self.method.value == "tsne":
            return dict(perplexity=float(self.perplexity.value))
        if self.method.value == "umap":
            return dict(n_neighbors=int(self.n_neighbors.value), min_dist=float(self.min_dist.value))
        return {}

    def points(self) -> np.ndarray:
        """(N, 2) embedding of the current layer with the current method and settings (cached)."""
        opts = self._options()
        key = (self.layer.value, self.method.value, tuple(sorted(opts.items())))
        if key not in self._cache:
            self._cache[key] = embed(self.feats[self.layer.value], self.method.value, seed=self.seed, **opts)
            self._trust[key] = trustworthiness(self.feats[self.layer.value], self._cache[key])
        return self._cache[key]

    def render(self) -> None:
        """The map (and for PCA the variance curve); the title gives the trustworthiness."""
        method = self.method.value
        self.perplexity.disabled = method != "tsne"
        self.n_neighbors.disabled = self.min_dist.disabled = method != "umap"
        p = self.points()
        opts = self._options()
        trust = self._trust[(self.layer.value, method, tuple(sorted(opts.items())))]
        settings = ", ".join(f"{k}={v:g}" for k, v in opts.items())
        title = (f"{self.layer.value}: {method.upper()}{f' ({settings})' if settings else ''}, "
                 f"trustworthiness {trust:.3f}")
        pca = method == "pca"
        fig = Figure(figsize=(11 if pca else 8, 6.5))
        axes = fig.subplots(1, 2, width_ratios=[2.2, 1]) if pca else [fig.add_subplot()]
        if self.show_thumbnails.value and self.images is not None:
            thumbnails(p, self.images, axes[0], zoom=0.5, max_images=300, title=title)
        else:
            scatter(p, self.labels, axes[0], classes=self.classes, title=title)
        if pca:
            ratios = explained_variance(self.feats[self.layer.value], 30)
            axes[1].plot(np.arange(1, len(ratios) + 1), np.cumsum(ratios), marker=".")
            axes[1].set_ylim(0, 1.02)
            axes[1].set_xlabel("number of principal components")
            axes[1].set_ylabel("cumulative explained variance")
            axes[1].set_title(f"first two: {ratios[:2].sum():.0%} of the variance", fontsize=9)
            axes[1].grid(alpha=0.3)
        axes[0].title.set_fontsize(9)
        fig.tight_layout()
        self._show(fig)
        self.message.value = ""
