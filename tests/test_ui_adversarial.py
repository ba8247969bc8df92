"""Panels of notebooks 12 and 13: the adversarial panel recomputes at once and keeps each setting, the
label flips while the change stays within eps; the DeepDream panel runs, raises the layer's norm, and
refuses bad arguments with clear errors."""

import pytest
import torch

from vizkit.ui import AdversarialPanel, DeepDreamPanel
from vizkit.ui.adversarial import UNTARGETED


@pytest.fixture(scope="module")
def images(fashion_test):
    return {f"{fashion_test.classes[int(fashion_test.labels[i])]} #{i}": fashion_test[i][0] for i in (0, 18)}


def test_adversarial_panel_flips_the_label_within_eps(fashion, images, monkeypatch):
    panel = AdversarialPanel(fashion, images, eps=0.0)
    assert panel.last_error is None and panel.png() and "unchanged" in panel.message.value
    x, adv = panel.attack()
    assert torch.equal(x, adv)
    panel.method.value = "PGD"
    panel.eps.value = 0.1
    x, adv = panel.attack()
    assert "flipped" in panel.message.value and float((adv - x).abs().max()) <= 0.1 + 1e-5
    calls = []
    monkeypatch.setattr("vizkit.ui.adversarial.pgd", lambda *a, **k: calls.append(1))
    shown = panel.png()
    panel.eps.value = 0.05
    panel.eps.value = 0.1  # computed before: only redrawn
    assert panel.png() == shown and len(calls) == 1


def test_adversarial_panel_targeted(fashion, images):
    panel = AdversarialPanel(fashion, images, eps=0.1, method="PGD", target="Bag", steps=40)
    assert panel.target.value == "Bag"
    assert panel.last_error is None and "<b>Bag</b>" in panel.message.value
    panel.target.value = UNTARGETED
    assert panel.last_error is None and "Bag" not in panel.message.value.split("now says")[1][:12]


@pytest.mark.parametrize("kwargs, error", [
    ({"eps": -0.1}, ValueError),
    ({"eps": 0.5}, ValueError),          # above max_eps
    ({"max_eps": 0}, ValueError),
    ({"method": "BIM"}, ValueError),
    ({"target": "Bags"}, KeyError),
    ({"target": 10}, ValueError),
    ({"steps": 0}, ValueError),
])
def test_adversarial_panel_refuses_bad_arguments(fashion, images, kwargs, error):
    with pytest.raises(error):
        AdversarialPanel(fashion, images, **kwargs)
    with pytest.raises(ValueError):
        AdversarialPanel(fashion, {})


def test_deepdream_panel_runs_and_raises_the_norm(fashion, images):
    panel = DeepDreamPanel(fashion, images, steps=5)
    assert panel.size == 112 and panel.channel.disabled and "press Run" in panel.message.value
    assert panel.layer.value in fashion.layers
    panel.run(block=True)
    assert panel.last_error is None and panel.png() and panel.preview.value
    result = panel.results[panel.key()]
    assert result.image.shape == (1, 1, 112, 112) and len(result.losses) == 4 * 5
    gain = float(panel.message.value.split("(x")[1].split(")")[0])
    assert gain > 1.2
    panel.all.value = False
    assert not panel.channel.disabled and "press Run" in panel.message.value
    panel.layer.value = "relu1"
    assert panel.channel.max == 31


@pytest.mark.parametrize("kwargs, error", [
    ({"layers": ["relu9"]}, KeyError),
    ({"layers": ["fc5"]}, ValueError),   # a vector: nothing to dream over
    ({"octaves": 0}, ValueError),
    ({"steps": 0}, ValueError),
    ({"size": 3}, ValueError),
])
def test_deepdream_panel_refuses_bad_arguments(fashion, images, kwargs, error):
    with pytest.raises(error):
        DeepDreamPanel(fashion, images, **kwargs)
