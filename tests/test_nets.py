"""load / wrap / Net: weights, aliases, preprocessing, prediction, and offline errors."""

import json

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import vizkit as vk
from vizkit.nets import BUNDLED_WEIGHTS, checkpoint_path, default_aliases


def test_bundled_fashion_cnn_is_accurate(fashion, fashion_test):
    """The committed weights reach the committed record's accuracy, and at least 92 %."""
    record = json.loads((BUNDLED_WEIGHTS.parent / "fashion-cnn.json").read_text())
    accuracy = vk.evaluate(fashion, fashion_test)
    assert accuracy >= 0.92
    assert accuracy == pytest.approx(record["test_accuracy"], abs=2e-3)
    assert BUNDLED_WEIGHTS.stat().st_size <= 5_000_000
    assert fashion.classes[9] == "Ankle boot" and fashion.input_size == (28, 28) and fashion.channels == 1


def test_untrained_architectures(fashion, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached, and none needed
    fresh = vk.load("fashion-cnn", pretrained=False)
    assert not torch.equal(fresh.model.features[0].weight, fashion.model.features[0].weight)
    assert fresh.layers == fashion.layers and fresh.classes == fashion.classes
    assert vk.load("resnet18", pretrained=False).classes[0] == "tench"


def test_architecture_is_alexnet_like(fashion):
    convs = [m for m in fashion.model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in fashion.model.modules() if isinstance(m, nn.Linear)]
    pools = [m for m in fashion.model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(convs) >= 3 and len(linears) >= 3 and pools  # >= 2 hidden FC layers + the output
    assert {"conv1", "conv2", "conv3", "relu1", "pool1", "fc4", "fc5", "fc6"} <= set(fashion.layers)


def test_imagenet_aliases():
    alex = default_aliases(torchvision.models.alexnet())
    assert (alex["conv1"], alex["conv5"], alex["pool5"], alex["fc6"], alex["fc7"], alex["fc8"]) == (
        "features.0", "features.10", "features.12", "classifier.1", "classifier.4", "classifier.6")
    vgg = default_aliases(torchvision.models.vgg16())
    assert (vgg["conv1_1"], vgg["conv3_2"], vgg["conv5_3"], vgg["pool5"], vgg["fc6"], vgg["fc8"]) == (
        "features.0", "features.12", "features.28", "features.30", "classifier.0", "classifier.6")
    assert sum(k.startswith("conv") for k in default_aliases(torchvision.models.vgg19())) == 16
    res = default_aliases(torchvision.models.resnet18())
    assert res["stem"] == "maxpool" and res["stage4"] == "layer4"


def test_load_reads_the_torch_hub_cache(torch_home):
    """The real loading path: a state dict at $TORCH_HOME/hub/checkpoints/<file> is used, offline."""
    net = vk.load("resnet18", download=False)
    expected = torch.load(checkpoint_path(torchvision.models.ResNet18_Weights.DEFAULT.url), weights_only=True)
    assert torch.equal(net.model.conv1.weight, expected["conv1.weight"])
    assert net.classes[0] == "tench" and len(net.classes) == 1000
    assert net.input_size == (224, 224) and net.resize == 256 and net.channels == 3
    x = net.preprocess(vk.sample_image("china"))
    assert x.shape == (1, 3, 224, 224)
    top = net.predict(x, k=3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    assert not net.model.training


def test_offline_without_cache_names_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(vk.WeightsUnavailableError) as info:
        vk.load("alexnet", download=False)
    msg = str(info.value)
    assert "alexnet-owt-7be5be79.pth" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    # with downloading allowed but no network, the same advice plus the failure
    with pytest.raises(vk.WeightsUnavailableError, match="download failed"):
        vk.load("alexnet", download=True)
    assert isinstance(info.value, FileNotFoundError)


def test_corrupt_cache_file_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = checkpoint_path(torchvision.models.AlexNet_Weights.DEFAULT.url)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(vk.WeightsUnavailableError, match="delete it"):
        vk.load("alexnet")


def test_unknown_model_suggests():
    with pytest.raises(KeyError, match="'alexnet'"):
        vk.load("alexnett")
    with pytest.raises(TypeError, match="wrap"):
        vk.load(nn.Linear(2, 2))


def test_preprocess_deprocess_round_trip(fashion, fashion_test):
    x, _ = fashion_test[3]
    inp = fashion.preprocess(x)
    assert inp.shape == (1, 1, 28, 28)
    assert np.allclose(fashion.deprocess(inp)[..., 0], x[0].numpy(), atol=1e-6)
    # a colour photo becomes a grey 28 x 28 input for fashion-cnn
    assert fashion.preprocess(vk.sample_image("flower")).shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fashion.preprocess(x * 5)
    with pytest.raises(ValueError, match="deprocess"):
        fashion.deprocess(torch.zeros(2, 3, 4, 4))


def test_predict_agrees_with_the_model(fashion, fashion_test):
    x, y = fashion_test[0]
    inp = fashion.preprocess(x)
    with torch.no_grad():
        probs = torch.softmax(fashion.model(inp), 1)[0]
    top = fashion.predict(inp, k=10)
    assert [name for name, _ in top][0] == fashion.classes[int(probs.argmax())] == fashion.classes[y]
    assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-5)
    assert top[0][1] == pytest.approx(float(probs.max()), abs=1e-6)
    with pytest.raises(ValueError, match="k must"):
        fashion.predict(inp, k=0)


def test_wrap_any_module():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    net = vk.wrap(model, classes=["cat", "dog"], mean=[0.5] * 3, std=[0.25] * 3, input_size=(16, 16))
    assert net.layers["conv1"] == "0" and net.layers["fc2"] == "4"
    assert [c for c, _ in net.predict(np.zeros((20, 30, 3), np.uint8), k=2)] in (["cat", "dog"], ["dog", "cat"])
    assert vk.wrap(model, input_size=8).classes == ["class 0", "class 1"]
    with pytest.raises(ValueError, match="input_size"):
        vk.wrap(model)
    with pytest.raises(TypeError, match="nn.Module"):
        vk.wrap("model", input_size=8)
    with pytest.raises(ValueError, match="std"):
        vk.wrap(model, mean=[0, 0, 0], std=[1, 0, 1], input_size=8)


def test_real_alexnet_weights_file_loads(tmp_path, monkeypatch, random_weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    random_weights("alexnet", tmp_path)
    net = vk.load("alexnet")
    assert net.layers["conv1"] == "features.0"
    assert net.preprocess(vk.sample_image("grace_hopper")).shape == (1, 3, 224, 224)


def test_pixels_logits_and_probs_against_the_formulas(fashion, fashion_batch):
    """Net.pixels undoes normalize (x * std + mean); logits is the model's output; probs its softmax."""
    x = fashion_batch[0][:5]
    written = x * fashion.std[0] + fashion.mean[0]  # one channel: the formula by hand
    assert torch.allclose(fashion.pixels(x, clamp=False), written, atol=1e-6)
    assert torch.allclose(fashion.pixels(x), written.clamp(0, 1), atol=1e-6)
    assert fashion.pixels(x[0]).shape == x[0].shape                        # (C, H, W) in, (C, H, W) out
    assert torch.allclose(fashion.pixels(fashion.normalize(written.clamp(0, 1))), written.clamp(0, 1), atol=1e-6)
    outside = x.clone()
    outside[0, 0, 0, 0] = 40.0
    assert float(fashion.pixels(outside, clamp=False).max()) > 1 and float(fashion.pixels(outside).max()) == 1
    with torch.no_grad():
        expected = fashion.model(x)
    assert torch.equal(fashion.logits(x), expected)
    assert torch.allclose(fashion.logits(x, batch_size=2), expected, atol=1e-5)
    p = fashion.probs(x)
    assert torch.allclose(p, torch.softmax(expected, 1)) and torch.allclose(p.sum(1), torch.ones(5))
    assert p[0].argmax() == fashion.classes.index(fashion.predict(x[:1], k=1)[0][0])


def test_pixels_logits_probs_refuse_bad_input(fashion):
    with pytest.raises(TypeError, match="model input"):
        fashion.pixels(np.zeros((1, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        fashion.pixels(torch.zeros(1, 3, 28, 28))
    with pytest.raises(TypeError, match="preprocess"):
        fashion.probs("boot.png")
    with pytest.raises(ValueError, match="1-channel"):
        fashion.logits(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match="batch_size"):
        fashion.probs(torch.zeros(1, 1, 28, 28), batch_size=0)


def test_pixels_logits_probs_leave_the_model_as_found(fresh_fashion):
    from _state import model_state, same_state

    fresh_fashion.model.train()
    before = model_state(fresh_fashion)
    x = torch.zeros(3, 1, 28, 28)
    fresh_fashion.probs(x)
    fresh_fashion.pixels(x)
    assert same_state(before, model_state(fresh_fashion)) and fresh_fashion.model.training


def test_default_aliases_only_name_layers_the_forward_runs():
    from test_hooks import Unused

    net = vk.wrap(Unused(), input_size=8)
    assert set(net.layers.values()) == {"conv", "fc"}  # not the training-only head, not the F.linear weights
    assert set(vk.activations(net, torch.zeros(1, 3, 8, 8), list(net.layers))) == set(net.layers)
    assert "aux.1" in default_aliases(net.model).values()  # without a trace: every layer


def test_default_aliases_name_other_activations():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GELU(), torch.nn.Conv2d(4, 4, 3), torch.nn.ReLU6(),
                                torch.nn.Conv2d(4, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    model(torch.zeros(1, 3, 8, 8))
    assert default_aliases(model) == {"conv1": "0", "act1": "1", "conv2": "2", "act2": "3", "conv3": "4", "relu3": "5",
                                      "fc4": "7"}
