"""Panels of notebooks 09-11: Run computes (in a thread, or blocking), Stop stops, a finished setting
shows again at once, and the other controls keep working while a run goes on."""

import time

import pytest
import torch

import vizkit as vk
from vizkit.ui import ClassModelPanel, FilterPanel, InversionPanel


@pytest.fixture(scope="module")
def images(fashion_test):
    return {f"{fashion_test.classes[int(fashion_test.labels[i])]} #{i}": fashion_test[i][0] for i in (0, 18)}


def test_inversion_panel_runs_and_keeps_results(fashion, images, monkeypatch):
    panel = InversionPanel(fashion, images, layers=["relu1", "relu3"], steps=20, every=5)
    assert "press Run" in panel.message.value and not panel.png()
    panel.run(block=True)
    assert panel.last_error is None and panel.png() and panel.preview.value
    first = panel.png()
    assert "pixel correlation" in panel.message.value
    panel.layer.value = "relu3"
    assert "press Run" in panel.message.value
    panel.run()
    panel.wait(60)
    assert panel.last_error is None and panel.png() != first
    calls = []
    monkeypatch.setattr("vizkit.ui.optimize.invert", lambda *a, **k: calls.append(1))
    message, preview = panel.message.value, panel.preview.value
    monkeypatch.setattr(InversionPanel, "render", lambda self: calls.append("render"))
    panel.layer.value = "relu1"  # computed before: shown again from its picture, without running or redrawing
    assert panel.png() == first and not calls
    panel.layer.value = "relu3"
    assert panel.message.value == message and panel.preview.value == preview and not calls


def test_stop_ends_a_run_and_controls_answer_meanwhile(fashion, images):
    panel = InversionPanel(fashion, images, layers=["relu2"], steps=5000, every=1)
    panel.run()
    time.sleep(0.5)
    panel.image.value = "Bag #18"  # a control used while the thread runs
    panel.run()  # a second Run while running is refused, not queued
    assert "already running" in panel.message.value
    panel.stop_button.click()
    panel.wait(30)
    assert not panel._thread.is_alive() and "stopped" in panel.message.value
    assert not panel.run_button.disabled and panel.stop_button.disabled


def test_filter_panel(fashion, fashion_test):
    panel = FilterPanel(fashion, fashion_test.subset(300), layers=["conv2", "conv3"], steps=96, every=16, k=4)
    assert panel.layer.value == "conv3" and panel.channel.max == 127
    panel.channel.value = 7
    panel.run(block=True)
    result = panel.results[panel.key()]
    made = vk.activations(fashion, fashion.normalize(result.image), "conv3")["conv3"][7].mean()
    start = vk.activations(fashion, fashion.normalize(torch.full((1, 1, 28, 28), 0.286)), "conv3")["conv3"][7].mean()
    assert panel.last_error is None and panel.png() and float(made) > float(start)


def test_class_model_panel(fashion):
    panel = ClassModelPanel(fashion, steps=24, every=6, start="Trouser")
    panel.run(block=True)
    made = panel.results[panel.key()]
    assert set(made) == {"plain (Simonyan)", "regularised"} and panel.png()
    for result, top in made.values():
        assert fashion.predict(fashion.normalize(result.image), k=1)[0][0] == "Trouser" == top[0][0]
    with pytest.raises(KeyError, match="Trouser"):
        ClassModelPanel(fashion, start="Trousers")


def test_inversion_panel_takes_c_and_lr_per_layer(fashion, images, monkeypatch):
    seen = []
    monkeypatch.setattr("vizkit.ui.optimize.invert", lambda *a, **k: seen.append((a[2], k["weight"], k["lr"])))
    panel = InversionPanel(fashion, images, layers=["relu1", "pool2", "relu4"], steps=3,
                           weights={"relu1": 1000.0, "pool2": 1000.0}, lrs={"pool2": 0.2})
    assert panel.weight.value == 1000.0
    panel.layer.value = "relu4"
    assert panel.weight.value == 100.0                  # a layer the dict leaves out: the default C
    panel.layer.value = "pool2"
    panel.compute(fashion, None)
    assert seen == [("pool2", 1000.0, 0.2)]
    with pytest.raises(KeyError, match="'fc9'"):
        InversionPanel(fashion, images, layers=["relu1"], weights={"fc9": 3.0})
    with pytest.raises(ValueError, match="lrs"):
        InversionPanel(fashion, images, layers=["relu1"], lrs=0.0)


def test_dream_and_texture_panels_default_to_other_activations_without_relus():
    from vizkit.ui import DeepDreamPanel, TexturePanel

    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.GELU(), nn.Conv2d(4, 4, 3, padding=1), nn.SiLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    net = vk.wrap(model, input_size=16, name="gelu")
    images = {"noise": torch.rand(3, 16, 16)}
    dream = DeepDreamPanel(net, images, octaves=1, steps=1)
    assert list(dream.layer.options) == ["act1", "act2"]
    assert TexturePanel(net, images, size=16, steps=1).chosen_layers() == ["act1", "act2"]


def test_inversion_panel_offers_the_layers_the_image_reaches():
    from test_attribute import PositionTable
    from test_hooks import Unused

    table = vk.wrap(PositionTable(), input_size=8)
    assert InversionPanel(table, {"noise": torch.rand(3, 8, 8)}, steps=1).layer.options == ("conv1", "relu1", "fc3")
    unused = vk.wrap(Unused(), input_size=8, layers={"conv": "conv", "head": "aux.1", "proj": "proj", "fc": "fc"})
    assert InversionPanel(unused, {"noise": torch.rand(3, 8, 8)}, steps=1).layer.options == ("conv", "fc")


def test_dream_panel_keeps_to_the_octaves_a_one_size_model_takes():
    from vizkit.ui import DeepDreamPanel

    class OneSize(torch.nn.Module):  # as a ViT or MaxViT: any other input size fails inside the model
        def __init__(self):
            super().__init__()
            self.conv, self.relu, self.fc = torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Linear(4, 2)

        def forward(self, x):
            torch._assert(x.shape[-1] == 16, f"Wrong image width! Expected 16 but got {x.shape[-1]}!")
            return self.fc(self.relu(self.conv(x)).mean((2, 3)))

    panel = DeepDreamPanel(vk.wrap(OneSize(), input_size=16), {"noise": torch.rand(3, 16, 16)}, steps=1)
    assert panel.size is None and panel.octaves.value == panel.octaves.max == 1  # not 4 x 16 px, not 4 octaves
    panel.run(block=True)
    assert panel.last_error is None and panel.png()
