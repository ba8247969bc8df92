"""Views composed with numpy and PIL, for the panels' pictures that change with every slider move (matplotlib
lays out every text label it draws; benchmarks/panel_render.py times each panel's redraw)."""

from __future__ import annotations

import functools
import io

import matplotlib
import numpy as np
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

RED, ORANGE = (220, 0, 0), (255, 127, 14)


@functools.cache
def font(px: int, mono: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (matplotlib's font, so panels look like the notebooks' figures; or its Mono), px pixels tall."""
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans Mono" if mono else "DejaVu Sans"), px)


@functools.cache
def _lut(cmap: str) -> np.ndarray:
    return (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def colours(a, cmap: str = "viridis", lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """(h, w) numbers -> (h, w, 3) uint8 colours of cmap over [lo, hi] (default: a's range); NaN white."""
    a = np.asarray(a, dtype=np.float32)
    finite = a[np.isfinite(a)]
    if lo is None:
        lo = float(finite.min()) if finite.size else 0.0
    if hi is None:
        hi = float(finite.max()) if finite.size else 1.0
    t = (a - lo) / (hi - lo if hi > lo else 1.0)
    out = _lut(cmap)[np.clip(np.nan_to_num(t * 255 + 0.5), 0, 255).astype(np.uint8)]
    out[np.isnan(a)] = 255
    return out


def pixels(a) -> np.ndarray:
    """(h, w), (h, w, 1) or (h, w, 3) floats in [0, 1] -> (h, w, 3) uint8; NaN white."""
    a = np.asarray(a, dtype=np.float32)
    a = a[..., None] if a.ndim == 2 else a
    a = np.repeat(a, 3, 2) if a.shape[2] == 1 else a
    return (np.clip(np.nan_to_num(a, nan=1.0), 0, 1) * 255 + 0.5).astype(np.uint8)


def enlarge(a: np.ndarray, factor: int) -> Image.Image:
    """An (h, w, 3) uint8 array as a picture with each pixel a factor x factor block (map pixels stay visible)."""
    img = Image.fromarray(a)
    return img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)


def fit(a: np.ndarray, width: int, height: int) -> int:
    """The largest whole enlargement of a (h, w[, 3]) picture that fits width x height (at least 1)."""
    return max(1, min(width // a.shape[1], height // a.shape[0]))


def sheet(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A white RGB picture and a drawer on it that blends colours with alpha, e.g. (255, 255, 255, 180)."""
    img = Image.new("RGB", (int(width), int(height)), "white")
    return img, ImageDraw.Draw(img, "RGBA")


def paste(img: Image.Image, a, x: int, y: int) -> None:
    """Paste a picture or an (h, w, 3) uint8 array with its top-left corner at (x, y); an RGBA picture
    through its alpha."""
    a = a if isinstance(a, Image.Image) else Image.fromarray(a)
    img.paste(a, (int(x), int(y)), a if a.mode == "RGBA" else None)


def layer(size) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A transparent picture of size (w, h) and a drawer on it: labels drawn once, pasted on every redraw."""
    img = Image.new("RGBA", (int(size[0]), int(size[1])), (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def text(draw, xy, s: str, px: int = 12, fill="black", anchor: str = "la", box=None, mono: bool = False) -> None:
    """Write s (lines allowed) at xy (anchor: PIL's, e.g. "la" left-top, "mt" middle-top, "mb" middle-bottom);
    box: a background colour for the text's rectangle."""
    f = font(px, mono)
    if box is not None:
        left, top, right, bottom = draw.textbbox(xy, s, font=f, anchor=anchor)
        draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=box)
    if "\n" in s:
        draw.multiline_text(xy, s, font=f, fill=fill, anchor=anchor, align="center" if anchor[0] == "m" else "left")
    else:
        draw.text(xy, s, font=f, fill=fill, anchor=anchor)


def above(ax, gap: int = 4) -> tuple[float, float]:
    """The pixel (x, y) of a drawn matplotlib Axes' top centre, gap px above it (for text anchored "mb")."""
    box, height = ax.bbox, ax.figure.bbox.height
    return (box.x0 + box.x1) / 2, height - box.y1 - gap


def below(ax, gap: int = 4) -> tuple[float, float]:
    """The pixel (x, y) of a drawn matplotlib Axes' bottom centre, gap px below it (for text anchored "mt")."""
    box, height = ax.bbox, ax.figure.bbox.height
    return (box.x0 + box.x1) / 2, height - box.y0 + gap


def width(s: str, px: int = 12) -> int:
    """How many pixels wide s is written at px."""
    return int(font(px).getlength(s)) + 1


def shorten(s: str, px: int, room: int) -> str:
    """s, cut with an ellipsis so that it fits `room` pixels."""
    while len(s) > 1 and width(s, px) > room:
        s = s[:-2] + "…"
    return s


def png(img: Image.Image) -> bytes:
    """PNG bytes, fast rather than small."""
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=1)
    return buf.getvalue()
