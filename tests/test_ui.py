"""Panels are driven by setting widget values; each change must change what is shown."""

import datetime
import io

import numpy as np
import pytest
import torch
from PIL import Image

import vizkit as vk
from vizkit.ui import ActivationsPanel

NOW = datetime.datetime.now(datetime.timezone.utc)


@pytest.fixture
def panel(fashion, fashion_test):
    images = {"china": vk.sample_image("china"), "boot": fashion_test[0][0], "trouser": fashion_test[2][0]}
    return ActivationsPanel(fashion, images, layer="relu1")


def picture(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_each_control_changes_the_picture(panel):
    shown = [panel.png()]
    assert picture(shown[0]).ndim == 3 and panel.last_error is None
    panel.layer.value = "conv2"
    assert panel.channel.max == 63
    panel.image.value = "boot"
    panel.mode.value = "one channel"
    panel.channel.value = 5
    panel.joint.value = True
    panel.mode.value = "all channels"
    shown.append(panel.png())
    for step in (lambda: setattr(panel.layer, "value", "pool3"), lambda: setattr(panel.image, "value", "trouser"),
                 lambda: setattr(panel.mode, "value", "one channel"), lambda: setattr(panel.channel, "value", 9)):
        before = panel.png()
        step()
        assert panel.png() != before and panel.last_error is None
    assert panel.channel.max == 127 and "channel 9" in panel.stats.value


def test_stats_line_reports_the_chosen_channel(panel):
    panel.layer.value = "relu2"
    panel.channel.value = 3
    maps = panel.maps()
    zero = float((maps[3] <= 0).float().mean())
    assert f"{zero:.1%}" in panel.stats.value
    assert maps.shape == vk.activations(panel.net, panel.net.preprocess(panel.images["china"]), "relu2")["relu2"].shape


def test_channel_change_uses_the_cache(panel, monkeypatch):
    panel.mode.value = "one channel"
    calls = []
    monkeypatch.setattr("vizkit.ui.activations.activations", lambda *a, **k: calls.append(a))
    panel.channel.value = 4
    assert not calls and panel.last_error is None


def test_upload_adds_an_image_and_errors_are_shown(panel):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 50, 3), np.uint8)).save(buf, "PNG")
    panel.upload.value = ({"name": "mine.png", "content": memoryview(buf.getvalue()), "type": "image/png",
                           "size": len(buf.getvalue()), "last_modified": NOW},)
    assert panel.image.value == "uploaded: mine.png" and panel.last_error is None
    panel.upload.value = ({"name": "bad.png", "content": memoryview(b"not an image"), "type": "image/png",
                           "size": 12, "last_modified": NOW},)
    assert isinstance(panel.last_error, ValueError) and "not an image" in panel.message.value
    panel.channel.value = 1  # the panel keeps working after an error
    assert panel.last_error is None and panel.message.value == ""


def test_panel_needs_images(fashion):
    with pytest.raises(ValueError, match="at least one image"):
        ActivationsPanel(fashion, {})


@pytest.fixture(scope="module")
def two_runs(fashion_test):
    from vizkit.runs import train_run

    data = fashion_test.subset(300)
    return {name: train_run(dict(lr=lr, settings=vk.TrainSettings(batch_size=100, schedule="constant")), data, 2,
                            progress=False, snapshots=vk.SnapshotSettings(probe_size=16))[1]
            for name, lr in (("slow", 0.01), ("fast", 0.1))}


def test_training_replay_panel(two_runs):
    from vizkit.ui import TrainingReplayPanel

    panel = TrainingReplayPanel(two_runs, layer="relu2")
    assert panel.snapshot.max == 2 and panel.probe.max == 1 and panel.last_error is None
    for widget, value in ((panel.snapshot, 2), (panel.layer, "relu3"), (panel.probe, 1), (panel.snapshot, 0)):
        before = panel.png()
        widget.value = value
        assert panel.png() != before and panel.last_error is None
    assert "relu3" in panel.caption.value
    with pytest.raises(ValueError, match="no snapshots"):
        TrainingReplayPanel({"empty": vk.History()})


def test_filters_panel(fashion):
    from vizkit.nets import fashion_net
    from vizkit.ui import FiltersPanel

    panel = FiltersPanel({"trained": fashion, "untrained": fashion_net(),
                          "kept": {"conv1": vk.filter_weights(fashion, "conv1") * -1}})
    assert "roughness" in panel.summary.value and panel.channel.disabled
    for widget, value in ((panel.net, "untrained"), (panel.layer, "conv2"), (panel.channel, 7),
                          (panel.joint, True), (panel.net, "trained")):
        before = panel.png()
        widget.value = value
        assert panel.png() != before and panel.last_error is None
    assert panel.channel.max == 31
    panel.net.value = "kept"  # only conv1 was kept: a clear message, not a traceback
    assert isinstance(panel.last_error, KeyError) and "conv1" in panel.message.value


@pytest.fixture(scope="module")
def feature_space(fashion, fashion_test):
    data = fashion_test.subset(300)
    images, labels = data.tensors()
    feats = {layer: vk.features(fashion, data, layer, progress=False) for layer in ("pool2", "relu5")}
    return images, labels, feats


def test_neighbours_panel(fashion, feature_space):
    from vizkit.ui import NeighboursPanel

    images, labels, feats = feature_space
    panel = NeighboursPanel(fashion, images, labels, feats, k=5)
    assert panel.last_error is None and "same class" in panel.message.value
    for widget, value in ((panel.query, 11), (panel.layer, "relu5"), (panel.k, 7), (panel.metric, "euclidean")):
        before = panel.png()
        widget.value = value
        assert panel.png() != before and panel.last_error is None
    (fi, _), (pi, _) = panel.neighbours()
    assert len(fi) == 7 and 11 not in fi and list(pi) == list(vk.nearest(panel.pixels, 11, 7, "euclidean")[0])
    buf = io.BytesIO()
    Image.fromarray((images[3, 0].numpy() * 255).astype(np.uint8)).save(buf, "PNG")
    panel.upload.value = ({"name": "q.png", "content": memoryview(buf.getvalue()), "type": "image/png",
                           "size": len(buf.getvalue()), "last_modified": NOW},)
    assert panel.use_upload.value and panel.last_error is None
    (fi, fd), (pi, pd) = panel.neighbours()
    assert pi[0] == 3 and pd[0] < 1e-4  # the uploaded copy of image 3 finds image 3 first
    assert fi[0] == 3 and fd[0] < 1e-3  # by features too (up to the PNG's 8-bit rounding)
    with pytest.raises(ValueError, match="rows"):
        NeighboursPanel(fashion, images[:10], labels, feats)


def test_embedding_panel(feature_space):
    from vizkit.ui import EmbeddingPanel

    images, labels, feats = feature_space
    panel = EmbeddingPanel(feats, labels, images=images, classes=vk.FashionMNIST.classes)
    assert panel.last_error is None and panel.perplexity.disabled
    for widget, value in ((panel.layer, "relu5"), (panel.method, "tsne"), (panel.perplexity, 10.0),
                          (panel.show_thumbnails, True), (panel.method, "pca")):
        before = panel.png()
        widget.value = value
        assert panel.png() != before and panel.last_error is None
    cached = dict(panel._cache)
    panel.method.value = "tsne"  # back to a computed setting: taken from the cache
    assert panel._cache.keys() == cached.keys()
    assert panel.perplexity.continuous_update is False and panel.min_dist.continuous_update is False
    panel.perplexity.max = 1000
    panel.perplexity.value = 500  # too large for 300 points: shown, not raised
    assert isinstance(panel.last_error, ValueError) and "perplexity" in panel.message.value


def test_field_panel(fashion, fashion_test):
    from vizkit.ui import FieldPanel

    panel = FieldPanel(fashion, {"boot": fashion_test[0][0], "bag": fashion_test[18][0]})
    for widget, value in ((panel.layer, "conv3"), (panel.y, 3), (panel.x, 5), (panel.image, "bag")):
        before = panel.png()
        widget.value = value
        assert panel.png() != before and panel.last_error is None
    assert panel.y.max == 6 and "rows 4…23" in panel.caption.value  # -8 + 3 * 4 = 4, size 20


def test_patches_panel(fashion, fashion_test, monkeypatch):
    from vizkit.ui import PatchesPanel

    data = fashion_test.subset(200)
    panel = PatchesPanel(fashion, data, ["conv1", "conv3"], k=4)
    panel.layer.value = "conv3"
    assert panel.channel.max == 127
    calls = []
    monkeypatch.setattr("vizkit.ui._panel.top_patches", lambda *a, **k: calls.append(a))
    for value in (3, 4):
        before = panel.png()
        panel.channel.value = value
        assert panel.png() != before and panel.last_error is None
    panel.layer.value = "conv1"  # computed before: from the cache
    assert not calls
    expected = vk.top_patches(fashion, data, "conv1", k=4, progress=False)
    assert torch.equal(panel.result("conv1").indices, expected.indices)


def test_the_colour_scale_box_is_off_where_it_has_no_effect(panel):
    panel.mode.value = "one channel"
    assert panel.joint.disabled
    panel.mode.value = "all channels"
    assert not panel.joint.disabled
    before = panel.png()
    panel.joint.value = not panel.joint.value
    assert panel.png() != before


def test_activations_panel_shows_channels_last_layers_and_skips_layers_never_run():
    from test_hooks import Unused, layout_pair

    net, twin, x = layout_pair()
    images = {"noise": net.pixels(x)[0]}
    panel = ActivationsPanel(net, images, layer="relu")
    assert panel.layer.options == ("conv", "fc", "relu", "head") and panel.channel.max == 4  # 5 channels, not H = 12
    torch.testing.assert_close(panel.maps(), vk.activations(twin, panel._inputs["noise"], "relu")["relu"])
    unused = vk.wrap(Unused(), input_size=8, layers={"conv": "conv", "head": "aux.1", "proj": "proj", "fc": "fc"})
    assert ActivationsPanel(unused, {"noise": torch.rand(3, 8, 8)}).layer.options == ("conv",)
    assert ActivationsPanel(vk.wrap(Unused(), input_size=8, layers={}), {"noise": torch.rand(3, 8, 8)}).layer.options \
        == ("conv",)  # no aliases: every module path, the ones never run left out


def test_panels_show_patches_found_beforehand_without_searching(fashion, fashion_test, tmp_path, monkeypatch):
    """A scan's top patches (python -m vizkit scan, vk.load_scan) drive PatchesPanel and TopProjectionsPanel: the
    same pictures as a live search, and no search runs."""
    from vizkit.scan import scan
    from vizkit.ui import PatchesPanel, TopProjectionsPanel

    data = fashion_test.subset(200)
    live = PatchesPanel(fashion, data, ["conv1", "conv3"], k=4)
    live.layer.value = "conv3"
    live.channel.value = 5
    scan("top-patches", fashion, data, ["conv1", "conv3"], tmp_path / "top.pt", k=4, progress=False)
    found = vk.load_scan(tmp_path / "top.pt", dataset=data, net=fashion)
    monkeypatch.setattr("vizkit.ui._panel.top_patches", lambda *a, **k: pytest.fail("searched again"))
    panel = PatchesPanel(fashion, data, ["conv1", "conv3"], k=4, found=found)
    panel.layer.value = "conv3"
    panel.channel.value = 5
    assert panel.png() == live.png() and panel.last_error is None
    zf = TopProjectionsPanel(fashion, data, ["conv3"], k=4, found={"conv3": found["conv3"]})
    assert zf.crops("conv3", 5)[0].shape == (4, 20, 20, 1)


@pytest.mark.parametrize("found, error, words", [
    ([1, 2], TypeError, "found must be a dict layer -> TopPatches"),
    ({"conv2": "patches"}, TypeError, "found must be a dict layer -> TopPatches"),
    ("other layer", ValueError, "which the panel does not show"),
    ("renamed", ValueError, "holds the top patches of layer 'conv1'"),
    ("bigger data", ValueError, "lists dataset index"),
])
def test_found_patches_that_do_not_fit_the_panel_are_refused(fashion, fashion_test, found, error, words):
    from vizkit.ui import PatchesPanel

    data = fashion_test.subset(200)
    if isinstance(found, str):
        big = vk.top_patches(fashion, fashion_test.subset(1000) if found == "bigger data" else data, "conv1", k=4,
                             progress=False)
        found = {"conv3": big} if found == "other layer" else {"conv2" if found == "renamed" else "conv1": big}
    layers = ["conv1", "conv2"] if "conv2" in found else ["conv1"]
    with pytest.raises(error, match=words):
        PatchesPanel(fashion, data, layers, k=4, found=found)
