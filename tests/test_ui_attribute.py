"""Panels of notebooks 07 and 08, driven by setting widget values: every control changes the picture,
and controls that only change the view do not recompute."""

import pytest
import torch

import vizkit as vk
from vizkit.ui import OcclusionPanel, ProjectionPanel, SaliencyPanel, TopProjectionsPanel


@pytest.fixture(scope="module")
def images(fashion_test):
    return {f"{fashion_test.classes[int(fashion_test.labels[i])]} #{i}": fashion_test[i][0] for i in (0, 2, 18)}


def changes(panel, *steps):
    for set_value in steps:
        before = panel.png()
        set_value()
        assert panel.last_error is None, panel.last_error
        assert panel.png() != before


def test_projection_panel(fashion, images, monkeypatch):
    panel = ProjectionPanel(fashion, images)
    assert panel.layer.value == "pool3" and panel.channel.max == 127
    changes(panel, lambda: setattr(panel.layer, "value", "conv2"), lambda: setattr(panel.channel, "value", 7),
            lambda: setattr(panel.image, "value", "Bag #18"), lambda: setattr(panel.show, "value", "deconvnet"))
    assert panel.channel.max == 63
    got = panel.projections()["guided backprop"]
    torch.testing.assert_close(got, vk.guided_backprop(fashion, panel._input()[0], "conv2", 7))
    calls = []
    monkeypatch.setattr("vizkit.ui.projections.METHODS", {"deconvnet": lambda *a, **k: calls.append(a)})
    panel.show.value = "side by side"  # view only: nothing recomputed
    assert not calls and panel.last_error is None


def test_top_projections_panel(fashion, fashion_test):
    panel = TopProjectionsPanel(fashion, fashion_test.subset(300), ["conv1", "conv3"], k=4)
    changes(panel, lambda: setattr(panel.channel, "value", 3), lambda: setattr(panel.layer, "value", "conv3"))
    patches, projections = panel.crops("conv3", 3)
    tp = panel.top("conv3")
    assert patches.shape == (4, *tp.rf.size, 1) and projections.shape == (4, *tp.rf.size, 3)
    # the first projection is deconvnet of the best image at its strongest position
    i, y, x = int(tp.indices[3, 0]), int(tp.ys[3, 0]), int(tp.xs[3, 0])
    signal = vk.deconvnet(fashion, fashion.normalize(fashion_test[i][0][None]), "conv3", 3, position=(y, x))
    expect = vk.plot.projection_rgb(signal)
    top, left = tp.rf.box(y, x)[:2]
    inside = ~torch.isnan(torch.from_numpy(projections[0][..., 0]))
    ys, xs = torch.nonzero(inside, as_tuple=True)
    want = torch.from_numpy(expect[ys + top, xs + left]).float()
    assert torch.allclose(torch.from_numpy(projections[0][ys, xs]), want)


def test_occlusion_panel(fashion, images, monkeypatch):
    panel = OcclusionPanel(fashion, images)
    assert panel.window.value == 7 and panel.stride.value == 2
    changes(panel, lambda: setattr(panel.window, "value", 5), lambda: setattr(panel.stride, "value", 3),
            lambda: setattr(panel.fill, "value", 0.5), lambda: setattr(panel.target, "value", "Sandal"),
            lambda: setattr(panel.image, "value", "Trouser #2"))
    torch.testing.assert_close(panel.probs()[5], vk.occlusion(fashion, panel._input()[0], 5, 5, 3, fill=0.5,
                                                              progress=False))
    assert "p(Sandal)" in panel.caption.value
    monkeypatch.setattr("vizkit.ui.saliency.occlusion_probs", lambda *a, **k: 1 / 0)
    changes(panel, lambda: setattr(panel.target, "value", "Bag"))  # view only: no occlusion run
    panel.window.value = 9  # a recompute: the (failing) computation's error is shown in the panel
    assert isinstance(panel.last_error, ZeroDivisionError) and "ZeroDivisionError" in panel.message.value
    assert panel.progress.layout.display == "none"


def test_saliency_panel(fashion, images):
    panel = SaliencyPanel(fashion, images, smooth=4)
    assert panel.layer.value == "relu3"
    changes(panel, lambda: setattr(panel.layer, "value", "relu2"), lambda: setattr(panel.target, "value", "Coat"),
            lambda: setattr(panel.smooth, "value", 6), lambda: setattr(panel.overlay, "value", False),
            lambda: setattr(panel.image, "value", "Bag #18"))
    x = panel._input()[0]
    maps = panel.maps()
    torch.testing.assert_close(maps["Grad-CAM"], vk.grad_cam(fashion, x, "Coat", "relu2"))
    torch.testing.assert_close(maps["SmoothGrad"], vk.saliency(fashion, x, "Coat", smooth=6))


def test_panels_reject_bad_setup(fashion, images):
    with pytest.raises(ValueError, match="at least one image"):
        OcclusionPanel(fashion, {})
    with pytest.raises(ValueError, match="at least one conv layer"):
        TopProjectionsPanel(fashion, vk.FashionMNIST(train=False).subset(10), [])


def test_saliency_panel_shows_the_students_saliency(fashion, images):
    """The `saliency` exercise's function drives the panel: its map beside vizkit's, given the model frozen and
    getting it back as it was."""
    from vizkit.exercises.implement import IMPLEMENTS

    seen = []

    def yours(model, x, target):
        seen.append((model.training, any(p.requires_grad for p in model.parameters()), target))
        return IMPLEMENTS["saliency"].reference(model, x, target)

    panel = SaliencyPanel(fashion, images, smooth=2, yours=yours)
    assert panel.last_error is None and panel.yours_note() == "" and "not done" not in panel.message.value
    x, t = panel._input()[0], panel.target_index()
    maps = panel.maps()
    assert list(maps)[-1] == "your saliency" and len(maps) == len(SaliencyPanel.METHODS) + 1
    torch.testing.assert_close(maps["your saliency"], vk.saliency(fashion, x, t))
    assert seen == [(False, False, t)]
    changes(panel, lambda: setattr(panel.target, "value", "Sandal"))   # a new class: the student's map again
    torch.testing.assert_close(panel.maps()["your saliency"], vk.saliency(fashion, x, "Sandal"))
    assert len(seen) == 2 and seen[-1][2] == fashion.classes.index("Sandal")


def not_done(model, x, target):
    raise NotImplementedError


def leaves_the_model_training(model, x, target):
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    x = x.clone().requires_grad_(True)
    model(x)[0, target].backward()
    raise NotImplementedError


@pytest.mark.parametrize("yours, message", [
    (not_done, "your saliency is not done yet: showing vizkit's gradient"),
    (lambda model, x, target: 1 / 0, "your saliency raised ZeroDivisionError: division by zero; showing vizkit's "
                                     "gradient"),
    (lambda model, x, target: torch.ones(1, 28, 28), r"your saliency returned shape (1, 28, 28); expected (28, 28)"),
    (lambda model, x, target: torch.full((28, 28), float("nan")), "NaN"),
    (lambda model, x, target: [[0.0]], "returned a list"),
    (leaves_the_model_training, "not done yet"),
])
def test_saliency_panel_stands_in_for_a_saliency_not_done(fashion, images, yours, message):
    before = (fashion.model.training, [p.requires_grad for p in fashion.model.parameters()],
              [p.grad for p in fashion.model.parameters()])
    panel = SaliencyPanel(fashion, images, smooth=2, yours=yours)
    assert panel.last_error is None
    maps = panel.maps()
    assert torch.equal(maps["your saliency"], maps["gradient"])
    assert message in panel.yours_note() and message in panel.message.value
    assert (fashion.model.training, [p.requires_grad for p in fashion.model.parameters()],
            [p.grad for p in fashion.model.parameters()]) == before
    changes(panel, lambda: setattr(panel.image, "value", "Bag #18"))   # still a working panel, still saying so
    assert message in panel.message.value


def test_saliency_panel_refuses_a_yours_that_is_not_a_function(fashion, images):
    with pytest.raises(TypeError, match="yours must be your saliency function"):
        SaliencyPanel(fashion, images, smooth=2, yours="saliency")


def test_saliency_panel_defaults_to_a_layer_the_image_reaches():
    from test_attribute import PositionTable

    torch.manual_seed(0)
    net = vk.wrap(PositionTable(), input_size=8, name="table")
    panel = SaliencyPanel(net, {"noise": torch.rand(3, 8, 8)}, smooth=2)
    assert net.layers["relu2"] == "table_relu"  # the last ReLU, on a table no image reaches
    assert panel.layer.value == "relu1" and "relu2" not in panel.layer.options
    assert panel.last_error is None and panel.png()
