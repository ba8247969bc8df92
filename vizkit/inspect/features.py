"""Feature space: one vector per image from a layer, nearest neighbours, and 2-D embeddings."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import _check
from .._types import Callback, Features, ImageLike, Images, PathLike
from ..distributed import finish, share
from ..hooks import layout, preserved, record, resolve
from ._inputs import input_batches

if TYPE_CHECKING:
    from ..nets import Net

METRICS = ("cosine", "euclidean")
"""The distances `nearest`, `nearest_to` and `NeighbourIndex` take."""


def one_layer(layer, name: str = "layer") -> str:
    """layer if it names one layer (a str); a TypeError naming what came instead."""
    if not isinstance(layer, str):
        hint = " (one layer per call: loop over the list)" if isinstance(layer, (list, tuple)) else ""
        raise TypeError(f"{name} must be one layer name (str: an alias such as 'conv1' or a dotted path such as "
                        f"'features.0'); got {layer!r} ({type(layer).__name__}){hint}")
    return layer


def flag(value, name: str) -> bool:
    """value as a bool; anything but True / False (1, 'yes', None) is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")
    return bool(value)


def _count(images: Images) -> int:
    """How many images a tensor, Dataset or DataLoader holds."""
    if isinstance(images, torch.Tensor) and images.dim() != 4:
        raise ValueError(f"images given as a tensor must be a (N, C, H, W) model input; got shape "
                         f"{tuple(images.shape)} (for one image use x[None])")
    size = _check.length(images.dataset if isinstance(images, torch.utils.data.DataLoader) else images)
    if size is None:
        raise TypeError(f"images must be a (N, C, H, W) tensor, a Dataset with a length or a DataLoader over one; "
                        f"got {type(images).__name__}")
    return size


def _model_digest(net: Net) -> str:
    h = hashlib.sha1(net.name.encode())
    for k, v in net.model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _data_digest(images: Images) -> str:
    if isinstance(images, torch.Tensor):
        return hashlib.sha1(images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]
    if hasattr(images, "tensors"):
        x, y = images.tensors(None)
        h = hashlib.sha1(x.numpy().tobytes())
        h.update(y.numpy().tobytes())
        return h.hexdigest()[:16]
    raise ValueError("cache=True needs a tensor or an in-memory dataset (one with .tensors()); "
                     "for other datasets pass cache='a-name-for-this-dataset'")


def layer_outputs(net: Net, images: Images, layer: str, batch_size: int = 256, progress: bool = True, desc: str = "",
                  callback: Callback | None = None):
    """Yield one layer's output for each batch of images, stopping each forward pass at the layer.

    Forward passes run under no_grad; the caller's grad mode is untouched between batches, and
    the model is left as found (also if the caller stops early). callback(images done, total) after each batch.
    """
    one_layer(layer)
    passes = layers_outputs(net, images, [layer], batch_size, progress, desc, callback)
    try:
        for outputs in passes:
            yield outputs[layer]
    finally:
        passes.close()  # a caller that stops early leaves the model as found at once, not when collected


def layers_outputs(net: Net, images: Images, layers: list[str], batch_size: int = 256, progress: bool = True,
                   desc: str = "", callback: Callback | None = None):
    """Yield {layer: output} for each batch of images: several layers from one forward pass, which stops after the
    last of them to run (as layer_outputs does for one)."""
    for layer in layers:
        resolve(net, one_layer(layer))
    batch_size = _check.integer(batch_size, "batch_size", 1)
    with preserved(net), record(net, layers, stop=True) as out:
        net.model.eval()
        bar = tqdm(total=_count(images), desc=desc or ", ".join(layers), unit="img", disable=not progress,
                   mininterval=0.5)
        seen = 0
        try:
            for x in input_batches(net, images, batch_size):
                with torch.no_grad():
                    out.forward(x)
                # a NaN would rank or average silently wrong downstream: say where it came from
                for layer in layers:
                    _check.finite(out[layer], f"layer {layer!r}'s output for images {seen}..{seen + len(x) - 1} "
                                              f"(are the model's weights finite?)")
                seen += len(x)
                bar.update(len(x))
                if callback is not None:
                    callback(seen, bar.total)
                yield {layer: out[layer] for layer in layers}
        finally:
            bar.close()


def features(net: Net, images: Images, layer: str, batch_size: int = 256, pool: str | None = None,
             cache: bool | str = False, progress: bool = True) -> np.ndarray:
    """(N, D) float32 features of every image at one layer, streamed in batches under no_grad.

    images: a (N, C, H, W) model input, a Dataset of ([0, 1] image, label) or a DataLoader.
    pool: None flattens conv maps (C * h * w values), "avg" or "max" pools them globally (C), and a
    transformer's tokens likewise. Channels-last layers come channels first (hooks.record).
    The forward pass stops at the layer. cache=True (or a name for the dataset) keeps the
    result in vizkit's cache folder, keyed by model weights, layer, pooling and data.
    Under torch.distributed each process scans its shard and all get every row (vizkit.distributed).
    """
    pool = _check.choice(pool, "pool", (None, "avg", "max"))
    batch_size = _check.integer(batch_size, "batch_size", 1)
    progress = flag(progress, "progress")
    if not isinstance(cache, (bool, np.bool_, str)) or cache == "":
        raise TypeError(f"cache must be True, False or a non-empty name for the dataset (str); got {cache!r}")
    resolve(net, one_layer(layer))
    n = _count(images)
    if n == 0:
        raise ValueError("features got no images (an empty dataset or tensor)")
    path = None
    if cache:
        from ..data import _cache_dir

        data_key = cache if isinstance(cache, str) else _data_digest(images)
        lay = layout(net, layer)
        moved = f"-{lay.axes}" if lay is not None and lay.moved else ""  # files before channels-last moved first
        key = f"{net.name}-{_model_digest(net)}-{layer}{moved}-{pool}-{data_key}-{n}"
        path = _cache_dir() / "features" / (hashlib.sha1(key.encode()).hexdigest()[:24] + ".npy")
    # under torch.distributed, this process's shard (the ranks must agree on all of it, a cached file included)
    part = share(images, n, batch_size, "features", model=net, layer=layer, pool=pool,
                 cached=path is not None and path.exists())
    if path is not None and path.exists():
        return _cached(path, n)

    def scan() -> np.ndarray:
        m = len(part.span)
        out: np.ndarray | None = None
        start = 0
        for a in layer_outputs(net, part.images, layer, batch_size, progress and part.rank == 0,
                               desc=f"features {layer}" + (f" (rank 0 of {part.size})" if part.shared else "")):
            if pool is not None and a.dim() >= 3:  # maps, or a transformer's (N, C, tokens)
                a = a.flatten(2).mean(2) if pool == "avg" else a.flatten(2).amax(2)
            a = a.reshape(len(a), -1).float().cpu().numpy()
            if out is None:
                out = np.empty((m, a.shape[1]), dtype=np.float32)
            if a.shape[1] != out.shape[1]:
                raise ValueError(f"layer {layer!r} gives {a.shape[1]} values per image for images from "
                                 f"{part.span.start + start} on but {out.shape[1]} before: the images differ in size; "
                                 f"resize them to one size, or pass pool='avg' for one value per channel")
            if start + len(a) > m:
                raise ValueError(f"the data yielded more than the {n} images it says it holds")
            out[start:start + len(a)] = a
            start += len(a)
        if start != m:
            raise ValueError(f"expected {n} images but the data yielded {part.span.start + start} (a DataLoader with "
                             f"drop_last=True skips the last ones: pass drop_last=False)")
        assert out is not None  # m >= 1 images were written into it
        return out

    parts = [p for p in finish(part, scan) if p is not None]
    if len({p.shape[1] for p in parts}) > 1:
        raise ValueError(f"layer {layer!r} gives {sorted({p.shape[1] for p in parts})} values per image on different "
                         f"shards: the images differ in size; resize them to one size, or pass pool='avg'")
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    if path is not None and part.rank == 0:  # one writer
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, out)
        tmp.replace(path)
    return out


def _cached(path: PathLike, n: int) -> np.ndarray:
    """A cached (n, D) feature file, or a ValueError naming the file to delete."""
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"the cached features {path} cannot be read ({e}); delete the file to recompute them") from e
    if f.ndim != 2 or len(f) != n or f.dtype != np.float32 or not np.isfinite(f).all():
        raise ValueError(f"the cached features {path} hold a {f.dtype} array of shape {f.shape}, not finite "
                         f"float32 ({n}, D); delete the file to recompute them")
    return f


def as_numbers(x: ImageLike, name: str) -> np.ndarray:
    """An array-like or tensor -> numpy array of real numbers (bool, int or float); TypeError otherwise."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged lists, tensors numpy cannot take
        raise TypeError(f"{name} must be an array of numbers; got {type(x).__name__} that numpy cannot read as "
                        f"one ({e})") from e
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got an array of dtype {a.dtype}")
    return a


def _check_features(feats: Features, name: str = "features") -> np.ndarray:
    """(N, D) C-contiguous float32 features with N >= 2, D >= 1, every value finite (also after the cast to float32)."""
    f = as_numbers(feats, name)
    if f.ndim != 2:
        raise ValueError(f"{name} must be an (N, D) array; got shape {f.shape}")
    if len(f) < 2:
        raise ValueError(f"{name}: need at least 2 samples; got {len(f)}")
    if f.shape[1] < 1:
        raise ValueError(f"{name} have no dimensions: shape {f.shape}")
    with np.errstate(over="ignore"):  # values beyond float32's range become inf: reported just below
        f32 = f.astype(np.float32, copy=False)
    if not np.isfinite(f32).all():
        bad = int((~np.isfinite(f32)).any(1).sum())
        big = " (some are too large for float32)" if np.isfinite(f).all() else ""
        raise ValueError(f"{name} contain NaN or infinite values (in {bad} of {len(f)} rows){big}")
    return np.ascontiguousarray(f32)  # torch.from_numpy refuses negative strides (e.g. a reversed view)


def _check_metric(metric) -> str:
    return _check.choice(metric, "metric", METRICS)


def _distances(f: torch.Tensor, q: torch.Tensor, metric: str) -> torch.Tensor:
    """(Q, N) distances between query rows and all rows, in float64 for exact ranking."""
    if _check_metric(metric) == "euclidean":
        return torch.cdist(q.double(), f.double())
    fn = f.double() / f.double().norm(dim=1, keepdim=True).clamp_min(1e-300)
    qn = q.double() / q.double().norm(dim=1, keepdim=True).clamp_min(1e-300)
    return 1.0 - qn @ fn.T


def nearest(feats: Features, query_index: int, k: int, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> (k,) indices and (k,) distances of the rows nearest to row query_index, nearest first,
    the query itself excluded.

    metric: "cosine" (1 - cosine similarity) or "euclidean". Exact; ties go to the lower index.
    """
    return NeighbourIndex(feats, metric).nearest(query_index, k)


def nearest_to(feats: Features, query: Features, k: int, metric: str = "cosine",
               exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of feats nearest to a (D,) query vector -> (indices, distances), nearest first."""
    return NeighbourIndex(feats, metric).nearest_to(query, k, exclude)


class NeighbourIndex:
    """(N, D) features checked and prepared once, for many exact nearest-neighbour queries.

    Each query ranks all rows in float32 (one matrix-vector product), then re-ranks in float64 only the
    candidates within float32's worst-case rounding error of the k-th: the answer is the same as ranking
    every row in float64 (as knn_agreement does), at a fraction of the cost for large N x D.
    """

    def __init__(self, feats: Features, metric: str = "cosine"):
        self.metric = _check_metric(metric)
        self.feats = _check_features(feats)
        f = torch.from_numpy(self.feats)
        if self.metric == "cosine":
            self._rows = f / f.norm(dim=1, keepdim=True).clamp_min(1e-30)
        else:
            self._rows, self._sq = f, f.pow(2).sum(1)
        # |float32 - float64| of a length-D dot product of unit vectors is at most about D * 2^-24
        self._unit_error = 2.0 * (f.shape[1] + 8) * 2.0 ** -24

    def nearest(self, query_index: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k rows nearest to row query_index, itself excluded -> (indices, distances), nearest first."""
        n = len(self.feats)
        query_index = _check.integer(query_index, "query_index", 0, n - 1)
        k = _check.integer(k, "k", 1, n - 1)
        return self._search(self.feats[query_index][None], k, query_index)

    def nearest_to(self, query: Features, k: int, exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k rows nearest to a (D,) query vector -> (indices, distances), nearest first."""
        f = self.feats
        q = as_numbers(query, "query")
        if q.ndim == 0 or q.size != f.shape[1] or (q.ndim > 1 and q.shape[:-1] != (1,) * (q.ndim - 1)):
            raise ValueError(f"query must be a vector of {f.shape[1]} values (one per feature); got shape {q.shape}")
        q = q.astype(np.float32).reshape(1, -1)
        if not np.isfinite(q).all():
            raise ValueError("query contains NaN or infinite values")
        if exclude is not None:
            exclude = _check.integer(exclude, "exclude", 0, len(f) - 1)
        k = _check.integer(k, "k", 1, len(f) - (exclude is not None))
        return self._search(q, k, exclude)

    def _search(self, q: np.ndarray, k: int, exclude: int | None) -> tuple[np.ndarray, np.ndarray]:
        qt = torch.from_numpy(q)
        if self.metric == "cosine":   # rough distances, and how far they may be from the float64 ones
            rough = 1.0 - self._rows @ (qt[0] / qt[0].norm().clamp_min(1e-30))
            error = self._unit_error
        else:
            q_sq = qt.pow(2).sum()
            rough = self._sq + q_sq - 2.0 * (self._rows @ qt[0])
            error = self._unit_error * float(self._sq.max() + q_sq)
        if exclude is not None:
            rough[exclude] = float("inf")
        kth = rough.kthvalue(k).values
        candidates = torch.nonzero(rough <= kth + 2 * error).flatten()
        d = _distances(torch.from_numpy(self.feats)[candidates], qt, self.metric)[0].numpy()
        order = np.lexsort((candidates.numpy(), d))[:k]  # by distance, then index
        return candidates.numpy()[order].astype(np.int64), d[order]


def knn_agreement(feats: Features, labels: Features, k: int = 10, metric: str = "cosine", chunk: int = 1024) -> float:
    """Mean share of each sample's k nearest neighbours (itself excluded) that have its label.

    feats: (N, D); labels: (N,).

    Neighbours are those nearest() gives: ties in distance go to the lower index.
    """
    _check_metric(metric)
    f = _check_features(feats)
    n = len(f)
    y = _labels(labels, n)
    k = _check.integer(k, "k", 1, n - 1)
    chunk = _check.integer(chunk, "chunk", 1)
    ft = torch.from_numpy(f)
    agree = 0
    for start in range(0, n, chunk):
        d = _distances(ft, ft[start:start + chunk], metric)
        rows = torch.arange(len(d))
        d[rows, rows + start] = float("inf")
        idx = _k_smallest(d, k).numpy()
        agree += int((y[idx] == y[start:start + chunk, None]).sum())
    return agree / (n * k)


def _labels(labels, n: int) -> np.ndarray:
    """(n,) labels (ints, strings, ...) as a numpy array; wrong length, shape or NaN -> ValueError."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu()
    try:
        y = np.asarray(labels)
    except (ValueError, TypeError) as e:  # ragged lists
        raise TypeError(f"labels must be a (N,) vector of labels; numpy cannot read {type(labels).__name__} as "
                        f"one ({e})") from e
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"labels must be a (N,) vector with one label per feature row (N = {n}); got shape "
                         f"{y.shape} (for one-hot labels pass labels.argmax(1))")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("labels contain NaN or infinite values")
    return y


def _k_smallest(d: torch.Tensor, k: int) -> torch.Tensor:
    """(Q, k) column indices of each row's k smallest values, ties to the lower index (as nearest() breaks them)."""
    vals, idx = d.topk(k, dim=1, largest=False)
    tied = (d <= vals[:, -1:]).sum(1) > k  # topk picks among tied values in no set order
    if tied.any():
        rows = tied.nonzero()[:, 0]
        idx[rows] = torch.sort(d[rows], dim=1, stable=True).indices[:, :k]
    return idx
