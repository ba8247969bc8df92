"""Exercises of notebooks 01-06: activations, training, filters, neighbours, embeddings, receptive fields
(beyond the contract's nine in implement.py and the first measured ones in measured.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .measured import _fashion, _test_set
from .runner import Exercise, Find, Mistake, Predict


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- sparsity (notebook 02)

def _sparsity_reference(maps: torch.Tensor) -> torch.Tensor:
    return (maps <= 0).double().mean().float()


def _sparsity_cases() -> dict[str, tuple]:
    dense = torch.relu(torch.randn(8, 6, 5, 5, generator=_gen(40)))             # about half zero
    sparse = torch.relu(torch.randn(3, 16, 4, 6, generator=_gen(41)) - 1.0)     # most of it zero
    return {"8 images, 6 maps of 5x5": (dense,), "3 images, 16 sparse maps of 4x6": (sparse,)}


def _sparsity_hidden() -> dict[str, tuple]:
    signed = torch.randn(2, 3, 4, 4, generator=_gen(42))
    signed[0, 1] = 0.0                                  # exact zeros beside negative values: both count
    return {"signed values and zeros": (signed,), "no zero at all": (torch.rand(4, 2, 3, 3, generator=_gen(43)) + 0.1,),
            "all zero": (torch.zeros(1, 5, 2, 2),)}


SPARSITY = Exercise(
    "sparsity", "fn(maps): (N, C, h, w) activations -> a 0-d float tensor, the share of all N * C * h * w values that "
    "are zero or below (s_l of notebook 02, in [0, 1])",
    _sparsity_cases, _sparsity_reference,
    [Mistake("you counted only the values below zero: s_l counts a value when it is <= 0, and after a ReLU the silent "
             "values are exactly 0", lambda maps: (maps < 0).double().mean().float()),
     Mistake("you divided the count by the number of channels C; s_l divides by the number of all values N * C * h * w",
             lambda maps: (maps <= 0).double().sum().div(maps.shape[1]).float()),
     Mistake("that is the share of values that fire (> 0); s_l is the share that are zero or below",
             lambda maps: (maps > 0).double().mean().float())],
    hidden=_sparsity_hidden)


# --------------------------------------------------------------------------- roughness (notebook 03)

def _roughness_reference(w: torch.Tensor) -> torch.Tensor:
    w = w.double()
    dy = (w[:, :, 1:, :] - w[:, :, :-1, :]).abs().flatten(1)      # vertical neighbours, within each input channel
    dx = (w[:, :, :, 1:] - w[:, :, :, :-1]).abs().flatten(1)      # horizontal neighbours
    jumps = torch.cat([dy, dx], dim=1).mean(1)
    spread = w.flatten(1).std(1, unbiased=False)
    return torch.where(spread > 0, jumps / spread.clamp_min(1e-300), torch.zeros_like(spread)).float()


def _jumps(dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    return torch.cat([dy.abs().flatten(1), dx.abs().flatten(1)], dim=1).mean(1)


def _no_spread(w: torch.Tensor) -> torch.Tensor:
    w = w.double()
    return _jumps(w[:, :, 1:] - w[:, :, :-1], w[..., 1:] - w[..., :-1]).float()


def _horizontal_only(w: torch.Tensor) -> torch.Tensor:
    w = w.double()
    return ((w[..., 1:] - w[..., :-1]).abs().flatten(1).mean(1) / w.flatten(1).std(1, unbiased=False)).float()


def _across_channels(w: torch.Tensor) -> torch.Tensor:
    w = w.double()
    rows = w.reshape(w.shape[0], w.shape[1] * w.shape[2], w.shape[3])   # input channels stacked: they touch
    return (_jumps(rows[:, 1:] - rows[:, :-1], rows[..., 1:] - rows[..., :-1]) /
            w.flatten(1).std(1, unbiased=False)).float()


def _sample_std(w: torch.Tensor) -> torch.Tensor:
    w = w.double()
    return (_jumps(w[:, :, 1:] - w[:, :, :-1], w[..., 1:] - w[..., :-1]) / w.flatten(1).std(1)).float()


def _smooth_filters(out: int, channels: int, size: int, seed: int) -> torch.Tensor:
    """Ramps and blobs with a little noise, at different scales: filters like a trained first layer's."""
    g = _gen(seed)
    t = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    a, b, c = (torch.randn(out, channels, 1, 1, generator=g) for _ in range(3))
    w = a * yy + b * xx + c * torch.exp(-(yy ** 2 + xx ** 2) * 2)
    return (w + 0.2 * torch.randn(out, channels, size, size, generator=g)) * torch.rand(out, 1, 1, 1, generator=g).add(
        0.05)


def _roughness_cases() -> dict[str, tuple]:
    return {"4 smooth filters, 3 input channels, 5x5": (_smooth_filters(4, 3, 5, 44),),
            "6 noisy filters, 2 input channels, 3x3": (torch.randn(6, 2, 3, 3, generator=_gen(45)) * 0.1,)}


def _roughness_hidden() -> dict[str, tuple]:
    w = _smooth_filters(3, 2, 5, 46)
    w[1] = 0.25                                          # a constant filter: no spread, roughness 0
    w[2] *= 1000.0                                       # the scale must not matter
    return {"a constant filter and a huge one": (w,),
            "3x5 kernels, one input channel": (torch.randn(5, 1, 3, 5, generator=_gen(47)).cumsum(3),)}


ROUGHNESS = Exercise(
    "roughness", "fn(w): (out, in, kh, kw) filter weights -> (out,) float roughness of each filter: the mean of the "
    "absolute differences between vertically and horizontally neighbouring weights (within each input channel, all "
    "pairs averaged together), divided by the standard deviation of the filter's weights (unbiased=False); 0 for a "
    "constant filter",
    _roughness_cases, _roughness_reference,
    [Mistake("your score is not divided by the filter's standard deviation: the roughness must not depend on the "
             "filter's scale (a filter times 10 is as rough as before)", _no_spread),
     Mistake("you took only the horizontal neighbours (along the width); average the vertical jumps (along the "
             "height) with them", _horizontal_only),
     Mistake("your vertical differences run from one input channel's slice into the next (the channels were stacked "
             "into one tall picture): compare neighbours within each input channel only", _across_channels),
     Mistake("torch's std is the sample standard deviation (divides by n - 1) by default; the roughness divides by "
             "the filter's own spread, std(unbiased=False)", _sample_std)],
    hidden=_roughness_hidden)


# --------------------------------------------------------------------------- predict, then check

SPARSE_IMAGES = 1000   # Fashion-MNIST test images (notebook 01 takes 2000, or 256 in CI: the order is the same)


def _sparsest_layer() -> str:
    from ..inspect import activations
    from ..measure import sparsity

    net, test = _fashion(), _test_set()
    layers = ("relu1", "relu2", "relu3")
    zeros = dict.fromkeys(layers, 0.0)
    for start in range(0, SPARSE_IMAGES, 250):          # in chunks: relu1's maps of 1000 images take 100 MB
        x = net.normalize(test.tensors(torch.arange(start, start + 250))[0])
        maps = activations(net, x, list(layers))
        for layer in layers:
            zeros[layer] += sparsity(maps[layer]) * 250 / SPARSE_IMAGES
    return max(zeros, key=lambda layer: zeros[layer])


def first_layers() -> dict[str, torch.Tensor]:
    """Notebook 03's first layers (the shipped runs at full budget): name -> (32, 1, 5, 5) conv1 weights."""
    from ..inspect import filter_weights
    from ..nets import load
    from ..runs import load as load_runs

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)                             # as the notebook makes its untrained network
        untrained = load("fashion-cnn", pretrained=False, device="cpu")
    layers = {"trained (bundled)": filter_weights(_fashion(), "conv1"), "untrained": filter_weights(untrained, "conv1")}
    layers.update({name: h.snapshots[-1]["filters"] for name, h in load_runs("filters").items()})
    layers["too high lr (0.12)"] = load_runs("monitoring")["far too high: lr 0.12"].snapshots[-1]["filters"]
    return layers


FIRST_LAYERS = ("trained (bundled)", "untrained", "too low lr (0.001)", "too short (1 epoch)", "no weight decay",
                "strong weight decay (5e-3)", "too high lr (0.12)")


def _roughest() -> str:
    from ..inspect import filter_smoothness

    medians = {name: float(filter_smoothness(w).median()) for name, w in first_layers().items()}
    return max(medians, key=lambda name: medians[name])


MAP_SPACES = ("pixels", "pool1", "pool2", "relu4", "relu5")
MAP_IMAGES = 1000   # Fashion-MNIST test images (notebook 05 maps 2000, or 800 in CI: the best map is the same)


def pca_2d(X: torch.Tensor) -> torch.Tensor:
    """(N, ...) rows -> (N, 2) coordinates on their top two principal components (vk.embed(X, "pca") up to each
    column's sign), exactly and quickly: from the smaller of the covariance (D x D) and the Gram matrix (N x N)."""
    X = X.flatten(1).double()
    X = X - X.mean(0)
    if X.shape[1] <= X.shape[0]:
        vectors = torch.linalg.eigh(X.T @ X)[1]
        return X @ vectors[:, -2:].flip(1)
    values, vectors = torch.linalg.eigh(X @ X.T)          # X = U S V^T: the coordinates X V are U S
    return vectors[:, -2:].flip(1) * values[-2:].flip(0).clamp_min(0).sqrt()


def _best_layer_2d() -> str:
    from ..inspect import activations, knn_agreement

    net = _fashion()
    images, labels = _test_set().tensors(torch.arange(MAP_IMAGES))
    layers = [space for space in MAP_SPACES if space != "pixels"]
    spaces = {"pixels": images, **activations(net, net.normalize(images), layers)}   # one forward pass for all
    agreement = {space: knn_agreement(pca_2d(spaces[space]).numpy(), labels, k=10, metric="euclidean")
                 for space in MAP_SPACES}
    return max(agreement, key=lambda space: agreement[space])


PREDICTIONS: list[Predict] = [
    Predict("sparsest_layer", f"Over {SPARSE_IMAGES} Fashion-MNIST test images, which of fashion-cnn's ReLU layers "
            "has the largest share of activations that are zero: 'relu1', 'relu2' or 'relu3'?", _sparsest_layer,
            options=("relu1", "relu2", "relu3")),
    Predict("roughest", "Of notebook 03's first layers (the shipped runs), which has the roughest filters, by median "
            f"roughness? One of {list(FIRST_LAYERS)}", _roughest, options=FIRST_LAYERS),
    Predict("best_layer_2d", f"On the 2-D PCA maps of {MAP_IMAGES} test images, whose map keeps the classes together "
            "best (the highest share of a point's 10 nearest map neighbours in its class)? One of "
            f"{list(MAP_SPACES)}", _best_layer_2d, options=MAP_SPACES),
]


# --------------------------------------------------------------------------- find it with a panel

def _silent_channel(panel: Any) -> tuple[bool, str]:
    """The panel shows one channel whose map is zero at every position for the image shown."""
    from ..inspect import activations

    name, layer, channel = panel.image.value, panel.layer.value, panel.channel.value
    if panel.mode.value != "one channel":
        return False, f"the panel shows all channels of {layer}: switch the view to 'one channel' and pick a channel"
    maps = activations(panel.net, panel._inputs[name], layer)[layer]
    a = maps.reshape(-1, *maps.shape[-3:])[0, channel]
    zero, peak = float((a <= 0).double().mean()), float(a.max())
    if peak <= 0:
        return True, f"{layer} channel {channel} is zero at all {a.numel()} positions of its map for {name!r}"
    return False, f"{layer} channel {channel} fires on {name!r}: {zero:.0%} of its map is zero, its peak is {peak:.3g}"


NEIGHBOURS_SHOWN = 5   # at least this many neighbours, so that "most of them" means something


def _pixels_fooled(panel: Any) -> tuple[bool, str]:
    """A query whose pixel neighbours are mostly of other classes, while the chosen layer's are mostly its own."""
    from ..inspect import nearest

    if panel.use_upload.value:
        return False, "an uploaded image has no class: untick 'use the uploaded image' and pick a query by number"
    query, layer, k, metric = panel.query.value, panel.layer.value, panel.k.value, panel.metric.value
    if k < NEIGHBOURS_SHOWN:
        return False, f"k is {k}: show at least {NEIGHBOURS_SHOWN} neighbours, so that 'most of them' means something"
    labels = np.asarray(panel.labels)
    own = labels[query]
    by_layer, _ = nearest(panel.feats[layer], query, k, metric)
    by_pixels, _ = nearest(panel.pixels, query, k, metric)
    same_layer, same_pixels = float(np.mean(labels[by_layer] == own)), float(np.mean(labels[by_pixels] == own))
    what = (f"query {query} ({panel.classes[own]!r}), k {k}, {metric} distance: {same_pixels:.0%} of its pixel "
            f"neighbours and {same_layer:.0%} of its {layer} neighbours share its class")
    if same_pixels > 0.5:
        return False, what + "; find a query whose pixel neighbours are at least half of other classes"
    if same_layer <= 0.5:
        return False, what + f"; {layer}'s neighbours must be mostly of the query's own class"
    return True, what


FINDS: list[Find] = [
    Find("silent_channel", "Set the activations panel to one channel of a layer whose map is zero everywhere for "
         "the image shown (view 'one channel')", "ActivationsPanel", _silent_channel),
    Find("pixels_fooled", f"Set the neighbours panel (k >= {NEIGHBOURS_SHOWN}) to a query whose pixel neighbours are "
         "at least half of other classes while the chosen layer's neighbours are mostly of its own class",
         "NeighboursPanel", _pixels_fooled),
]

IMPLEMENTS: list[Exercise] = [SPARSITY, ROUGHNESS]
