"""Feature space: one vector per image from a layer, nearest neighbours, and 2-D embeddings."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import torch
from tqdm.auto import tqdm

from ..hooks import preserved, record, resolve
from ._inputs import input_batches


def _count(images) -> int:
    if isinstance(images, torch.utils.data.DataLoader):
        return len(images.dataset)
    return len(images)


def _model_digest(net) -> str:
    h = hashlib.sha1(net.name.encode())
    for k, v in net.model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _data_digest(images) -> str:
    if isinstance(images, torch.Tensor):
        return hashlib.sha1(images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]
    if hasattr(images, "tensors"):
        x, y = images.tensors(None)
        h = hashlib.sha1(x.numpy().tobytes())
        h.update(y.numpy().tobytes())
        return h.hexdigest()[:16]
    raise ValueError("cache=True needs a tensor or an in-memory dataset (one with .tensors()); "
                     "for other datasets pass cache='a-name-for-this-dataset'")


def layer_outputs(net, images, layer: str, batch_size: int = 256, progress: bool = True, desc: str = ""):
    """Yield one layer's output for each batch of images, stopping each forward pass at the layer.

    Forward passes run under no_grad; the caller's grad mode is untouched between batches, and
    the model is left as found (also if the caller stops early).
    """
    resolve(net, layer)
    with preserved(net), record(net, [layer], stop=True) as out:
        net.model.eval()
        bar = tqdm(total=_count(images), desc=desc or layer, unit="img", disable=not progress, mininterval=0.5)
        try:
            for x in input_batches(net, images, batch_size):
                with torch.no_grad():
                    out.forward(x)
                bar.update(len(x))
                yield out[layer]
        finally:
            bar.close()


def features(net, images, layer: str, batch_size: int = 256, pool: str | None = None,
             cache: bool | str = False, progress: bool = True) -> np.ndarray:
    """(N, D) float32 features of every image at one layer, streamed in batches under no_grad.

    images: a (N, C, H, W) model input, a Dataset of ([0, 1] image, label) or a DataLoader.
    pool: None flattens conv maps (C * h * w values), "avg" or "max" pools them globally (C).
    The forward pass stops at the layer. cache=True (or a name for the dataset) keeps the
    result in vizkit's cache folder, keyed by model weights, layer, pooling and data.
    """
    if pool not in (None, "avg", "max"):
        raise ValueError(f"pool must be None, 'avg' or 'max'; got {pool!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    resolve(net, layer)
    n = _count(images)
    if n == 0:
        raise ValueError("features got no images")
    path = None
    if cache:
        from ..data import _cache_dir

        data_key = cache if isinstance(cache, str) else _data_digest(images)
        key = f"{net.name}-{_model_digest(net)}-{layer}-{pool}-{data_key}-{n}"
        path = _cache_dir() / "features" / (hashlib.sha1(key.encode()).hexdigest()[:24] + ".npy")
        if path.exists():
            return np.load(path)
    out: np.ndarray | None = None
    start = 0
    for a in layer_outputs(net, images, layer, batch_size, progress, desc=f"features {layer}"):
        if pool is not None and a.dim() == 4:
            a = a.mean((2, 3)) if pool == "avg" else a.amax((2, 3))
        a = a.reshape(len(a), -1).float().cpu().numpy()
        if out is None:
            out = np.empty((n, a.shape[1]), dtype=np.float32)
        out[start:start + len(a)] = a
        start += len(a)
    if start != n:
        raise ValueError(f"expected {n} images but the data yielded {start}")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, out)
        tmp.replace(path)
    return out


def _check_features(feats) -> np.ndarray:
    f = np.asarray(feats)
    if f.ndim != 2:
        raise ValueError(f"features must be an (N, D) array; got shape {f.shape}")
    if len(f) < 2:
        raise ValueError(f"need at least 2 samples; got {len(f)}")
    if not np.isfinite(f).all():
        bad = int((~np.isfinite(f)).any(1).sum())
        raise ValueError(f"features contain NaN or infinite values (in {bad} of {len(f)} rows)")
    return f.astype(np.float32, copy=False)


def _distances(f: torch.Tensor, q: torch.Tensor, metric: str) -> torch.Tensor:
    """(Q, N) distances between query rows and all rows, in float64 for exact ranking."""
    if metric == "euclidean":
        return torch.cdist(q.double(), f.double())
    fn = f.double() / f.double().norm(dim=1, keepdim=True).clamp_min(1e-300)
    qn = q.double() / q.double().norm(dim=1, keepdim=True).clamp_min(1e-300)
    return 1.0 - qn @ fn.T


def nearest(feats, query_index: int, k: int, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """The k rows nearest to row query_index, nearest first, the query itself excluded -> (indices, distances).

    metric: "cosine" (1 - cosine similarity) or "euclidean". Exact; ties go to the lower index.
    """
    f = _check_features(feats)
    n = len(f)
    if not isinstance(query_index, (int, np.integer)) or isinstance(query_index, bool) or not 0 <= query_index < n:
        raise ValueError(f"query_index must be an integer in [0, {n - 1}]; got {query_index!r}")
    if not isinstance(k, (int, np.integer)) or not 1 <= k < n:
        raise ValueError(f"k must be an integer in [1, {n - 1}] (N - 1 other samples); got {k!r}")
    return nearest_to(f, f[query_index], k, metric, exclude=int(query_index))


def nearest_to(feats, query, k: int, metric: str = "cosine", exclude: int | None = None):
    """The k rows of feats nearest to a (D,) query vector -> (indices, distances), nearest first."""
    f = _check_features(feats)
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean'; got {metric!r}")
    q = np.asarray(query, dtype=np.float32).reshape(1, -1)
    if q.shape[1] != f.shape[1] or not np.isfinite(q).all():
        raise ValueError(f"the query must be a finite vector of {f.shape[1]} values; got shape {q.shape[1:]}")
    n = len(f) - (exclude is not None)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}]; got {k}")
    ft = torch.from_numpy(f)
    d = _distances(ft, torch.from_numpy(q), metric)[0].numpy()
    if exclude is not None:
        d[exclude] = np.inf
    order = np.lexsort((np.arange(len(d)), d))[:k]  # by distance, then index
    return order.astype(np.int64), d[order]


def knn_agreement(feats, labels, k: int = 10, metric: str = "cosine", chunk: int = 1024) -> float:
    """Mean share of each sample's k nearest neighbours (itself excluded) that have its label."""
    f = _check_features(feats)
    y = torch.as_tensor(np.asarray(labels))
    n = len(f)
    if len(y) != n:
        raise ValueError(f"{len(y)} labels for {n} feature rows")
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, {n - 1}]; got {k}")
    ft = torch.from_numpy(f)
    agree = 0.0
    for start in range(0, n, chunk):
        d = _distances(ft, ft[start:start + chunk], metric)
        rows = torch.arange(len(d))
        d[rows, rows + start] = float("inf")
        idx = d.topk(k, dim=1, largest=False).indices
        agree += (y[idx] == y[start:start + chunk, None]).double().sum().item()
    return agree / (n * k)
