"""Predict-then-check and find-it-with-a-panel exercises: vizkit measures the answer on the bundled fashion-cnn."""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from .runner import Find, Predict


def _fashion():
    from ..nets import load

    return load("fashion-cnn", device="cpu")


def _test_set():
    from ..data import FashionMNIST

    return FashionMNIST(train=False)


# --------------------------------------------------------------------------- predict, then check

def _field_conv3() -> int:
    from ..inspect import receptive_field

    return int(receptive_field(_fashion(), "conv3").size[0])


def _more_dead() -> str:
    from ..runs import load

    last = load("monitoring")["far too high: lr 0.12"].snapshots[-1]["dead"]
    return "relu1" if last["relu1"] > last["relu2"] else "relu2"


EPSILONS = (0.01, 0.02, 0.03, 0.05, 0.1)


def _boot_flip_eps() -> float:
    from ..optimize import pgd

    net, test = _fashion(), _test_set()
    boot, label = test[0]
    x = net.normalize(boot[None])
    for eps in EPSILONS:
        if int(net.logits(pgd(net, x, int(label), eps, steps=20)).argmax(1)) != int(label):
            return eps
    return float("inf")


def _pixel_neighbours() -> float:
    from ..inspect import knn_agreement

    images, labels = _test_set().tensors(torch.arange(2000))
    return round(knn_agreement(images.flatten(1).numpy(), labels.numpy(), k=10), 2)


PREDICTIONS = [
    Predict("rf_conv3", "How many input pixels wide is the receptive field of a unit of fashion-cnn's conv3 "
            "(5x5 conv, 2x2 pool, 3x3 conv, 2x2 pool, 3x3 conv)?", _field_conv3, unit="px"),
    Predict("more_dead", "After notebook 02's far-too-high learning rate (0.12), which layer has the larger share "
            "of dead filters: 'relu1' or 'relu2'?", _more_dead, options=("relu1", "relu2")),
    Predict("boot_flip_eps", f"The smallest eps among {list(EPSILONS)} at which a 20-step PGD attack changes "
            "fashion-cnn's label for the ankle boot (test #0)", _boot_flip_eps),
    Predict("pixel_neighbours", "Of the 10 nearest neighbours of a test image by raw pixels (2000 test images), what "
            "share belongs to the image's own class, on average? (a number in [0, 1]; within 0.1 of the truth passes)",
            _pixel_neighbours, tolerance=0.15),
]


# --------------------------------------------------------------------------- find it with a panel

def _sandal(panel: Any) -> tuple[bool, str]:
    """The panel shows an ankle boot, and some position of its window makes the network call it a sandal."""
    net = panel.net
    name = panel.image.value
    x = panel._checked[name]
    own = int(net.logits(x).argmax(1))
    if net.classes[own] != "Ankle boot":
        return False, f"{name!r} is seen as {net.classes[own]!r}: pick an image the network calls 'Ankle boot'"
    labels = panel.probs().argmax(0)
    sandal = int((labels == net.classes.index("Sandal")).sum())
    setting = f"window {panel.window.value}, stride {panel.stride.value}, fill {panel.fill.value!r}"
    if not sandal:
        return False, f"with {setting} no position of the window turns the boot into a sandal"
    return True, f"with {setting}, {sandal} of {labels.numel()} window positions turn the boot into a sandal"


def _one_class_channel(panel: Any) -> tuple[bool, str]:
    """The channel shown has top patches that all come from one class (where the images searched hold fewer than k
    of every class, as a small folder of photos may: all the images of that class among them)."""
    top = panel.result()
    channel = panel.channel.value
    labels = [int(panel.dataset[i][1]) for i in top.indices[channel].tolist() if i >= 0]
    if not labels:
        return False, f"{panel.layer.value} channel {channel} has no top patches"
    if any(y < 0 for y in labels):
        return False, "the images searched have no classes (an unlabelled folder): no channel can show one"
    names = list(getattr(panel.dataset, "classes", None) or [])
    counts = Counter(labels)
    classes = sorted((names[y] if y < len(names) else y for y in counts), key=str)
    most, n = counts.most_common(1)[0]
    searched = getattr(panel.dataset, "labels", None)           # every class's count among the images searched
    reachable = len(labels) if searched is None else min(len(labels), int(torch.as_tensor(searched).bincount().max()))
    name = names[most] if most < len(names) else most
    if len(classes) == 1:
        return True, f"{panel.layer.value} channel {channel}: all {len(labels)} top patches are {name!r}"
    if n >= reachable:
        return True, (f"{panel.layer.value} channel {channel}: {n} of its {len(labels)} top patches are {name!r}, as "
                      f"many as one class has among the images searched")
    return False, f"{panel.layer.value} channel {channel}: its top patches come from {len(classes)} classes {classes}"


FINDS = [
    Find("occlusion_sandal", "Set the occlusion panel to the ankle boot and find a window, stride and fill for which "
         "some position of the square makes the network call the boot a sandal", "OcclusionPanel", _sandal),
    Find("one_class_channel", "Set the patches panel to a channel whose top patches all come from one class",
         "PatchesPanel", _one_class_channel),
]
