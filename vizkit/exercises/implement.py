"""The implement exercises: the core of a technique in a few lines, with vizkit's answer and the common mistakes.

Each exercise's signature and meaning are a contract (vizkit.exercises.check(name, fn) is called with them).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .runner import Exercise, Mistake


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny_model(channels: int = 3, classes: int = 5, seed: int = 0) -> nn.Module:
    """A small seeded CNN on (N, channels, H, W) inputs -> (N, classes) logits, in eval mode, its weights not
    requiring grad: the model the exercises' cases give to the student."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                              nn.Linear(8, classes))
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


# --------------------------------------------------------------------------- dead filters (notebook 01, 02)

def _dead_cases() -> dict[str, tuple]:
    maps = torch.relu(torch.randn(6, 8, 5, 5, generator=_gen(1)))
    maps[:, [1, 6]] = 0.0                     # two dead channels
    maps[:, 3] = 0.0
    maps[4, 3, 2, 2] = 0.5                    # alive in one image at one position only
    maps[2, 5] = 0.0                          # silent in one image, alive in the others
    lively = torch.relu(torch.randn(3, 4, 2, 3, generator=_gen(2))) + 0.1
    return {"two dead of eight": (maps,), "none dead": (lively,)}


DEAD_FILTERS = Exercise(
    "dead_filters", "fn(maps): (N, C, h, w) activations -> (C,) bool, True where a channel is zero for every input "
    "and position",
    _dead_cases, lambda maps: maps.amax(dim=(0, 2, 3)) <= 0,
    [Mistake("you looked at the first image only: a channel is dead when it is zero for EVERY input",
             lambda maps: maps[0].amax(dim=(1, 2)) <= 0),
     Mistake("True should mean dead (never fires); yours is True where the channel fires",
             lambda maps: maps.amax(dim=(0, 2, 3)) > 0),
     Mistake("a dead channel is zero at every position of every image; you asked for it in a single image (any)",
             lambda maps: (maps.amax(dim=(2, 3)) <= 0).any(0))])


# --------------------------------------------------------------------------- nearest neighbours (notebook 04)

def _cosine(features: torch.Tensor, query: int) -> torch.Tensor:
    f = F.normalize(features.double(), dim=1)
    return 1 - f @ f[query]


def _knn_reference(features: torch.Tensor, query: int, k: int) -> torch.Tensor:
    d = _cosine(features, query)
    d[query] = float("inf")
    return torch.sort(d, stable=True).indices[:k].to(torch.int64)


def _knn_cases() -> dict[str, tuple]:
    f = torch.randn(40, 6, generator=_gen(3))
    f = f * torch.rand(40, 1, generator=_gen(4)).mul(5).add(0.1)   # lengths vary: cosine is not Euclidean
    return {"query 0, k 5": (f, 0, 5), "query 17, k 8": (f, 17, 8)}


KNN = Exercise(
    "knn", "fn(features, query, k): (N, D) tensor, a row index, k -> (k,) int64 indices of the k nearest rows by "
    "cosine distance, nearest first, the query excluded",
    _knn_cases, _knn_reference,
    [Mistake("your neighbours include the query itself: leave it out",
             lambda f, q, k: torch.sort(_cosine(f, q), stable=True).indices[:k]),
     Mistake("those are the nearest by Euclidean distance; use the cosine distance 1 - u.v / (|u| |v|)",
             lambda f, q, k: torch.sort(torch.cat([(f - f[q]).norm(dim=1)[:q], torch.tensor([float("inf")]),
                                                   (f - f[q]).norm(dim=1)[q + 1:]]), stable=True).indices[:k]),
     Mistake("those are the farthest rows: sort the distances in increasing order",
             lambda f, q, k: torch.sort(_cosine(f, q).masked_fill(torch.arange(len(f)) == q, float("-inf")),
                                        descending=True, stable=True).indices[:k])],
    same=lambda a, b: bool(torch.equal(a.long(), b.long())))


# --------------------------------------------------------------------------- PCA (notebook 05)

def _pca_reference(X: torch.Tensor, k: int) -> torch.Tensor:
    Xc = X.double() - X.double().mean(0)
    values, vectors = torch.linalg.eigh(Xc.T @ Xc / len(X))
    return (Xc @ vectors[:, torch.argsort(values, descending=True)[:k]]).to(X.dtype)


def _same_up_to_sign(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    signs = torch.sign((a.double() * b.double()).sum(0))
    signs[signs == 0] = 1
    return bool(torch.allclose(a.double() * signs, b.double(), rtol=1e-4, atol=1e-5 * float(b.abs().max() + 1)))


def _pca_cases() -> dict[str, tuple]:
    z = torch.randn(60, 3, generator=_gen(5)) * torch.tensor([5.0, 2.0, 0.5])
    X = z @ torch.randn(3, 7, generator=_gen(6)) + torch.tensor([3.0, -1, 2, 0, 5, 1, -4])  # not centred
    return {"60 x 7, k 2": (X, 2), "60 x 7, k 3": (X, 3)}


PCA = Exercise(
    "pca", "fn(X, k): (N, D) tensor -> (N, k) coordinates of the centred data on the top-k eigenvectors of its "
    "covariance, largest first (each column's sign is free)",
    _pca_cases, _pca_reference,
    [Mistake("subtract the mean of each column (centre the data) before projecting",
             lambda X, k: X.double().__matmul__(torch.linalg.eigh(
                 (X.double() - X.double().mean(0)).T @ (X.double() - X.double().mean(0)))[1].flip(1)[:, :k])
             .to(X.dtype)),
     Mistake("torch.linalg.eigh sorts eigenvalues in increasing order: take the largest, not the smallest",
             lambda X, k: ((X.double() - X.double().mean(0)) @ torch.linalg.eigh(
                 (X.double() - X.double().mean(0)).T @ (X.double() - X.double().mean(0)))[1][:, :k]).to(X.dtype))],
    same=_same_up_to_sign)


# --------------------------------------------------------------------------- receptive field (notebook 06)

def _field_reference(layers: list) -> torch.Tensor:
    size, jump, start = 1, 1, 0
    for kernel, stride, padding in layers:
        size, start, jump = size + (kernel - 1) * jump, start - padding * jump, jump * stride
    return torch.tensor([size, jump, start])


def _field_wrong(grow: Callable[[int, int, int], int], jumps: bool = True,
                 pads: bool = True) -> Callable[[list], torch.Tensor]:
    def fn(layers):
        size, jump, start = 1, 1, 0
        for kernel, stride, padding in layers:
            size, start = grow(size, kernel, jump), start - (padding * jump if pads else 0)
            jump = jump * stride if jumps else stride
        return torch.tensor([size, jump, start])
    return fn


def _field_cases() -> dict[str, tuple]:
    fashion = [(5, 1, 2), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1)]   # fashion-cnn up to conv3
    alexnet = [(11, 4, 2), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1)]  # AlexNet up to conv3
    return {"fashion-cnn to conv3": (fashion,), "AlexNet to conv3": (alexnet,)}


RECEPTIVE_FIELD = Exercise(
    "receptive_field", "fn(layers): (kernel, stride, padding) of each layer of a chain, one axis -> (size, stride, "
    "start) of the last layer's first unit, as a tensor (start may be negative)",
    _field_cases, _field_reference,
    [Mistake("each layer adds (kernel - 1) times the jump between its inputs (the stride so far), not kernel - 1",
             _field_wrong(lambda size, kernel, jump: size + kernel - 1)),
     Mistake("the stride between neighbouring units multiplies layer by layer: the product of the strides so far",
             _field_wrong(lambda size, kernel, jump: size + (kernel - 1) * jump, jumps=False)),
     Mistake("padding moves the field's start: each layer's padding times the jump so far, subtracted",
             _field_wrong(lambda size, kernel, jump: size + (kernel - 1) * jump, pads=False))],
    same=lambda a, b: bool(torch.equal(a.long(), b.long())))


# --------------------------------------------------------------------------- unpooling (notebook 07)

def _unpool_reference(values: torch.Tensor, switches: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    out = torch.zeros(values.shape[0], size[0] * size[1], dtype=values.dtype)
    out.scatter_(1, switches.reshape(values.shape[0], -1), values.reshape(values.shape[0], -1))
    return out.view(values.shape[0], *size)


def _unpool_cases() -> dict[str, tuple]:
    x = torch.randn(3, 6, 8, generator=_gen(7))
    values, switches = F.max_pool2d(x[None], 2, return_indices=True)
    y = torch.randn(2, 5, 5, generator=_gen(8))
    v2, s2 = F.max_pool2d(y[None], 3, 2, return_indices=True)
    return {"2x2 pools of 6x8": (values[0], switches[0], (6, 8)), "3x3 pools, stride 2, of 5x5": (v2[0], s2[0], (5, 5))}


UNPOOL = Exercise(
    "max_unpool", "fn(values, switches, size): (C, h, w) pooled values, the flat indices F.max_pool2d(..., "
    "return_indices=True) records, the (H, W) before pooling -> (C, H, W), each value at its switch, zeros elsewhere",
    _unpool_cases, _unpool_reference,
    [Mistake("you spread each value over its whole window: put it only at its switch, zeros elsewhere",
             lambda v, s, size: F.interpolate(v[None], size=size, mode="nearest")[0]),
     Mistake("the switches are flat indices into the (H, W) map before pooling: row = i // W, column = i % W",
             lambda v, s, size: _unpool_reference(v, (s % size[0]) * size[1] + s // size[0], size))],
    picture=True)


# --------------------------------------------------------------------------- occlusion (notebook 08)

def _occlusion_reference(model: nn.Module, x: torch.Tensor, target: int, window: int, stride: int,
                         fill: float) -> torch.Tensor:
    h, w = (x.shape[2] - window) // stride + 1, (x.shape[3] - window) // stride + 1
    out = torch.zeros(h, w)
    with torch.no_grad():
        for i in range(h):
            for j in range(w):
                y = x.clone()
                y[:, :, i * stride:i * stride + window, j * stride:j * stride + window] = fill
                out[i, j] = torch.softmax(model(y), 1)[0, target]
    return out


def _occlusion_wrong(score, corner=lambda i, s: i * s):
    def fn(model, x, target, window, stride, fill):
        h, w = (x.shape[2] - window) // stride + 1, (x.shape[3] - window) // stride + 1
        out = torch.zeros(h, w)
        with torch.no_grad():
            for i in range(h):
                for j in range(w):
                    y = x.clone()
                    top, left = corner(i, stride), corner(j, stride)
                    y[:, :, top:top + window, left:left + window] = fill
                    out[i, j] = score(model(y))[0, target]
        return out
    return fn


def _occlusion_cases() -> dict[str, tuple]:
    model = tiny_model(1, 4, seed=1)
    x = torch.rand(1, 1, 12, 12, generator=_gen(9))
    return {"12x12, window 4, stride 2": (model, x, 2, 4, 2, 0.0), "window 5, stride 3, fill 0.5": (model, x, 1, 5, 3,
                                                                                                     0.5)}


OCCLUSION = Exercise(
    "occlusion", "fn(model, x, target, window, stride, fill): the softmax probability of class target with a "
    "window x window square of value fill at (i * stride, j * stride), for every position inside the (1, C, H, W) "
    "image -> ((H - window) // stride + 1, (W - window) // stride + 1)",
    _occlusion_cases, _occlusion_reference,
    [Mistake("that is the class score (the logit); the occlusion map is the softmax probability of the class",
             _occlusion_wrong(lambda logits: logits)),
     Mistake("the square's top-left corner of map position (i, j) is at (i * stride, j * stride): multiply by the "
             "stride", _occlusion_wrong(lambda logits: torch.softmax(logits, 1), corner=lambda i, s: i))],
    tolerance=1e-4, picture=True)


# --------------------------------------------------------------------------- saliency (notebook 08)

def _saliency_reference(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, target], x)
    return grad[0].abs().amax(0)


def _saliency_wrong(reduce, score=lambda logits, t: logits[0, t]):
    def fn(model, x, target):
        x = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(score(model(x), target), x)
        return reduce(grad[0])
    return fn


def _saliency_cases() -> dict[str, tuple]:
    model = tiny_model(3, 5, seed=2)
    return {"3 x 10 x 10, class 1": (model, torch.rand(1, 3, 10, 10, generator=_gen(10)), 1),
            "3 x 12 x 8, class 4": (model, torch.rand(1, 3, 12, 8, generator=_gen(11)), 4)}


SALIENCY = Exercise(
    "saliency", "fn(model, x, target): (1, C, H, W) input -> (H, W), the largest over colour channels of "
    "|d logit_target / d x|",
    _saliency_cases, _saliency_reference,
    [Mistake("your map equals the signed gradient: take the absolute value before the max over channels",
             _saliency_wrong(lambda g: g.amax(0))),
     Mistake("you summed the channels; Simonyan et al. take the largest absolute value over them",
             _saliency_wrong(lambda g: g.abs().sum(0))),
     Mistake("that is the gradient of the softmax probability; take the gradient of the class score (the logit)",
             _saliency_wrong(lambda g: g.abs().amax(0), lambda logits, t: torch.softmax(logits, 1)[0, t]))],
    picture=True)


# --------------------------------------------------------------------------- Gram matrix (notebooks 14, 15)

def _gram_reference(features: torch.Tensor) -> torch.Tensor:
    f = features.reshape(features.shape[0], features.shape[1], -1)
    return f @ f.transpose(1, 2) / f.shape[2]


def _gram_cases() -> dict[str, tuple]:
    return {"1 x 4 x 5 x 6": (torch.randn(1, 4, 5, 6, generator=_gen(12)),),
            "2 x 3 x 7 x 7": (torch.relu(torch.randn(2, 3, 7, 7, generator=_gen(13))),)}


GRAM = Exercise(
    "gram", "fn(features): (B, C, h, w) maps -> (B, C, C) Gram matrices F F^T, divided by the number of positions h w",
    _gram_cases, _gram_reference,
    [Mistake("your Gram matrix is not divided by the number of positions h * w",
             lambda f: _gram_reference(f) * f.shape[2] * f.shape[3]),
     Mistake("divide by the number of positions h * w only, not by the channels too",
             lambda f: _gram_reference(f) / f.shape[1]),
     Mistake("that is a covariance (the mean taken out): the Gram matrix uses the maps as they are",
             lambda f: _gram_reference(f - f.mean(dim=(2, 3), keepdim=True)))],
    picture=True)


# --------------------------------------------------------------------------- FGSM (notebook 12)

def _fgsm_reference(model: nn.Module, x: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), target), x)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def _fgsm_wrong(step: Callable[[torch.Tensor, float], torch.Tensor], clip: bool = True) -> Callable[..., torch.Tensor]:
    def fn(model, x, target, eps):
        x = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x), target), x)
        out = x + step(grad, eps)
        return (out.clamp(0, 1) if clip else out).detach()
    return fn


def _fgsm_cases() -> dict[str, tuple]:
    model = tiny_model(1, 4, seed=3)
    x = torch.rand(3, 1, 10, 10, generator=_gen(14))
    x[0, 0, :2] = 1.0                                    # pixels at the top of the range: clipping matters
    return {"3 images, eps 0.1": (model, x, torch.tensor([0, 2, 3]), 0.1),
            "3 images, eps 0.03": (model, x, torch.tensor([1, 1, 0]), 0.03)}


FGSM = Exercise(
    "fgsm", "fn(model, x, target, eps): a model taking (N, C, H, W) pixels in [0, 1], (N,) labels -> x plus eps "
    "times the sign of the gradient of the cross-entropy, clipped to [0, 1] (away from the label)",
    _fgsm_cases, _fgsm_reference,
    [Mistake("you stepped down the loss (toward the label): the untargeted attack adds eps * sign(gradient)",
             _fgsm_wrong(lambda g, eps: -eps * g.sign())),
     Mistake("clip the result to [0, 1]: it must stay a valid image",
             _fgsm_wrong(lambda g, eps: eps * g.sign(), clip=False)),
     Mistake("FGSM steps by the gradient's sign, not by the gradient itself",
             _fgsm_wrong(lambda g, eps: eps * g))],
    picture=True)


# --------------------------------------------------------------------------- hidden cases (a grader's stricter tests)

def _dead_hidden() -> dict[str, tuple]:
    one = torch.relu(torch.randn(1, 5, 3, 3, generator=_gen(21)))
    one[0, 2] = 0.0
    return {"one image": (one,), "all dead": (torch.zeros(4, 3, 2, 2),)}


def _knn_hidden() -> dict[str, tuple]:
    f = torch.randn(12, 4, generator=_gen(22))
    f[5] = 3 * f[2]                                          # a tie in cosine distance: the lower index first
    return {"k = N - 1": (f, 0, 11), "a tie": (f, 7, 4)}


def _pca_hidden() -> dict[str, tuple]:
    wide = torch.randn(6, 9, generator=_gen(23)) * torch.arange(1.0, 10.0)
    return {"fewer rows than columns": (wide, 3), "k = 1": (torch.randn(30, 4, generator=_gen(24)) + 7, 1)}


def _field_hidden() -> dict[str, tuple]:
    return {"one layer": ([(7, 2, 3)],), "large padding": ([(3, 1, 5), (3, 2, 5), (5, 3, 0)],)}


def _unpool_hidden() -> dict[str, tuple]:
    v, s = F.max_pool2d(torch.randn(1, 1, 4, 4, generator=_gen(25)), 4, return_indices=True)
    w, t = F.max_pool2d(torch.randn(1, 2, 7, 5, generator=_gen(26)), 3, 2, return_indices=True)
    return {"one pool over all": (v[0], s[0], (4, 4)), "7x5, overlapping": (w[0], t[0], (7, 5))}


def _occlusion_hidden() -> dict[str, tuple]:
    model = tiny_model(3, 3, seed=4)
    x = torch.rand(1, 3, 10, 14, generator=_gen(27))
    return {"non-square, stride = window": (model, x, 0, 5, 5, 0.2), "one position": (model, x[:, :, :, :10], 2, 10,
                                                                                      1, 1.0)}


def _saliency_hidden() -> dict[str, tuple]:
    model = tiny_model(1, 4, seed=5)
    return {"grey, 9 x 13, class 0": (model, torch.rand(1, 1, 9, 13, generator=_gen(28)), 0)}


def _gram_hidden() -> dict[str, tuple]:
    return {"1 x 1 maps": (torch.randn(3, 5, 1, 1, generator=_gen(29)),),
            "one channel": (torch.randn(2, 1, 4, 4, generator=_gen(30)),)}


def _fgsm_hidden() -> dict[str, tuple]:
    model = tiny_model(1, 4, seed=6)
    x = torch.rand(2, 1, 8, 8, generator=_gen(31))
    return {"eps 0": (model, x, torch.tensor([1, 3]), 0.0), "eps 1": (model, x, torch.tensor([0, 2]), 1.0)}


for _exercise, _hidden in ((DEAD_FILTERS, _dead_hidden), (KNN, _knn_hidden), (PCA, _pca_hidden),
                           (RECEPTIVE_FIELD, _field_hidden), (UNPOOL, _unpool_hidden), (OCCLUSION, _occlusion_hidden),
                           (SALIENCY, _saliency_hidden), (GRAM, _gram_hidden), (FGSM, _fgsm_hidden)):
    _exercise.hidden = _hidden


IMPLEMENTS = {e.name: e for e in (DEAD_FILTERS, KNN, PCA, RECEPTIVE_FIELD, UNPOOL, OCCLUSION, SALIENCY, GRAM, FGSM)}
