"""Devices: vk.load picks CUDA when there is one; every technique runs on the model's device, whatever device
its input comes from, and returns its result where it is documented to be. Parametrised over this machine's
devices, so the same tests run on a GPU when one is present."""

import numpy as np
import pytest
import torch

import vizkit as vk
from vizkit.train import take_snapshot

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_load_takes_cuda_only_when_torch_has_it(monkeypatch):
    monkeypatch.delenv("VIZKIT_DEVICE")  # conftest keeps the rest of the suite on the CPU
    assert vk.load("fashion-cnn").device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert vk.load("fashion-cnn").device == torch.device("cpu")
    assert vk.load("random-multiscale").device == torch.device("cpu")


def test_vizkit_device_chooses_the_default(monkeypatch):
    monkeypatch.setenv("VIZKIT_DEVICE", "cpu")
    assert vk.load("fashion-cnn").device == torch.device("cpu")
    monkeypatch.setenv("VIZKIT_DEVICE", "gpu")
    with pytest.raises(ValueError, match="'gpu' is not a device"):
        vk.load("fashion-cnn")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("VIZKIT_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no usable CUDA GPU"):
        vk.load("fashion-cnn")


def test_load_on_an_explicit_device():
    for device in ("cpu", torch.device("cpu")):
        net = vk.load("fashion-cnn", device=device)
        assert net.device == torch.device("cpu")
        assert all(t.device.type == "cpu" for t in net.model.state_dict().values())


def test_bad_devices_are_named(monkeypatch):
    with pytest.raises(ValueError, match="'gpu' is not a device"):
        vk.load("fashion-cnn", device="gpu")
    with pytest.raises(TypeError, match="device must be"):
        vk.load("fashion-cnn", device=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no usable CUDA GPU; use device='cpu'"):
        vk.load("fashion-cnn", device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="only 1 CUDA device"):
        vk.load("fashion-cnn", device="cuda:3")


def test_net_to_moves_the_model_and_returns_the_net():
    net = vk.load("fashion-cnn", device="cpu")
    assert net.to("cpu") is net and net.device == torch.device("cpu")
    with pytest.raises(ValueError, match="'cpu:x'|not a device"):
        net.to("cpu:x")


# technique -> (call, where the result lives: "model" = the model's device, "cpu", or "numpy")
CALLS = {
    "activations": (lambda n, x, d: vk.activations(n, x, "conv2")["conv2"], "model"),
    "dead_filters": (lambda n, x, d: vk.dead_filters(n, d, "conv2"), "model"),
    "layer_stats": (lambda n, x, d: vk.layer_stats(n, d, "conv2", progress=False)["mean"], "model"),
    "filter_weights": (lambda n, x, d: vk.filter_weights(n, "conv1"), "model"),
    "features": (lambda n, x, d: vk.features(n, d, "relu4", progress=False), "numpy"),
    "top_patches": (lambda n, x, d: vk.top_patches(n, d, "conv2", k=2, progress=False).values, "cpu"),
    "top_patches crops": (lambda n, x, d: vk.top_patches(n, d, "conv2", k=2, progress=False).crops(0), "numpy"),
    "receptive_field": (lambda n, x, d: np.asarray(vk.receptive_field(n, "conv3")), "numpy"),
    "deconvnet": (lambda n, x, d: vk.deconvnet(n, x, "conv3", 3), "model"),
    "deconvnet_steps": (lambda n, x, d: vk.deconvnet_steps(n, x, "conv3", 3)[-1].signal, "model"),
    "backprop": (lambda n, x, d: vk.backprop(n, x, "conv3", 3), "model"),
    "guided_backprop": (lambda n, x, d: vk.guided_backprop(n, x, "conv3", 3), "model"),
    "saliency": (lambda n, x, d: vk.saliency(n, x, "Bag"), "model"),
    "SmoothGrad": (lambda n, x, d: vk.saliency(n, x, "Bag", smooth=2), "model"),
    "grad_cam": (lambda n, x, d: vk.grad_cam(n, x, "Bag", "relu2"), "model"),
    "guided_grad_cam": (lambda n, x, d: vk.guided_grad_cam(n, x, "Bag", "relu2"), "model"),
    "occlusion": (lambda n, x, d: vk.occlusion(n, x, "Bag", 7, 7, progress=False), "cpu"),
    "occlusion_activation": (lambda n, x, d: vk.occlusion_activation(n, x, "conv2", 1, 7, 7, progress=False), "cpu"),
    "invert": (lambda n, x, d: vk.invert(n, x, "relu2", steps=2, progress=False).image, "model"),
    "visualize_filter": (lambda n, x, d: vk.visualize_filter(n, "conv2", 1, steps=2, progress=False).image, "model"),
    "visualize_class": (lambda n, x, d: vk.visualize_class(n, "Bag", steps=2, progress=False).image, "model"),
    "fgsm": (lambda n, x, d: vk.fgsm(n, x, "Bag", 0.03), "model"),
    "pgd": (lambda n, x, d: vk.pgd(n, x, "Bag", 0.03, steps=2, random_start=True), "model"),
    "deepdream": (lambda n, x, d: vk.deepdream(n, x, "relu2", octaves=2, steps=2, progress=False).image, "model"),
    "synthesize_texture": (lambda n, x, d: vk.synthesize_texture(n, x, ["relu1"], steps=2, progress=False).image,
                           "model"),
    "style_transfer": (lambda n, x, d: vk.style_transfer(n, x, x, steps=2, settings=vk.StyleSettings(
        content_layer="relu2", style_layers=["relu1"]), progress=False).image, "model"),
    "take_snapshot": (lambda n, x, d: take_snapshot(n, d.tensors()[0], ["relu1"])["filters"], "cpu"),
    "predict": (lambda n, x, d: np.asarray([p for _, p in n.predict(x, k=2)]), "numpy"),
}


@pytest.fixture(scope="module", params=DEVICES)
def device_net(request):
    return vk.load("fashion-cnn", device=request.param)


@pytest.mark.parametrize("name", list(CALLS))
def test_techniques_run_on_the_model_device_from_a_cpu_input(device_net, fashion_test, name):
    call, where = CALLS[name]
    data = fashion_test.subset(8)
    x = vk.load("fashion-cnn", device="cpu").normalize(data[0][0][None])  # a model input made on the CPU
    assert x.device.type == "cpu"
    out = call(device_net, x, data)
    if where == "numpy":
        assert isinstance(out, np.ndarray)
    else:
        assert out.device == (device_net.device if where == "model" else torch.device("cpu")), name
    assert x.device.type == "cpu"  # the caller's tensor is not moved


def test_training_on_the_model_device(device_net, fashion_test):
    net = vk.load("fashion-cnn", pretrained=False, device=device_net.device)
    history = vk.train(net, fashion_test.subset(16), epochs=1, lr=0.01, progress=False,
                       settings=vk.TrainSettings(batch_size=8), snapshots=vk.SnapshotSettings(probe_size=4))
    assert net.device == device_net.device and history.snapshots[-1]["filters"].device.type == "cpu"
    assert 0 <= vk.evaluate(net, fashion_test.subset(16)) <= 1
