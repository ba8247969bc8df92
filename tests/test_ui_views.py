"""How panels show things: pictures at their own pixel size, errors and long work announced right above the
picture (which fades when it no longer matches the controls), and view-only controls that only redraw."""

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

import vizkit as vk
from vizkit.ui import (
    ActivationsPanel,
    EmbeddingPanel,
    FieldPanel,
    FiltersPanel,
    InversionPanel,
    NeighboursPanel,
    PatchesPanel,
    TrainingReplayPanel,
)
from vizkit.ui._panel import png_size


def picture(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)


@pytest.fixture(scope="module")
def space(fashion, fashion_test):
    data = fashion_test.subset(120)
    images, labels = data.tensors()
    return data, images, labels, {"relu5": vk.features(fashion, data, "relu5", progress=False)}


@pytest.fixture(scope="module")
def panels(fashion, fashion_test, space):
    data, images, labels, feats = space
    items = {"boot": fashion_test[0][0], "bag": fashion_test[18][0]}
    return [ActivationsPanel(fashion, items), FiltersPanel({"trained": fashion}), FieldPanel(fashion, items),
            PatchesPanel(fashion, data, ["conv1"], k=4), NeighboursPanel(fashion, images, labels, feats, k=16),
            EmbeddingPanel(feats, labels, images=images, classes=vk.FashionMNIST.classes),
            TrainingReplayPanel(vk.runs.load("monitoring"))]


def test_pictures_are_shown_at_their_own_size(panels):
    for panel in panels:
        w, h = png_size(panel.png())
        assert Image.open(io.BytesIO(panel.png())).size == (w, h)
        layout = panel.view.layout
        assert (layout.width, layout.height) == (f"{w}px", f"{h}px"), type(panel).__name__
        assert layout.align_self == "flex-start"  # not stretched to the output's width
        assert 300 <= w <= 900 and h <= 900, (type(panel).__name__, w, h)


def test_message_and_progress_sit_right_above_the_picture(panels):
    for panel in panels:
        children = list(panel.widget.children)
        at = children.index(panel.view)
        assert children[at - 2:at] == [panel.progress, panel.message], type(panel).__name__


def test_a_failing_control_fades_the_picture_and_says_why_above_it(fashion):
    panel = FiltersPanel({"trained": fashion, "kept": {"conv1": vk.filter_weights(fashion, "conv1")}})
    panel.layer.value = "conv2"
    good = panel.png()
    panel.net.value = "kept"  # keeps conv1 only
    assert isinstance(panel.last_error, KeyError) and "faded picture" in panel.message.value
    faded = panel.png()
    assert faded != good and png_size(faded) == png_size(good)
    assert picture(faded).std() < 0.5 * picture(good).std()  # washed out: no longer reads as current
    panel.layer.value = "conv1"  # a working choice: a crisp picture again, the message gone
    assert panel.last_error is None and panel.message.value == "" and picture(panel.png()).std() > picture(faded).std()


def test_a_setting_without_a_result_fades_the_old_one(fashion, fashion_test):
    panel = InversionPanel(fashion, {"boot": fashion_test[0][0]}, layers=["relu1", "relu2"], steps=4, every=2)
    panel.run(block=True)
    shown = panel.png()
    panel.layer.value = "relu2"
    assert "press Run" in panel.message.value and panel.png() != shown


def record(panel):
    """[(what changed, value), ...] of the panel's message, progress bar and picture, in order."""
    events = []
    panel.message.observe(lambda c: events.append(("message", c["new"])), "value")
    panel.progress.observe(lambda c: events.append(("progress", (panel.progress.value, panel.progress.max))),
                           "value")
    panel.view.observe(lambda c: events.append(("picture", len(c["new"]))), "value")
    return events


def test_a_first_search_says_so_before_it_works_and_shows_progress(fashion, fashion_test):
    panel = PatchesPanel(fashion, fashion_test.subset(600), ["conv1", "conv3"], k=4, batch_size=50)
    events = record(panel)
    panel.layer.value = "conv3"
    assert events[0][0] == "message" and "searching 600 images" in events[0][1]
    progress = [v for kind, v in events if kind == "progress"]
    assert len(progress) >= 5 and progress[-1] == (600, 600)
    assert [kind for kind, _ in events].index("progress") < len(events) - 2  # progress before the new picture
    assert panel.progress.layout.display == "none" and panel.message.value == ""
    expected = vk.top_patches(fashion, fashion_test.subset(600), "conv3", k=4, progress=False)
    assert torch.equal(panel.result().indices, expected.indices)  # searched in shards: the same result


def test_tsne_draws_its_map_as_it_forms(space):
    _, images, labels, feats = space
    panel = EmbeddingPanel(feats, labels)
    events = record(panel)
    panel.method.value = "tsne"
    assert panel.last_error is None and events[0][0] == "message" and "t-SNE" in events[0][1]
    pictures = [i for i, (kind, _) in enumerate(events) if kind == "picture"]
    assert len(pictures) >= 10  # intermediate maps, then the final one
    assert max(v[0] for kind, v in events if kind == "progress") == 750


def test_trustworthiness_of_large_maps_is_scored_on_a_stated_sample(fashion, fashion_test):
    data = fashion_test.subset(1100)
    f = vk.features(fashion, data, "relu5", progress=False)
    panel = EmbeddingPanel({"relu5": f}, data.tensors()[1])
    assert len(panel.sample) == 1000
    assert "trustworthiness" in panel.title
    assert "on 1,000 of the points" in panel.title
    s = panel.sample
    assert panel._trust[panel._key()] == pytest.approx(vk.trustworthiness(f[s], panel.points()[s]))
    small = EmbeddingPanel({"relu5": f[:200]}, data.tensors()[1][:200])
    assert small.sample is None


def test_view_only_controls_do_not_search_again(fashion, space, monkeypatch):
    data, images, labels, feats = space
    panel = NeighboursPanel(fashion, images, labels, {**feats, "relu4": vk.features(fashion, data, "relu4",
                                                                                      progress=False)}, k=5)
    calls = []
    real = vk.NeighbourIndex.nearest
    monkeypatch.setattr(vk.NeighbourIndex, "nearest", lambda *a, **k: calls.append(a) or real(*a, **k))
    for value in (9, 3, 12):
        panel.k.value = value
    assert not calls and len(panel.neighbours()[0][0]) == 12
    panel.layer.value = "relu4"  # a new layer searches once (the pixel neighbours are kept)
    panel.layer.value = "relu5"
    assert len(calls) == 1 and panel.last_error is None


def test_curves_of_every_layer_are_drawn_once_up_front():
    panel = TrainingReplayPanel(vk.runs.load("monitoring"))
    assert set(panel._drawn) == set(panel.layer.options)
    before = panel.png()
    panel.layer.value = panel.layer.options[-1]
    assert panel.png() != before and panel.last_error is None


def test_thumbnails_are_one_picture_and_land_on_their_points():
    points = np.array([[0.0, 0.0], [10.0, 10.0]])
    images = torch.zeros(2, 1, 4, 4)
    images[1] = 1.0
    ax = vk.plot.thumbnails(points, images, Figure(figsize=(4, 4), dpi=72).add_subplot(), zoom=2)
    assert len(ax.images) == 1 and not ax.artists
    layer = vk.plot.thumbnail_layer(points, images, (100, 100), (0, 10, 0, 10), 8)
    assert layer.shape == (100, 100, 4) and layer[..., 3].sum() == 2 * 4 * 4  # 8x8 each, a quarter inside
    assert layer[0, 99, 0] == 1 and layer[99, 0, 3] == 1 and layer[99, 0, 0] == 0  # white top right, black bottom left


def test_a_caption_under_a_filter_grid_is_drawn():
    def png(label):
        ax = vk.plot.filter_grid(torch.randn(8, 1, 5, 5), Figure(figsize=(3, 3)).add_subplot())
        if label:
            ax.set_xlabel("conv1: 3 dead", fontsize=7)
        buf = io.BytesIO()
        ax.figure.savefig(buf, format="png")
        return picture(buf.getvalue())
    assert (png(True) != png(False)).any()


def test_a_layer_change_draws_once(fashion, fashion_test):
    panel = FieldPanel(fashion, {"boot": fashion_test[0][0]})
    panel.y.value, panel.x.value = 20, 20
    drawn = []
    real = panel.render
    panel.render = lambda: drawn.append(1) or real()
    panel.layer.value = "conv3"  # 7x7: y and x are moved back inside by the panel, which then draws once
    assert (panel.y.value, panel.x.value) == (6, 6) and len(drawn) == 1 and panel.last_error is None


def test_a_panel_displays_as_its_widget_and_says_so_in_one_line_elsewhere(fashion, fashion_test):
    panel = ActivationsPanel(fashion, {"boot": fashion_test[0][0]})
    bundle = panel._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id
    assert bundle["text/plain"] == "[ActivationsPanel: a live panel; run the notebook to use it]"
