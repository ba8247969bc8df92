"""Every number a notebook claims, a panel prints or a benchmark compares, computed once and tested once.

Images are [0, 1] pixels: an (H, W) map, a (C, H, W) image or a (1, C, H, W) batch of one (tensors or
arrays); where a function runs the network it takes model inputs, as the techniques do.

  pictures      pixel_correlation, total_variation, wavelength, fine_detail, colour_distance,
                spectrum_distance, largest_change, ssim
  maps          sparsity, mass_share, negative_share, object_mask, outline_mask, field_mask, window_coverage
  the network   accuracy, class_rate, flip_rate, margin, margin_gradient, feature_error, gram_errors,
                activation_norm, activation_gain
  units         class_purity, rotation_matches
  and, defined beside what they measure: knn_agreement, trustworthiness, explained_variance (features),
  filter_smoothness (filters), activation_stats (activations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from . import _check
from ._types import ImageLike, Size, Target
from .hooks import frozen, record, resolve_target, run
from .inspect._inputs import as_input
from .inspect.activations import activation_stats
from .inspect.embed import explained_variance, trustworthiness
from .inspect.features import knn_agreement
from .inspect.filters import filter_smoothness

if TYPE_CHECKING:
    from .inspect.patches import TopPatches
    from .nets import Net

__all__ = ["pixel_correlation", "total_variation", "wavelength", "fine_detail", "colour_distance",
           "spectrum_distance", "largest_change", "ssim", "sparsity", "mass_share", "negative_share", "object_mask",
           "outline_mask", "field_mask", "window_coverage", "accuracy", "class_rate", "flip_rate", "margin",
           "margin_gradient", "feature_error", "gram_errors", "activation_norm", "activation_gain", "class_purity",
           "rotation_matches", "knn_agreement", "trustworthiness", "explained_variance", "filter_smoothness",
           "activation_stats"]

ImageData = torch.Tensor | np.ndarray
# Class labels: one index or name for every image, or one per image.
Labels = Target | Sequence[int] | torch.Tensor | np.ndarray


def _array(image: ImageData, what: str = "the image") -> np.ndarray:
    """A tensor or array as a float64 numpy array (a copy-free view where it can be)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().double().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{what} must be a tensor or a numpy array; got {type(image).__name__}")
    return image.astype(np.float64, copy=False)


def _grey(image: ImageData, what: str = "the image") -> np.ndarray:
    """(H, W), (C, H, W) or (1, C, H, W) -> (H, W): the mean over colour channels."""
    a = _array(image, what)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3:
        a = a.mean(0)
    if a.ndim != 2 or min(a.shape) < 2:
        raise ValueError(f"{what} must be an (H, W) map, a (C, H, W) image or a (1, C, H, W) batch of one, "
                         f"at least 2 x 2; got shape {np.shape(image)}")
    return a


def _same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what} compares two images of one shape; got {a.shape} and {b.shape}")


# --------------------------------------------------------------------------- pictures

def pixel_correlation(a: ImageData, b: ImageData) -> float:
    """Pearson correlation in [-1, 1] of two images of one shape, pixel by pixel (NaN pixels of either left
    out): 1 for a copy (or any brighter, higher-contrast copy), 0 for no linear relation."""
    x, y = _array(a, "a"), _array(b, "b")
    _same_shape(x, y, "pixel_correlation")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        raise ValueError("pixel_correlation needs two images that each vary over at least two (finite) pixels")
    return float(np.corrcoef(x, y)[0, 1])


def total_variation(images: ImageData) -> torch.Tensor:
    """TV(x) = sum over pixels (i, j) with a right and a lower neighbour of (x[i, j+1] - x[i, j])^2 +
    (x[i+1, j] - x[i, j])^2, summed over channels and divided by H W: (N,) for (N, C, H, W) images, a 0-d
    tensor for one (C, H, W) image. Flat images score 0; speckle scores high."""
    t = torch.as_tensor(images).detach().double()
    one = t.dim() == 3
    t = t[None] if one else t
    if t.dim() != 4 or min(t.shape[2:]) < 2:
        raise ValueError(f"total_variation needs (N, C, H, W) or (C, H, W) images of at least 2 x 2; got "
                         f"shape {tuple(t.shape)}")
    dx = t[:, :, :-1, 1:] - t[:, :, :-1, :-1]
    dy = t[:, :, 1:, :-1] - t[:, :, :-1, :-1]
    tv = (dx.pow(2) + dy.pow(2)).sum((1, 2, 3)) / (t.shape[2] * t.shape[3])
    return tv[0] if one else tv


def _power(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(power spectrum of the mean-free map, radial frequency in cycles per pixel), both (H, W)."""
    c = grey - grey.mean()
    power = np.abs(np.fft.fft2(c)) ** 2
    f = np.hypot(np.fft.fftfreq(c.shape[0])[:, None], np.fft.fftfreq(c.shape[1])[None, :])
    return power, f


def wavelength(image: ImageData) -> float:
    """The typical size of an image's structures, in pixels: 1 / f for f the mean spatial frequency of its
    (grey, mean-free) power spectrum, weighted by power. Stripes of period p give p; finer detail gives less."""
    power, f = _power(_grey(image))
    power[0, 0] = 0
    total = float((power * f).sum())
    if total == 0:
        raise ValueError("wavelength of a flat image: it has no structure to measure")
    return float(power.sum() / total)


def fine_detail(image: ImageData) -> float:
    """Share in [0, 1] of an image's (grey, mean-free) power above half the highest frequency
    (f > 0.25 cycles per pixel): speckle and pixel noise."""
    power, f = _power(_grey(image))
    total = float(power.sum())
    if total == 0:
        raise ValueError("fine_detail of a flat image: it has no power to share")
    return float(power[f > 0.25].sum() / total)


def colour_distance(a: ImageData, b: ImageData) -> float:
    """How far apart two images' colour distributions are, whatever their layout: the mean absolute
    difference between their sorted pixel values, channel by channel ((C, H, W) or (1, C, H, W), one size)."""
    x, y = (_array(v, n) for v, n in ((a, "a"), (b, "b")))
    x, y = (v[0] if v.ndim == 4 and v.shape[0] == 1 else v for v in (x, y))
    _same_shape(x, y, "colour_distance")
    if x.ndim != 3:
        raise ValueError(f"colour_distance takes (C, H, W) images; got shape {x.shape}")
    xs, ys = (np.sort(v.reshape(v.shape[0], -1), axis=1) for v in (x, y))
    return float(np.abs(xs - ys).mean())


def _radial(grey: np.ndarray) -> np.ndarray:
    """log10 of the power spectrum averaged over rings of radius 1 .. min(H, W) // 2 - 1 (in frequency bins)."""
    c = grey - grey.mean()
    power = np.abs(np.fft.fftshift(np.fft.fft2(c))) ** 2
    y, x = np.indices(power.shape)
    r = np.hypot(y - c.shape[0] // 2, x - c.shape[1] // 2).astype(int)
    n = min(c.shape) // 2
    return np.log10(np.bincount(r.ravel(), power.ravel())[1:n] / np.bincount(r.ravel())[1:n] + 1e-12)


def spectrum_distance(a: ImageData, b: ImageData) -> float:
    """RMS difference of two images' log10 radially averaged power spectra (grey): 0 when their structures
    have the same sizes in the same proportions, whatever their layout."""
    x, y = _grey(a, "a"), _grey(b, "b")
    _same_shape(x, y, "spectrum_distance")
    return float(np.sqrt(np.mean((_radial(x) - _radial(y)) ** 2)))


def largest_change(a: ImageData, b: ImageData) -> float:
    """max |a - b| over every pixel of two images of one shape (the L-infinity distance)."""
    x, y = _array(a, "a"), _array(b, "b")
    _same_shape(x, y, "largest_change")
    return float(np.abs(x - y).max())


def ssim(a: ImageData, b: ImageData, data_range: float | None = None, win: int = 7) -> float:
    """Mean structural similarity (Wang et al. 2004) of two (h, w) maps, as scikit-image computes it by default
    (uniform 7 x 7 windows, sample covariances, K1 = 0.01, K2 = 0.03); data_range None: b's max - min."""
    x, y = _array(a, "a"), _array(b, "b")
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"ssim compares two (h, w) maps of one shape; got {x.shape} and {y.shape}")
    if min(x.shape) < win:  # small maps: the largest odd window that fits
        win = min(x.shape) - (1 - min(x.shape) % 2)
    L = float(y.max() - y.min()) if data_range is None else float(data_range)
    L = L if L > 0 else 1.0

    def mean(v):  # means over every win x win window (valid positions only)
        c = np.pad(v, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        return (c[win:, win:] - c[:-win, win:] - c[win:, :-win] + c[:-win, :-win]) / win**2

    n = win * win
    mx, my = mean(x), mean(y)
    vx, vy, cov = ((mean(x * x) - mx**2), (mean(y * y) - my**2), (mean(x * y) - mx * my))
    vx, vy, cov = (v * n / (n - 1) for v in (vx, vy, cov))
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


# --------------------------------------------------------------------------- maps

def sparsity(activations: ImageData) -> float:
    """Share in [0, 1] of an activation tensor's values that are zero or below: how much of a layer is silent."""
    a = _array(activations, "activations")
    if a.size == 0 or not np.isfinite(a).all():
        raise ValueError("sparsity needs a non-empty activation tensor of finite values")
    return float((a <= 0).mean())


def mass_share(heat: ImageData, mask: ImageData) -> float:
    """Share in [0, 1] of a non-negative (H, W) map's total that lies on the True pixels of an (H, W) mask.

    Compare it with mask.mean(), the share a map spread evenly over the image would put there.
    """
    h = torch.as_tensor(heat).detach().double().cpu()
    m = torch.as_tensor(mask).cpu().bool()
    if h.shape != m.shape or h.dim() != 2:
        raise ValueError(f"heat and mask must be (H, W) arrays of one shape; got {tuple(h.shape)} and {tuple(m.shape)}")
    if not torch.isfinite(h).all() or (h < 0).any():
        raise ValueError("heat must be finite and non-negative (take .abs() or .clamp(min=0) first)")
    total = float(h.sum())
    if total == 0:
        raise ValueError("the map is zero everywhere: it has no mass to share")
    return float(h[m].sum()) / total


def negative_share(values: ImageData) -> float:
    """Share in [0, 1] of a signed map's absolute mass that is negative: sum |min(v, 0)| / sum |v|."""
    v = _array(values, "values")
    total = float(np.abs(v).sum())
    if not np.isfinite(total) or total == 0:
        raise ValueError("negative_share needs a finite map that is not zero everywhere")
    return float(np.abs(np.minimum(v, 0)).sum() / total)


def object_mask(image: torch.Tensor, threshold: float = 0.05, margin: int = 0) -> torch.Tensor:
    """(H, W) bool: the pixels of a (C, H, W) [0, 1] image brighter than threshold (an object on a black
    background, as in Fashion-MNIST), grown by `margin` pixels in every direction."""
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError(f"object_mask takes a (C, H, W) image tensor; got {getattr(image, 'shape', image)!r}")
    margin = _check.integer(margin, "margin", 0)
    mask = image.amax(0) > _check.number(threshold, "threshold", 0, 1)
    if margin > 0:
        grown = F.max_pool2d(mask[None, None].float(), 2 * margin + 1, 1, margin)
        mask = grown[0, 0] > 0
    return mask


def window_coverage(mask: torch.Tensor, window: Size, stride: Size) -> torch.Tensor:
    """(h, w) share in [0, 1] of each occlusion window's pixels that are True in an (H, W) mask, window top-left
    at (i * stride, j * stride) as vk.occlusion places it (same (h, w) as its maps)."""
    m = torch.as_tensor(mask)
    if m.dim() != 2:
        raise ValueError(f"window_coverage takes an (H, W) mask; got shape {tuple(m.shape)}")
    win, st = _check.pair(window, "window"), _check.pair(stride, "stride")
    if win[0] > m.shape[0] or win[1] > m.shape[1]:
        raise ValueError(f"window {window!r} is larger than the {m.shape[0]}x{m.shape[1]} mask")
    return F.avg_pool2d(m[None, None].double(), win, st)[0, 0].float()


def field_mask(box: Sequence[int], size: Size) -> torch.Tensor:
    """(H, W) bool: the pixels of an input box (top, left, bottom, right), end-exclusive, clipped to an H x W image
    (size an int or an (H, W) pair); with rf.box(y, x) the pixels unit (y, x) sees, so that
    mass_share(heat, ~field_mask(rf.box(y, x), size)) is the share of a map beyond the unit's receptive field."""
    if len(box) != 4:
        raise ValueError(f"box must be (top, left, bottom, right); got {box!r}")
    top, left, bottom, right = (_check.integer(v, n) for v, n in zip(box, ("top", "left", "bottom", "right")))
    h, w = _check.pair(size, "size")
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[min(max(top, 0), h):max(min(bottom, h), 0), min(max(left, 0), w):max(min(right, w), 0)] = True
    return mask


def outline_mask(image: torch.Tensor, width: int = 1, threshold: float = 0.05) -> torch.Tensor:
    """(H, W) bool: the pixels with both an object pixel and a background pixel (object_mask's, on a (C, H, W)
    [0, 1] image) within `width` pixels in every direction, diagonals included: a band about 2 * width pixels wide
    along the object's outline, half on the object and half on the background."""
    width = _check.integer(width, "width", 1)
    obj = object_mask(image, threshold)
    near_background = F.max_pool2d((~obj)[None, None].float(), 2 * width + 1, 1, width)[0, 0] > 0
    return object_mask(image, threshold, width) & near_background


# --------------------------------------------------------------------------- the network

def _labels(labels: Labels, n: int, net: Net) -> torch.Tensor:
    """(n,) class indices from a tensor, list or one index / name for all."""
    if isinstance(labels, (str, int, np.integer)) and not isinstance(labels, bool):
        return torch.full((n,), resolve_target(net, labels if isinstance(labels, str) else int(labels)),
                          dtype=torch.long)
    y = torch.as_tensor(labels).detach().cpu().long().reshape(-1)
    if len(y) != n:
        raise ValueError(f"labels must give one class per image: {len(y)} labels for {n} images")
    return y


def accuracy(net: Net, x: torch.Tensor, labels: Labels) -> float:
    """Share in [0, 1] of the (N, C, H, W) model inputs the network classifies as their label (a (N,) tensor)."""
    y = _labels(labels, len(x), net)
    return float((net.logits(x).argmax(1).cpu() == y).double().mean())


def class_rate(net: Net, x: torch.Tensor, target: Target) -> float:
    """Share in [0, 1] of the (N, C, H, W) model inputs the network calls `target` (an index or a class name)."""
    return accuracy(net, x, target)


def flip_rate(net: Net, clean: torch.Tensor, changed: torch.Tensor, labels: Labels) -> float:
    """Among the clean (N, C, H, W) model inputs the network gets right, the share whose changed version
    (e.g. adversarial) it gets wrong; NaN if it gets none of the clean ones right."""
    y = _labels(labels, len(clean), net)
    if changed.shape != clean.shape:
        raise ValueError(f"clean and changed inputs must have one shape; got {tuple(clean.shape)} and "
                         f"{tuple(changed.shape)}")
    right = net.logits(clean).argmax(1).cpu() == y
    if not bool(right.any()):
        return float("nan")
    still = net.logits(changed[right.to(changed.device)]).argmax(1).cpu() == y[right]
    return float(1 - still.double().mean())


def _margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    true = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], float("-inf")).max(1).values
    return true - other


def margin(net: Net, x: torch.Tensor, labels: Labels) -> torch.Tensor:
    """(N,) logit of each image's label minus its largest other logit: positive exactly where the network is
    right, and how far it is from changing its mind."""
    y = _labels(labels, len(x), net)
    return _margin(net.logits(x).cpu(), y)


def margin_gradient(net: Net, x: torch.Tensor, labels: Labels) -> tuple[torch.Tensor, torch.Tensor]:
    """((N,) margin, (N, C, H, W) its gradient with respect to the [0, 1] pixels of the model inputs x): the w
    of the linear model margin(x + d) ~ margin(x) + w . d, d in pixel units."""
    inp = as_input(net, x, full=True).detach()
    y = _labels(labels, len(inp), net).to(inp.device)
    with frozen(net), torch.enable_grad():
        pixels = net.pixels(inp, clamp=False).requires_grad_(True)
        logits = run(net, net.normalize(pixels))
        m = _margin(logits.to(torch.promote_types(logits.dtype, torch.float32)), y)
        (grad,) = torch.autograd.grad(m.sum(), pixels)
    return m.detach().cpu(), grad.detach().cpu()


def _acts(net: Net, x: ImageLike, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    inp = as_input(net, x)
    with frozen(net), torch.no_grad(), record(net, list(layers), stop=True) as rec:
        rec.forward(inp)
    return {name: rec[name].double() for name in layers}


def feature_error(net: Net, x: ImageLike, reference: ImageLike, layer: str) -> float:
    """||Phi(x) - Phi(ref)||^2 / ||Phi(ref)||^2 at a layer, for two model inputs of one size: 0 for the same
    features, 1 for features that are all zero (as a blank image's often are)."""
    a, b = _acts(net, x, [layer])[layer], _acts(net, reference, [layer])[layer]
    if a.shape != b.shape:
        raise ValueError(f"feature_error compares features of one shape; {layer!r} gives {tuple(a.shape)} and "
                         f"{tuple(b.shape)} (give images of one size)")
    norm = float(b.pow(2).sum())
    if norm == 0:
        raise ValueError(f"the reference's {layer!r} features are all zero: there is nothing to be relative to")
    return float((a - b).pow(2).sum()) / norm


def _gram(a: torch.Tensor) -> torch.Tensor:
    if a.dim() != 4:
        raise ValueError(f"a Gram matrix needs (N, C, h, w) maps; got shape {tuple(a.shape)}")
    f = a.reshape(a.shape[0], a.shape[1], -1)
    return f @ f.transpose(1, 2) / f.shape[2]


def gram_errors(net: Net, x: ImageLike, reference: ImageLike, layers: str | Sequence[str]) -> dict[str, float]:
    """layer -> ||G(x) - G(ref)||^2 / ||G(ref)||^2, G the (C, C) Gram matrix of a layer's maps divided by the
    number of positions (vk.gram); the two images may differ in size."""
    names = _check.layer_list(layers)
    mine, theirs = _acts(net, x, names), _acts(net, reference, names)
    out = {}
    for name in names:
        g, r = _gram(mine[name]), _gram(theirs[name])
        out[name] = float((g - r).pow(2).sum() / r.pow(2).sum().clamp_min(1e-300))
    return out


def activation_norm(net: Net, x: ImageLike, layer: str, channel: int | None = None) -> float:
    """||A(x)||: the Euclidean norm of a layer's activation for one model input (or of one channel's)."""
    a = _acts(net, x, [layer])[layer][0]
    if channel is not None:
        a = a[_check.integer(channel, "channel", 0, a.shape[0] - 1)]
    return float(a.norm())


def activation_gain(net: Net, x: ImageLike, reference: ImageLike, layer: str, channel: int | None = None) -> float:
    """||A(x)|| / ||A(ref)||: how many times larger a layer's activation (or one channel's) is for x than for
    the reference (model inputs; sizes may differ)."""
    before = activation_norm(net, reference, layer, channel)
    if before == 0:
        raise ValueError(f"the reference's {layer!r} activation is zero: a gain over it is not defined")
    return activation_norm(net, x, layer, channel) / before


# --------------------------------------------------------------------------- units

def class_purity(top: TopPatches, labels: torch.Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    """(C,) for each channel of a top-patch search, the share of its k images that belong to the class most
    common among them: 1 when a channel's best images are all one class, 1 / k at the least.
    labels: (N,) class of every image of the searched dataset (by TopPatches.indices)."""
    y = np.asarray(torch.as_tensor(labels).cpu()).reshape(-1)
    idx = np.asarray(top.indices)
    if idx.min() < 0 or idx.max() >= len(y):
        raise ValueError(f"the top patches point at images up to #{int(idx.max())}; labels has {len(y)}")
    found = y[idx]  # (C, k)
    counts = (found[:, :, None] == found[:, None, :]).sum(2)  # how often each entry's class occurs in its row
    return counts.max(1) / idx.shape[1]


_DIHEDRAL = ((1, False), (2, False), (3, False), (0, True), (1, True), (2, True), (3, True))  # all but identity


def rotation_matches(weights: torch.Tensor) -> torch.Tensor:
    """(out,) for each filter of (out, in, k, k) weights, the highest Pearson correlation between it and
    another filter turned by 90, 180 or 270 degrees or mirrored (the seven non-trivial symmetries of a square):
    near 1 when the layer holds a rotated or mirrored copy of it."""
    w = torch.as_tensor(weights).detach().double()
    if w.dim() != 4 or w.shape[2] != w.shape[3] or w.shape[0] < 2 or w.shape[2] < 2:
        raise ValueError(f"rotation_matches needs (out, in, k, k) square filters, at least 2 of them; got shape "
                         f"{tuple(w.shape)}")
    flat = w.flatten(1)
    z = (flat - flat.mean(1, keepdim=True)) / flat.std(1, unbiased=False, keepdim=True).clamp_min(1e-300)
    best = torch.full((w.shape[0],), -1.0, dtype=torch.float64)
    for turns, mirror in _DIHEDRAL:
        t = w.flip(3) if mirror else w
        t = torch.rot90(t, turns, (2, 3)).flatten(1)
        zt = (t - t.mean(1, keepdim=True)) / t.std(1, unbiased=False, keepdim=True).clamp_min(1e-300)
        corr = z @ zt.T / z.shape[1]  # corr[i, j]: filter i against filter j transformed
        corr.fill_diagonal_(-1.0)  # a filter is not its own match
        best = torch.maximum(best, corr.max(1).values)
    return best.float()
