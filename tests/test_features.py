"""features, nearest, knn_agreement and embed against independent references."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

import vizkit as vk


@pytest.fixture(scope="module")
def small(fashion_test):
    return fashion_test.subset(600)


def test_features_equal_the_layer_output(fashion, small):
    f = vk.features(fashion, small, "relu5", batch_size=128, progress=False)
    x, _ = small.tensors(None)
    with torch.no_grad():
        h = fashion.model.features(fashion.normalize(x))
        ref = fashion.model.classifier[:7](h)  # flatten, dropout, fc4, relu4, dropout, fc5, relu5
    assert fashion.layers["relu5"] == "classifier.6"
    assert f.dtype == np.float32 and f.shape == (600, 128)
    np.testing.assert_allclose(f, ref.numpy(), rtol=1e-5, atol=1e-5)
    conv = vk.features(fashion, small, "conv3", progress=False)
    assert conv.shape == (600, 128 * 7 * 7)
    pooled = vk.features(fashion, small, "conv3", pool="avg", progress=False)
    np.testing.assert_allclose(pooled, conv.reshape(600, 128, 49).mean(2), rtol=1e-5, atol=1e-6)


def test_features_cache(fashion, small, tmp_path, monkeypatch):
    monkeypatch.setenv("VIZKIT_CACHE", str(tmp_path))
    a = vk.features(fashion, small, "fc5", cache=True, progress=False)
    files = list((tmp_path / "features").glob("*.npy"))
    assert len(files) == 1
    np.save(files[0], a + 1)  # a cached result is read back, not recomputed
    assert np.array_equal(vk.features(fashion, small, "fc5", cache=True, progress=False), a + 1)
    assert np.array_equal(vk.features(fashion, small, "fc4", cache=True, progress=False).shape, (600, 256))
    with pytest.raises(ValueError, match="cache="):
        vk.features(fashion, torch.utils.data.Subset(small, range(10)), "fc5", cache=True, progress=False)


def test_nearest_is_brute_force():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(300, 16)).astype(np.float32)
    for metric in ("euclidean", "cosine"):
        idx, dist = vk.nearest(f, 17, k=8, metric=metric)
        nn = NearestNeighbors(n_neighbors=9, metric=metric, algorithm="brute").fit(f)
        d_ref, i_ref = nn.kneighbors(f[17:18])
        assert 17 not in idx
        assert list(idx) == [i for i in i_ref[0] if i != 17][:8]
        np.testing.assert_allclose(dist, [d for d, i in zip(d_ref[0], i_ref[0]) if i != 17][:8], atol=1e-5)
        assert np.all(np.diff(dist) >= 0)


def test_nearest_excludes_the_query_even_with_duplicates():
    f = np.ones((5, 3), np.float32)
    idx, dist = vk.nearest(f, 2, k=4)
    assert list(idx) == [0, 1, 3, 4] and np.allclose(dist, 0)


@pytest.mark.parametrize("call, words", [
    (lambda f: vk.nearest(f, 0, k=10), "k must"),
    (lambda f: vk.nearest(f, 10, k=2), "query_index"),
    (lambda f: vk.nearest(f, -1, k=2), "query_index"),
    (lambda f: vk.nearest(np.where(np.eye(10, 4) > 0, np.nan, f), 0, k=2), "NaN"),
    (lambda f: vk.nearest(f[:1], 0, k=1), "at least 2"),
    (lambda f: vk.nearest(f, 0, k=2, metric="manhattan"), "metric"),
    (lambda f: vk.embed(f, "tsne", perplexity=30), "perplexity"),
    (lambda f: vk.embed(f, "umap", n_neighbors=50), "n_neighbors"),
    (lambda f: vk.embed(f, "isomap"), "method"),
    (lambda f: vk.embed(np.full_like(f, np.inf), "pca"), "NaN or infinite"),
])
def test_bad_input(call, words):
    f = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    with pytest.raises(ValueError, match=words):
        call(f)


def test_layer_without_tensor_output(fashion, small):
    class Pair(torch.nn.Module):
        def forward(self, x):
            return x, x

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), Pair())
    net = vk.wrap(model, input_size=28)
    with pytest.raises(ValueError, match="not a tensor"):
        vk.features(net, small, "1", progress=False)


def test_knn_agreement_against_sklearn():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(400, 8)).astype(np.float32)
    y = rng.integers(0, 3, 400)
    f[:, 0] += 3 * y
    nn = NearestNeighbors(n_neighbors=11, metric="euclidean").fit(f)
    _, idx = nn.kneighbors(f)
    ref = np.mean([(y[[j for j in row if j != i][:10]] == y[i]).mean() for i, row in enumerate(idx)])
    assert vk.knn_agreement(f, y, k=10, metric="euclidean", chunk=64) == pytest.approx(ref)
    # a view with negative strides (what reversing columns, or some scikit-learn outputs, give) is read the same
    assert vk.knn_agreement(f[:, ::-1], y, k=10, metric="euclidean") == pytest.approx(ref)
    assert vk.nearest(f[::-1], 0, k=3)[0].tolist() == vk.nearest(f[::-1].copy(), 0, k=3)[0].tolist()


def test_embeddings():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(200, 10)).astype(np.float32)
    f[:100, :3] += 4
    pca = vk.embed(f, "pca")
    ref = PCA(2, svd_solver="full").fit_transform(f)
    np.testing.assert_allclose(np.abs(pca), np.abs(ref), rtol=1e-4, atol=1e-4)  # up to each axis' sign
    ratios = vk.explained_variance(f, 5)
    assert len(ratios) == 5 and np.all(np.diff(ratios) <= 0)
    for method, opts in (("tsne", dict(perplexity=20)), ("umap", dict(n_neighbors=10))):
        a, b = vk.embed(f, method, seed=4, **opts), vk.embed(f, method, seed=4, **opts)
        assert a.shape == (200, 2) and np.array_equal(a, b)   # seeded and deterministic
        # the two planted clusters stay apart
        assert np.linalg.norm(a[:100].mean(0) - a[100:].mean(0)) > a.std(0).mean()


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_neighbour_index_equals_a_float64_ranking_of_every_row(metric):
    """The float32 pass plus float64 re-ranking gives exactly the all-float64 answer, ties included."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(40, 300)).astype(np.float32)
    feats = np.concatenate([base, base[:10], base[:10] * 2, rng.normal(size=(400, 300)).astype(np.float32)])
    index = vk.NeighbourIndex(feats, metric)
    f64 = torch.from_numpy(feats).double()
    for q in range(0, len(feats), 37):
        if metric == "cosine":
            fn = f64 / f64.norm(dim=1, keepdim=True)
            d = (1 - fn @ fn[q]).numpy()
        else:
            d = (f64 - f64[q]).norm(dim=1).numpy()
        d[q] = np.inf
        expected = np.lexsort((np.arange(len(d)), d))[:25]
        got, dist = index.nearest(q, 25)
        assert got.tolist() == expected.tolist()
        np.testing.assert_allclose(dist, d[expected], rtol=1e-12, atol=1e-12)
        assert vk.nearest(feats, q, 25, metric)[0].tolist() == expected.tolist()
