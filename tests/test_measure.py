"""vizkit.measure against independent references: NumPy and SciPy formulas, naive loops, analytic cases."""

import collections
import copy

import numpy as np
import pytest
import torch
from scipy import ndimage, stats
from scipy.ndimage import uniform_filter

import vizkit as vk
from vizkit import measure
from vizkit.hooks import record
from vizkit.nets import fashion_net

RNG = np.random.default_rng(0)


def stripes(period: float, size: int = 64, axis: int = 1) -> np.ndarray:
    """A (size, size) sinusoid of the given period (pixels) along one axis."""
    t = np.arange(size)
    wave = np.sin(2 * np.pi * t / period)
    return np.tile(wave, (size, 1)) if axis == 1 else np.tile(wave[:, None], (1, size))


# --------------------------------------------------------------------------- pictures

def test_pixel_correlation_is_pearsons_r():
    a, b = RNG.random((3, 8, 8)), RNG.random((3, 8, 8))
    assert measure.pixel_correlation(a, b) == pytest.approx(stats.pearsonr(a.ravel(), b.ravel())[0], rel=1e-12)
    assert measure.pixel_correlation(torch.tensor(a), 2 * torch.tensor(a) + 1) == pytest.approx(1.0)
    with_nan = a.copy()
    with_nan[0, 0, :3] = np.nan
    keep = ~np.isnan(with_nan.ravel())
    assert measure.pixel_correlation(with_nan, b) == pytest.approx(
        stats.pearsonr(a.ravel()[keep], b.ravel()[keep])[0], rel=1e-12)
    with pytest.raises(ValueError, match="one shape"):
        measure.pixel_correlation(a, b[:2])
    with pytest.raises(ValueError, match="vary"):
        measure.pixel_correlation(np.ones((4, 4)), b[0, :4, :4])


def test_total_variation_against_a_loop():
    x = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = []
    for n in range(2):
        total = 0.0
        for c in range(3):
            for i in range(4):
                for j in range(6):
                    total += float((x[n, c, i, j + 1] - x[n, c, i, j]) ** 2 + (x[n, c, i + 1, j] - x[n, c, i, j]) ** 2)
        expected.append(total / (5 * 7))
    assert measure.total_variation(x).tolist() == pytest.approx(expected, rel=1e-12)
    assert float(measure.total_variation(x[1])) == pytest.approx(expected[1], rel=1e-12)
    assert float(measure.total_variation(torch.full((1, 6, 6), 0.3))) == 0.0
    # it is the prior the optimisers minimise (objectives.total_variation with beta = 2), to float precision
    from vizkit.optimize.objectives import total_variation as prior
    assert float(prior(2.0)({}, x.float())[0][0]) == pytest.approx(expected[0], rel=1e-5)
    with pytest.raises(ValueError, match="2 x 2"):
        measure.total_variation(torch.zeros(1, 1, 1, 5))


@pytest.mark.parametrize("period", [4, 8, 16])
def test_wavelength_of_stripes_is_their_period(period):
    assert measure.wavelength(stripes(period)) == pytest.approx(period, rel=1e-9)
    assert measure.wavelength(stripes(period, axis=0)) == pytest.approx(period, rel=1e-9)
    # colour images are measured on their grey (mean over channels); a batch of one is one image
    rgb = torch.tensor(np.stack([stripes(period)] * 3))[None]
    assert measure.wavelength(rgb) == pytest.approx(period, rel=1e-9)
    mixed = stripes(4) + stripes(16)  # equal power at 1/4 and 1/16: one over their mean frequency
    assert measure.wavelength(mixed) == pytest.approx(1 / ((1 / 4 + 1 / 16) / 2), rel=1e-9)
    with pytest.raises(ValueError, match="flat"):
        measure.wavelength(np.ones((8, 8)))


def test_fine_detail_is_the_share_of_power_above_a_quarter_cycle():
    assert measure.fine_detail(stripes(3, 48)) == pytest.approx(1.0)      # f = 1/3 > 0.25
    assert measure.fine_detail(stripes(8, 48)) == pytest.approx(0.0, abs=1e-12)
    mixed = stripes(3, 48) + 2 * stripes(8, 48)  # power 1 : 4
    assert measure.fine_detail(mixed) == pytest.approx(1 / 5, rel=1e-9)


def test_colour_distance_ignores_layout_and_sees_shifts():
    a = RNG.random((3, 10, 10))
    shuffled = a.reshape(3, -1)[:, RNG.permutation(100)].reshape(3, 10, 10)
    assert measure.colour_distance(a, shuffled) == pytest.approx(0.0, abs=1e-12)
    assert measure.colour_distance(a, a + 0.1) == pytest.approx(0.1)
    assert measure.colour_distance(torch.tensor(a)[None], torch.tensor(a + 0.2)[None]) == pytest.approx(0.2)


def test_spectrum_distance_against_log_power_by_hand():
    a = RNG.random((32, 32))
    shifted = np.roll(a, (5, 3), axis=(0, 1))  # same power spectrum
    assert measure.spectrum_distance(a, shifted) == pytest.approx(0.0, abs=1e-9)
    assert measure.spectrum_distance(a, 10 * a) == pytest.approx(2.0, rel=1e-6)  # power x 100: log10 + 2


def test_largest_change_and_ssim():
    a = RNG.random((4, 4))
    b = a.copy()
    b[2, 1] += 0.3
    assert measure.largest_change(a, b) == pytest.approx(0.3)
    x = RNG.random((30, 24))
    y = x + 0.2 * RNG.random((30, 24))
    L = float(y.max() - y.min())
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2

    def filt(v):  # 7 x 7 means over valid windows, sample (co)variances: scikit-image's defaults
        return uniform_filter(v, 7)[3:-3, 3:-3]

    mx, my = filt(x), filt(y)
    n = 49 / 48
    vx, vy, cov = n * (filt(x * x) - mx**2), n * (filt(y * y) - my**2), n * (filt(x * y) - mx * my)
    ref = ((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean()
    assert measure.ssim(x, y) == pytest.approx(ref, rel=1e-9)
    assert measure.ssim(y, y) == pytest.approx(1.0) and measure.ssim(x, y, data_range=L) == pytest.approx(ref, rel=1e-9)
    assert measure.ssim(np.zeros((5, 5)), np.zeros((5, 5))) == pytest.approx(1.0)
    assert measure.ssim(x, y[::-1]) < 0.9


# --------------------------------------------------------------------------- maps

def test_sparsity_counts_values_at_or_below_zero():
    a = torch.tensor([[0.0, -1.0, 2.0], [3.0, 0.0, 0.5]])
    assert measure.sparsity(a) == pytest.approx(3 / 6)
    maps = torch.relu(torch.randn(4, 8, 5, 5, generator=torch.Generator().manual_seed(0)))
    assert measure.sparsity(maps) == pytest.approx(float((maps == 0).double().mean()))
    with pytest.raises(ValueError, match="finite"):
        measure.sparsity(torch.tensor([float("nan")]))


def test_mass_share_and_negative_share():
    heat = torch.tensor([[1.0, 3.0], [0.0, 4.0]])
    mask = torch.tensor([[True, False], [True, True]])
    assert measure.mass_share(heat, mask) == pytest.approx(5 / 8)
    assert vk.mass_share is measure.mass_share
    assert measure.negative_share(np.array([[-1.0, 3.0], [-2.0, 0.0]])) == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="non-negative"):
        measure.mass_share(-heat, mask)
    with pytest.raises(ValueError, match="zero everywhere"):
        measure.negative_share(np.zeros((2, 2)))


def test_object_mask_grows_as_a_square_dilation():
    image = torch.zeros(1, 9, 9)
    image[0, 4, 4] = 0.5
    image[0, 0, 8] = 0.04  # below the threshold: background
    plain = measure.object_mask(image)
    assert plain.sum() == 1 and plain[4, 4]
    grown = measure.object_mask(image, margin=2)
    reference = ndimage.binary_dilation(plain.numpy(), structure=np.ones((3, 3)), iterations=2)
    np.testing.assert_array_equal(grown.numpy(), reference)


def test_window_coverage_against_a_loop():
    mask = torch.from_numpy(RNG.random((11, 9)) > 0.6)
    got = measure.window_coverage(mask, (4, 3), 2)
    h, w = (11 - 4) // 2 + 1, (9 - 3) // 2 + 1
    expected = np.array([[mask[2 * i:2 * i + 4, 2 * j:2 * j + 3].double().mean().item() for j in range(w)]
                         for i in range(h)])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    assert tuple(got.shape) == vk.attribute.scan.grid_shape((11, 9), (4, 3), 2)


# --------------------------------------------------------------------------- the network

def test_accuracy_flip_rate_and_margin_from_the_logits(fashion, fashion_batch):
    x, y = fashion_batch[0][:40], fashion_batch[1][:40]
    with torch.no_grad():
        logits = fashion.model(x)
    pred = logits.argmax(1)
    assert measure.accuracy(fashion, x, y) == pytest.approx(float((pred == y).double().mean()))
    assert measure.class_rate(fashion, x, "Bag") == pytest.approx(float((pred == 8).double().mean()))
    changed = x.clone()
    changed[::2] = x.flip(0)[::2]  # every other image swapped for another one
    with torch.no_grad():
        pred2 = fashion.model(changed).argmax(1)
    right = pred == y
    assert measure.flip_rate(fashion, x, changed, y) == pytest.approx(float((pred2[right] != y[right]).double().mean()))
    m = measure.margin(fashion, x, y)
    for i in range(5):  # the definition, one image at a time
        other = max(float(logits[i, j]) for j in range(10) if j != int(y[i]))
        assert float(m[i]) == pytest.approx(float(logits[i, y[i]]) - other, rel=1e-5)
    assert bool(((m > 0) == right).all())
    with pytest.raises(ValueError, match="one class per image"):
        measure.accuracy(fashion, x, y[:3])


def test_margin_gradient_against_autograd_and_finite_differences(fashion, fashion_batch):
    x, y = fashion_batch[0][:3], fashion_batch[1][:3]
    m, grad = measure.margin_gradient(fashion, x, y)
    torch.testing.assert_close(m, measure.margin(fashion, x, y), rtol=1e-5, atol=1e-5)
    pixels = fashion.pixels(x, clamp=False).clone().requires_grad_(True)
    logits = fashion.model(fashion.normalize(pixels))
    true = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], float("-inf")).max(1).values
    (reference,) = torch.autograd.grad((true - other).sum(), pixels)
    torch.testing.assert_close(grad, reference, rtol=1e-5, atol=1e-6)
    # finite differences in float64, with a step small enough that no ReLU changes state, on noise images: a
    # garment's flat black background gives tied maxima in the pools, where the margin has no derivative
    net64 = fashion_net(copy.deepcopy(fashion.model).double())
    x64 = net64.normalize(torch.rand(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    m64, grad64 = measure.margin_gradient(net64, x64, y)
    step = 1e-7 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    moved = measure.margin(net64, net64.normalize(net64.pixels(x64, clamp=False) + step), y)
    torch.testing.assert_close(moved - m64, (grad64 * step).flatten(1).sum(1), rtol=1e-5, atol=1e-12)


def test_feature_gram_and_gain_against_recorded_activations(fashion, fashion_batch):
    a, b = fashion_batch[0][:1], fashion_batch[0][1:2]
    with torch.no_grad(), record(fashion, ["relu2", "relu3"]) as rec:
        rec.forward(a)
        fa = {k: v.double() for k, v in rec.items()}
        rec.forward(b)
        fb = {k: v.double() for k, v in rec.items()}
    error = float((fa["relu2"] - fb["relu2"]).pow(2).sum() / fb["relu2"].pow(2).sum())
    assert measure.feature_error(fashion, a, b, "relu2") == pytest.approx(error, rel=1e-9)
    assert measure.feature_error(fashion, b, b, "relu2") == 0.0
    grams = measure.gram_errors(fashion, a, b, ["relu2", "relu3"])
    for layer in ("relu2", "relu3"):
        ga, gb = vk.gram(fa[layer]), vk.gram(fb[layer])
        assert grams[layer] == pytest.approx(float((ga - gb).pow(2).sum() / gb.pow(2).sum()), rel=1e-9)
    assert measure.activation_gain(fashion, a, b, "relu3") == pytest.approx(
        float(fa["relu3"].norm() / fb["relu3"].norm()), rel=1e-9)
    assert measure.activation_gain(fashion, a, b, "relu3", channel=5) == pytest.approx(
        float(fa["relu3"][0, 5].norm() / fb["relu3"][0, 5].norm()), rel=1e-9)
    with pytest.raises(ValueError, match="channel"):
        measure.activation_gain(fashion, a, b, "relu3", channel=500)


# --------------------------------------------------------------------------- units

def test_class_purity_against_counting():
    labels = torch.tensor([0, 1, 1, 2, 2, 2, 3, 0])

    class Found:  # only .indices is read
        indices = torch.tensor([[0, 7, 1], [3, 4, 5], [1, 2, 6]])

    expected = [max(collections.Counter(labels[row].tolist()).values()) / 3 for row in Found.indices]
    np.testing.assert_allclose(measure.class_purity(Found(), labels), expected)
    assert expected == [2 / 3, 1.0, 2 / 3]


def test_rotation_matches_against_numpy():
    w = RNG.standard_normal((6, 2, 5, 5))
    w[1] = np.rot90(w[0], 1, axes=(1, 2))       # filter 1 is filter 0 turned by 90 degrees
    w[3] = np.flip(w[2], axis=2) * 3.0          # filter 3 mirrors filter 2 (a scale does not matter)
    got = measure.rotation_matches(torch.tensor(w))

    def transforms(f):
        for turns in range(4):
            for mirror in (False, True):
                if turns or mirror:
                    g = np.flip(f, axis=2) if mirror else f
                    yield np.rot90(g, turns, axes=(1, 2))

    expected = [max(np.corrcoef(w[i].ravel(), t.ravel())[0, 1] for j in range(6) if j != i for t in transforms(w[j]))
                for i in range(6)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert got[:4].min() > 0.999 and got[4:].max() < 0.9
    with pytest.raises(ValueError, match="square"):
        measure.rotation_matches(torch.zeros(4, 1, 3, 5))


# --------------------------------------------------------------------------- masks (notebook 07's claims)

RNG7 = np.random.default_rng(7)


def test_field_mask_is_the_box_clipped_to_the_image():
    for top, left, bottom, right in [(-3, -2, 4, 5), (10, 20, 15, 25), (20, 26, 31, 40), (-9, 3, -1, 7), (2, 2, 2, 9)]:
        mask = measure.field_mask((top, left, bottom, right), (24, 28))
        loop = np.zeros((24, 28), dtype=bool)
        for i in range(24):
            for j in range(28):
                loop[i, j] = top <= i < bottom and left <= j < right
        assert mask.dtype == torch.bool and np.array_equal(mask.numpy(), loop)
    assert measure.field_mask((0, 0, 3, 3), 5).shape == (5, 5)


def test_field_mask_of_a_unit_holds_its_deconvnet_projection():
    net = fashion_net()
    torch.manual_seed(0)
    x = torch.randn(1, 1, 28, 28)
    rf = vk.receptive_field(net, "conv2")
    projection = vk.deconvnet(net, x, "conv2", 3, (4, 9))[0, 0].abs()
    field = measure.field_mask(rf.box(4, 9), 28)
    assert measure.mass_share(projection, ~field) == 0.0 and 0 < int(field.sum()) < 28 * 28


def test_field_mask_refuses_bad_boxes():
    with pytest.raises(ValueError, match="top, left, bottom, right"):
        measure.field_mask((0, 0, 3), 5)
    with pytest.raises(TypeError, match="top"):
        measure.field_mask((0.5, 0, 3, 3), 5)


def test_outline_mask_is_the_pixels_near_both_object_and_background():
    image = torch.zeros(1, 16, 18)
    image[0, 4:11, 5:14] = 0.8
    image[0, 6, 8] = 0.0          # a hole inside the object
    image[0, 0, 17] = 0.5         # an object pixel in the corner
    image += 0.02 * torch.from_numpy(RNG7.random((1, 16, 18))).float()
    obj = (image.amax(0) > 0.05).numpy()
    for width in (1, 2):
        loop = np.zeros(obj.shape, dtype=bool)
        for i in range(obj.shape[0]):
            for j in range(obj.shape[1]):
                near = obj[max(i - width, 0):i + width + 1, max(j - width, 0):j + width + 1]
                loop[i, j] = near.any() and not near.all()
        assert np.array_equal(measure.outline_mask(image, width).numpy(), loop)


def test_outline_mask_of_an_empty_or_full_image_is_empty():
    assert not measure.outline_mask(torch.zeros(1, 8, 8)).any()
    assert not measure.outline_mask(torch.ones(3, 8, 8)).any()
    with pytest.raises(ValueError, match="width"):
        measure.outline_mask(torch.zeros(1, 8, 8), 0)
