"""The exercises of notebooks 01-06 (vizkit.exercises.lessons_inspect, and the find judges those notebooks use):
the references mean what vizkit's techniques mean, every written mistake is caught and named, each prediction is
vizkit's measurement, and each find passes for a state the controls reach and fails for the panel's default."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

import vizkit as vk
from vizkit.exercises import EXERCISES, check
from vizkit.exercises.lessons_inspect import (
    FIRST_LAYERS,
    IMPLEMENTS,
    MAP_IMAGES,
    MAP_SPACES,
    SPARSE_IMAGES,
    first_layers,
    pca_2d,
)

NEW = {e.name: e for e in IMPLEMENTS}
MISTAKES = [(name, i) for name, e in NEW.items() for i in range(len(e.mistakes))]


def test_the_lesson_exercises_are_registered():
    assert {"sparsity", "roughness", "sparsest_layer", "roughest", "best_layer_2d", "silent_channel",
            "pixels_fooled"} <= set(EXERCISES)


@pytest.mark.parametrize("name", list(NEW))
def test_the_reference_passes_also_the_hidden_cases(name):
    assert check(name, NEW[name].reference, show=False).passed
    assert check(name, NEW[name].reference, show=False, hidden=True).passed


@pytest.mark.parametrize("name, index", MISTAKES, ids=[f"{n}-{i}" for n, i in MISTAKES])
def test_every_written_mistake_is_caught_and_named(name, index):
    mistake = NEW[name].mistakes[index]
    with pytest.raises(AssertionError) as caught:
        check(name, mistake.wrong, show=False)
    assert f"hint: {mistake.hint}" in str(caught.value)
    with pytest.raises(AssertionError):
        check(name, mistake.wrong, show=False, hidden=True)     # the hidden cases catch it too


def test_every_exercise_names_at_least_two_mistakes():
    assert all(len(e.mistakes) >= 2 for e in IMPLEMENTS)


# --------------------------------------------------------------------------- same meaning as vizkit's technique

def test_sparsity_means_vk_measure_sparsity(fashion, fashion_batch):
    cases = [*NEW["sparsity"].cases().values(), *NEW["sparsity"].hidden().values()]
    maps = vk.activations(fashion, fashion_batch[0][:16], ["relu2"])["relu2"]
    for (a,) in [*cases, (maps,)]:
        assert NEW["sparsity"].reference(a).dim() == 0
        assert float(NEW["sparsity"].reference(a)) == pytest.approx(vk.measure.sparsity(a), abs=1e-6)


def roughness_by_loops(w: torch.Tensor) -> torch.Tensor:
    """Each filter's neighbouring pairs one by one, and its population standard deviation."""
    out = []
    for f in w.double():
        jumps = [abs(float(f[k, i + 1, j] - f[k, i, j])) for k in range(f.shape[0]) for i in range(f.shape[1] - 1)
                 for j in range(f.shape[2])]
        jumps += [abs(float(f[k, i, j + 1] - f[k, i, j])) for k in range(f.shape[0]) for i in range(f.shape[1])
                  for j in range(f.shape[2] - 1)]
        spread = float(np.std(f.numpy()))
        out.append(np.mean(jumps) / spread if spread > 0 else 0.0)
    return torch.tensor(out)


def test_roughness_means_vk_filter_smoothness_and_a_loop(fashion):
    cases = [*NEW["roughness"].cases().values(), *NEW["roughness"].hidden().values()]
    for (w,) in [*cases, (vk.filter_weights(fashion, "conv1"),), (vk.filter_weights(fashion, "conv2")[:8],)]:
        ours = NEW["roughness"].reference(w)
        torch.testing.assert_close(ours, vk.filter_smoothness(w))
        torch.testing.assert_close(ours.double(), roughness_by_loops(w), rtol=1e-5, atol=1e-6)


def test_roughness_ignores_the_scale_and_a_constant_filter_scores_zero():
    (w,) = NEW["roughness"].cases()["4 smooth filters, 3 input channels, 5x5"]
    torch.testing.assert_close(NEW["roughness"].reference(w * 37.0), NEW["roughness"].reference(w))
    assert NEW["roughness"].reference(torch.full((1, 2, 3, 3), 0.5)).tolist() == [0.0]


# --------------------------------------------------------------------------- predict, then check

def zero_shares(net, images: torch.Tensor) -> dict[str, float]:
    maps = vk.activations(net, net.normalize(images), ["relu1", "relu2", "relu3"])
    return {layer: float((a <= 0).double().mean()) for layer, a in maps.items()}


def test_sparsest_layer_is_the_one_with_the_most_zeros(fashion, fashion_test):
    shares = zero_shares(fashion, fashion_test.tensors(torch.arange(SPARSE_IMAGES // 2))[0])
    assert shares["relu1"] < shares["relu2"] < shares["relu3"]            # notebook 01's statistics, in order
    assert EXERCISES["sparsest_layer"].value() == "relu3"
    assert check("sparsest_layer", "relu3", show=False).passed
    with pytest.raises(AssertionError, match="you said 'relu1'; vizkit measures 'relu3'"):
        check("sparsest_layer", lambda: "relu1", show=False)


def test_roughest_is_the_first_layer_with_the_highest_median_roughness():
    layers = first_layers()
    assert tuple(layers) == FIRST_LAYERS and all(w.shape == (32, 1, 5, 5) for w in layers.values())
    medians = {name: float(np.median(roughness_by_loops(w).numpy())) for name, w in layers.items()}
    truth = max(medians, key=medians.get)
    assert truth == "untrained" and EXERCISES["roughest"].value() == truth
    assert check("roughest", "untrained", show=False).passed
    with pytest.raises(AssertionError, match="you said 'too high lr \\(0.12\\)'; vizkit measures 'untrained'"):
        check("roughest", "too high lr (0.12)", show=False)


def agreement_on_the_map(features: np.ndarray, labels: np.ndarray) -> float:
    """scikit-learn's PCA to 2-D, then the share of each point's 10 nearest map neighbours in its class."""
    points = PCA(n_components=2, svd_solver="randomized", random_state=0).fit_transform(features)
    _, idx = NearestNeighbors(n_neighbors=11).fit(points).kneighbors(points)
    return float((labels[idx[:, 1:]] == labels[:, None]).mean())


def test_best_layer_2d_is_the_map_that_keeps_the_classes_together(fashion, fashion_test):
    test = fashion_test.subset(MAP_IMAGES)
    images, labels = test.tensors()
    spaces = {space: images.flatten(1).numpy() if space == "pixels" else
              vk.features(fashion, test, space, progress=False) for space in MAP_SPACES}
    near = {space: agreement_on_the_map(f, labels.numpy()) for space, f in spaces.items()}
    assert max(near, key=near.get) == "relu5" and near["relu5"] > near["relu4"] + 0.02
    assert EXERCISES["best_layer_2d"].value() == "relu5"
    assert check("best_layer_2d", "relu5", show=False).passed
    with pytest.raises(AssertionError, match="you said 'pixels'; vizkit measures 'relu5'"):
        check("best_layer_2d", "pixels", show=False)
    with pytest.raises(AssertionError, match="choose one of"):
        check("best_layer_2d", "relu3", show=False)


@pytest.mark.parametrize("shape", [(300, 20), (40, 300)], ids=["more rows than columns", "more columns than rows"])
def test_the_quick_2d_pca_is_vk_embeds_up_to_sign(shape):
    g = torch.Generator().manual_seed(5)
    z = torch.randn(shape[0], 3, generator=g, dtype=torch.float64) * torch.tensor([5.0, 2.0, 0.5], dtype=torch.float64)
    X = z @ torch.randn(3, shape[1], generator=g, dtype=torch.float64) + 0.1 * torch.randn(*shape, generator=g,
                                                                                             dtype=torch.float64)
    ours, theirs = pca_2d(X).numpy(), vk.embed(X.numpy(), "pca")
    np.testing.assert_allclose(np.abs(ours), np.abs(theirs), rtol=1e-5, atol=1e-6 * np.abs(theirs).max())  # float32


# --------------------------------------------------------------------------- find it with a panel

@pytest.fixture(scope="module")
def notebook_images(fashion_test):
    """Notebook 01's Fashion-MNIST items, by the same names (the ankle boot first)."""
    images = {}
    for name in ("Ankle boot", "Trouser", "Bag"):
        index = int((fashion_test.labels == fashion_test.classes.index(name)).nonzero()[0])
        images[f"{name} (test #{index})"] = fashion_test[index][0]
    return images


def test_silent_channel_fails_by_default_and_passes_for_a_silent_map(fashion, notebook_images):
    from vizkit.ui import ActivationsPanel

    panel = ActivationsPanel(fashion, notebook_images, layer="relu1")            # as notebook 01 opens it
    with pytest.raises(AssertionError, match="switch the view to 'one channel'"):
        check("silent_channel", panel, show=False)
    panel.mode.value = "one channel"
    with pytest.raises(AssertionError, match="relu1 channel 0 fires"):            # relu1: every map fires
        check("silent_channel", panel, show=False)
    panel.layer.value = "relu3"
    maps = vk.activations(fashion, fashion.preprocess(next(iter(notebook_images.values()))), ["relu3"])["relu3"]
    silent = (maps.flatten(1).amax(1) <= 0).nonzero().flatten().tolist()
    assert silent and 0 not in silent
    panel.channel.value = silent[0]
    report = check("silent_channel", panel, show=False)
    assert report.passed and f"relu3 channel {silent[0]} is zero at all 49 positions" in report.text()

    def setting(p):                                      # the notebook's written-down setting, on a fresh panel
        p.layer.value, p.mode.value = "relu3", "one channel"
        p.channel.value = int((p.maps().flatten(1).amax(1) <= 0).nonzero()[0])
    fresh = ActivationsPanel(fashion, notebook_images, layer="relu1")
    assert check("silent_channel", fresh, setting, show=False).passed
    fresh.image.value = "Trouser (test #2)"              # the boot's silent channel 45 fires on the trouser
    fresh.channel.value = 45
    with pytest.raises(AssertionError, match="fires on 'Trouser"):
        check("silent_channel", fresh, show=False)


@pytest.fixture(scope="module")
def neighbours_panel(fashion, fashion_test):
    from vizkit.ui import NeighboursPanel

    test = fashion_test.subset(2000)                     # notebook 04 in CI
    images, labels = test.tensors()
    feats = {layer: vk.features(fashion, test, layer, cache=True, progress=False) for layer in ("pool1", "relu5")}
    panel = NeighboursPanel(fashion, images, labels, feats, classes=test.classes, k=8)
    panel.layer.value = "relu5"
    return panel


def test_pixels_fooled_fails_by_default_and_passes_for_a_fooled_query(neighbours_panel, fashion_test):
    panel = neighbours_panel
    for query in (0, 7):                                 # the panel's first query, and the notebook's snapshot
        panel.query.value = query
        with pytest.raises(AssertionError, match="pixel neighbours are at least half of other classes"):
            check("pixels_fooled", panel, show=False)
    panel.query.value = 11                               # a sandal among sneakers and ankle boots by pixels
    report = check("pixels_fooled", panel, show=False)
    assert "query 11 ('Sandal'), k 8, cosine distance: 0% of its pixel neighbours and 100% of its relu5" in \
        report.text()
    labels = fashion_test.labels[:2000].numpy()          # the judge's counts, by an independent search
    pixels = fashion_test.tensors(torch.arange(2000))[0].flatten(1).numpy()
    unit = pixels / np.linalg.norm(pixels, axis=1, keepdims=True)
    order = np.argsort(1 - unit @ unit[11], kind="stable")
    assert order[0] == 11 and not (labels[order[1:9]] == labels[11]).any()
    panel.k.value = 3
    with pytest.raises(AssertionError, match="show at least 5 neighbours"):
        check("pixels_fooled", panel, show=False)
    panel.k.value = 8
    panel.query.value, panel.layer.value = 44, "pool1"  # a shirt: half its pixel neighbours are of other classes,
    with pytest.raises(AssertionError, match="pool1's neighbours must be mostly of the query's own class"):
        check("pixels_fooled", panel, show=False)       # and so are most of pool1's ...
    panel.layer.value = "relu5"
    assert check("pixels_fooled", panel, show=False).passed   # ... but not relu5's


def test_one_class_channel_fails_where_notebook_06_opens_and_passes_on_a_channel_of_one_class(fashion, fashion_test):
    from vizkit.ui import PatchesPanel

    panel = PatchesPanel(fashion, fashion_test.subset(2000), ["conv1", "conv2", "conv3"], k=9)   # notebook 06 in CI
    with pytest.raises(AssertionError, match="conv1 channel 0: its top patches come from"):
        check("one_class_channel", panel, show=False)
    panel.layer.value, panel.channel.value = "conv3", 5   # the notebook's snapshot
    with pytest.raises(AssertionError, match="conv3 channel 5: its top patches come from"):
        check("one_class_channel", panel, show=False)
    panel.channel.value = 15
    assert "all 9 top patches are 'Trouser'" in check("one_class_channel", panel, show=False).text()


class Labelled:
    """A dataset of labels only: what the one_class_channel judge reads of one."""

    def __init__(self, labels: list[int], classes=("a", "b", "c")):
        self.labels, self.classes = torch.tensor(labels), list(classes)

    def __getitem__(self, i):
        return None, int(self.labels[i])


def fake_patches_panel(top: list[int], labels: list[int]) -> SimpleNamespace:
    """A PatchesPanel as the judge sees it: channel 0 of conv3, whose top images are `top` (indices into labels)."""
    return SimpleNamespace(result=lambda: SimpleNamespace(indices=torch.tensor([top])), dataset=Labelled(labels),
                           channel=SimpleNamespace(value=0), layer=SimpleNamespace(value="conv3"))


def test_one_class_channel_asks_for_no_more_of_a_class_than_the_images_hold():
    judge = EXERCISES["one_class_channel"].judge
    few = [0] * 4 + [1] * 4 + [2] * 4                    # a small folder: 4 images of each class, and k = 5
    assert judge(fake_patches_panel([0, 1, 2, 3, 4], few)) == \
        (True, "conv3 channel 0: 4 of its 5 top patches are 'a', as many as one class has among the images searched")
    assert not judge(fake_patches_panel([0, 1, 2, 4, 5], few))[0]
    many = [0] * 9 + [1] * 9                             # enough of each class: all k from one class, as before
    assert not judge(fake_patches_panel([0, 1, 2, 3, 9], many))[0]
    assert judge(fake_patches_panel([9, 10, 11, 12, 13], many)) == (True, "conv3 channel 0: all 5 top patches are 'b'")
    shown, what = judge(fake_patches_panel([0, 1], [-1, -1, -1]))   # an unlabelled folder
    assert not shown and "no classes" in what
