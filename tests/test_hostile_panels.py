"""Hostile input to the panels: every bad constructor argument is a ValueError / TypeError / KeyError that
names it (never a TraitError from a slider, never a torch or numpy traceback), and the smallest valid
input (one image, k = 1, ...) builds and renders."""

import copy
import datetime
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from traitlets import TraitError

import vizkit as vk
from vizkit.ui import (
    ActivationsPanel,
    EmbeddingPanel,
    FieldPanel,
    FiltersPanel,
    NeighboursPanel,
    OcclusionPanel,
    PatchesPanel,
    ProjectionPanel,
    SaliencyPanel,
    TopProjectionsPanel,
    TrainingReplayPanel,
)
from vizkit.ui._panel import png_size

NOW = datetime.datetime.now(datetime.timezone.utc)
NAN = float("nan")


@pytest.fixture(scope="module")
def env(fashion, fashion_test):
    data = fashion_test.subset(40)
    images, labels = data.tensors()
    feats = {layer: vk.features(fashion, data, layer, progress=False) for layer in ("pool2", "relu5")}
    boot = fashion_test[0][0]
    return SimpleNamespace(net=fashion, data=data, images=images, labels=labels, feats=feats, boot=boot,
                           pics={"boot": boot}, conv1=vk.filter_weights(fashion, "conv1"))


def snapshot(layers=("relu1",), probes=1, epoch=0.0):
    """A training snapshot as vk.train records it (made up: no training needed)."""
    return dict(epoch=epoch, step=0, accuracy=None, loss=None, filters=None,
                maps={a: torch.rand(probes, 4, 6, 6).half() for a in layers},
                sparsity={a: 0.5 for a in layers}, dead={a: 0.0 for a in layers},
                dead_channels={a: torch.zeros(4, dtype=torch.bool) for a in layers})


def empty(e):
    return torch.utils.data.TensorDataset(e.images[:0], e.labels[:0])


def with_nan(x):
    x = x.clone()
    x.view(-1)[3] = NAN
    return x


Act, Emb, Fld, Nbr, Occ = ActivationsPanel, EmbeddingPanel, FieldPanel, NeighboursPanel, OcclusionPanel
Prj, Pat, Sal, Top = ProjectionPanel, PatchesPanel, SaliencyPanel, TopProjectionsPanel

# (id, build(env), expected exception, regex its message must match)
CASES = {
    "images, shared by the image panels": [
        ("net None", lambda e: Act(None, e.pics), TypeError, r"net must be a vizkit Net.*vk.load.*NoneType"),
        ("net a bare module", lambda e: Act(e.net.model, e.pics), TypeError, r"vk\.wrap"),
        ("images empty", lambda e: Act(e.net, {}), ValueError, r"at least one image"),
        ("images a list", lambda e: Act(e.net, [e.boot]), TypeError, r"images must be a dict name -> image.*list"),
        ("image name an int", lambda e: Act(e.net, {1: e.boot}), TypeError, r"names in images must be strings.*1"),
        ("image None", lambda e: Act(e.net, {"x": None}), TypeError, r"image 'x'.*NoneType"),
        ("image 2-D tensor", lambda e: Act(e.net, {"x": e.boot[0]}), ValueError, r"image 'x'.*\(C, H, W\).*\(28, 28\)"),
        ("image a batch", lambda e: Act(e.net, {"x": e.images[:2]}), ValueError, r"image 'x'.*\(2, 1, 28, 28\)"),
        ("image 5 channels", lambda e: Act(e.net, {"x": torch.rand(5, 8, 8)}), ValueError, r"C = 1 or 3"),
        ("image empty", lambda e: Act(e.net, {"x": torch.rand(1, 0, 8)}), ValueError, r"image 'x'.*\(1, 0, 8\)"),
        ("image NaN", lambda e: Act(e.net, {"x": with_nan(e.boot)}), ValueError, r"image 'x' contains 1 NaN"),
        ("image 0..255", lambda e: Act(e.net, {"x": e.boot * 255}), ValueError, r"image 'x'.*divide by 255"),
        ("image normalised", lambda e: Act(e.net, {"x": e.boot - 0.5}), ValueError, r"image 'x'.*looks normalised"),
        ("image uint8", lambda e: Act(e.net, {"x": (e.boot * 255).byte()}), ValueError, r"image 'x'.*floating-point"),
        ("image NaN array", lambda e: Act(e.net, {"x": np.full((9, 9), NAN)}), ValueError, r"image 'x'.*NaN"),
        ("image channels-first array", lambda e: Act(e.net, {"x": np.zeros((3, 9, 9))}), ValueError,
         r"image 'x'.*transpose"),
        ("image missing file", lambda e: Act(e.net, {"x": "/no/such/file.png"}), FileNotFoundError,
         r"image 'x'.*no image file"),
        ("image a URL", lambda e: Act(e.net, {"x": "https://example.com/cat.jpg"}), ValueError,
         r"image 'x'.*'https://example\.com/cat\.jpg' is a URL.*Download it first"),
        ("image NaN, occlusion", lambda e: Occ(e.net, {"x": with_nan(e.boot)}), ValueError, r"image 'x'.*NaN"),
        ("images empty, occlusion", lambda e: Occ(e.net, {}), ValueError, r"OcclusionPanel needs at least one image"),
        ("images empty, saliency", lambda e: Sal(e.net, {}), ValueError, r"SaliencyPanel needs at least one image"),
        ("images empty, field", lambda e: Fld(e.net, {}), ValueError, r"FieldPanel needs at least one image"),
        ("images empty, projection", lambda e: Prj(e.net, {}), ValueError, r"ProjectionPanel needs at least one image"),
        ("net None, projection", lambda e: Prj(None, e.pics), TypeError, r"net must be a vizkit Net"),
        ("image bad, saliency", lambda e: Sal(e.net, {"x": [1, 2]}), TypeError, r"image 'x'.*list"),
    ],
    "ActivationsPanel": [
        ("layer an int", lambda e: Act(e.net, e.pics, layer=3), TypeError, r"layer must be a name .*got 3 \(int\)"),
        ("layer a list", lambda e: Act(e.net, e.pics, layer=["conv1"]), TypeError, r"layer must be a name"),
        ("layer unknown", lambda e: Act(e.net, e.pics, layer="conv9"), KeyError, r"'conv9'.*Closest.*Valid layers"),
        ("layer a vector", lambda e: Act(e.net, e.pics, layer="fc4"), ValueError, r"'fc4' is not one this panel"),
    ],
    "FiltersPanel": [
        ("nets empty", lambda e: FiltersPanel({}), ValueError, r"at least one net"),
        ("nets a Net", lambda e: FiltersPanel(e.net), TypeError, r"nets must be a dict"),
        ("nets a module", lambda e: FiltersPanel({"a": e.net.model}), TypeError, r"nets\['a'\] must be a vizkit Net"),
        ("net name an int", lambda e: FiltersPanel({1: e.net}), TypeError, r"must be strings"),
        ("weights a string", lambda e: FiltersPanel({"a": {"conv1": "w"}}), TypeError, r"nets\['a'\]\['conv1'\]"),
        ("weights a list", lambda e: FiltersPanel({"a": {"conv1": [[1.0]]}}), TypeError, r"tensor or array"),
        ("weights no filters", lambda e: FiltersPanel({"a": {"conv1": torch.zeros(0, 1, 3, 3)}}), ValueError,
         r"holds no filters"),
        ("weights not conv", lambda e: FiltersPanel({"a": {"fc": torch.rand(3, 4)}}), ValueError, r"no conv layers"),
        ("weight name an int", lambda e: FiltersPanel({"a": {0: e.conv1}}), TypeError, r"must be strings"),
        ("layer unknown", lambda e: FiltersPanel({"a": e.net}, layer="conv9"), KeyError, r"Valid layers"),
        ("layer not conv", lambda e: FiltersPanel({"a": e.net}, layer="relu1"), ValueError,
         r"'relu1' is not one .*\['conv1', 'conv2', 'conv3'\]"),
        ("layer an int", lambda e: FiltersPanel({"a": e.net}, layer=1), TypeError, r"layer must be a name"),
        ("layer not kept", lambda e: FiltersPanel({"a": {"conv1": e.conv1}}, layer="conv2"), KeyError,
         r"no layer 'conv2'; valid: \['conv1'\]"),
    ],
    "NeighboursPanel": [
        ("net None", lambda e: Nbr(None, e.images, e.labels, e.feats), TypeError, r"net must be a vizkit Net"),
        ("images a list", lambda e: Nbr(e.net, list(e.images), e.labels, e.feats), TypeError, r"images must be an"),
        ("images 3-D", lambda e: Nbr(e.net, e.images[:, 0], e.labels, e.feats), ValueError, r"\(40, 28, 28\)"),
        ("one image", lambda e: Nbr(e.net, e.images[:1], e.labels[:1], {k: f[:1] for k, f in e.feats.items()}),
         ValueError, r"at least 2 images.*got 1"),
        ("images NaN", lambda e: Nbr(e.net, with_nan(e.images), e.labels, e.feats), ValueError, r"images contains 1"),
        ("images 0..255", lambda e: Nbr(e.net, e.images * 255, e.labels, e.feats), ValueError, r"divide by 255"),
        ("images colour", lambda e: Nbr(e.net, e.images.expand(-1, 3, -1, -1), e.labels, e.feats), ValueError,
         r"net's input shape \(N, 1, 28, 28\)"),
        ("feats empty", lambda e: Nbr(e.net, e.images, e.labels, {}), ValueError, r"at least one layer's features"),
        ("feats a list", lambda e: Nbr(e.net, e.images, e.labels, [e.feats["pool2"]]), TypeError, r"feats must be a"),
        ("feats fewer rows", lambda e: Nbr(e.net, e.images, e.labels, {"pool2": e.feats["pool2"][:5]}), ValueError,
         r"'pool2' have 5 rows for 40 images"),
        ("feats rows differ", lambda e: Nbr(e.net, e.images, e.labels, {"pool2": e.feats["pool2"],
                                                                      "relu5": e.feats["relu5"][:-1]}),
         ValueError, r"'relu5' have 39 rows"),
        ("feats NaN", lambda e: Nbr(e.net, e.images, e.labels, {"pool2": np.where(e.feats["pool2"] > 1, NAN,
                                                                                e.feats["pool2"])}),
         ValueError, r"'pool2' contain \d+ NaN"),
        ("feats 1-D", lambda e: Nbr(e.net, e.images, e.labels, {"pool2": e.feats["pool2"][:, 0]}), ValueError,
         r"'pool2' must be an \(N, D\) array"),
        ("feats strings", lambda e: Nbr(e.net, e.images, e.labels, {"pool2": np.array([["a"]] * 40)}), TypeError,
         r"'pool2' must be an \(N, D\) array or tensor of numbers"),
        ("feats unknown layer", lambda e: Nbr(e.net, e.images, e.labels, {"pool9": e.feats["pool2"]}), KeyError,
         r"'pool9'.*Closest match.*Valid layers"),
        ("feats layer an int", lambda e: Nbr(e.net, e.images, e.labels, {2: e.feats["pool2"]}), TypeError,
         r"names in feats must be strings"),
        ("labels too few", lambda e: Nbr(e.net, e.images, e.labels[:30], e.feats), ValueError,
         r"one class index per image: 40 of them; got shape \(30,\)"),
        ("labels floats", lambda e: Nbr(e.net, e.images, e.labels.float(), e.feats), TypeError, r"integer class"),
        ("labels strings", lambda e: Nbr(e.net, e.images, ["boot"] * 40, e.feats), TypeError, r"integer class"),
        ("labels too large", lambda e: Nbr(e.net, e.images, e.labels + 10, e.feats), ValueError, r"in \[0, 9\]"),
        ("labels negative", lambda e: Nbr(e.net, e.images, e.labels - 10, e.feats), ValueError, r"class indices"),
        ("labels None", lambda e: Nbr(e.net, e.images, None, e.feats), TypeError, r"labels must be"),
        ("classes a string", lambda e: Nbr(e.net, e.images, e.labels, e.feats, classes="abc"), TypeError,
         r"classes must be a list"),
        ("classes too few", lambda e: Nbr(e.net, e.images, e.labels, e.feats, classes=["a", "b"]), ValueError,
         r"in \[0, 1\]"),
        ("k 0", lambda e: Nbr(e.net, e.images, e.labels, e.feats, k=0), ValueError, r"k must be an integer in \[1, 16"),
        ("k float", lambda e: Nbr(e.net, e.images, e.labels, e.feats, k=3.0), TypeError, r"k must be an integer.*3\.0"),
        ("k bool", lambda e: Nbr(e.net, e.images, e.labels, e.feats, k=True), TypeError, r"k must be an integer"),
        ("k None", lambda e: Nbr(e.net, e.images, e.labels, e.feats, k=None), TypeError, r"k must be an integer"),
        ("k too large", lambda e: Nbr(e.net, e.images, e.labels, e.feats, k=17), ValueError, r"\[1, 16\]; got 17"),
        ("k = N", lambda e: Nbr(e.net, e.images[:5], e.labels[:5], {k: f[:5] for k, f in e.feats.items()}, k=5),
         ValueError, r"k must be an integer in \[1, 4\]; got 5"),
    ],
    "EmbeddingPanel": [
        ("feats empty", lambda e: Emb({}, e.labels), ValueError, r"at least one layer's features"),
        ("feats None", lambda e: Emb(None, e.labels), TypeError, r"feats must be a dict"),
        ("too few samples", lambda e: Emb({"a": e.feats["pool2"][:10]}, e.labels[:10]), ValueError,
         r"at least 11 samples.*got 10"),
        ("one dimension", lambda e: Emb({"a": e.feats["pool2"][:, :1]}, e.labels), ValueError, r"2 dimensions"),
        ("rows differ", lambda e: Emb({"a": e.feats["pool2"], "b": e.feats["relu5"][:20]}, e.labels), ValueError,
         r"'b' have 20 rows for 40"),
        ("feats inf", lambda e: Emb({"a": e.feats["pool2"] + np.inf}, e.labels), ValueError, r"NaN or infinite"),
        ("feats a tensor NaN", lambda e: Emb({"a": with_nan(torch.from_numpy(e.feats["pool2"]))}, e.labels),
         ValueError, r"'a' contain 1 NaN"),
        ("labels short", lambda e: Emb(e.feats, e.labels[:3]), ValueError, r"40 of them"),
        ("labels 2-D", lambda e: Emb(e.feats, e.labels[:, None]), ValueError, r"one class index per image"),
        ("labels beyond classes", lambda e: Emb(e.feats, e.labels, classes=["a"]), ValueError, r"in \[0, 0\]"),
        ("images short", lambda e: Emb(e.feats, e.labels, images=e.images[:3]), ValueError, r"one image per row.*40"),
        ("images NaN", lambda e: Emb(e.feats, e.labels, images=with_nan(e.images)), ValueError, r"NaN"),
        ("images a dict", lambda e: Emb(e.feats, e.labels, images={"a": e.boot}), TypeError, r"images must be an"),
        ("method upper case", lambda e: Emb(e.feats, e.labels, method="PCA"), ValueError,
         r"method must be one of 'pca', 'tsne', 'umap'; got 'PCA'"),
        ("method None", lambda e: Emb(e.feats, e.labels, method=None), ValueError, r"method must be one of"),
        ("seed negative", lambda e: Emb(e.feats, e.labels, seed=-1), ValueError, r"seed must be an integer in \[0"),
        ("seed float", lambda e: Emb(e.feats, e.labels, seed=0.5), TypeError, r"seed must be an integer"),
    ],
    "FieldPanel": [
        ("net None", lambda e: Fld(None, e.pics), TypeError, r"net must be a vizkit Net"),
        ("layers empty", lambda e: Fld(e.net, e.pics, layers=[]), ValueError, r"at least one layer"),
        ("layers unknown", lambda e: Fld(e.net, e.pics, layers=["conv9"]), KeyError, r"'conv9'.*Valid layers"),
        ("layers ints", lambda e: Fld(e.net, e.pics, layers=[1]), TypeError, r"layers must hold layer names.*1"),
        ("layers an int", lambda e: Fld(e.net, e.pics, layers=1), TypeError, r"layers must be a layer name"),
        ("layers vectors", lambda e: Fld(e.net, e.pics, layers=["conv1", "fc4"]), ValueError,
         r"\['fc4'\] give vectors"),
    ],
    "PatchesPanel": [
        ("net None", lambda e: Pat(None, e.data, ["conv1"]), TypeError, r"net must be a vizkit Net"),
        ("dataset empty", lambda e: Pat(e.net, empty(e), ["conv1"]), ValueError, r"dataset is empty"),
        ("dataset a list", lambda e: Pat(e.net, [], ["conv1"]), ValueError, r"dataset is empty"),
        ("dataset None", lambda e: Pat(e.net, None, ["conv1"]), TypeError, r"dataset must be a Dataset"),
        ("dataset a loader", lambda e: Pat(e.net, torch.utils.data.DataLoader(e.data), ["conv1"]), TypeError,
         r"dataset must be a Dataset.*DataLoader"),
        ("dataset a tensor", lambda e: Pat(e.net, e.images, ["conv1"]), TypeError, r"items must be \(image, label\)"),
        ("dataset 0..255", lambda e: Pat(e.net, torch.utils.data.TensorDataset(e.images * 255, e.labels), ["conv1"]),
         ValueError, r"dataset\[0\] image.*divide by 255"),
        ("dataset colour", lambda e: Pat(e.net, torch.utils.data.TensorDataset(e.images.expand(-1, 3, -1, -1),
                                                                             e.labels), ["conv1"]),
         ValueError, r"takes 1-channel images"),
        ("dataset too small images", lambda e: Pat(e.net, torch.utils.data.TensorDataset(e.images[:, :, :3, :3],
                                                                                       e.labels), ["conv3"]),
         ValueError, r"fashion-cnn .*3, 3\)"),
        ("layers empty", lambda e: Pat(e.net, e.data, []), ValueError, r"at least one conv layer"),
        ("layers None", lambda e: Pat(e.net, e.data, None), TypeError, r"layers must be a layer name"),
        ("layers unknown", lambda e: Pat(e.net, e.data, ["conv1", "conv7"]), KeyError, r"'conv7'.*Valid layers"),
        ("layers vectors", lambda e: Pat(e.net, e.data, ["relu5"]), ValueError, r"\['relu5'\] give vectors"),
        ("k 0", lambda e: Pat(e.net, e.data, ["conv1"], k=0), ValueError, r"k must be an integer in \[1, 40\]; got 0"),
        ("k float", lambda e: Pat(e.net, e.data, ["conv1"], k=2.5), TypeError, r"k must be an integer; got 2\.5"),
        ("k over N", lambda e: Pat(e.net, e.data, ["conv1"], k=41), ValueError, r"\[1, 40\]; got 41"),
        ("batch_size 0", lambda e: Pat(e.net, e.data, ["conv1"], batch_size=0), ValueError, r"batch_size must be"),
        ("batch_size None", lambda e: Pat(e.net, e.data, ["conv1"], batch_size=None), TypeError, r"batch_size must"),
    ],
    "TopProjectionsPanel": [
        ("layers empty", lambda e: Top(e.net, e.data, []), ValueError, r"at least one conv layer"),
        ("layers unknown", lambda e: Top(e.net, e.data, "conv7"), KeyError, r"'conv7'.*Valid layers"),
        ("layers vectors", lambda e: Top(e.net, e.data, ["fc6"]), ValueError, r"give vectors"),
        ("dataset empty", lambda e: Top(e.net, empty(e), ["conv1"]), ValueError, r"dataset is empty"),
        ("k negative", lambda e: Top(e.net, e.data, ["conv1"], k=-1), ValueError, r"k must be an integer in \[1, 40\]"),
        ("k numpy float", lambda e: Top(e.net, e.data, ["conv1"], k=np.float32(3)), TypeError, r"k must be an integer"),
        ("batch_size 0", lambda e: Top(e.net, e.data, ["conv1"], batch_size=0), ValueError, r"batch_size must be"),
    ],
    "ProjectionPanel": [
        ("layers empty", lambda e: Prj(e.net, e.pics, layers=[]), ValueError, r"at least one layer"),
        ("layers unknown", lambda e: Prj(e.net, e.pics, layers="pool7"), KeyError, r"'pool7'.*Valid layers"),
        ("layers vectors", lambda e: Prj(e.net, e.pics, layers=["conv2", "relu4"]), ValueError,
         r"\['relu4'\] give vectors"),
        ("layers a dict", lambda e: Prj(e.net, e.pics, layers={"conv1": 1}), TypeError, r"layers must be"),
    ],
    "OcclusionPanel": [
        ("window 0", lambda e: Occ(e.net, e.pics, window=0), ValueError, r"window must be an integer in \[1, 28\]"),
        ("window too large", lambda e: Occ(e.net, e.pics, window=29), ValueError, r"window .*got 29"),
        ("window float", lambda e: Occ(e.net, e.pics, window=2.5), TypeError, r"window must be an integer; got 2\.5"),
        ("stride 0", lambda e: Occ(e.net, e.pics, stride=0), ValueError, r"stride must be an integer in \[1, 28\]"),
        ("stride too large", lambda e: Occ(e.net, e.pics, stride=100), ValueError, r"stride .*got 100"),
        ("stride a string", lambda e: Occ(e.net, e.pics, stride="2"), TypeError, r"stride must be an integer"),
        ("batch_size 0", lambda e: Occ(e.net, e.pics, batch_size=0), ValueError, r"batch_size must be an integer"),
        ("fill out of range", lambda e: Occ(e.net, e.pics, fill=2), ValueError, r"fill .*\[0, 1\]; got 2"),
        ("fill NaN", lambda e: Occ(e.net, e.pics, fill=NAN), ValueError, r"fill .*finite"),
        ("fill a bool", lambda e: Occ(e.net, e.pics, fill=True), TypeError, r"fill .*must be a number; got True"),
        ("fill a name", lambda e: Occ(e.net, e.pics, fill="grey"), ValueError, r"fill must be 'mean' or a pixel value"),
        ("fill an array", lambda e: Occ(e.net, e.pics, fill=np.array([0.5])), TypeError, r"fill .*must be a number"),
        ("fill None", lambda e: Occ(e.net, e.pics, fill=None), TypeError, r"fill .*must be a number; got None"),
    ],
    "SaliencyPanel": [
        ("smooth 1", lambda e: Sal(e.net, e.pics, smooth=1), ValueError, r"smooth .*\[2, 64\]; got 1"),
        ("smooth 100", lambda e: Sal(e.net, e.pics, smooth=100), ValueError, r"smooth .*got 100"),
        ("smooth float", lambda e: Sal(e.net, e.pics, smooth=4.0), TypeError, r"smooth .*must be an integer"),
        ("layers unknown", lambda e: Sal(e.net, e.pics, layers=["relu9"]), KeyError, r"'relu9'.*Valid layers"),
        ("layers vectors", lambda e: Sal(e.net, e.pics, layers="relu4"), ValueError, r"\['relu4'\] give vectors"),
        ("layers empty", lambda e: Sal(e.net, e.pics, layers=()), ValueError, r"at least one layer"),
    ],
    "TrainingReplayPanel": [
        ("runs empty", lambda e: TrainingReplayPanel({}), ValueError, r"at least one run"),
        ("runs a History", lambda e: TrainingReplayPanel(vk.History()), TypeError, r"runs must be a dict"),
        ("run a dict", lambda e: TrainingReplayPanel({"a": {"snapshots": []}}), TypeError,
         r"runs\['a'\] must be a vizkit History"),
        ("run name an int", lambda e: TrainingReplayPanel({0: vk.History()}), TypeError, r"must be strings"),
        ("no snapshots", lambda e: TrainingReplayPanel({"a": vk.History()}), ValueError, r"'a' has no snapshots"),
        ("no maps", lambda e: TrainingReplayPanel({"a": vk.History(snapshots=[snapshot(layers=())])}), ValueError,
         r"no feature maps"),
        ("no probe images", lambda e: TrainingReplayPanel({"a": vk.History(snapshots=[snapshot(probes=0)])}),
         ValueError, r"no probe image"),
        ("runs differ", lambda e: TrainingReplayPanel({"a": vk.History(snapshots=[snapshot()]),
                                                       "b": vk.History(snapshots=[snapshot(["relu2"])])}),
         ValueError, r"run 'b' snapshot 0 lacks maps\['relu1'\]"),
        ("snapshot incomplete", lambda e: TrainingReplayPanel({"a": vk.History(snapshots=[{"maps": {}}])}),
         ValueError, r"no feature maps"),
        ("layer unknown", lambda e: TrainingReplayPanel({"a": vk.History(snapshots=[snapshot()])}, layer="relu2"),
         KeyError, r"no layer 'relu2'; valid: \['relu1'\]"),
        ("layer an int", lambda e: TrainingReplayPanel({"a": vk.History(snapshots=[snapshot()])}, layer=1),
         TypeError, r"layer must be a name"),
        ("max_maps 0", lambda e: TrainingReplayPanel({"a": vk.History(snapshots=[snapshot()])}, max_maps=0),
         ValueError, r"max_maps must be an integer in \[1"),
        ("max_maps float", lambda e: TrainingReplayPanel({"a": vk.History(snapshots=[snapshot()])}, max_maps=2.5),
         TypeError, r"max_maps must be an integer"),
    ],
}
PARAMS = [pytest.param(build, error, pattern, id=f"{group}: {name}")
          for group, cases in CASES.items() for name, build, error, pattern in cases]


@pytest.mark.parametrize("build, error, pattern", PARAMS)
def test_bad_argument_is_a_clear_error(env, build, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        build(env)
    assert not isinstance(info.value, (TraitError, RuntimeError, AssertionError, IndexError, AttributeError))


# ----------------------------------------------------------------------------- the smallest valid input


def renders(panel):
    assert panel.last_error is None, panel.last_error
    assert panel.png().startswith(b"\x89PNG"), "no picture"
    assert "color:#b00" not in panel.message.value
    return panel


def test_one_image_activations(env):
    panel = renders(ActivationsPanel(env.net, {"only": env.boot}, layer="features.3"))  # a path: its alias
    assert panel.layer.value == "conv2" and panel.image.options == ("only",)
    panel.channel.value = panel.channel.max
    renders(panel)


def test_one_filter_kept_without_its_net(env):
    panel = renders(FiltersPanel({"kept": {"conv1": env.conv1[:1].numpy()}}))
    assert panel.channel.disabled and panel.channel.max == 0


def test_filters_holding_nan_are_reported_not_hidden(env):
    panel = renders(FiltersPanel({"diverged": {"conv1": with_nan(env.conv1)}}))
    assert "1 of 32 filters hold NaN" in panel.summary.value and "median" in panel.summary.value
    panel.joint.value = True  # one colour scale: the NaN filter must not blank the others
    renders(panel)


def test_switching_to_a_net_with_fewer_input_channels(env):
    panel = FiltersPanel({"trained": env.net, "narrow": {"conv2": torch.randn(4, 2, 5, 5)},
                          "flat": {"conv2": torch.randn(4, 2)}}, layer="conv2")
    panel.channel.value = 20
    panel.net.value = "narrow"  # 2 input channels: the slider follows
    assert panel.channel.max == 1 and panel.channel.value == 1
    renders(panel)
    panel.net.value = "flat"  # not a convolution's weights: said in the panel
    assert isinstance(panel.last_error, ValueError) and "(out, in, kh, kw)" in panel.message.value


def test_one_by_one_filters_have_no_roughness(env):
    panel = renders(FiltersPanel({"kept": {"conv1": env.conv1[:, :, :1, :1]}}))
    assert "at least 2x2" in panel.summary.value


def test_two_images_one_neighbour(env):
    two = {k: f[:2] for k, f in env.feats.items()}
    panel = renders(NeighboursPanel(env.net, env.images[:2].numpy(), env.labels[:2].tolist(), two, k=1))
    assert panel.k.max == 1 and panel.query.max == 1
    panel.query.value = 1
    renders(panel)


def test_neighbours_net_without_class_names(env):
    net = copy.copy(env.net)
    net.classes = []  # a net whose class names are unknown
    renders(NeighboursPanel(net, env.images, env.labels, {"features.5": env.feats["pool2"]}, k=3))


def test_eleven_samples_embed(env):
    panel = renders(EmbeddingPanel({"a": env.feats["pool2"][:11, :2]}, env.labels[:11]))
    panel.method.value = "tsne"
    renders(panel)


def test_one_image_one_layer_field(env):
    panel = renders(FieldPanel(env.net, {"only": env.boot}, layers="pool3"))
    assert panel.layer.options == ("pool3",)


def test_one_image_dataset_patches(env):
    one = env.data.subset(1)
    renders(PatchesPanel(env.net, one, "conv1", k=1, batch_size=1))
    renders(TopProjectionsPanel(env.net, one, ["conv1"], k=1, batch_size=1))


def test_one_image_projection(env):
    renders(ProjectionPanel(env.net, {"only": env.boot}, layers="conv1"))


def test_one_window_occlusion_with_any_fill(env):
    panel = renders(OcclusionPanel(env.net, {"only": env.boot}, window=28, stride=28, fill=0.25, batch_size=1))
    assert panel.probs().shape[1:] == (1, 1) and panel.fill.value == 0.25 and panel.stride.max == 28
    assert renders(OcclusionPanel(env.net, env.pics, fill=np.float64(1))).fill.label == "white"


def test_smallest_smoothgrad(env):
    renders(SaliencyPanel(env.net, {"only": env.boot}, layers=["relu1"], smooth=2))


def test_one_snapshot_one_probe_replay(env):
    panel = renders(TrainingReplayPanel({"only": vk.History(snapshots=[snapshot()])}, max_maps=1))
    assert panel.snapshot.disabled and panel.probe.disabled


def test_runs_with_different_probe_counts_share_the_smaller(env):
    runs = {"a": vk.History(snapshots=[snapshot(probes=3), snapshot(probes=3, epoch=1.0)]),
            "b": vk.History(snapshots=[snapshot(probes=2)])}
    panel = renders(TrainingReplayPanel(runs))
    assert panel.probe.max == 1 and panel.snapshot.max == 1
    panel.probe.value, panel.snapshot.value = 1, 1
    renders(panel)


def test_a_one_value_slider_is_disabled_not_broken(env):
    panel = ActivationsPanel(env.net, env.pics)
    panel._set_max(panel.channel, -1)  # e.g. a layer with a single map: the range is [0, 0]
    assert panel.channel.max == 0 and panel.channel.disabled
    panel._set_max(panel.channel, 5)
    assert panel.channel.max == 5 and not panel.channel.disabled


# ----------------------------------------------------------------------------- uploads


def upload(name: str, content: bytes) -> tuple:
    return ({"name": name, "content": memoryview(content), "type": "image/png", "size": len(content),
             "last_modified": NOW},)


@pytest.mark.parametrize("content", [b"", b"not an image", b"\x89PNG\r\n\x1a\n truncated"], ids=["empty", "text",
                                                                                                  "truncated"])
def test_a_non_image_upload_is_shown_in_the_panel(env, content):
    for panel in (ActivationsPanel(env.net, env.pics),
                  NeighboursPanel(env.net, env.images, env.labels, env.feats, k=3)):
        before = panel.png()
        panel.upload.value = upload("notes.txt", content)
        assert isinstance(panel.last_error, ValueError)
        assert "notes.txt" in panel.message.value and "not an image vizkit can use" in panel.message.value
        assert panel.png() != before and png_size(panel.png()) == png_size(before)  # the old view, faded
        if isinstance(panel, ActivationsPanel):
            assert list(panel.image.options) == ["boot"]
            panel.channel.value = 1
        else:
            assert not panel.use_upload.value
            panel.k.value = 4
        assert panel.last_error is None  # and the panel keeps working


class _ConvBlock(torch.nn.Module):
    """One convolution, inside a block that its author named "conv1"."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU())
        self.fc = torch.nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(self.conv1(x).flatten(1))


@pytest.mark.parametrize("layers, shown", [({"conv1": "conv1"}, "conv1.0"),  # the alias names the block
                                           ({"relu1": "conv1.1", "fc": "fc"}, "conv1.0")])  # no alias for the conv
def test_filters_of_a_net_whose_aliases_do_not_name_its_conv(layers, shown):
    net = vk.wrap(_ConvBlock(), input_size=28, layers=layers)
    panel = renders(FiltersPanel({"mine": net}))
    assert list(panel.layer.options) == [shown] and "roughness" in panel.summary.value
    assert torch.equal(panel.weights(), net.model.conv1[0].weight.detach())


def test_filters_of_a_resnet_without_conv_aliases():
    import torchvision

    net = vk.wrap(torchvision.models.resnet18(weights=None), mean=[0.5] * 3, std=[0.25] * 3, input_size=32)
    assert not [a for a in net.layers if "conv" in a]  # stem, stage1 …, pool
    panel = renders(FiltersPanel({"resnet": net}))
    assert panel.layer.options[:3] == ("conv1", "layer1.0.conv1", "layer1.0.conv2")
    panel.layer.value = "layer4.1.conv2"
    renders(panel)


def test_a_net_without_convs_says_what_it_has():
    net = vk.wrap(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10)), mean=[0.5], std=[0.25],
                  input_size=28, name="mlp")
    with pytest.raises(ValueError, match=r"'a' \(mlp\), has no conv layers to show: none of its modules is an "
                                         r"nn\.Conv2d \(it has Flatten, Linear\)"):
        FiltersPanel({"a": net})
