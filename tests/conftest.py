"""Shared fixtures: the bundled net, tiny models, Fashion-MNIST, and a local torch hub cache."""

import os

import pytest
import torch
import torchvision

import vizkit as vk
from vizkit.nets import checkpoint_path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["VIZKIT_OFFLINE"] = "1"  # tests never try a download
# The suite compares with references built on the CPU, to float32 rounding; GPU kernels differ by more (up to
# 3e-4 in occlusion probabilities on an H200, where cuDNN convolves in TF32 by default). test_device.py and
# test_zoo.py name their devices and run on every one this machine has.
os.environ["VIZKIT_DEVICE"] = "cpu"


@pytest.fixture(scope="session")
def fashion():
    return vk.load("fashion-cnn")


@pytest.fixture(scope="session")
def fashion_test():
    return vk.FashionMNIST(train=False)


@pytest.fixture(scope="session")
def fashion_batch(fashion, fashion_test):
    x, y = fashion_test.tensors(torch.arange(64))
    return fashion.normalize(x), y


@pytest.fixture
def fresh_fashion():
    """A private copy of the bundled net that a test may modify."""
    return vk.load("fashion-cnn")


def save_random_weights(name: str, home) -> str:
    """Write a seeded random state dict where torchvision's weights for `name` are cached."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None)
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    os.environ["TORCH_HOME"] = str(home)
    path = checkpoint_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return str(path)


@pytest.fixture(scope="session")
def random_weights():
    """save_random_weights(name, home), for tests that need an ImageNet architecture."""
    return save_random_weights


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory):
    """A temporary TORCH_HOME holding locally made (random) ResNet-18 weights."""
    home = tmp_path_factory.mktemp("torch_home")
    old = os.environ.get("TORCH_HOME")
    save_random_weights("resnet18", home)
    yield home
    if old is None:
        os.environ.pop("TORCH_HOME", None)
    else:
        os.environ["TORCH_HOME"] = old
