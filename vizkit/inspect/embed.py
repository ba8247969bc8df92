"""Dimensionality reduction of feature vectors to 2-D: PCA, t-SNE, UMAP."""

from __future__ import annotations

import warnings

import numpy as np

from .features import _check_features


def explained_variance(feats, n_components: int = 50) -> np.ndarray:
    """PCA's explained-variance ratio of the first n_components principal components, largest first."""
    from sklearn.decomposition import PCA

    f = _check_features(feats)
    n = min(n_components, *f.shape)
    return PCA(n_components=n, svd_solver="full").fit(f).explained_variance_ratio_


def trustworthiness(feats, points, n_neighbors: int = 5) -> float:
    """scikit-learn's trustworthiness of a 2-D embedding: 1 when its neighbours were neighbours before."""
    from sklearn.manifold import trustworthiness as score

    f = _check_features(feats)
    if len(points) != len(f):
        raise ValueError(f"{len(points)} points for {len(f)} feature rows")
    if not 1 <= n_neighbors < len(f) / 2:
        raise ValueError(f"n_neighbors must be in [1, N / 2 = {len(f) / 2:.0f}); got {n_neighbors}")
    return float(score(f, np.asarray(points), n_neighbors=n_neighbors))


def embed(feats, method: str = "pca", seed: int = 0, **options) -> np.ndarray:
    """(N, D) features -> (N, 2) float array, seeded and deterministic.

    method "pca": the first two principal components. "tsne": openTSNE's FFT-accelerated t-SNE
    (options: perplexity=30, n_iter=500, ...). "umap": umap-learn (n_neighbors=15, min_dist=0.1).
    """
    f = _check_features(feats)
    n = len(f)
    if method == "pca":
        from sklearn.decomposition import PCA

        if f.shape[1] < 2:
            raise ValueError(f"PCA to 2-D needs at least 2 feature dimensions; got {f.shape[1]}")
        return PCA(n_components=2, svd_solver="full", **options).fit_transform(f).astype(np.float32)
    if method == "tsne":
        perplexity = options.pop("perplexity", 30.0)
        if not 0 < perplexity < (n - 1) / 3:
            raise ValueError(f"perplexity must be in (0, (N - 1) / 3 = {(n - 1) / 3:.1f}) for N = {n} "
                             f"samples; got {perplexity}")
        from openTSNE import TSNE

        options.setdefault("n_jobs", 2)  # a fixed thread count keeps runs identical (checked)
        tsne = TSNE(n_components=2, perplexity=perplexity, random_state=seed, verbose=False, **options)
        return np.asarray(tsne.fit(f), dtype=np.float32)
    if method == "umap":
        n_neighbors = options.pop("n_neighbors", 15)
        if not 2 <= n_neighbors < n:
            raise ValueError(f"n_neighbors must be in [2, {n - 1}] for N = {n} samples; got {n_neighbors}")
        import umap

        reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed, **options)
        with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": wanted here
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            return reducer.fit_transform(f).astype(np.float32)
    raise ValueError(f"method must be 'pca', 'tsne' or 'umap'; got {method!r}")
