"""Matplotlib pictures of vizkit's results; every function takes ax=None and returns the Axes."""

from __future__ import annotations

import io
import math

import numpy as np
import torch


def _np(a) -> np.ndarray:
    return a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=float)


def _axes(ax, size=(6, 6)):
    if ax is not None:
        return ax
    from matplotlib.figure import Figure  # a bare Figure: no pyplot state, safe in callbacks
    return Figure(figsize=size).add_subplot()


def mosaic(maps, cols: int | None = None, normalize: str = "each", pad: int = 1) -> np.ndarray:
    """(C, h, w) maps -> one 2-D array tiling them in rows (NaN between tiles), scaled to [0, 1].

    normalize: "each" scales every map by its own range (shows shape), "joint" by the range of
    all maps (shows which channels are strong). A constant map becomes 0.
    """
    m = _np(maps)
    if m.ndim != 3 or m.shape[0] == 0:
        raise ValueError(f"mosaic needs (C, h, w) maps; got shape {m.shape}")
    if normalize not in ("each", "joint"):
        raise ValueError(f"normalize must be 'each' or 'joint'; got {normalize!r}")
    c, h, w = m.shape
    axes = (1, 2) if normalize == "each" else None
    lo, hi = m.min(axis=axes, keepdims=True), m.max(axis=axes, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    m = np.where(hi > lo, (m - lo) / span, 0.0)
    cols = cols or math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan)
    for i in range(c):
        r, k = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, k * (w + pad):k * (w + pad) + w] = m[i]
    return out


def feature_grid(maps, ax=None, cols: int | None = None, normalize: str = "each", cmap: str = "viridis",
                 title: str | None = None, labels: bool = True):
    """All feature maps of a layer, (C, h, w), in one grid; channel numbers in the corners."""
    ax = _axes(ax)
    m = _np(maps)
    grid = mosaic(m, cols, normalize)
    cols = cols or math.ceil(math.sqrt(m.shape[0]))
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_facecolor("white")
    if labels and m.shape[0] <= 64:
        h, w = m.shape[1:]
        for i in range(m.shape[0]):
            r, k = divmod(i, cols)
            ax.text(k * (w + 1) + 0.5, r * (h + 1) + 0.5, str(i), color="white", fontsize=6,
                    va="top", ha="left", bbox=dict(facecolor="black", alpha=0.5, pad=0.5, lw=0))
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_image(image, ax=None, title: str | None = None):
    """An (H, W, C) or (H, W) array in [0, 1] (e.g. net.deprocess(x)) without axes."""
    ax = _axes(ax)
    img = _np(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def overlay(image, heat, ax=None, alpha: float = 0.55, cmap: str = "inferno", title: str | None = None,
            colorbar: bool = False):
    """A (h, w) map stretched over an (H, W, C) image (each map pixel covers its share of the image)."""
    ax = show_image(image, ax)
    img, hm = _np(image), _np(heat)
    if hm.ndim != 2:
        raise ValueError(f"overlay needs a (h, w) map; got shape {hm.shape}")
    height, width = img.shape[:2]
    shown = ax.imshow(hm, cmap=cmap, alpha=alpha, extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                      interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    return ax


def bar_stats(values, ax=None, title: str | None = None, ylabel: str = "", highlight: int | None = None):
    """One bar per channel, e.g. activation_stats(...)["fraction_zero"]; one bar can be highlighted."""
    ax = _axes(ax, (6, 2))
    v = _np(values)
    colors = ["tab:blue"] * len(v)
    if highlight is not None and 0 <= highlight < len(v):
        colors[highlight] = "tab:orange"
    ax.bar(np.arange(len(v)), v, color=colors, width=0.9)
    ax.set_xlim(-0.5, len(v) - 0.5)
    ax.set_xlabel("channel")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def to_png(fig, dpi: int = 80) -> bytes:
    """Render a matplotlib Figure to PNG bytes with the Agg backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
