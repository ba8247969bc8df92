"""filter_smoothness against a loop, and the lecture's claim: trained filters are smoother."""

import math

import numpy as np
import pytest
import torch

import vizkit as vk
from vizkit.nets import fashion_net


def naive_roughness(f: torch.Tensor) -> float:
    """Loop over neighbouring pairs of one (in, kh, kw) filter."""
    w = f.double().numpy()
    jumps = []
    for c in range(w.shape[0]):
        for i in range(w.shape[1]):
            for j in range(w.shape[2]):
                if i + 1 < w.shape[1]:
                    jumps.append(abs(w[c, i + 1, j] - w[c, i, j]))
                if j + 1 < w.shape[2]:
                    jumps.append(abs(w[c, i, j + 1] - w[c, i, j]))
    sd = w.std()
    return float(np.mean(jumps) / sd) if sd > 0 else 0.0


def test_against_a_loop_and_known_values():
    torch.manual_seed(0)
    w = torch.randn(6, 3, 5, 4)
    got = vk.filter_smoothness(w)
    assert got.shape == (6,)
    for i in range(6):
        assert got[i].item() == pytest.approx(naive_roughness(w[i]), rel=1e-5)
    assert vk.filter_smoothness(torch.randn(2000, 1, 16, 16)).mean().item() == pytest.approx(2 / math.sqrt(math.pi),
                                                                                            abs=0.01)
    ramp = torch.arange(5.0).repeat(5, 1)[None, None]
    assert vk.filter_smoothness(ramp).item() == pytest.approx(math.sqrt(3 / 24))
    assert vk.filter_smoothness(torch.ones(1, 1, 3, 3)).item() == 0.0
    assert vk.filter_smoothness(7 * w)[0].item() == pytest.approx(got[0].item(), rel=1e-5)  # scale-free


@pytest.mark.parametrize("bad, error", [(torch.zeros(4, 1, 1, 5), ValueError), ([1, 2], TypeError),
                                        (torch.full((1, 1, 3, 3), float("nan")), ValueError)])
def test_bad_weights(bad, error):
    with pytest.raises(error):
        vk.filter_smoothness(bad)


def test_a_linear_layers_weights_are_refused_not_scored_as_one_filter(fashion):
    fc = vk.filter_weights(fashion, "fc6")
    assert fc.dim() == 2
    with pytest.raises(ValueError, match=r"needs \(out, in, kh, kw\) conv filters; got 2-D weights of shape "
                                         rf"\({fc.shape[0]}, {fc.shape[1]}\).*linear layer"):
        vk.filter_smoothness(fc)
    with pytest.raises(ValueError, match=r"conv filters; got 3-D weights of shape \(4, 3, 3\).*w\[:, None\]"):
        vk.filter_smoothness(torch.randn(4, 3, 3))


@pytest.fixture(scope="module")
def overfit_net(fashion_test):
    """No weight decay, a constant high-ish rate, 256 images seen many times: overfit, unregularised."""
    torch.manual_seed(1)
    net = fashion_net()
    small = torch.utils.data.Subset(fashion_test, range(256))
    vk.train(net, small, epochs=30, lr=0.05, weight_decay=0.0, snapshots=False, progress=False,
             settings=vk.TrainSettings(schedule="constant", batch_size=64))
    return net


def test_trained_filters_are_smoother_than_untrained_and_overfit(fashion, overfit_net):
    torch.manual_seed(2)
    trained = vk.filter_smoothness(vk.filter_weights(fashion, "conv1")).median()
    untrained = vk.filter_smoothness(vk.filter_weights(fashion_net(), "conv1")).median()
    overfit = vk.filter_smoothness(vk.filter_weights(overfit_net, "conv1")).median()
    assert trained < untrained - 0.2
    assert trained < overfit - 0.1
    assert overfit_net.model.training is False


def test_filter_grid_colour_and_diverging():
    from matplotlib.figure import Figure

    ax = vk.plot.filter_grid(torch.randn(10, 3, 5, 5), Figure().add_subplot(), scores=torch.rand(10))
    img = ax.images[0].get_array()
    assert img.shape[2] == 3 and 0 <= img.min() and img.max() <= 1
    ax = vk.plot.filter_grid(torch.randn(10, 1, 5, 5), normalize="joint")
    assert ax.images[0].get_cmap().name == "RdBu_r"
    with pytest.raises(ValueError, match="normalize"):
        vk.plot.filter_grid(torch.randn(2, 1, 3, 3), normalize="both")
