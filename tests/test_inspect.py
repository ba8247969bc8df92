"""activations, dead_filters and filter_weights against independent references."""

import pytest
import torch
import torch.nn.functional as F

import vizkit as vk


def manual_forward(net, x):
    """fashion-cnn's feature stack written out with torch.nn.functional, layer by layer."""
    f = net.model.features
    c1 = F.conv2d(x, f[0].weight, f[0].bias, padding=2)
    p1 = F.max_pool2d(F.relu(c1), 2)
    c2 = F.conv2d(p1, f[3].weight, f[3].bias, padding=1)
    p2 = F.max_pool2d(F.relu(c2), 2)
    c3 = F.conv2d(p2, f[6].weight, f[6].bias, padding=1)
    return {"conv1": c1, "relu1": F.relu(c1), "pool1": p1, "conv2": c2, "conv3": c3,
            "pool3": F.max_pool2d(F.relu(c3), 2)}


def test_activations_match_a_manual_forward_pass(fashion, fashion_batch):
    x = fashion_batch[0][:1]
    ref = manual_forward(fashion, x)
    got = vk.activations(fashion, x, list(ref))
    for name, r in ref.items():
        assert got[name].shape == r.shape[1:]
        torch.testing.assert_close(got[name], r[0], atol=1e-5, rtol=1e-5)
    batch = vk.activations(fashion, fashion_batch[0][:5], "conv2")["conv2"]
    assert batch.shape == (5, 64, 14, 14)
    assert vk.activations(fashion, fashion_batch[0][:1], "fc5")["fc5"].shape == (128,)


def test_activations_accepts_images_and_rejects_bad_input(fashion):
    acts = vk.activations(fashion, vk.sample_image("china"), ["conv1"])
    assert acts["conv1"].shape == (32, 28, 28)
    with pytest.raises(ValueError, match="1-channel"):
        vk.activations(fashion, torch.zeros(1, 3, 28, 28), "conv1")
    with pytest.raises(ValueError, match="NaN"):
        vk.activations(fashion, torch.full((1, 1, 28, 28), float("nan")), "conv1")
    with pytest.raises(KeyError, match="conv4"):
        vk.activations(fashion, torch.zeros(1, 1, 28, 28), "conv4")


def test_activation_stats(fashion, fashion_batch):
    maps = vk.activations(fashion, fashion_batch[0][:1], "relu2")["relu2"]
    stats = vk.activation_stats(maps)
    c = 7
    assert stats["fraction_zero"][c] == pytest.approx(float((maps[c] == 0).float().mean()))
    assert stats["mean"][c] == pytest.approx(float(maps[c].mean()), abs=1e-6)


def naive_dead(net, x, layer_index):
    """Loop over images and channels: is the conv output ever positive?"""
    conv = net.model.features[:layer_index + 1]
    alive = torch.zeros(conv[-1].out_channels, dtype=torch.bool)
    with torch.no_grad():
        for img in x:
            out = conv(img[None])[0]
            for c in range(out.shape[0]):
                alive[c] |= bool((out[c] > 0).any())
    return ~alive


def test_dead_filters_against_a_loop_and_a_planted_dead_filter(fresh_fashion, fashion_test):
    net = fresh_fashion
    with torch.no_grad():  # plant two dead filters in conv2: a large negative bias
        net.model.features[3].bias[[5, 17]] = -1e4
    x, _ = fashion_test.tensors(torch.arange(200))
    inp = net.normalize(x)
    dead = vk.dead_filters(net, inp, "conv2", batch_size=64)
    assert torch.equal(dead, naive_dead(net, inp, 3))
    assert dead[5] and dead[17]
    sub = torch.utils.data.Subset(fashion_test, range(200))
    assert torch.equal(vk.dead_filters(net, sub, "relu2"), dead)
    loader = torch.utils.data.DataLoader(sub, batch_size=50)
    assert torch.equal(vk.dead_filters(net, loader, "conv2"), dead)
    with pytest.raises(TypeError, match="Dataset"):
        vk.dead_filters(net, [1, 2, 3], "conv2")


def test_filter_weights_is_a_copy(fashion):
    w = vk.filter_weights(fashion, "conv1")
    assert w.shape == (32, 1, 5, 5) and torch.equal(w, fashion.model.features[0].weight)
    w += 1
    assert not torch.equal(w, fashion.model.features[0].weight)
    assert vk.filter_weights(fashion, "fc4").shape == (256, 128 * 9)
    with pytest.raises(ValueError, match="no weights"):
        vk.filter_weights(fashion, "pool1")
