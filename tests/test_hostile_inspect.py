"""Hostile input for the forward-pass views (activations, filters, features, KNN, embeddings, top patches).

Grouped as in the "Nothing silent" issue: (1) wrong answers without an error, (3) errors that do not say
what is wrong, (4) state leaks; then checks that the formerly silent cases now give the right answer.
"""

import functools
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, SubsetRandomSampler

import vizkit as vk

RNG = np.random.default_rng(0)
F = RNG.normal(size=(60, 8)).astype(np.float32)  # small: t-SNE and UMAP stay fast
Y = RNG.integers(0, 3, 60)
CONST = np.ones((60, 8), np.float32)
X2 = torch.zeros(2, 1, 28, 28)  # a model input of two images


@functools.cache
def net():
    return vk.load("fashion-cnn")


@pytest.fixture(scope="module")
def tiny(fashion_test):
    return fashion_test.subset(12)


@pytest.fixture(scope="module")
def shards(fashion, fashion_test):
    """conv1 top patches of images 0-9 (k=3), 10-19 (k=3), 5-14 (k=3) and 10-19 with k=2, all of fashion_test."""
    def search(a, b, k=3):
        return vk.top_patches(fashion, Subset(fashion_test, range(a, b)), "conv1", k=k, progress=False)
    return {"a": search(0, 10), "b": search(10, 20), "mid": search(5, 15), "b2": search(10, 20, k=2)}


def raises(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ----------------------------------------------------------------------------- (1) wrong answers, no error

METRIC_USERS = {
    "nearest": lambda m: vk.nearest(F, 0, 3, metric=m),
    "nearest_to": lambda m: vk.nearest_to(F, F[0], 3, metric=m),
    "knn_agreement": lambda m: vk.knn_agreement(F, Y, 3, metric=m),
    "_distances": lambda m: __import__("vizkit.inspect.features", fromlist=["_distances"])._distances(
        torch.from_numpy(F), torch.from_numpy(F[:2]), m),
}


@pytest.mark.parametrize("metric", ["manhattan", "Cosine", None, 1])
@pytest.mark.parametrize("name", list(METRIC_USERS))
def test_an_unknown_metric_is_refused_not_read_as_cosine(name, metric):
    raises(lambda: METRIC_USERS[name](metric), ValueError, r"metric must be one of 'cosine', 'euclidean'")


SILENT = [
    # features, labels, queries
    (lambda: vk.knn_agreement(F, Y[:-1]), ValueError, r"labels must be a \(N,\) vector.*N = 60.*\(59,\)"),
    (lambda: vk.knn_agreement(F, np.eye(3)[Y]), ValueError, r"labels.*argmax"),
    (lambda: vk.knn_agreement(F, np.where(Y == 0, np.nan, Y)), ValueError, r"labels contain NaN"),
    (lambda: vk.nearest(np.full((3, 2), 1e300), 0, 1), ValueError, r"too large for float32"),
    (lambda: vk.nearest_to(F[:, :4], np.zeros((2, 2)), 1), ValueError, r"query must be a vector of 4.*\(2, 2\)"),
    (lambda: vk.nearest_to(F, np.full(8, np.nan), 1), ValueError, r"query contains NaN"),
    # activation statistics
    (lambda: vk.activation_stats(torch.rand(2, 4, 5, 5)), ValueError, r"one image's.*\(2, 4, 5, 5\).*maps\[i\]"),
    (lambda: vk.activation_stats(torch.full((4, 3, 3), float("nan"))), ValueError, r"maps contains 36 NaN"),
    (lambda: vk.activation_stats(torch.full((4,), float("inf"))), ValueError, r"maps contains 4 NaN or infinite"),
    # filters
    (lambda: vk.filter_smoothness(torch.zeros(4, 0, 3, 3)), ValueError, r"in >= 1.*\(4, 0, 3, 3\)"),
    (lambda: vk.filter_smoothness(torch.randn(3, 1, 3, 3).index_fill_(0, torch.tensor([1]), float("nan"))),
     ValueError, r"1 of 3 filters contain NaN.*\[1\].*diverge"),
    # embeddings: n_components 0 / too many, constant features -> every method
    *[(lambda m=m: vk.embed(F, m, n_components=0), ValueError, r"n_components must be an integer in \[1")
      for m in ("pca", "tsne", "umap")],
    *[(lambda m=m: vk.embed(F, m, n_components=9), ValueError, r"n_components must be at most the feature "
       r"dimension D = 8") for m in ("pca", "tsne", "umap")],
    *[(lambda m=m: vk.embed(CONST, m), ValueError, r"features are constant: all 60 rows are equal")
      for m in ("pca", "tsne", "umap")],
    (lambda: vk.embed(F[:5], "pca", n_components=6), ValueError, r"at most .* D = 8 and the sample count N = 5"),
    (lambda: vk.explained_variance(F, 0), ValueError, r"n_components must be an integer in \[1"),
    (lambda: vk.explained_variance(CONST), ValueError, r"constant"),
    (lambda: vk.trustworthiness(CONST, F[:, :2]), ValueError, r"constant"),
    (lambda: vk.trustworthiness(F, np.full((60, 2), np.nan)), ValueError, r"points contain NaN"),
]


@pytest.mark.parametrize("call, error, words", SILENT)
def test_formerly_silent_values_are_refused(call, error, words):
    raises(call, error, words)


def test_merge_refuses_different_k_overlapping_shards_and_other_datasets(fashion, fashion_test, tiny, shards):
    raises(lambda: shards["a"].merge(shards["b2"]), ValueError, r"different k \(3 and 2\).*same k")
    raises(lambda: shards["a"].merge(shards["mid"]), ValueError, r"overlapping shards: 5 dataset indices.*\[5, 6")
    raises(lambda: shards["a"].merge(shards["a"]), ValueError, r"overlapping")
    other = vk.top_patches(fashion, tiny, "conv1", k=3, progress=False)  # a different dataset object
    raises(lambda: shards["a"].merge(other), ValueError, r"different datasets \(FashionMNIST of 10000 items and "
           r"FashionMNIST of 12 items\)")
    conv2 = vk.top_patches(fashion, tiny, "conv2", k=3, progress=False)
    raises(lambda: other.merge(conv2), ValueError, r"different layers")
    old = vk.TopPatches(*(getattr(shards["mid"], f) for f in ("values", "indices", "ys", "xs", "layer", "rf")))
    raises(lambda: shards["a"].merge(old), ValueError, r"overlapping")  # no .scanned: the listed images tell


def test_tensor_results_overlap_by_construction(fashion, fashion_batch):
    x = fashion_batch[0][:6]
    a = vk.top_patches(fashion, x[:3], "conv1", k=2, progress=False)
    b = vk.top_patches(fashion, x[3:], "conv1", k=2, progress=False)
    raises(lambda: a.merge(b), ValueError, r"overlapping")  # both number their images 0, 1, 2


def test_top_patches_refuses_a_reordering_loader_and_a_short_stream(fashion, tiny):
    shuffled = DataLoader(tiny, batch_size=4, sampler=SubsetRandomSampler(range(12)))
    raises(lambda: vk.top_patches(fashion, shuffled, "conv1", progress=False), ValueError,
           r"in order")
    short = DataLoader(tiny, batch_size=5, drop_last=True)
    for call in (lambda: vk.top_patches(fashion, short, "conv1", progress=False),
                 lambda: vk.features(fashion, short, "fc5", progress=False)):
        raises(call, ValueError, r"drop_last=False")


def test_crops_refuse_the_wrong_dataset(fashion, fashion_test, tiny, shards):
    raises(lambda: shards["b"].crops(0, dataset=tiny.subset(5)), ValueError, r"holds 5 items but .* index 1\d")
    raises(lambda: shards["a"].crops(0, dataset=5), TypeError, r"dataset must be a Dataset")
    raw = [(torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8), 0) for _ in range(10)]
    raises(lambda: shards["a"].crops(0, dataset=raw), ValueError, r"dataset item \d's image .*uint8")
    raises(lambda: shards["a"].crops(0, dataset=[("image", 0)] * 10), TypeError, r"item \d's image must be a .*str")
    raises(lambda: shards["a"].crops(0, dataset=[(torch.rand(28, 28), 0)] * 10), ValueError, r"shape \(28, 28\)")
    unlabelled = [fashion_test[i][0] for i in range(10)]  # items without labels are images
    loader = DataLoader(fashion_test, batch_size=4)
    np.testing.assert_array_equal(shards["a"].crops(0, dataset=loader), shards["a"].crops(0))
    np.testing.assert_array_equal(shards["a"].crops(0, dataset=unlabelled), shards["a"].crops(0))


def test_a_model_that_outputs_nan_is_reported_not_ranked(fresh_fashion, tiny):
    with torch.no_grad():
        fresh_fashion.model.features[0].weight[3] = float("nan")
    for call in (lambda: vk.features(fresh_fashion, tiny, "conv1", progress=False),
                 lambda: vk.top_patches(fresh_fashion, tiny, "conv1", progress=False),
                 lambda: vk.dead_filters(fresh_fashion, tiny, "conv1")):
        raises(call, ValueError, r"layer 'conv1'.*weights finite.* NaN")


# ----------------------------------------------------------------------------- (3) errors that say what is wrong

def lay(fn):
    """Each bad layer argument for a function taking one layer."""
    return [(lambda v=v: fn(v), TypeError, rf"layer must be one layer name \(str.*got {word}")
            for v, word in ((None, "None"), (3, "3"), (["conv1"], r"\['conv1'\].*loop over the list"))]


UNCLEAR = [
    # activations: layers is a str or a list of str
    *[(lambda v=v: vk.activations(net(), torch.zeros(1, 1, 28, 28), v), TypeError, words)
      for v, words in ((None, r"layers must be a layer name.*got None"), (3, r"layers must be a layer name.*got 3"),
                       ([None], r"layers must hold layer names \(str\); got None"), ([], r"non-empty"),
                       (["conv1", 2], r"got 2 \(int\)"))],
    *lay(lambda v: vk.features(net(), X2, v, progress=False)),
    *lay(lambda v: vk.top_patches(net(), X2, v, progress=False)),
    *lay(lambda v: vk.dead_filters(net(), X2, v)),
    *lay(lambda v: vk.filter_weights(net(), v)),
    # k: an integer, never a float
    (lambda: vk.nearest(F, 0, 3.0), TypeError, r"k must be an integer; got 3.0 \(float\)"),
    (lambda: vk.nearest_to(F, F[0], 3.0), TypeError, r"k must be an integer; got 3.0"),
    (lambda: vk.knn_agreement(F, Y, 3.0), TypeError, r"k must be an integer; got 3.0"),
    (lambda: vk.top_patches(net(), X2, "conv1", k=3.0), TypeError,
     r"k must be an integer; got 3.0"),
    (lambda: vk.top_patches(net(), X2, "conv1", k=0), ValueError,
     r"k must be an integer in \[1, inf\); got 0"),
    (lambda: vk.nearest(F, 0, 60), ValueError, r"k must be an integer in \[1, 59\]; got 60"),
    (lambda: vk.nearest(F, 0, True), TypeError, r"k must be an integer; got True"),
    (lambda: vk.knn_agreement(F, Y, 0), ValueError, r"k must be an integer in \[1, 59\]"),
    # batch_size: a positive integer everywhere
    *[(lambda fn=fn, b=b: fn(b), ValueError if b == 0 else TypeError, rf"batch_size must be an integer.*got {b}")
      for b in (0, 2.0) for fn in (
          lambda b: vk.features(net(), X2, "fc5", batch_size=b),
          lambda b: vk.top_patches(net(), X2, "conv1", batch_size=b),
          lambda b: vk.dead_filters(net(), X2, "conv1", batch_size=b))],
    (lambda: vk.knn_agreement(F, Y, 3, chunk=0), ValueError, r"chunk must be an integer in \[1"),
    # other options of features / top_patches
    (lambda: vk.features(net(), X2, "conv1", pool="mean"), ValueError,
     r"pool must be one of None, 'avg', 'max'; got 'mean'"),
    (lambda: vk.features(net(), X2, "fc5", cache=1), TypeError,
     r"cache must be True, False or a non-empty name"),
    (lambda: vk.features(net(), X2, "fc5", progress="no"), TypeError,
     r"progress must be True or False; got 'no'"),
    (lambda: vk.top_patches(net(), X2, "conv1", progress=None), TypeError,
     r"progress must be True or False"),
    (lambda: vk.features(net(), 7, "fc5"), TypeError, r"images must be a \(N, C, H, W\) tensor"),
    (lambda: vk.features(net(), torch.zeros(1, 28, 28), "fc5"), ValueError, r"x\[None\]"),
    # query_index and exclude
    (lambda: vk.nearest(F, 2.0, 3), TypeError, r"query_index must be an integer; got 2.0"),
    (lambda: vk.nearest(F, 60, 3), ValueError, r"query_index must be an integer in \[0, 59\]; got 60"),
    (lambda: vk.nearest_to(F, F[0], 3, exclude=60), ValueError, r"exclude must be an integer in \[0, 59\]"),
    # feature arrays
    (lambda: vk.nearest([["a", "b"], ["c", "d"]], 0, 1), TypeError, r"features must hold real numbers.*<U1"),
    (lambda: vk.nearest([[1.0, 2.0], [3.0]], 0, 1), TypeError, r"features must be an array of numbers"),
    (lambda: vk.nearest(np.zeros(5), 0, 1), ValueError, r"features must be an \(N, D\) array; got shape \(5,\)"),
    (lambda: vk.nearest(np.zeros((5, 0)), 0, 1), ValueError, r"no dimensions"),
    (lambda: vk.nearest_to(F, "query", 1), TypeError, r"query must hold real numbers"),
    (lambda: vk.knn_agreement(F, [[1], [2, 3]] * 30), TypeError, r"labels must be a \(N,\) vector"),
    # embedding options
    (lambda: vk.embed(F, "PCA"), ValueError, r"method must be one of 'pca', 'tsne', 'umap'; got 'PCA'"),
    (lambda: vk.embed(F, "pca", seed=-1), ValueError, r"seed must be an integer in \[0"),
    (lambda: vk.embed(F, "pca", seed=1.5), TypeError, r"seed must be an integer"),
    (lambda: vk.embed(F, "pca", random_state=1), TypeError, r"embed sets 'random_state' itself: pass seed="),
    (lambda: vk.embed(F, "tsne", perplexity="10"), TypeError, r"perplexity must be a number; got '10'"),
    (lambda: vk.embed(F, "tsne", perplexity=0), ValueError, r"perplexity must be a finite number in \(0"),
    (lambda: vk.embed(F, "tsne", perplexity=float("nan")), ValueError, r"perplexity must be a finite number"),
    (lambda: vk.embed(F, "tsne", perplexity=25), ValueError, r"perplexity must be in \(0, \(N - 1\) / 3 = 19.7\)"),
    (lambda: vk.embed(F, "tsne", perplexity=10, n_iter=0), ValueError, r"n_iter must be an integer in \[1"),
    (lambda: vk.embed(F, "tsne", perplexity=10, n_jobs=0), ValueError, r"n_jobs must be a positive number"),
    (lambda: vk.embed(F, "tsne", perplexity=10, n_neighbors=5), TypeError, r"unknown tsne option 'n_neighbors'"),
    (lambda: vk.embed(F, "umap", n_neighbors=10.0), TypeError, r"n_neighbors must be an integer; got 10.0"),
    (lambda: vk.embed(F, "umap", n_neighbors=1), ValueError, r"n_neighbors must be in \[2, 59\]"),
    (lambda: vk.embed(F, "umap", n_neighbors=10, min_dist=-0.1), ValueError, r"min_dist .* must be a finite"),
    (lambda: vk.embed(F, "umap", n_neighbors=10, min_dist=2.0), ValueError, r"min_dist \(at most spread\)"),
    (lambda: vk.embed(F, "umap", n_neighbors=10, metric="foo"), ValueError, r"metric must be one of UMAP's.*'foo'"),
    (lambda: vk.embed(F, "umap", n_neighbors=10, perplexity=5), TypeError, r"unknown umap option 'perplexity'"),
    (lambda: vk.embed(F[:3], "umap", n_neighbors=2), ValueError, r"at least n_components \+ 2 = 4 samples; got 3"),
    (lambda: vk.embed(F, "pca", whiten="yes", foo=1), TypeError, r"unknown pca option 'foo'; valid: copy, whiten"),
    (lambda: vk.trustworthiness(F, F[:10, :2]), ValueError, r"10 points for 60 feature rows"),
    (lambda: vk.trustworthiness(F, F[:, :2], n_neighbors=30), ValueError, r"n_neighbors.* in \[1, 29\]; got 30"),
    (lambda: vk.trustworthiness(F, F[:, :2], n_neighbors=5.0), TypeError, r"n_neighbors.* must be an integer"),
    (lambda: vk.trustworthiness(F[:2], F[:2, :2]), ValueError, r"at least 3 samples"),
    (lambda: vk.explained_variance(F, 2.0), TypeError, r"n_components must be an integer; got 2.0"),
    # activation_stats: empty or non-tensor maps
    (lambda: vk.activation_stats(torch.zeros(0, 4, 4)), ValueError, r"maps are empty: shape \(0, 4, 4\)"),
    (lambda: vk.activation_stats(torch.zeros(3, 0, 0)), ValueError, r"maps are empty: shape \(3, 0, 0\)"),
    (lambda: vk.activation_stats(torch.tensor(1.0)), ValueError, r"maps must be one image's .*got shape \(\)"),
    (lambda: vk.activation_stats(np.zeros((3, 4, 4))), TypeError, r"maps must be a \(C, h, w\).*ndarray"),
    (lambda: vk.activation_stats(torch.zeros(3, 4, dtype=torch.bool)), TypeError, r"real activations.*bool"),
    # filters and top patches
    (lambda: vk.filter_smoothness(np.zeros((2, 1, 3, 3))), TypeError, r"tensor of weights.*ndarray"),
    (lambda: vk.filter_smoothness(torch.zeros(2, 1, 3, 3, dtype=torch.bool)), TypeError, r"real-valued.*bool"),
    (lambda: vk.filter_smoothness(torch.zeros(2, 1, 3, 3, 3)), ValueError, r"\(out, in, kh, kw\).*\(2, 1, 3, 3, 3\)"),
]


@pytest.mark.parametrize("call, error, words", UNCLEAR)
def test_errors_name_the_argument_the_value_and_the_fix(call, error, words):
    raises(call, error, words)


@pytest.mark.parametrize("bad, error, words", [
    (lambda tp: tp.merge("shard"), TypeError, r"can only merge another TopPatches; got str"),
    (lambda tp: tp.crops(1.0), TypeError, r"channel must be an integer; got 1.0"),
    (lambda tp: tp.crops(32), ValueError, r"channel must be an integer in \[0, 31\]; got 32"),
    (lambda tp: tp.boxes(-1), ValueError, r"channel must be an integer in \[0, 31\]"),
])
def test_top_patches_methods(shards, bad, error, words):
    raises(lambda: bad(shards["a"]), error, words)


# ----------------------------------------------------------------------------- (4) state leaks

@pytest.mark.parametrize("method, options", [("umap", dict(n_neighbors=10)), ("tsne", dict(perplexity=10)),
                                             ("tsne", dict(perplexity=10, n_jobs=1))])
def test_embed_leaves_thread_counts_and_environment_alone(method, options):
    before, env = torch.get_num_threads(), dict(os.environ)
    wanted = 1 if before != 1 else 2  # a count the libraries would not pick on their own
    torch.set_num_threads(wanted)
    try:
        vk.embed(F, method, **options)
        assert torch.get_num_threads() == wanted
        assert dict(os.environ) == env
        with pytest.raises(ValueError):  # also when it fails
            vk.embed(F[:3], method, **{**options, "n_neighbors" if method == "umap" else "perplexity": 2})
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)


def test_the_guard_restores_what_a_library_changes():
    """numba's thread count shares torch's OpenMP pool on some machines: whatever UMAP changes comes back."""
    import numba

    from vizkit.inspect.embed import _global_state_kept

    threads, numba_threads, env = torch.get_num_threads(), numba.get_num_threads(), dict(os.environ)
    with pytest.raises(RuntimeError, match="mid-fit"), _global_state_kept(numba=True):
        numba.set_num_threads(1)
        torch.set_num_threads(threads + 3)
        os.environ["VIZKIT_HOSTILE_TEST"] = "1"
        os.environ.pop("HOME", None)
        raise RuntimeError("mid-fit")
    assert (torch.get_num_threads(), numba.get_num_threads(), dict(os.environ)) == (threads, numba_threads, env)


def test_failing_views_leave_the_model_as_found(fresh_fashion, tiny):
    net = fresh_fashion
    net.model.train()
    with torch.no_grad():
        net.model.features[0].weight[0] = float("nan")
    for call in (lambda: vk.features(net, tiny, "conv1", progress=False),
                 lambda: vk.top_patches(net, tiny, "conv1", progress=False),
                 lambda: vk.features(net, tiny, "fc5", batch_size=0)):
        with pytest.raises(ValueError):
            call()
        assert net.model.training and all(not m._forward_hooks for m in net.model.modules())


# ----------------------------------------------------------------------------- the formerly silent cases, now right

def test_knn_agreement_breaks_ties_like_nearest():
    """Duplicate rows: every neighbour is at distance 0; both pick the lowest indices, not topk's whim."""
    f = np.repeat(RNG.normal(size=(4, 3)).astype(np.float32), 6, 0)  # 4 points, each 6 times
    y = np.arange(24) % 2
    for metric in ("cosine", "euclidean"):
        ref = np.mean([(y[vk.nearest(f, i, 4, metric)[0]] == y[i]).mean() for i in range(24)])
        assert vk.knn_agreement(f, y, 4, metric, chunk=5) == pytest.approx(ref)
    assert vk.knn_agreement(f, np.array(list("ab") * 12), 4) == vk.knn_agreement(f, y, 4)  # string labels


def test_loader_and_nested_subsets_keep_the_parents_indices(fashion, fashion_test, shards):
    loader = DataLoader(Subset(fashion_test, range(10, 20)), batch_size=4)
    via_loader = vk.top_patches(fashion, loader, "conv1", k=3, progress=False)
    for f in ("values", "indices", "ys", "xs", "scanned"):
        assert torch.equal(getattr(via_loader, f), getattr(shards["b"], f)), f
    assert via_loader.dataset is fashion_test
    nested = Subset(Subset(fashion_test, range(5, 25)), range(5, 15))  # images 10..19
    assert torch.equal(vk.top_patches(fashion, nested, "conv1", k=3, progress=False).indices, shards["b"].indices)
    merged = shards["a"].merge(via_loader)
    whole = vk.top_patches(fashion, Subset(fashion_test, range(20)), "conv1", k=3, progress=False)
    assert torch.equal(merged.indices, whole.indices) and sorted(merged.scanned.tolist()) == list(range(20))


def test_k_beyond_the_images_still_fills(fashion, fashion_batch):
    tp = vk.top_patches(fashion, fashion_batch[0][:2], "conv1", k=4, progress=False)
    assert tp.indices[0].tolist()[2:] == [-1, -1] and tp.scanned.tolist() == [0, 1]


def test_embed_options_and_finite_results():
    assert vk.embed(F, "pca", n_components=3).shape == (60, 3)
    dup = np.repeat(F[:3], 20, 0)  # only three distinct points
    for method, opts in (("tsne", dict(perplexity=10)), ("umap", dict(n_neighbors=10))):
        out = vk.embed(dup, method, **opts)
        assert out.shape == (60, 2) and np.isfinite(out).all()


def test_huge_weights_score_like_scaled_ones():
    w = torch.randn(4, 2, 5, 5)
    torch.testing.assert_close(vk.filter_smoothness(w / w.abs().max() * 3e38), vk.filter_smoothness(w))


def test_activation_stats_of_integer_and_vector_maps():
    stats = vk.activation_stats(torch.tensor([[0, 2], [3, -1]]))
    assert stats["mean"].tolist() == [1.0, 1.0] and stats["fraction_zero"].tolist() == [0.5, 0.5]
    assert vk.activation_stats(torch.tensor([1.0, -1.0]))["max"].tolist() == [1.0, -1.0]


def test_dead_filters_takes_a_shuffled_loader_and_stops_at_the_layer(fashion, tiny):
    """The order of images does not matter to it; and it never runs the layers after `layer`."""
    x, _ = tiny.tensors()
    ref = vk.dead_filters(fashion, fashion.normalize(x), "conv2")
    loader = DataLoader(tiny, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(vk.dead_filters(fashion, loader, "conv2"), ref)
    bigger = fashion.normalize(torch.rand(2, 1, 36, 36))  # the classifier would refuse this size
    assert vk.dead_filters(fashion, bigger, "conv2").shape == (64,)
