"""Texture synthesis and style transfer against independent references: gram against a loop, the offline
texture network against its recipe, L-BFGS against the same loss run by torch's own L-BFGS loop, and the
promises of the issue: the texture's Gram error falls to a small fraction of the noise's, a style transfer
lowers the style error a lot while staying much closer to the content than the style image is."""

import pytest
import torch

import vizkit as vk
from vizkit.nets import texture_net
from vizkit.optimize import objectives as obj
from vizkit.optimize import optimize, param
from vizkit.optimize.style import grams, image_pixels, starting_noise


@pytest.fixture(scope="module")
def small_net():
    """The offline texture network with 8 filters per size: the same recipe, fast enough for tests."""
    return texture_net(per_size=8)


@pytest.fixture(scope="module")
def photos():
    china = image_pixels(texture_net(per_size=1), vk.sample_image("china"), 48)
    flower = image_pixels(texture_net(per_size=1), vk.sample_image("flower"), 48)
    return china[0, :, :, 10:58], flower[0, :, :, 10:58]   # (3, 48, 48) pixels each


def test_gram_against_a_loop():
    f = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(0))
    g = vk.gram(f)
    for b in range(2):
        for i in range(4):
            for j in range(4):
                want = sum(float(f[b, i, y, x] * f[b, j, y, x]) for y in range(3) for x in range(5)) / 15
                assert abs(float(g[b, i, j]) - want) < 1e-5


def test_texture_net_is_its_recipe():
    net = vk.load("random-multiscale")
    assert net.name == "random-multiscale" and "random-multiscale" in vk.available_models()
    assert list(net.layers)[:2] == ["conv_3x3", "relu_3x3"] and len(net.layers) == 10
    gen = torch.Generator().manual_seed(0)
    for k, branch in zip((3, 5, 7, 11, 15), net.model.branches):
        w = torch.randn((128, 3, k, k), generator=gen)
        conv = branch[0]
        assert torch.allclose(conv.weight, w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
        assert conv.bias is None and conv.padding_mode == "circular" and conv.padding == (k // 2, k // 2)
    x = torch.rand(1, 3, 40, 40)
    acts = vk.activations(net, net.normalize(x), ["relu_15x15"])["relu_15x15"]
    assert acts.shape == (128, 40, 40) and float(acts.min()) >= 0


def test_image_pixels_reads_any_image_without_cropping(small_net):
    photo = vk.sample_image("china")
    x = image_pixels(small_net, photo)
    assert x.shape == (1, 3, photo.size[1], photo.size[0]) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert image_pixels(small_net, photo, 64).shape == (1, 3, 64, 96)
    back = image_pixels(small_net, small_net.normalize(x))   # a model input is de-normalised
    assert (back - x).abs().max() < 1e-5


def test_lbfgs_steps_reach_what_torchs_own_loop_reaches(small_net, photos):
    """One engine step is one L-BFGS iteration with a line search (a regression test: with torch's default
    max_eval the line search got no evaluations and the loss never moved)."""
    china, _ = photos
    goals = grams(small_net, china[None], ["relu_5x5", "relu_11x11"])
    objective = obj.gram_match("relu_5x5", goals["relu_5x5"]) + obj.gram_match("relu_11x11", goals["relu_11x11"])
    start = (0.5 + 0.1 * torch.randn(china[None].shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    r = optimize(small_net, objective, param.Sigmoid(start), 30, lr=1, optimizer="lbfgs", progress=False)
    assert r.losses[-1] < 1e-3 * r.losses[0]


def gram_error(net, image, target, layers):
    mine, theirs = grams(net, image, layers), grams(net, target, layers)
    return {n: float((mine[n] - theirs[n]).pow(2).sum() / theirs[n].pow(2).sum()) for n in layers}


def test_texture_gram_error_falls_to_a_small_fraction_of_the_noises(small_net, photos):
    china, _ = photos
    layers = list(small_net.layers)[1::2]
    result = vk.synthesize_texture(small_net, china, steps=40, progress=False)
    assert result.image.shape == (1, 3, 48, 48)
    assert set(result.terms) == {f"gram {n}" for n in layers}
    noise = starting_noise(china[None], 0)  # the noise synthesize_texture starts from
    before, after = gram_error(small_net, noise, china[None], layers), gram_error(small_net, result.image,
                                                                                    china[None], layers)
    for n in layers:
        assert after[n] < 0.01 * before[n], (n, before[n], after[n])
    assert float((result.image - china).abs().mean()) > 0.1   # a new image, not a copy of the texture


def test_style_transfer_takes_the_style_and_keeps_the_content(small_net, photos):
    china, flower = photos
    layers = list(small_net.layers)[1::2]
    result = vk.style_transfer(small_net, china, flower, steps=30, settings=vk.StyleSettings(style_weight=0.3),
                               progress=False)
    assert result.image.shape == (1, 3, 48, 48)

    def style_error(x):
        return sum(gram_error(small_net, x, flower[None], layers).values())

    def content_distance(x):
        a = vk.activations(small_net, small_net.normalize(x), ["relu_11x11"])["relu_11x11"]
        b = vk.activations(small_net, small_net.normalize(china[None]), ["relu_11x11"])["relu_11x11"]
        return float((a - b).norm() / b.norm())
    assert style_error(result.image) < 0.1 * style_error(china[None])
    assert content_distance(result.image) < 0.5 * content_distance(flower[None])
    assert {"features relu_11x11", "gram relu_3x3"} <= set(result.terms)  # the default content layer


def test_style_transfer_of_different_sizes_and_from_noise(small_net, photos):
    china, flower = photos
    wide = torch.nn.functional.interpolate(china[None], size=(40, 64), mode="bilinear")[0]
    settings = vk.StyleSettings(init="noise", tv_weight=0.1, layer_weights={"relu_15x15": 0.5})
    result = vk.style_transfer(small_net, wide, flower, steps=3, settings=settings, progress=False)
    assert result.image.shape == (1, 3, 40, 64) and "TV (2)" in result.terms


@pytest.mark.parametrize("call, error", [
    (lambda n, c, s: vk.synthesize_texture(n, c, ["relu_9x9"], steps=2), KeyError),
    (lambda n, c, s: vk.synthesize_texture(n, c, [], steps=2), TypeError),
    (lambda n, c, s: vk.synthesize_texture(n, c, steps=0), ValueError),
    (lambda n, c, s: vk.synthesize_texture(n, c, steps=2, layer_weights=[1, 2]), ValueError),
    (lambda n, c, s: vk.synthesize_texture(n, c, steps=2, layer_weights={"relu_3x3": -1}), ValueError),
    (lambda n, c, s: vk.synthesize_texture(n, c, steps=2, optimizer="sgd"), ValueError),
    (lambda n, c, s: vk.synthesize_texture(n, c * 3, steps=2), ValueError),
    (lambda n, c, s: vk.style_transfer(n, c, s, steps=2, settings=vk.StyleSettings(style_weight=0)), ValueError),
    (lambda n, c, s: vk.style_transfer(n, c, s, steps=2, settings=vk.StyleSettings(content_weight=-1)), ValueError),
    (lambda n, c, s: vk.style_transfer(n, c, s, steps=2, settings=vk.StyleSettings(tv_weight=float("nan"))),
     ValueError),
    (lambda n, c, s: vk.style_transfer(n, c, s, steps=2, settings=vk.StyleSettings(init="grey")), ValueError),
    (lambda n, c, s: vk.style_transfer(n, c, s, steps=2, settings=vk.StyleSettings(content_layer="relu_4x4")),
     KeyError),
    (lambda n, c, s: vk.style_transfer(n, c, s, steps=2, style_weight=3), TypeError),        # a setting, not a run
    (lambda n, c, s: vk.style_transfer(n, c, s, steps=2, settings={"style_weight": 3}), TypeError),
])
def test_texture_and_style_refuse_bad_input(small_net, photos, call, error):
    china, flower = photos
    with pytest.raises(error):
        call(small_net, china, flower)


def test_an_image_too_small_for_the_deepest_layer(fashion, small_net):
    with pytest.raises(ValueError, match="too small"):   # 15x15 filters wrap around a 5-pixel image
        vk.synthesize_texture(small_net, torch.rand(3, 5, 5), steps=2, progress=False)
    with pytest.raises(ValueError, match="too small"):
        vk.synthesize_texture(fashion, torch.rand(1, 3, 3), ["relu1", "relu3"], steps=2, progress=False)
    with pytest.raises(ValueError, match="feature maps"):
        vk.synthesize_texture(fashion, torch.rand(1, 28, 28), ["relu4"], steps=2, progress=False)
