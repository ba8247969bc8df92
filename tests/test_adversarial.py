"""Adversarial examples and DeepDream against independent references: FGSM against its formula written
here and against Captum's FGSM, L-infinity PGD against Captum's PGD and a plain loop, L2 PGD against a
plain loop; the promises (the eps-ball, [0, 1], accuracy at eps = 0.1, targeted success); DeepDream's
growth of the layer's norm and its octaves."""

import pytest
import torch
import torch.nn.functional as F

import vizkit as vk


def pixels_of(net, inp):
    mean, std = net._stats(inp)
    return inp * std + mean


def accuracy(net, inp, y):
    with torch.no_grad():
        return float((net.model(inp).argmax(1) == y).float().mean())


def ce_gradient(net, p, labels):
    """d sum CE / d pixels, written out here (not vizkit's helper)."""
    p = p.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(net.model(net.normalize(p)), labels, reduction="sum")
    (g,) = torch.autograd.grad(loss, p)
    return g


@pytest.fixture(scope="module")
def test_subset(fashion, fashion_test):
    x, y = fashion_test.tensors(torch.arange(300))
    return x, y


def test_fgsm_is_the_formula(fashion, fashion_batch):
    inp, y = fashion_batch
    x = pixels_of(fashion, inp).clamp(0, 1)
    for targeted, sign, target in ((False, 1.0, y), (True, -1.0, torch.full_like(y, 8))):
        want = (x + sign * 0.04 * ce_gradient(fashion, x, target).sign()).clamp(0, 1)
        got = pixels_of(fashion, vk.fgsm(fashion, inp, target, 0.04, targeted=targeted))
        assert torch.allclose(got, want, atol=1e-6)


def test_fgsm_and_pgd_match_captum(fashion, fashion_batch):
    from captum.robust import FGSM, PGD

    inp, y = fashion_batch
    x = pixels_of(fashion, inp).clamp(0, 1)

    def model(p):
        return fashion.model(fashion.normalize(p))
    loss = torch.nn.CrossEntropyLoss(reduction="none")  # Captum's default expects probabilities
    fgsm = FGSM(model, loss, lower_bound=0, upper_bound=1)
    fgsm.zero_thresh = 0.0  # Captum leaves pixels with |gradient| < 1e-6 alone; the formula does not
    with pytest.warns(UserWarning):
        want = fgsm.perturb(x.clone(), 0.03, y)
    assert torch.allclose(pixels_of(fashion, vk.fgsm(fashion, inp, y, 0.03)), want, atol=1e-6)
    pgd = PGD(model, loss, lower_bound=0, upper_bound=1)
    pgd.fgsm.zero_thresh = 0.0
    with pytest.warns(UserWarning):
        want = pgd.perturb(x.clone(), 0.05, 0.01, 8, y)
    got = pixels_of(fashion, vk.pgd(fashion, inp, y, 0.05, steps=8, step=0.01))
    assert (got - want).abs().max() < 1e-5


def test_l2_pgd_matches_a_plain_loop(fashion, fashion_batch):
    inp, y = fashion_batch
    x0 = pixels_of(fashion, inp[:16]).clamp(0, 1)
    x = x0.clone()
    eps, step = 1.5, 0.4
    for _ in range(5):
        g = ce_gradient(fashion, x, y[:16])
        x = x + step * g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        d = x - x0
        d = d * (eps / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)).clamp(max=1)
        x = (x0 + d).clamp(0, 1)
    got = pixels_of(fashion, vk.pgd(fashion, inp[:16], y[:16], eps, steps=5, step=step, norm="l2"))
    assert (got - x).abs().max() < 1e-5
    assert float((got - x0).flatten(1).norm(dim=1).max()) <= eps + 1e-4


@pytest.mark.parametrize("norm, eps", [("linf", 0.05), ("l2", 1.0)])
def test_pgd_never_leaves_the_ball_or_the_pixel_range(fashion, fashion_batch, norm, eps):
    inp, y = fashion_batch
    x0 = pixels_of(fashion, inp).clamp(0, 1)
    seen = []
    out = vk.pgd(fashion, inp, y, eps, steps=6, step=eps, norm=norm, random_start=True, seed=3,
                 callback=lambda step, image, loss: seen.append(image), every=1)
    assert len(seen) == 6
    for image in seen + [pixels_of(fashion, out)]:
        d = image - x0
        size = d.abs().flatten(1).max(1).values if norm == "linf" else d.flatten(1).norm(dim=1)
        assert float(size.max()) <= eps + 1e-5
        assert float(image.min()) >= -1e-6 and float(image.max()) <= 1 + 1e-6


def test_pgd_at_eps_0_1_leaves_at_most_5_percent_accuracy(fashion, test_subset):
    x, y = test_subset
    inp = fashion.normalize(x)
    assert accuracy(fashion, inp, y) > 0.85
    fgsm = vk.fgsm(fashion, inp, y, 0.1)
    pgd = vk.pgd(fashion, inp, y, 0.1, steps=20)
    assert accuracy(fashion, pgd, y) <= 0.05
    assert accuracy(fashion, pgd, y) < accuracy(fashion, fgsm, y)  # many steps beat one


def test_targeted_pgd_reaches_its_class_in_most_cases(fashion, test_subset):
    x, y = test_subset
    keep = y != 8
    inp = fashion.normalize(x[keep][:100])
    out = vk.pgd(fashion, inp, "Bag", 0.1, steps=40, targeted=True)
    with torch.no_grad():
        assert float((fashion.model(out).argmax(1) == 8).float().mean()) >= 0.8
    per_image = torch.arange(len(inp)) % 10
    out = vk.pgd(fashion, inp, per_image, 0.1, steps=40, targeted=True)
    with torch.no_grad():
        assert float((fashion.model(out).argmax(1) == per_image).float().mean()) >= 0.8


def test_attacks_do_not_touch_the_callers_input(fashion, fashion_batch):
    inp, y = fashion_batch
    before = inp.clone()
    vk.fgsm(fashion, inp, y, 0.1)
    vk.pgd(fashion, inp, None, 0.1, steps=2)
    assert torch.equal(inp, before) and not inp.requires_grad


def test_attacks_take_one_image_by_name_or_path(fashion, fashion_test):
    image, label = fashion_test[0]
    out = vk.fgsm(fashion, image, fashion.classes[label], 0.05)
    assert out.shape == (1, 1, 28, 28)
    assert vk.pgd(fashion, fashion.normalize(image[None]), label, 0.0).equal(fashion.normalize(image[None]))


@pytest.mark.parametrize("call, error", [
    (lambda n, x, y: vk.fgsm(n, x, y, -0.1), ValueError),
    (lambda n, x, y: vk.fgsm(n, x, y, float("nan")), ValueError),
    (lambda n, x, y: vk.fgsm(n, x, y, float("inf")), ValueError),
    (lambda n, x, y: vk.fgsm(n, x, y, "0.1"), TypeError),
    (lambda n, x, y: vk.fgsm(n, x, 10, 0.1), ValueError),
    (lambda n, x, y: vk.fgsm(n, x, -1, 0.1), ValueError),
    (lambda n, x, y: vk.fgsm(n, x, "Bags", 0.1), KeyError),
    (lambda n, x, y: vk.fgsm(n, x, y[:3], 0.1), ValueError),
    (lambda n, x, y: vk.fgsm(n, x, y, 0.1, targeted="yes"), TypeError),
    (lambda n, x, y: vk.fgsm(n, x * 0 + 40, y, 0.1), ValueError),
    (lambda n, x, y: vk.pgd(n, x, y, 0.1, steps=0), ValueError),
    (lambda n, x, y: vk.pgd(n, x, y, 0.1, steps=2.5), TypeError),
    (lambda n, x, y: vk.pgd(n, x, y, 0.1, step=-1), ValueError),
    (lambda n, x, y: vk.pgd(n, x, y, 0.1, norm="l1"), ValueError),
    (lambda n, x, y: vk.pgd(n, x, y, float("nan")), ValueError),
    (lambda n, x, y: vk.pgd(n, x[:, :, :20], y, 0.1), ValueError),
])
def test_attacks_refuse_bad_input(fashion, fashion_batch, call, error):
    inp, y = fashion_batch
    with pytest.raises(error):
        call(fashion, inp[:4], y[:4])


def test_pgd_benefits_from_the_engine(fashion, fashion_batch):
    """PGD runs on vk.optimize: the steepest-descent steps are the engine's, seeds reproduce."""
    inp, y = fashion_batch
    a = vk.pgd(fashion, inp, y, 0.05, steps=3, random_start=True, seed=1)
    b = vk.pgd(fashion, inp, y, 0.05, steps=3, random_start=True, seed=1)
    c = vk.pgd(fashion, inp, y, 0.05, steps=3, random_start=True, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


# --------------------------------------------------------------------------- DeepDream

def test_deepdream_at_least_doubles_the_layers_norm(fashion, fashion_test):
    image, _ = fashion_test[0]
    big = F.interpolate(image[None], size=112, mode="bilinear", align_corners=False)
    for layer, channel in (("relu3", None), ("relu2", 5)):
        result = vk.deepdream(fashion, image, layer, channel=channel, size=112, progress=False)
        assert result.image.shape == (1, 1, 112, 112)
        assert float(result.image.min()) >= 0 and float(result.image.max()) <= 1

        def norm(p, layer=layer, channel=channel):
            a = vk.activations(fashion, fashion.normalize(p), [layer])[layer]
            return float((a if channel is None else a[channel]).norm())
        assert norm(result.image) >= 2 * norm(big)
        assert len(result.losses) == 4 * 10


def test_deepdream_octaves_keep_the_input_size(fashion, fashion_test):
    image, _ = fashion_test[1]
    x = fashion.normalize(F.interpolate(image[None], size=(60, 90), mode="bilinear"))
    seen = []
    result = vk.deepdream(fashion, x, "relu1", octaves=3, steps=2, progress=False,
                          callback=lambda step, img, loss: seen.append((step, tuple(img.shape[2:]))))
    assert result.image.shape == (1, 1, 60, 90)
    assert [s for _, s in seen] == [(31, 46), (43, 64), (60, 90)]  # small to large, scale 1.4
    assert [s for s, _ in seen] == [2, 4, 6]


def test_deepdream_octave_is_gradient_ascent_with_normalised_steps(fashion, fashion_test):
    """One octave without jitter is x += lr * g / mean|g| with g = d (mean a^2 / 2) / d x, clipped."""
    image, _ = fashion_test[2]
    x = image[None].clone()
    for _ in range(3):
        p = x.clone().requires_grad_(True)
        with vk.record(fashion, "relu2", keep_graph=True) as rec:
            rec.forward(fashion.normalize(p))
        (g,) = torch.autograd.grad(0.5 * rec["relu2"].pow(2).mean(), p)
        x = (x + 0.05 * g / g.abs().mean()).clamp(0, 1)
    result = vk.deepdream(fashion, image, "relu2", octaves=1, steps=3, lr=0.05, jitter=0, progress=False)
    assert (result.image - x).abs().max() < 1e-5


@pytest.mark.parametrize("kwargs, error", [
    ({"layer": "relu9"}, KeyError),
    ({"layer": "relu3", "channel": 128}, ValueError),
    ({"layer": "relu3", "octaves": 0}, ValueError),
    ({"layer": "relu3", "steps": 0}, ValueError),
    ({"layer": "relu3", "lr": float("nan")}, ValueError),
    ({"layer": "relu3", "octave_scale": 0.5}, TypeError),     # the original's 1.4, fixed
    ({"layer": "relu3", "octaves": 9}, ValueError),    # the smallest octave is too small for relu3
    ({"layer": "relu3", "jitter": -1}, ValueError),
    ({"layer": "relu3", "size": 0}, ValueError),
])
def test_deepdream_refuses_bad_input(fashion, fashion_batch, kwargs, error):
    inp, _ = fashion_batch
    with pytest.raises(error):
        vk.deepdream(fashion, inp[:1], progress=False, **kwargs)
    with pytest.raises(ValueError, match="one image"):
        vk.deepdream(fashion, inp[:2], "relu3", progress=False)
