"""The optimisation engine and the techniques on it, against independent references: objectives'
gradients against finite differences, inversion against the image it inverts, class models and
filter visualisations against what the network says of them."""

import pytest
import torch

import vizkit as vk
from vizkit.optimize import objectives as obj
from vizkit.optimize import optimize, param, transforms
from vizkit.optimize.objectives import OUTPUT


def double_check(objective, acts, image):
    """gradcheck of an objective's total with respect to every activation and the image (float64)."""
    names = list(acts)

    def f(*tensors):
        *a, img = tensors
        total, _ = objective(dict(zip(names, a)), img)
        return total

    inputs = [acts[n].double().requires_grad_(True) for n in names] + [image.double().requires_grad_(True)]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)


def test_objective_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(0)
    acts = {"a": torch.randn(2, 3, 4, 5, generator=g), "v": torch.randn(2, 6, generator=g),
            OUTPUT: torch.randn(2, 4, generator=g)}
    image = torch.rand(2, 3, 6, 7, generator=g) * 0.8 + 0.1
    target = torch.randn(1, 3, 4, 5, generator=g)
    cases = [obj.channel("a", 1), obj.neuron("a", 2, (1, 3)), obj.neuron("v", 4), obj.class_logit(2),
             obj.dream("a"), obj.dream("a", 0), obj.feature_match("a", target),
             obj.gram_match("a", obj.gram(target)), obj.alpha_norm(6, 0.3, center=[0.5, 0.4, 0.3]),
             obj.total_variation(2, 0.05), obj.total_variation(1.5, 0.05), obj.l2(center=[0.5, 0.5, 0.5])]
    for case in cases:
        double_check(case, acts, image)
    double_check(obj.channel("a", 0) - 0.5 * obj.total_variation(2) + 2 * obj.class_logit(1), acts, image)


def test_objective_values_against_formulas():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(1, 2, 3, 3, generator=g)
    img = torch.rand(1, 1, 4, 5, generator=g)
    acts = {"a": a}
    assert torch.allclose(obj.channel("a", 1)(acts, img)[0], -a[:, 1].mean())
    target = torch.randn(1, 2, 3, 3, generator=g)
    want = ((a - target) ** 2).sum() / (target ** 2).sum()
    assert torch.allclose(obj.feature_match("a", target)(acts, img)[0], want)
    f = a.reshape(2, 9)
    assert torch.allclose(obj.gram(a)[0], f @ f.T / 9)
    tv = sum(((img[0, 0, i, j + 1] - img[0, 0, i, j]) ** 2 + (img[0, 0, i + 1, j] - img[0, 0, i, j]) ** 2)
             for i in range(3) for j in range(4))
    assert torch.allclose(obj.total_variation(2.0, 0.5)(acts, img)[0], tv / (20 * 0.25), atol=1e-6)
    assert torch.allclose(obj.alpha_norm(6, 0.5)(acts, img)[0], (img ** 6).sum() / (20 * 0.5 ** 6))
    combo = 2 * obj.channel("a", 0) - obj.l2()
    total, parts = combo(acts, img)
    assert torch.allclose(total, 2 * parts["-mean a[0]"] - parts["L2"]) and combo.layers == ["a"]
    assert "2 * -mean a[0]" in repr(combo)


def test_parametrisations_stay_in_range_and_colours_match_the_photos():
    g = torch.Generator().manual_seed(0)
    f = param.Fourier((1, 3, 32, 40), generator=g, std=1.0)
    img = f().detach()
    assert img.shape == (1, 3, 32, 40) and 0 <= float(img.min()) and float(img.max()) <= 1
    p = param.Pixels(torch.full((1, 1, 4, 4), 0.5))
    with torch.no_grad():
        p.x += 2
    p.project()
    assert float(p().max()) == 1.0
    # COLOR_SQRT is the square root of the photos' RGB covariance, scaled: recompute it
    import numpy as np
    px = np.concatenate([np.asarray(vk.sample_image(n).convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255
                         for n in sorted(vk.sample_images())])
    w, v = np.linalg.eigh(np.cov(px.T))
    root = v @ np.diag(np.sqrt(w)) @ v.T
    root /= np.linalg.norm(root, axis=0).max()
    assert np.allclose(param.COLOR_SQRT.numpy(), root, atol=1e-3)


def test_transforms_keep_size_and_are_seeded():
    x = torch.rand(1, 3, 30, 30, generator=torch.Generator().manual_seed(0))
    t = transforms.standard(30)
    a, b = t(x, torch.Generator().manual_seed(5)), t(x, torch.Generator().manual_seed(5))
    assert a.shape == x.shape and torch.equal(a, b)
    blurred = transforms.blur(1.0)(x, None)
    assert blurred.shape == x.shape and float(blurred.std()) < float(x.std())
    assert torch.allclose(transforms.blur(1.0)(torch.full_like(x, 0.3), None), torch.full_like(x, 0.3))


def test_inverting_the_first_relu_gives_back_the_image(fashion, fashion_test):
    image = fashion_test[0][0]
    r = vk.invert(fashion, fashion.normalize(image[None]), "relu1", steps=200, progress=False)
    corr = torch.corrcoef(torch.stack([r.image.flatten(), image.flatten()]))[0, 1]
    assert corr >= 0.9
    assert r.image.shape == (1, 1, 28, 28) and 0 <= float(r.image.min()) and float(r.image.max()) <= 1
    assert set(r.terms) == {"features relu1", "alpha-norm (6)", "TV (2)"} and len(r.losses) == 200
    assert r.losses[-1] < 0.2 * r.losses[0]


def test_class_models_are_classified_as_their_class(fashion):
    for regularized in (False, True):
        r = vk.visualize_class(fashion, "Bag", steps=128, regularized=regularized, progress=False)
        label, p = fashion.predict(fashion.normalize(r.image), k=1)[0]
        assert label == "Bag" and p >= 0.99


def test_filter_visualisation_beats_every_test_image(fashion, fashion_test):
    images = fashion.normalize(fashion_test.tensors(torch.arange(2000))[0])
    maps = vk.activations(fashion, images, "conv3")["conv3"]
    for ch in (5, 40):
        r = vk.visualize_filter(fashion, "conv3", ch, steps=128, progress=False)
        made = vk.activations(fashion, fashion.normalize(r.image), "conv3")["conv3"][ch].mean()
        assert float(made) > float(maps[:, ch].mean((1, 2)).max())


def test_runs_are_reproducible_and_report_progress(fashion):
    seen = []
    a = vk.visualize_filter(fashion, "conv2", 3, steps=6, every=2, progress=False,
                            callback=lambda step, image, loss: seen.append(step))
    b = vk.visualize_filter(fashion, "conv2", 3, steps=6, every=2, progress=False)
    assert torch.equal(a.image, b.image) and seen == [2, 4, 6] and [s for s, _ in a.snapshots] == [2, 4, 6]


def test_lbfgs_and_the_truncated_forward(fashion, monkeypatch):
    objective = obj.channel("conv1", 2) + 0.1 * obj.total_variation(2)
    r = optimize(fashion, objective, param.Pixels(torch.full((1, 1, 28, 28), 0.3)), 10, lr=0.5,
                 optimizer="lbfgs", progress=False)
    assert r.losses[-1] < r.losses[0]
    ran = []
    handle = fashion.model.classifier.register_forward_hook(lambda *a: ran.append(1))
    try:
        optimize(fashion, objective, param.Pixels(torch.full((1, 1, 28, 28), 0.3)), 2, progress=False)
    finally:
        handle.remove()
    assert not ran  # the forward pass stopped after conv1


@pytest.mark.parametrize("call,error,match", [
    (lambda n: vk.visualize_filter(n, "conv9", 0, steps=2), KeyError, "Closest match"),
    (lambda n: vk.visualize_filter(n, "conv2", 64, steps=2), ValueError, r"\[0, 63\]"),
    (lambda n: vk.visualize_filter(n, "conv2", 1, steps=0), ValueError, "steps"),
    (lambda n: vk.visualize_class(n, "Sandals", steps=2), KeyError, "Sandal"),
    (lambda n: vk.visualize_class(n, 3, steps=2, lr=float("nan")), ValueError, "lr"),
    (lambda n: vk.invert(n, torch.zeros(1, 3, 28, 28), "relu1", steps=2), ValueError, "channel"),
    (lambda n: vk.invert(n, torch.zeros(1, 1, 28, 28), "relu1", steps=2, lambda_tv=float("inf")), ValueError,
     "lambda_tv"),
    (lambda n: optimize(n, obj.channel("conv1", 0) * float("nan"), param.Pixels(torch.zeros(1, 1, 28, 28)), 2),
     ValueError, "weight"),
    (lambda n: optimize(n, obj.channel("conv1", 0), param.Pixels(torch.zeros(1, 1, 28, 28)), 2, optimizer="sgd"),
     ValueError, "optimizer"),
    (lambda n: optimize(n, obj.channel("conv1", 0) + obj.term("broken", lambda acts, img: img.sum((1, 2, 3)).log()),
                        param.Pixels(torch.zeros(1, 1, 28, 28)), 3), ValueError, "loss became -inf at step 1"),
])
def test_bad_input_gets_a_clear_error(fashion, call, error, match):
    with pytest.raises(error, match=match):
        call(fashion)


# --------------------------------------------------------------------------- channels-last, unrun and unreached layers

def test_channels_last_layers_optimise_their_channels():
    from test_hooks import layout_pair

    net, twin, x = layout_pair()
    for layer, channel in (("fc", 3), ("relu", 4)):  # the twin with a 1x1 conv is the reference
        got = vk.visualize_filter(net, layer, channel, steps=3, progress=False)
        want = vk.visualize_filter(twin, layer, channel, steps=3, progress=False)
        torch.testing.assert_close(got.image, want.image)
        torch.testing.assert_close(vk.visualize_filter(net, layer, channel, steps=2, position=(5, 3), progress=False)
                                   .image, vk.visualize_filter(twin, layer, channel, steps=2, position=(5, 3),
                                                               progress=False).image)
    dreams = [vk.deepdream(n, x, "relu", octaves=1, steps=3, channel=4, progress=False).image for n in (net, twin)]
    torch.testing.assert_close(*dreams)
    with pytest.raises(ValueError, match=r"channel must be .*\[0, 4\]"):
        vk.deepdream(net, x, "relu", octaves=1, steps=1, channel=5, progress=False)


def test_unrun_and_unreached_layers_are_refused_by_name():
    from test_attribute import PositionTable
    from test_hooks import Unused

    from vizkit.hooks import NotRunError

    net = vk.wrap(Unused(), input_size=16, name="unused")
    x = torch.randn(1, 3, 16, 16)
    for call in (lambda: vk.deepdream(net, x, "proj", octaves=2, steps=1, progress=False),
                 lambda: vk.visualize_filter(net, "aux.1", 0, steps=1, progress=False),
                 lambda: vk.invert(net, x, "proj", steps=1, progress=False)):
        with pytest.raises(NotRunError, match="is not run by unused's forward pass") as info:
            call()
        assert "octave" not in str(info.value)
    table = vk.wrap(PositionTable(), input_size=8, name="table")
    with pytest.raises(ValueError, match="'table_relu' of table does not depend on the input image"):
        vk.deepdream(table, torch.randn(1, 3, 8, 8), "table_relu", octaves=1, steps=1, progress=False)
    with pytest.raises(ValueError, match="does not depend on the input image"):
        vk.synthesize_texture(table, torch.randn(1, 3, 8, 8), ["table_relu"], steps=1, progress=False)


def test_a_model_that_takes_one_size_only_refuses_octaves_clearly():
    class OneSize(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2)

        def forward(self, x):
            torch._assert(x.shape[-1] == 16, f"Wrong image width! Expected 16 but got {x.shape[-1]}!")  # as a ViT
            return self.fc(self.conv(x).mean((2, 3)))

    net = vk.wrap(OneSize(), input_size=16)
    with pytest.raises(ValueError, match="cannot run on the smallest octave.*Wrong image width"):
        vk.deepdream(net, torch.randn(1, 3, 16, 16), "conv", octaves=2, steps=1, progress=False)


def test_style_layers_default_to_other_activations_then_convolutions():
    from vizkit.optimize.style import default_layers

    nn = torch.nn
    gelus = nn.Sequential(*[m for _ in range(7) for m in (nn.Conv2d(3, 3, 3, padding=1), nn.GELU())],
                          nn.Flatten(), nn.LazyLinear(2))
    gelus(torch.zeros(1, 3, 8, 8))
    net = vk.wrap(gelus, input_size=8)
    assert default_layers(net, torch.rand(1, 3, 8, 8)) == ["act1", "act3", "act4", "act5", "act7"]  # 5 of 7

    class Functional(nn.Module):  # ReLUs as F.relu only, as GoogLeNet's and Inception's
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2, self.fc = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.conv2(torch.relu(self.conv1(x)))).mean((2, 3)))

    assert default_layers(vk.wrap(Functional(), input_size=8), torch.rand(1, 3, 8, 8)) == ["conv1", "conv2"]
