"""Panels of notebooks 14 and 15: they run, keep each setting, take uploads, and say what is wrong."""

import datetime
import io

import pytest
import torch

import vizkit as vk
from vizkit.nets import texture_net
from vizkit.ui import StylePanel, TexturePanel


@pytest.fixture(scope="module")
def net():
    return texture_net(per_size=8)


@pytest.fixture(scope="module")
def photos():
    return {"china": vk.sample_image("china"), "flower": vk.sample_image("flower")}


def png_upload(name="tiles.png"):
    buf = io.BytesIO()
    vk.sample_image("flower").resize((60, 40)).save(buf, format="png")
    return ({"name": name, "type": "image/png", "size": len(buf.getvalue()), "content": memoryview(buf.getvalue()),
             "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def test_texture_panel_runs_keeps_results_and_takes_uploads(net, photos, monkeypatch):
    panel = TexturePanel(net, photos, size=48, steps=15)
    assert list(panel.boxes) == [f"relu_{k}x{k}" for k in (3, 5, 7, 11, 15)]
    panel.run(block=True)
    assert panel.last_error is None and panel.png() and "final Gram errors" in panel.message.value
    result = panel.results[panel.key()]
    assert result.image.shape == (1, 3, 48, 72) and all(v[-1] < v[0] for v in result.terms.values())
    first = panel.png()
    panel.boxes["relu_15x15"].value = False
    assert "press Run" in panel.message.value
    calls = []
    monkeypatch.setattr("vizkit.ui.style.synthesize_texture", lambda *a, **k: calls.append(1))
    panel.boxes["relu_15x15"].value = True   # computed before: shown again at once
    assert panel.png() == first and not calls
    panel.upload.value = png_upload()
    assert panel.image.value == "uploaded: tiles.png" and panel.textures[panel.image.value].shape == (1, 3, 48, 72)


def test_texture_panel_says_what_is_wrong(net, photos):
    panel = TexturePanel(net, photos, size=48, steps=5)
    for box in panel.boxes.values():
        box.value = False
    panel.run_button.click()
    assert isinstance(panel.last_error, ValueError) and "tick at least one layer" in panel.message.value
    with pytest.raises(KeyError):
        TexturePanel(net, photos, layers=["relu_9x9"])
    with pytest.raises(ValueError):
        TexturePanel(net, {})
    with pytest.raises(ValueError):
        TexturePanel(net, photos, size=4)
    with pytest.raises((ValueError, TypeError)):
        TexturePanel(net, {"bad": torch.full((3, 9, 9), 7.0)})


def test_style_panel(net, photos):
    panel = StylePanel(net, {"china": photos["china"]}, {"flower": photos["flower"]}, size=48, steps=10)
    assert panel.content_layer.value == "relu_11x11"
    panel.run(block=True)
    assert panel.last_error is None and "content error" in panel.message.value
    result = panel.results[panel.key()]
    assert result.image.shape == (1, 3, 48, 72)
    panel.weight.value = 10.0
    assert "press Run" in panel.message.value
    panel.style_upload.value = png_upload("style.png")
    assert panel.style.value == "uploaded: style.png"
    with pytest.raises(KeyError):
        StylePanel(net, {"c": photos["china"]}, {"s": photos["flower"]}, content_layer="relu_4x4")


def test_style_panel_offers_content_layers_with_maps_only():
    from test_hooks import ChannelsLast

    net = vk.wrap(ChannelsLast(), input_size=16)  # its fc4 gives class scores, no maps
    images = {"noise": torch.rand(3, 16, 16)}
    panel = StylePanel(net, images, images, size=16, steps=1)
    assert "fc4" in net.layers and "fc4" not in panel.content_layer.options
    assert set(panel.content_layer.options) == {"conv1", "fc2", "relu2", "conv3"}
