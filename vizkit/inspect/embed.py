"""Dimensionality reduction of feature vectors to 2-D: PCA, t-SNE, UMAP."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
import warnings

import numpy as np
import torch

from .. import _check
from .._types import Features
from .features import _check_features

METHODS = ("pca", "tsne", "umap")
"""The methods `embed` takes."""
# Options embed sets itself, and the argument of embed that sets each.
_OWN = {"n_components": "n_components=", "random_state": "seed="}


def _varied(f: np.ndarray, what: str = "features") -> np.ndarray:
    """f if its rows are not all equal: with zero variance there is no structure to show (PCA divides by it)."""
    if not np.ptp(f, axis=0).any():
        raise ValueError(f"{what} are constant: all {len(f)} rows are equal (zero variance), so no map or score "
                         f"means anything; pick another layer, or check that the images differ")
    return f


def _finite_result(r: np.ndarray, what: str) -> np.ndarray:
    if not np.isfinite(r).all():
        bad = int((~np.isfinite(r)).reshape(len(r), -1).any(1).sum())
        raise ValueError(f"{what} came out with NaN or infinite values in {bad} of {len(r)} rows; the features may "
                         f"be nearly constant or hold many duplicate rows: try other settings or another layer")
    return r


def explained_variance(feats: Features, n_components: int = 50) -> np.ndarray:
    """PCA's explained-variance ratio of the first n_components principal components (at most min(N, D)),
    largest first."""
    from sklearn.decomposition import PCA

    n = _check.integer(n_components, "n_components", 1)
    f = _varied(_check_features(feats))
    n = min(n, *f.shape)
    return _finite_result(PCA(n_components=n, svd_solver="full").fit(f).explained_variance_ratio_,
                          "the explained-variance ratio")


def trustworthiness(feats: Features, points: np.ndarray, n_neighbors: int = 5) -> float:
    """scikit-learn's trustworthiness of (N, 2) points embedding (N, D) feats: 1 when their neighbours were neighbours
    before."""
    from sklearn.manifold import trustworthiness as score

    f = _varied(_check_features(feats))
    p = _check_features(points, "points")
    if len(p) != len(f):
        raise ValueError(f"points must have one row per feature row: {len(p)} points for {len(f)} feature rows")
    if len(f) < 3:
        raise ValueError(f"trustworthiness needs at least 3 samples; got {len(f)}")
    n_neighbors = _check.integer(n_neighbors, "n_neighbors (below N / 2)", 1, (len(f) - 1) // 2)
    return float(score(f, p, n_neighbors=n_neighbors))


def embed(feats: Features, method: str = "pca", seed: int = 0, n_components: int = 2, **options) -> np.ndarray:
    """(N, D) features -> (N, n_components) float32 array (2-D by default), seeded and deterministic.

    method "pca": the first principal components. "tsne": openTSNE's FFT-accelerated t-SNE
    (options: perplexity=30, n_iter=500, ...). "umap": umap-learn (n_neighbors=15, min_dist=0.1).
    Torch's and numba's thread counts and the environment are as before afterwards.
    """
    method = _check.choice(method, "method", METHODS)
    seed = _check.integer(seed, "seed", 0, 2**32 - 1)
    f = _varied(_check_features(feats))
    n, d = f.shape
    k = _check.integer(n_components, "n_components", 1)
    if k > (min(n, d) if method == "pca" else d):
        limit = f"the feature dimension D = {d}" + (f" and the sample count N = {n}" if method == "pca" else "")
        raise ValueError(f"n_components must be at most {limit}; got {k}")
    with _global_state_kept(numba=method == "umap"):
        out = {"pca": _pca, "tsne": _tsne, "umap": _umap}[method](f, k, seed, dict(options))
    return _finite_result(np.asarray(out, dtype=np.float32), f"the {method} embedding")


def _pca(f: np.ndarray, k: int, seed: int, options: dict) -> np.ndarray:
    from sklearn.decomposition import PCA

    options = {"svd_solver": "full", **_known(PCA, options, "pca")}
    return PCA(n_components=k, random_state=seed, **options).fit_transform(f)


def _tsne(f: np.ndarray, k: int, seed: int, options: dict) -> np.ndarray:
    from openTSNE import TSNE

    n = len(f)
    options = _known(TSNE, options, "tsne")
    perplexity = _check.number(options.pop("perplexity", 30.0), "perplexity", 0, open_low=True)
    if perplexity >= (n - 1) / 3:
        raise ValueError(f"perplexity must be in (0, (N - 1) / 3 = {(n - 1) / 3:.1f}) for N = {n} "
                         f"samples; got {perplexity:g} (pass a smaller perplexity or more samples)")
    if "n_iter" in options:
        options["n_iter"] = _check.integer(options["n_iter"], "n_iter", 1)
    options["n_jobs"] = _n_jobs(options.get("n_jobs", 2))  # a fixed thread count keeps runs identical (checked)
    options.setdefault("verbose", False)
    tsne = TSNE(n_components=k, perplexity=perplexity, random_state=seed, **options)
    return np.asarray(tsne.fit(f))


def _umap(f: np.ndarray, k: int, seed: int, options: dict) -> np.ndarray:
    import umap
    import umap.distances

    n = len(f)
    options = _known(umap.UMAP, options, "umap")
    if n < k + 2:  # its spectral start needs k + 1 eigenvectors of an N x N graph
        raise ValueError(f"UMAP to {k}-D needs at least n_components + 2 = {k + 2} samples; got {n}")
    n_neighbors = _check.integer(options.pop("n_neighbors", 15), "n_neighbors")
    if not 2 <= n_neighbors < n:
        raise ValueError(f"n_neighbors must be in [2, {n - 1}] for N = {n} samples; got {n_neighbors}")
    spread = _check.number(options.get("spread", 1.0), "spread", 0, open_low=True)
    options["min_dist"] = _check.number(options.get("min_dist", 0.1), "min_dist (at most spread)", 0, spread)
    metric = options.get("metric", "euclidean")
    if isinstance(metric, str) and metric not in umap.distances.named_distances:
        raise ValueError(f"metric must be one of UMAP's: {', '.join(sorted(umap.distances.named_distances))}; "
                         f"got {metric!r}")
    if "n_jobs" in options:
        options["n_jobs"] = _n_jobs(options["n_jobs"])
    reducer = umap.UMAP(n_components=k, n_neighbors=n_neighbors, random_state=seed, **options)
    with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": wanted here
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        return reducer.fit_transform(f)


def _known(cls, options: dict, method: str) -> dict:
    """options if each names a parameter of cls that embed does not set itself; TypeError otherwise."""
    own = [o for o in options if o in _OWN]
    if own:
        raise TypeError(f"embed sets {own[0]!r} itself: pass {_OWN[own[0]]} to embed instead")
    valid = [p for p in inspect.signature(cls).parameters if p not in _OWN]
    unknown = [o for o in options if o not in valid]
    if unknown:
        raise TypeError(f"unknown {method} option {unknown[0]!r}; valid: {', '.join(valid)}")
    return options


def _n_jobs(value) -> int:
    v = _check.integer(value, "n_jobs")
    if v == 0 or v < -1:
        raise ValueError(f"n_jobs must be a positive number of threads or -1 (all cores); got {v}")
    return v


@contextlib.contextmanager
def _global_state_kept(numba: bool):
    """Restore torch's and numba's thread counts and os.environ on exit, also on error.

    UMAP sets numba's thread count, and numba's OpenMP layer shares its thread pool with torch,
    so torch.get_num_threads() would change with it.
    """
    torch_threads = torch.get_num_threads()  # first: numba's first get_num_threads() may set it
    nb = importlib.import_module("numba") if numba else sys.modules.get("numba")  # imported now to save its count
    numba_threads = nb.get_num_threads() if nb is not None else None
    env = dict(os.environ)
    try:
        yield
    finally:
        if nb is not None and numba_threads is not None and nb.get_num_threads() != numba_threads:
            nb.set_num_threads(numba_threads)
        if torch.get_num_threads() != torch_threads:  # after numba's: setting numba's may set torch's
            torch.set_num_threads(torch_threads)
        for key in set(os.environ) - set(env):
            del os.environ[key]
        os.environ.update({key: v for key, v in env.items() if os.environ.get(key) != v})
