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


def _bare(ax):
    """No ticks, no frame; unlike set_axis_off, an x or y label set later still shows (e.g. a caption)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax


def tile_origin(i: int, cols: int, shape, pad: int = 1) -> tuple[int, int]:
    """(row, col) pixel of the top-left corner of tile i, of shape (h, w), in a grid of `cols` columns."""
    r, k = divmod(i, cols)
    return r * (shape[0] + pad), k * (shape[1] + pad)


def tile(tiles, cols: int | None = None, pad: int = 1, fill=np.nan, dtype=float) -> np.ndarray:
    """(n, h, w[, C]) tiles -> (rows * (h + pad) - pad, cols * (w + pad) - pad[, C]) grid, `fill` between."""
    t = _np(tiles)
    if t.ndim not in (3, 4) or t.shape[0] == 0:
        raise ValueError(f"tile needs (n, h, w) or (n, h, w, C) tiles; got shape {t.shape}")
    n, h, w = t.shape[:3]
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *t.shape[3:]), fill, dtype=dtype)
    for i in range(n):
        y, x = tile_origin(i, cols, (h, w), pad)
        out[y:y + h, x:x + w] = t[i]
    return out


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
    axes = (1, 2) if normalize == "each" else None
    lo, hi = m.min(axis=axes, keepdims=True), m.max(axis=axes, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    m = np.where(hi > lo, (m - lo) / span, 0.0)
    return tile(m, cols, pad)


def patch_mosaic(crops: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """(k, h, w, C) crops (NaN outside the image) -> one RGB array, clipped parts light grey."""
    rgb = np.repeat(crops, 3, axis=3) if crops.shape[3] == 1 else crops
    return tile(np.where(np.isnan(rgb), 0.85, rgb), cols, pad, fill=1.0, dtype=np.float32)


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
            y, x = tile_origin(i, cols, (h, w))
            ax.text(x + 0.5, y + 0.5, str(i), color="white", fontsize=6,
                    va="top", ha="left", bbox=dict(facecolor="black", alpha=0.5, pad=0.5, lw=0))
    _bare(ax)
    if title:
        ax.set_title(title)
    return ax


def filter_mosaic(weights, normalize: str = "each", cols: int | None = None) -> tuple[np.ndarray, int]:
    """Filters (out, in, kh, kw) -> (grid, pad): 3 input channels as an (H, W, 3) colour grid in [0, 1]
    (grey = 0, white between tiles), otherwise input channel 0 as an (H, W) grid in [-1, 1] (NaN between).
    normalize: "each" scales every filter by its own largest magnitude, "joint" by that of all."""
    w = _np(weights)
    if w.ndim != 4 or w.shape[0] == 0:
        raise ValueError(f"filter_mosaic needs (out, in, kh, kw) weights; got shape {w.shape}")
    if normalize not in ("each", "joint"):
        raise ValueError(f"normalize must be 'each' or 'joint'; got {normalize!r}")
    n, c, kh, kw = w.shape
    cols = cols or math.ceil(math.sqrt(n))
    pad = max(1, kh // 5)
    if c == 3:  # colour: map [-m, m] of each filter (or all) to [0, 1], grey = 0
        m = np.abs(w).max(axis=(1, 2, 3) if normalize == "each" else None, keepdims=True)
        return tile((w / np.where(m > 0, 2 * m, 1) + 0.5).transpose(0, 2, 3, 1), cols, pad, fill=1.0), pad
    v = w[:, 0]
    m = np.abs(v).max(axis=(1, 2) if normalize == "each" else None, keepdims=True)
    return tile(v / np.where(m > 0, m, 1), cols, pad), pad


def filter_grid(weights, ax=None, normalize: str = "each", cols: int | None = None, title: str | None = None,
                scores=None):
    """Filters (out, in, kh, kw) as a grid: 3 input channels in colour, 1 in a diverging colormap.

    normalize: "each" stretches every filter to its own range; "joint" uses one range for all,
    so weak filters look faint. In the diverging map white is 0, red positive, blue negative.
    Other channel counts show input channel 0 (slice weights[:, k:k+1] to choose another).
    scores: optional per-filter numbers printed under each tile (e.g. filter_smoothness).
    ax.set_xlabel still shows (e.g. a caption under the grid).
    """
    ax = _axes(ax)
    out, pad = filter_mosaic(weights, normalize, cols)
    n, c, kh, kw = _np(weights).shape
    cols = cols or math.ceil(math.sqrt(n))
    if c == 3:
        ax.imshow(out, interpolation="nearest")
    else:
        ax.imshow(np.ma.masked_invalid(out), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    if scores is not None:
        for i, sc in enumerate(_np(scores)[:n]):
            y, x = tile_origin(i, cols, (kh, kw), pad)
            ax.text(x + kw / 2 - 0.5, y + kh - 0.5, f"{sc:.2f}", fontsize=6,
                    ha="center", va="bottom", color="black",
                    bbox=dict(facecolor="white", alpha=0.7, pad=0.3, lw=0))
    _bare(ax)
    if title:
        ax.set_title(title)
    return ax


def image_array(image) -> np.ndarray:
    """An image as matplotlib draws it, (H, W, C) or (H, W): from a (1, C, H, W) or (C, H, W) tensor
    (C = 1 or 3: torch's channels-first order), or an (H, W, C) / (H, W) array or tensor."""
    if isinstance(image, torch.Tensor):
        t = image.detach()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() == 3 and t.shape[0] in (1, 3) and t.shape[2] not in (1, 3):
            t = t.permute(1, 2, 0)
        image = t
    img = _np(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"an image to show must be (1, C, H, W) or (C, H, W) (tensors), or (H, W, C) or (H, W), "
                         f"with C = 1 or 3; got shape {tuple(np.shape(image))}")
    return img


def show_image(image, ax=None, title: str | None = None):
    """An image in [0, 1] without axes: a (1, C, H, W) or (C, H, W) tensor (e.g. Result.image, a dataset
    item), or an (H, W, C) or (H, W) array (e.g. net.deprocess(x))."""
    ax = _axes(ax)
    img = image_array(image)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    _bare(ax)
    if title:
        ax.set_title(title)
    return ax


def overlay(image, heat, ax=None, alpha: float = 0.55, cmap: str = "inferno", title: str | None = None,
            colorbar: bool = False):
    """A (h, w) map stretched over an (H, W, C) image (each map pixel covers its share of the image)."""
    ax = show_image(image, ax)
    img, hm = image_array(image), _np(heat)
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


def scatter(points, labels=None, ax=None, classes=None, title: str | None = None, size: float = 4):
    """(N, 2) points coloured by integer class label, with a legend when class names are given."""
    ax = _axes(ax, (7, 6))
    p = _np(points)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"scatter needs (N, 2) points; got shape {p.shape}")
    if labels is None:
        ax.scatter(p[:, 0], p[:, 1], s=size, lw=0)
    else:
        y = np.asarray(labels).astype(int)
        cmap = __import__("matplotlib").colormaps["tab10" if y.max() < 10 else "tab20"]
        for c in np.unique(y):
            name = classes[c] if classes is not None and c < len(classes) else str(c)
            m = y == c
            ax.scatter(p[m, 0], p[m, 1], s=size, lw=0, color=cmap(c % cmap.N), label=name)
        if classes is not None:
            ax.legend(fontsize=7, markerscale=3, loc="best", framealpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def thumbnails(points, images, ax=None, zoom: float = 0.6, max_images: int = 400, seed: int = 0,
               labels=None, title: str | None = None):
    """Small images placed at their (N, 2) embedded positions (a random max_images of them), drawn as one
    picture (fast); zoom: thumbnail pixels per image pixel at 72 dpi."""
    ax = _axes(ax, (8, 8))
    p = _np(points)
    if len(images) != len(p):
        raise ValueError(f"{len(images)} images for {len(p)} points")
    pick = np.random.default_rng(seed).permutation(len(p))[:max_images]
    ax.scatter(p[:, 0], p[:, 1], s=0)  # sets the limits
    ax.set_xticks([])
    ax.set_yticks([])
    limits = (*ax.get_xlim(), *ax.get_ylim())
    box = ax.get_window_extent()
    imgs = _hwc(images[torch.as_tensor(pick)] if isinstance(images, torch.Tensor) else np.asarray(images)[pick])
    size = max(1, round(imgs.shape[1] * zoom * ax.figure.dpi / 72))
    layer = thumbnail_layer(p[pick], imgs, (max(1, round(box.height)), max(1, round(box.width))), limits, size)
    ax.imshow(layer, extent=limits, aspect="auto", interpolation="nearest")
    ax.set_xlim(*limits[:2])
    ax.set_ylim(*limits[2:])
    if title:
        ax.set_title(title)
    return ax


def thumbnail_layer(points, images, shape, limits, size: int) -> np.ndarray:
    """(n, 2) points and their n images ((C, H, W) or (H, W, C), [0, 1]) -> an (H, W, 4) RGBA picture of
    shape (H, W) pixels spanning limits (x0, x1, y0, y1) (row 0 at y1), each image `size` px tall (nearest
    neighbour) and centred on its point, later ones on top, transparent elsewhere."""
    p, imgs = _np(points), _hwc(images)
    n, h, w, c = imgs.shape
    th, tw = size, max(1, round(w * size / h))
    small = imgs[:, np.arange(th) * h // th][:, :, np.arange(tw) * w // tw]
    small = np.repeat(small, 3, 3) if c == 1 else small
    out = np.zeros((*shape, 4), np.float32)
    x0, x1, y0, y1 = limits
    lefts = np.round((p[:, 0] - x0) / (x1 - x0) * shape[1] - tw / 2).astype(int)
    tops = np.round((y1 - p[:, 1]) / (y1 - y0) * shape[0] - th / 2).astype(int)
    for img, top, left in zip(small, tops, lefts):
        t, b, lft, r = max(top, 0), min(top + th, shape[0]), max(left, 0), min(left + tw, shape[1])
        if b > t and r > lft:
            out[t:b, lft:r, :3] = img[t - top:b - top, lft - left:r - left]
            out[t:b, lft:r, 3] = 1
    return out


def _hwc(images) -> np.ndarray:
    """(n, C, H, W) with C = 1 or 3, (n, H, W, C) or (n, H, W) images -> (n, H, W, C) array."""
    imgs = _np(images)
    if imgs.ndim == 4 and imgs.shape[1] in (1, 3):
        imgs = imgs.transpose(0, 2, 3, 1)
    return imgs[..., None] if imgs.ndim == 3 else imgs


def snap_to_grid(points, rows: int, cols: int) -> np.ndarray:
    """Assign (N, 2) points to a rows x cols grid, one point per cell, keeping the layout
    (the classic t-SNE grid). Returns (rows * cols,) point indices, -1 for empty cells."""
    from scipy.optimize import linear_sum_assignment

    p = _np(points)
    if rows * cols < 1:
        raise ValueError("the grid needs at least one cell")
    lo, hi = p.min(0), p.max(0)
    q = (p - lo) / np.where(hi > lo, hi - lo, 1)
    gy, gx = np.meshgrid(np.linspace(0, 1, rows), np.linspace(0, 1, cols), indexing="ij")
    cells = np.stack([gx.ravel(), 1 - gy.ravel()], 1)
    cost = ((q[:, None, :] - cells[None, :, :]) ** 2).sum(-1)
    pts, cl = linear_sum_assignment(cost)
    out = np.full(rows * cols, -1, dtype=np.int64)
    out[cl] = pts
    return out


def image_grid(points, images, rows: int = 20, cols: int = 20, ax=None, title: str | None = None):
    """The classic t-SNE grid: images snapped to a rows x cols grid by their 2-D position."""
    ax = _axes(ax, (8, 8))
    imgs = _hwc(images)
    n, h, w, c = imgs.shape
    if len(_np(points)) != n:
        raise ValueError(f"{n} images for {len(_np(points))} points")
    rows = min(rows, math.ceil(n / cols))  # no empty rows when there are few images
    order = snap_to_grid(points, rows, cols)
    cells = np.where((order >= 0)[:, None, None, None], imgs[order], 1.0)  # empty cells (-1) blank
    canvas = tile(cells, cols, pad=0, fill=1.0)
    ax.imshow(canvas[..., 0] if c == 1 else canvas, cmap="gray" if c == 1 else None, vmin=0, vmax=1)
    _bare(ax)
    if title:
        ax.set_title(title)
    return ax


def canvas_png(canvas) -> bytes:
    """PNG bytes of what an Agg canvas holds now (no redraw): for panels that blit their updates."""
    from PIL import Image

    w, h = canvas.get_width_height(physical=True)
    img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=1)
    return buf.getvalue()


def to_png(fig, dpi: int = 80) -> bytes:
    """Render a matplotlib Figure to PNG bytes with the Agg backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})  # fast over small
    return buf.getvalue()


# --------------------------------------------------------------------------- projections back to pixels

def projection_rgb(signal, scale: float | None = None) -> np.ndarray:
    """A (1, C, H, W) or (C, H, W) projection (deconvnet, guided backprop…) -> (H, W, 3) in [0, 1].

    Colour signals map [-m, m] to [0, 1] per channel, zero mid-grey, as in Zeiler & Fergus's
    figures; one-channel signals use a diverging map (red positive, white zero, blue negative),
    easier to read than grey levels. m is the largest magnitude unless `scale` gives it.
    """
    s = _np(signal)
    if s.ndim == 4 and s.shape[0] == 1:
        s = s[0]
    if s.ndim != 3:
        raise ValueError(f"projection_rgb needs (1, C, H, W) or (C, H, W); got shape {s.shape}")
    m = float(np.abs(s).max()) if scale is None else float(scale)
    m = m if m > 0 else 1.0
    if s.shape[0] not in (1, 3):
        raise ValueError(f"projection_rgb needs 1 or 3 channels; got {s.shape[0]}")
    rgb = np.clip(s.transpose(1, 2, 0) / (2 * m) + 0.5, 0, 1)
    if rgb.shape[2] == 3:
        return rgb
    import matplotlib

    return matplotlib.colormaps["RdBu_r"](rgb[..., 0])[..., :3]


def projection(signal, ax=None, title: str | None = None, scale: float | None = None):
    """Show a projection back to pixels (see projection_rgb) without axes."""
    ax = _axes(ax, (4, 4))
    ax.imshow(projection_rgb(signal, scale), interpolation="nearest")
    _bare(ax)
    if title:
        ax.set_title(title)
    return ax


def heat_rgb(heat, cmap: str = "inferno") -> np.ndarray:
    """A non-negative (H, W) map -> (H, W, 3) colours, scaled by its own maximum (zero stays dark)."""
    import matplotlib

    h = _np(heat)
    top = float(h.max()) if h.size else 0.0
    return matplotlib.colormaps[cmap](h / top if top > 0 else h)[..., :3]


def label_colors(labels, classes) -> np.ndarray:
    """A (h, w) map of class indices -> (h, w, 3) colours (tab10, or tab20 beyond ten classes)."""
    import matplotlib

    lab = _np(labels).astype(int)
    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    return cmap(lab % cmap.N)[..., :3]


def label_legend(ax, labels, classes):
    """A legend, right of ax, naming the classes that a (h, w) label map contains, in its colours."""
    import matplotlib
    from matplotlib.patches import Patch

    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    shown = sorted(set(_np(labels).astype(int).ravel().tolist()))
    return ax.legend(handles=[Patch(color=cmap(c % cmap.N), label=classes[c] if c < len(classes) else str(c))
                              for c in shown], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def label_map(labels, classes, ax=None, title: str | None = None, legend: bool = True):
    """A (h, w) map of class indices in tab10/tab20 colours, with a legend of the classes it contains."""
    ax = _axes(ax, (4, 4))
    ax.imshow(label_colors(labels, classes), interpolation="nearest")
    _bare(ax)
    if legend:
        label_legend(ax, labels, classes)
    if title:
        ax.set_title(title)
    return ax
