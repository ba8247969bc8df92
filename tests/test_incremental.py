"""Incremental occlusion (Krypton) against brute force: the exact engine gives occlusion_scan's maps to float
precision on fashion-cnn (trained), AlexNet and VGG16 (random weights) and a chain of every supported layer;
the approximate mode stays within SSIM 0.9 of the exact map; other graphs fall back with a warning; the
model is left as found."""

import warnings

import numpy as np
import pytest
import torch
import torchvision
from _state import model_state, same_state
from torch import nn

import vizkit as vk
from vizkit.attribute.incremental import Incremental, incremental_occlusion, incremental_probs, incremental_scan
from vizkit.attribute.scan import fill_value, occlusion_scan
from vizkit.hooks import frozen
from vizkit.measure import ssim

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning:torchvision.*"),
              pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread while this file runs: the engine issues many small operations, and on a shared, oversubscribed
    machine each multi-threaded one can wait milliseconds for a descheduled thread (the results do not change)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def boot(fashion, fashion_test):
    return fashion.preprocess(fashion_test[0][0])


def wrapped(model, size, channels=3):
    torch.manual_seed(0)
    return vk.wrap(model, mean=[0.5] * channels, std=[0.25] * channels, input_size=(size, size))


def brute_probs(net, x, window, stride, fill="mean"):
    """(K, h, w) by brute force: occlusion_scan runs every occluded copy through the whole model."""
    return occlusion_scan(net, x, window, stride, fill, lambda batch: torch.softmax(net.model(batch), 1),
                          progress=False).permute(2, 0, 1)


def logits_both_ways(net, x, window, stride, fill="mean", **options):
    """(h, w, K) logits: brute force (occlusion_scan) and incremental."""
    ref = occlusion_scan(net, x, window, stride, fill, net.model, progress=False)
    got = incremental_scan(net, x, window, stride, fill, lambda out: out, progress=False, **options)
    return ref, got


def assert_same_logits(ref, got):
    # random weights: probabilities are near uniform, so compare the logits, to float32 precision of their scale
    assert got.shape == ref.shape
    scale = float(ref.abs().max())
    assert float((got - ref).abs().max()) <= 1e-5 * scale + 1e-6, float((got - ref).abs().max()) / scale
    assert float((torch.softmax(got, -1) - torch.softmax(ref, -1)).abs().max()) <= 1e-5


# --------------------------------------------------------------------------- exact = brute force

@pytest.mark.parametrize("window,stride,fill", [(7, 3, "mean"), (5, 5, 0.5), (28, 1, 0.0), (1, 4, 1.0),
                                                (6, 4, "mean"), (3, 1, 0.0), ((8, 5), (3, 7), "mean")])
def test_exact_equals_brute_force_on_fashion_cnn(fashion, boot, window, stride, fill):
    ref = brute_probs(fashion, boot, window, stride, fill)
    got = incremental_probs(fashion, boot, window, stride, fill, progress=False)
    assert got.shape == ref.shape
    assert float((got - ref).abs().max()) <= 1e-5
    assert torch.equal(got.argmax(0), ref.argmax(0)) or float((got - ref).abs().max()) < 1e-6


def test_exact_equals_a_naive_loop_and_the_drop_in_functions(fashion, boot):
    got = incremental_occlusion(fashion, boot, "Ankle boot", 6, 4, fill=0.0, progress=False, batch_size=5)
    value = (0.0 - fashion.mean[0]) / fashion.std[0]
    for i, top in enumerate(range(0, 23, 4)):
        for j, left in enumerate(range(0, 23, 4)):
            y = boot.clone()
            y[0, :, top:top + 6, left:left + 6] = value
            with torch.no_grad():
                p = torch.softmax(fashion.model(y), 1)[0, 9]
            assert abs(float(got[i, j]) - float(p)) <= 1e-5
    torch.testing.assert_close(got, vk.occlusion(fashion, boot, 9, 6, 4, fill=0.0, progress=False),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("size,window,stride", [(96, 16, 12), (112, 10, 20), (224, 16, 70)])
def test_exact_equals_brute_force_on_alexnet(size, window, stride):
    # 224 px: pool5 gives 6 x 6 and the adaptive pool is skipped; smaller: it runs on whole maps
    torch.manual_seed(0)
    net = wrapped(torchvision.models.alexnet(weights=None), size)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    assert_same_logits(*logits_both_ways(net, x, window, stride))


def test_exact_equals_brute_force_on_vgg16():
    torch.manual_seed(0)
    net = wrapped(torchvision.models.vgg16(weights=None), 64)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    assert_same_logits(*logits_both_ways(net, x, 10, 13, fill=0.0))  # 54 / 13: the last row and column fall short


class EveryLayer(nn.Module):
    """A chain of every layer kind the engine crops, with awkward geometry."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=2, padding=3), nn.BatchNorm2d(8), nn.LeakyReLU(0.1),
            nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
            nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2), nn.GELU(), nn.Dropout2d(0.5),
            nn.Conv2d(8, 12, 4, padding="same"), nn.Tanh(),
            nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
            nn.Conv2d(12, 12, (3, 1), padding=(1, 0), bias=False), nn.ReLU(inplace=True),
            nn.AvgPool2d(2, 1, padding=1), nn.Identity(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(12 * 16, 20), nn.ReLU(), nn.Linear(20, 7))
        with torch.no_grad():
            bn = self.features[1]
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        return self.head(self.features(x))


def test_exact_on_a_chain_of_every_layer_kind():
    net = wrapped(EveryLayer(), 45)
    net.model.train()  # the technique runs it in eval mode (batch-norm's running statistics) and restores train
    x = torch.randn(1, 3, 45, 45, generator=torch.Generator().manual_seed(3))
    for window, stride in [(7, 4), (1, 5), (45, 1), ((9, 4), (6, 11))]:
        ref, got = logits_both_ways(net, x, window, stride, fill=0.25)
        assert_same_logits(ref, got)
    assert net.model.training


def test_adaptive_pools_with_equal_bins_and_chains_that_end_in_maps():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveMaxPool2d(8), nn.Conv2d(4, 4, 3),
                          nn.AdaptiveAvgPool2d(3))
    net = wrapped(model, 32)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    ref = occlusion_scan(net, x, 5, 3, "mean", model, progress=False)
    got = incremental_scan(net, x, 5, 3, "mean", lambda out: out, progress=False)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


class ScaledConv(nn.Conv2d):
    """A conv subclass with its own forward: the engine must not crop it as a plain conv."""

    def forward(self, x):
        return 2 * super().forward(x)


def test_layers_with_their_own_forward_run_on_whole_maps():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), ScaledConv(4, 4, 3, padding=1),
                          nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12 * 12, 5))
    net = wrapped(model, 24)
    x = torch.randn(1, 3, 24, 24, generator=torch.Generator().manual_seed(6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same_logits(*logits_both_ways(net, x, 5, 3))


def test_batches_of_any_size_and_the_progress_callback(fashion, boot):
    ref = incremental_probs(fashion, boot, 7, 3, progress=False)
    calls = []
    got = incremental_probs(fashion, boot, 7, 3, batch_size=3, progress=False, callback=lambda *a: calls.append(a))
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)
    assert calls[-1] == (64, 64) and len(calls) == 22


# --------------------------------------------------------------------------- approximate

@pytest.mark.parametrize("window,stride", [(7, 1), (5, 1)])
def test_approximate_stays_within_ssim_0_9_with_fewer_windows(fashion, fashion_test, window, stride):
    for i in range(0, 100, 10):
        x, label = fashion_test[i]
        x = fashion.normalize(x[None])
        exact = incremental_occlusion(fashion, x, int(label), window, stride, progress=False)
        done = []
        approx = incremental_scan(fashion, x, window, stride, "mean",
                                  lambda out, t=int(label): torch.softmax(out, 1)[:, t], progress=False,
                                  callback=lambda d, total, done=done: done.append(d), approximate=True)
        assert approx.shape == exact.shape
        assert ssim(approx.numpy(), exact.numpy()) >= 0.9, i
        assert done[-1] < exact.numel()


def test_approximate_is_exact_with_no_tolerance_and_no_threshold(fashion, boot):
    exact = incremental_probs(fashion, boot, 5, 1, progress=False)
    same = incremental_probs(fashion, boot, 5, 1, progress=False,
                             approximate=vk.Approximation(threshold=1.0, tolerance=0.0))
    torch.testing.assert_close(same, exact, rtol=0, atol=1e-6)
    for window in ((28, 3), (3, 28), 28):  # maps of one row, one column, one value
        exact = incremental_occlusion(fashion, boot, 9, window, 1, progress=False)
        approx = incremental_occlusion(fashion, boot, 9, window, 1, progress=False,
                                       approximate=vk.Approximation(coarse=8))
        assert approx.shape == exact.shape and float((approx - exact).abs().max()) < 0.1


def test_projective_field_thresholding_cuts_the_work_and_changes_the_map(fashion, boot):
    # on fashion-cnn's 7 x 7 and 3 x 3 deep maps it changes a lot, which is why it is off by default
    exact = incremental_occlusion(fashion, boot, 9, 5, 1, progress=False)
    capped = incremental_occlusion(fashion, boot, 9, 5, 1, progress=False,
                                   approximate=vk.Approximation(threshold=0.6, tolerance=0.0))
    assert float((capped - exact).abs().max()) > 1e-3
    with frozen(fashion), torch.no_grad():
        engine = Incremental(fashion, boot, (5, 5), fill_value(fashion, "mean"))
    rows, cols = np.divmod(np.arange(24 * 24), 24)

    def recomputed(threshold):  # output positions the engine recomputes over all windows and layers
        return sum(int(((r[1] - r[0]) * (c[1] - c[0])).sum()) for _, r, c in engine.boxes(rows, cols, threshold))
    assert recomputed(0.6) < recomputed(None)


# --------------------------------------------------------------------------- fallback, model state, bad input

class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = x + self.conv2(x)  # a skip connection: not a chain
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("model,size", [(Residual(), 20), (torchvision.models.resnet18(weights=None), 32)])
def test_other_graphs_fall_back_to_brute_force_with_a_warning(model, size):
    net = wrapped(model, size)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(5))
    with pytest.warns(UserWarning, match="brute force") as caught:
        got = incremental_probs(net, x, 6, 5, progress=False)
    assert len([w for w in caught if "brute force" in str(w.message)]) == 1
    torch.testing.assert_close(got, brute_probs(net, x, 6, 5))
    with pytest.warns(UserWarning, match="brute force"):
        assert incremental_probs(net, x, 6, 5, progress=False, approximate=True).shape == got.shape


def test_the_model_is_left_as_found(fresh_fashion, boot):
    torch.manual_seed(0)
    alexnet = wrapped(torchvision.models.alexnet(weights=None), 96)
    for net, x in ((fresh_fashion, boot), (alexnet, torch.randn(1, 3, 96, 96))):
        net.model.train()
        for p in net.model.parameters():
            p.grad = torch.ones_like(p)
        handle = net.model.register_forward_hook(lambda *a: None)
        before, kept = model_state(net), x.clone()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            incremental_probs(net, x, 16 if net is alexnet else 5, 12 if net is alexnet else 4, progress=False)
            incremental_probs(net, x, 8, 8, progress=False, approximate=True)
            with pytest.raises(ValueError, match="larger than"):
                incremental_probs(net, x, 1000, 1, progress=False)
        assert same_state(before, model_state(net)) and torch.equal(x, kept)
        handle.remove()
    assert any(m.inplace for m in alexnet.model.modules() if isinstance(m, nn.ReLU))


@pytest.mark.parametrize("options,error,match", [
    (dict(threshold=0.0), ValueError, "threshold"), (dict(threshold=1.5), ValueError, "threshold"),
    (dict(tolerance=-1), ValueError, "tolerance"), (dict(coarse=0), ValueError, "coarse"),
    (dict(coarse=2.5), TypeError, "coarse")])
def test_bad_approximation_settings_get_a_clear_error(options, error, match):
    with pytest.raises(error, match=match):
        vk.Approximation(**options)


def test_approximate_takes_true_false_or_an_approximation(fashion, boot):
    with pytest.raises(TypeError, match="approximate"):
        incremental_probs(fashion, boot, 5, 1, progress=False, approximate="yes")


@pytest.mark.parametrize("call,error,match", [
    (lambda n, x: incremental_occlusion(n, x, 0, 29, 1, progress=False), ValueError, "larger than"),
    (lambda n, x: incremental_occlusion(n, x, 0, 5, 0, progress=False), ValueError, "stride"),
    (lambda n, x: incremental_occlusion(n, x, 0, 5, 1, fill=2.0, progress=False), ValueError, "fill"),
    (lambda n, x: incremental_occlusion(n, x, "Sandals", 5, 1, progress=False), KeyError, "'Sandal'"),
    (lambda n, x: incremental_occlusion(n, x, 0, 5, 1, batch_size=0, progress=False), ValueError, "batch_size"),
    (lambda n, x: incremental_occlusion(n, x, 0, 5, 1, batch_size=2.0, progress=False), TypeError, "batch_size"),
])
def test_bad_input_gets_the_same_errors_as_brute_force(fashion, boot, call, error, match):
    with pytest.raises(error, match=match):
        call(fashion, boot)


def test_vk_occlusion_passes_the_approximation_settings_on(fashion, boot):
    exact = vk.occlusion(fashion, boot, "Ankle boot", 7, 1, fill=0.0, progress=False)
    loose = vk.occlusion(fashion, boot, "Ankle boot", 7, 1, fill=0.0, progress=False,
                         approximate=vk.Approximation(tolerance=0.0))
    assert torch.allclose(loose, exact, atol=1e-5)
    probs = vk.occlusion_probs(fashion, boot, 7, 1, 0.0, progress=False, approximate=vk.Approximation(coarse=4))
    assert probs.shape[1:] == exact.shape and ssim(probs[9].numpy(), exact.numpy()) > 0.9
    with pytest.raises(TypeError, match="tolerence"):
        vk.occlusion(fashion, boot, "Ankle boot", 7, 1, approximate=True, tolerence=0.1)
