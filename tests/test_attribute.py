"""Projecting back to pixels, each technique against an independent reference:
deconvnet's explicit path against the gradient-rule formulation (and Captum), guided backprop against
Captum, saliency and Grad-CAM against torch.autograd.grad, occlusion against a naive loop."""

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from _state import model_state, same_state
from captum.attr import LayerAttribution, LayerGradCam, NeuronDeconvolution, NeuronGuidedBackprop
from torch import nn

import vizkit as vk
from vizkit.attribute.gradient import project
from vizkit.hooks import resolve

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum.*")
MAP_LAYERS = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "pool3"]


@pytest.fixture(scope="module")
def boot(fashion, fashion_test):
    return fashion.preprocess(fashion_test[0][0])  # an ankle boot


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return vk.load("alexnet", pretrained=False)  # torchvision's module: in-place ReLUs, overlapping pools


@pytest.fixture(scope="module")
def vgg16():
    torch.manual_seed(0)
    return vk.load("vgg16", pretrained=False)


def small_input(channels=3, size=96, seed=0):
    return torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(seed))


def activation(net, x, layer):
    return vk.activations(net, x, layer)[layer]


def unit_value(net, x, layer, channel, position=None):
    a = activation(net, x, layer)[channel]
    if position is None:
        flat = int(a.reshape(-1).argmax())
        position = divmod(flat, a.shape[-1])
    return float(a[position]), position


def captum_neuron(net, method, x, layer, unit):
    model = copy.deepcopy(net.model).eval()
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # Captum's ReLU hooks go wrong on in-place ReLUs
    module = model.get_submodule(resolve(net, layer)[0])
    return method(model, module).attribute(x.clone(), neuron_selector=unit)


# --------------------------------------------------------------------------- deconvnet

@pytest.mark.parametrize("layer", MAP_LAYERS)
def test_explicit_deconvnet_equals_gradient_rule_on_fashion_cnn(fashion, boot, layer):
    for channel in (0, 5):
        explicit = vk.deconvnet(fashion, boot, layer, channel)
        rule = project(fashion, boot, layer, channel, rule="deconvnet")
        assert explicit.shape == boot.shape
        torch.testing.assert_close(explicit, rule, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,layers", [("alexnet", ["conv1", "pool1", "conv3", "relu5", "pool5"]),
                                         ("vgg16", ["conv1_2", "pool2", "conv4_3", "pool5"])])
def test_explicit_deconvnet_equals_gradient_rule_on_torchvision(name, layers, request):
    net = request.getfixturevalue(name)
    x = small_input(size=96 if name == "alexnet" else 64)
    relus = [m.inplace for m in net.model.modules() if isinstance(m, nn.ReLU)]
    assert any(relus)  # the real modules, with in-place ReLUs
    for layer in layers:
        explicit = vk.deconvnet(net, x, layer, 3)
        rule = project(net, x, layer, 3, rule="deconvnet")
        scale = rule.abs().max()
        assert scale > 0, layer
        torch.testing.assert_close(explicit, rule, rtol=1e-4, atol=1e-5 * float(scale))
    assert relus == [m.inplace for m in net.model.modules() if isinstance(m, nn.ReLU)]


@pytest.mark.parametrize("name,layer,size", [("fashion", "relu3", None), ("fashion", "pool2", None),
                                             ("alexnet", "relu4", 96), ("vgg16", "conv3_2", 64)])
def test_deconvnet_and_guided_backprop_match_captum(name, layer, size, request, boot):
    net = request.getfixturevalue(name)
    x = boot if size is None else small_input(size=size)
    value, pos = unit_value(net, x, layer, 7)
    for ours, method in ((vk.deconvnet, NeuronDeconvolution), (vk.guided_backprop, NeuronGuidedBackprop)):
        # ours starts from the unit's value (ZF: other activations zero); Captum's gradient from 1
        reference = captum_neuron(net, method, x, layer, (7, *pos)) * value
        got = ours(net, x, layer, 7)
        torch.testing.assert_close(got, reference, rtol=1e-4, atol=1e-5 * float(reference.abs().max() + 1e-12))


def test_deconvnet_steps_show_unpool_rectify_filter(fashion, boot):
    steps = vk.deconvnet_steps(fashion, boot, "pool2", 4)
    assert [s.kind for s in steps] == ["unit", "unpool", "rectify", "filter", "unpool", "rectify", "filter"]
    assert [s.layer for s in steps] == ["pool2", "pool2", "relu2", "conv2", "pool1", "relu1", "conv1"]
    assert [tuple(s.signal.shape) for s in steps] == [(1, 64, 7, 7), (1, 64, 14, 14), (1, 64, 14, 14),
                                                     (1, 32, 14, 14), (1, 32, 28, 28), (1, 32, 28, 28),
                                                     (1, 1, 28, 28)]
    assert int((steps[0].signal != 0).sum()) == 1  # only the unit
    value, (y, x) = unit_value(fashion, boot, "pool2", 4)
    assert float(steps[0].signal[0, 4, y, x]) == value
    # unpooling puts the value at one of the 2x2 positions it came from (the switch)
    up = steps[1].signal[0, 4]
    assert int((up != 0).sum()) == 1 and float(up.sum()) == value
    yy, xx = divmod(int(up.reshape(-1).argmax()), 14)
    assert (yy // 2, xx // 2) == (y, x)
    assert torch.equal(steps[-1].signal, vk.deconvnet(fashion, boot, "pool2", 4))


def test_overlapping_pools_add_at_shared_switches():
    # a 3x3 / stride-2 pool over a single bright pixel: both windows pick it, the unpool adds both
    net = vk.wrap(nn.Sequential(nn.MaxPool2d(3, 2)), classes=["a"], mean=[0.0], std=[1.0], input_size=(5, 5))
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0
    steps = vk.deconvnet_steps(net, x, "0", 0, position=(0, 0))
    assert float(steps[-1].signal[0, 0, 2, 2]) == 1.0
    a = torch.ones(1, 1, 2, 2)  # all four windows share the switch at (2, 2)
    from vizkit.attribute.deconvnet import _unpool
    switches = F.max_pool2d(x, 3, 2, return_indices=True)[1]
    assert float(_unpool(a, switches, x.shape)[0, 0, 2, 2]) == 4.0


def test_deconvnet_falls_back_to_the_rule_on_resnet():
    torch.manual_seed(0)
    net = vk.load("resnet18", pretrained=False)
    x = small_input(size=64)
    with pytest.warns(UserWarning, match="gradient-rule"):
        got = vk.deconvnet(net, x, "stage2", 3)
    torch.testing.assert_close(got, project(net, x, "stage2", 3, rule="deconvnet"))
    with pytest.raises(ValueError, match="not a chain"):
        vk.deconvnet_steps(net, x, "stage2", 3)
    assert got.abs().sum() > 0


def test_rules_differ_as_the_lecture_says(fashion, boot):
    # deconvnet ignores the forward ReLU mask, backprop ignores the signal's sign, guided uses both
    d, b, g = (f(fashion, boot, "conv3", 9) for f in (vk.deconvnet, vk.backprop, vk.guided_backprop))
    assert not torch.allclose(d, b) and not torch.allclose(g, b) and not torch.allclose(g, d)
    value, pos = unit_value(fashion, boot, "conv3", 9)
    xg = boot.clone().requires_grad_(True)
    from vizkit.hooks import record
    with record(fashion, "conv3", keep_graph=True) as rec:
        rec.forward(xg)
    (ref,) = torch.autograd.grad(rec["conv3"][0, 9][pos], xg)
    torch.testing.assert_close(b, ref * value)


# --------------------------------------------------------------------------- saliency, Grad-CAM

@pytest.mark.parametrize("target", [9, "Sneaker", 0])
def test_saliency_is_max_abs_gradient_of_the_logit(fashion, boot, target):
    xg = boot.clone().requires_grad_(True)
    t = target if isinstance(target, int) else fashion.classes.index(target)
    (g,) = torch.autograd.grad(fashion.model(xg)[0, t], xg)
    torch.testing.assert_close(vk.saliency(fashion, boot, target), g.abs().amax(1)[0])


def test_saliency_on_colour_images(alexnet):
    x = small_input(size=64)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(alexnet.model(xg)[0, 3], xg)
    got = vk.saliency(alexnet, x, 3)
    assert got.shape == (64, 64)
    torch.testing.assert_close(got, g.abs().amax(1)[0])


def test_smoothgrad_averages_maps_of_noisy_copies(fashion, boot):
    torch.testing.assert_close(vk.saliency(fashion, boot, 9, smooth=3, noise=0.0), vk.saliency(fashion, boot, 9))
    got = vk.saliency(fashion, boot, 9, smooth=5, noise=0.2, seed=3, batch_size=2)
    torch.testing.assert_close(got, vk.saliency(fashion, boot, 9, smooth=5, noise=0.2, seed=3, batch_size=5))
    gen = torch.Generator().manual_seed(3)
    sigma = 0.2 * float(boot.max() - boot.min())
    maps = []
    for _ in range(5):
        xn = (boot + sigma * torch.randn(boot.shape, generator=gen)).requires_grad_(True)
        (g,) = torch.autograd.grad(fashion.model(xn)[0, 9], xn)
        maps.append(g.abs().amax(1)[0])
    torch.testing.assert_close(got, torch.stack(maps).mean(0))
    assert not torch.allclose(got, vk.saliency(fashion, boot, 9, smooth=5, noise=0.2, seed=4))


def grad_cam_reference(net, x, target, layer):
    model = copy.deepcopy(net.model).eval()
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    kept = {}
    model.get_submodule(resolve(net, layer)[0]).register_forward_hook(lambda m, i, o: kept.update(a=o))
    logits = model(x.clone().requires_grad_(True))
    (g,) = torch.autograd.grad(logits[0, target], kept["a"])
    cam = F.relu((g.mean((2, 3), keepdim=True) * kept["a"]).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0].detach()
    return cam / cam.max() if cam.max() > 0 else cam, model, logits


@pytest.mark.parametrize("name,layer,size", [("fashion", "relu3", None), ("fashion", "conv2", None),
                                             ("alexnet", "relu5", 96), ("vgg16", "conv5_3", 64)])
def test_grad_cam_matches_autograd_and_captum(name, layer, size, request, boot):
    net = request.getfixturevalue(name)
    x = boot if size is None else small_input(size=size)
    ref, model, _ = grad_cam_reference(net, x, 2, layer)
    got = vk.grad_cam(net, x, 2, layer)
    assert got.shape == x.shape[2:] and float(got.min()) >= 0 and float(got.max()) == pytest.approx(1.0)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    cap = LayerGradCam(model, model.get_submodule(resolve(net, layer)[0])).attribute(x, target=2,
                                                                                      relu_attributions=True)
    cap = LayerAttribution.interpolate(cap, tuple(x.shape[2:]), "bilinear")[0, 0].detach()
    torch.testing.assert_close(got, cap / cap.max(), rtol=1e-4, atol=1e-5)


def test_grad_cam_all_zero_stays_zero():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3, padding=1)
    fc = nn.Linear(2 * 8 * 8, 2)
    with torch.no_grad():
        fc.weight.fill_(-1.0)  # every positive activation lowers the score: ReLU(sum a_k A_k) = 0
    net = vk.wrap(nn.Sequential(conv, nn.ReLU(), nn.Flatten(), fc), classes=["a", "b"], input_size=(8, 8))
    cam = vk.grad_cam(net, torch.rand(1, 1, 8, 8), "a", "1")
    assert cam.shape == (8, 8) and torch.equal(cam, torch.zeros(8, 8))


def test_guided_grad_cam_is_guided_gradient_times_cam(fashion, boot):
    got = vk.guided_grad_cam(fashion, boot, 9, "relu3")
    cam = vk.grad_cam(fashion, boot, 9, "relu3")
    model = copy.deepcopy(fashion.model).eval()
    from captum.attr import GuidedBackprop
    guided = GuidedBackprop(model).attribute(boot.clone(), target=9)
    torch.testing.assert_close(got, guided * cam, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- occlusion

def naive_occlusion(net, x, window, stride, fill_value):
    H, W = x.shape[2:]
    rows = []
    for top in range(0, H - window + 1, stride):
        row = []
        for left in range(0, W - window + 1, stride):
            y = x.clone()
            y[0, :, top:top + window, left:left + window] = fill_value
            with torch.no_grad():
                row.append(torch.softmax(net.model(y), 1)[0])
        rows.append(torch.stack(row))
    return torch.stack(rows).permute(2, 0, 1)  # (K, h, w)


@pytest.mark.parametrize("window,stride,fill", [(7, 3, "mean"), (5, 5, 0.5), (28, 1, 0.0), (1, 4, 1.0),
                                                (6, 4, "mean")])
def test_occlusion_matches_a_naive_loop(fashion, boot, window, stride, fill):
    value = 0.0 if fill == "mean" else (fill - fashion.mean[0]) / fashion.std[0]
    ref = naive_occlusion(fashion, boot, window, stride, value)
    got = vk.occlusion(fashion, boot, 9, window, stride, fill=fill, batch_size=7, progress=False)
    assert got.shape == ((28 - window) // stride + 1,) * 2
    torch.testing.assert_close(got, ref[9], rtol=1e-5, atol=1e-6)
    probs = vk.occlusion_probs(fashion, boot, window, stride, fill=fill, progress=False)
    torch.testing.assert_close(probs, ref, rtol=1e-5, atol=1e-6)


def test_occlusion_geometry_with_pairs_and_colour(alexnet):
    x = small_input(size=96)
    got = vk.occlusion(alexnet, x, "goldfish", (8, 12), (20, 30), fill=0.5, progress=False)
    assert got.shape == ((96 - 8) // 20 + 1, (96 - 12) // 30 + 1) == (5, 3)
    y = x.clone()
    y[0, :, 20:28, 30:42] = torch.tensor([(0.5 - m) / s for m, s in zip(alexnet.mean, alexnet.std)]).view(3, 1, 1)
    with torch.no_grad():
        p = torch.softmax(alexnet.model(y), 1)[0, 1]
    assert float(got[1, 1]) == pytest.approx(float(p), rel=1e-4)


def test_occlusion_activation_matches_a_naive_loop(fashion, boot):
    value, pos = unit_value(fashion, boot, "conv3", 6)
    got = vk.occlusion_activation(fashion, boot, "conv3", 6, 8, 4, progress=False)
    total = vk.occlusion_activation(fashion, boot, "conv3", 6, 8, 4, total=True, progress=False)
    for i, top in enumerate(range(0, 21, 4)):
        for j, left in enumerate(range(0, 21, 4)):
            y = boot.clone()
            y[0, :, top:top + 8, left:left + 8] = 0.0
            a = activation(fashion, y, "conv3")[6]
            assert float(got[i, j]) == pytest.approx(float(a[pos]), rel=1e-5, abs=1e-6)
            assert float(total[i, j]) == pytest.approx(float(a.sum()), rel=1e-5, abs=1e-5)


def test_to_pixels_and_mass_share():
    from vizkit.attribute import to_pixels
    grid = torch.tensor([[1.0, 3.0]])
    px = to_pixels(grid, 2, 1, (2, 3))
    torch.testing.assert_close(px, torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]))
    heat = torch.tensor([[1.0, 0.0], [2.0, 1.0]])
    mask = torch.tensor([[True, False], [True, False]])
    assert vk.mass_share(heat, mask) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="non-negative"):
        vk.mass_share(-heat, mask)
    with pytest.raises(ValueError, match="zero everywhere"):
        vk.mass_share(torch.zeros(2, 2), mask)


# --------------------------------------------------------------------------- bad input, model state

@pytest.mark.parametrize("call,error,match", [
    (lambda n, x: vk.deconvnet(n, x, "fc4", 0), ValueError, "convolutional"),
    (lambda n, x: vk.deconvnet(n, x, "conv2", 64), ValueError, r"\[0, 63\]"),
    (lambda n, x: vk.deconvnet(n, x, "conv2", -1), ValueError, "channel"),
    (lambda n, x: vk.guided_backprop(n, x, "conv2", 1, position=(14, 0)), ValueError, "0 <= y < 14"),
    (lambda n, x: vk.guided_backprop(n, x, "conv2", 1, position=3), ValueError, "position"),
    (lambda n, x: vk.guided_backprop(n, x, "conv9", 1), KeyError, "Closest match"),
    (lambda n, x: vk.occlusion(n, x, 0, 29, 1), ValueError, "larger than"),
    (lambda n, x: vk.occlusion(n, x, 0, 5, 0), ValueError, "stride"),
    (lambda n, x: vk.occlusion(n, x, 0, 5, 1.5), TypeError, "stride"),
    (lambda n, x: vk.occlusion(n, x, 0, 5, 1, fill=2.0), ValueError, "fill"),
    (lambda n, x: vk.occlusion(n, x, "Sandals", 5, 1), KeyError, "'Sandal'"),
    (lambda n, x: vk.saliency(n, x, 10), ValueError, r"\[0, 9\]"),
    (lambda n, x: vk.saliency(n, x, 1, smooth=-1), ValueError, "smooth"),
    (lambda n, x: vk.grad_cam(n, x, "Trousers", "conv3"), KeyError, "Trouser"),
    (lambda n, x: vk.grad_cam(n, x, 1, "fc5"), ValueError, "maps"),
    (lambda n, x: vk.saliency(n, x.repeat(2, 1, 1, 1), 1), ValueError, "one image"),
    (lambda n, x: vk.occlusion_activation(n, x, "conv3", 0, 5, 1, position=(0, 0), total=True), ValueError,
     "total"),
])
def test_bad_input_gets_a_clear_error(fashion, boot, call, error, match):
    with pytest.raises(error, match=match):
        call(fashion, boot)


def test_gradients_leave_param_grads_and_the_input_alone(fresh_fashion, boot):
    net = fresh_fashion
    for p in net.model.parameters():
        p.grad = torch.ones_like(p)
    before, x = model_state(net), boot.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (lambda: vk.deconvnet(net, x, "conv2", 1), lambda: vk.guided_backprop(net, x, "relu3", 1),
                  lambda: vk.saliency(net, x, 1, smooth=2), lambda: vk.grad_cam(net, x, 1, "conv3"),
                  lambda: vk.guided_grad_cam(net, x, 1, "conv3")):
            f()
    assert same_state(before, model_state(net))
    assert torch.equal(x, boot) and not x.requires_grad and x.grad is None


# --------------------------------------------------------------------------- channels-last layers, unreached layers

def test_channels_last_layers_agree_with_their_channels_first_twin():
    from test_hooks import layout_pair

    net, twin, x = layout_pair()
    for layer in ("fc", "relu"):
        torch.testing.assert_close(vk.grad_cam(net, x, 1, layer), vk.grad_cam(twin, x, 1, layer))
        for fn in (vk.guided_backprop, vk.backprop):
            torch.testing.assert_close(fn(net, x, layer, 3), fn(twin, x, layer, 3))
            torch.testing.assert_close(fn(net, x, layer, 2, (7, 4)), fn(twin, x, layer, 2, (7, 4)))
    torch.testing.assert_close(vk.occlusion_activation(net, x, "relu", 4, 4, 2, progress=False),
                               vk.occlusion_activation(twin, x, "relu", 4, 4, 2, progress=False))


class PositionTable(nn.Module):
    """SwinV2's trap: a small conv + ReLU on a constant table (no image in it), added to the class scores."""

    def __init__(self):
        super().__init__()
        self.conv, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.register_buffer("table", torch.randn(1, 2, 3, 3))
        self.table_conv, self.table_relu, self.fc = nn.Conv2d(2, 4, 1), nn.ReLU(), nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.relu(self.conv(x)).mean((2, 3)) + self.table_relu(self.table_conv(self.table)).mean())


@pytest.mark.filterwarnings("ignore:.*called no ReLU")
def test_grad_cam_refuses_layers_the_image_does_not_reach_and_tokens():
    torch.manual_seed(0)
    net = vk.wrap(PositionTable(), input_size=8, name="table")
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="table_relu' of table does not depend on the input image"):
        vk.grad_cam(net, x, 0, "table_relu")
    assert vk.grad_cam(net, x, 0, "relu").shape == (8, 8)

    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.mlp, self.out = nn.Conv2d(3, 6, 4, stride=4), nn.Linear(6, 6), nn.Linear(6, 2)

        def forward(self, x):
            t = self.mlp(self.conv(x).flatten(2).transpose(1, 2).reshape(1, 2, 2, 6))  # (N, ?, ?, C) windows
            return self.out(t.mean((1, 2)))

    tokens = vk.wrap(Tokens(), input_size=8)
    with pytest.raises(ValueError, match="Grad-CAM needs a layer with .* maps over the image.*not the image grid"):
        vk.grad_cam(tokens, torch.randn(1, 3, 8, 8), 0, "mlp")
    with pytest.raises(ValueError, match=r"not maps over the image grid, so a \(y, x\) position means nothing"):
        vk.guided_backprop(tokens, torch.randn(1, 3, 8, 8), "mlp", 0, (1, 1))
    assert vk.guided_backprop(tokens, torch.randn(1, 3, 8, 8), "mlp", 0).shape == (1, 3, 8, 8)


# --------------------------------------------------------------------------- ReLU6 (MobileNetV2) takes the rules

class Six(nn.Module):
    """conv -> ReLU6 (a module, F.relu6 or F.hardtanh(0, 6)) -> conv, with weights large enough to clip at 6."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind, self.act = kind, nn.ReLU6()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 4, 3)
        with torch.no_grad():
            self.conv1.weight.mul_(20)

    def six(self, x):
        return {"module": self.act, "relu6": F.relu6, "hardtanh": lambda t: F.hardtanh(t, 0.0, 6.0)}[self.kind](x)

    def forward(self, x):
        return self.conv2(self.six(self.conv1(x))).mean((2, 3))


def relu6_reference(model: Six, x, channel: int, rule: str) -> torch.Tensor:
    """The projection of conv2's strongest unit of `channel`, by hand: the rule written out at the ReLU6."""
    x = x.clone().requires_grad_(True)
    a1 = model.conv1(x)
    r = a1.clamp(0, 6).detach().requires_grad_(True)
    a2 = model.conv2(r)
    y, xx = divmod(int(a2[0, channel].argmax()), a2.shape[3])
    seed = torch.zeros_like(a2)
    seed[0, channel, y, xx] = a2[0, channel, y, xx]
    (g,) = torch.autograd.grad(a2, r, seed)
    g = g.clamp(min=0)
    if rule == "guided":
        g = g * ((a1 > 0) & (a1 < 6))
    (out,) = torch.autograd.grad(a1, x, g)
    return out


@pytest.mark.parametrize("kind", ["module", "relu6", "hardtanh"])
def test_relu6_takes_the_guided_and_deconvnet_rules(kind):
    torch.manual_seed(0)
    model = Six(kind)
    net = vk.wrap(model, input_size=10)
    x = torch.randn(1, 3, 10, 10, generator=torch.Generator().manual_seed(3))
    a1 = model.conv1(x)
    assert (a1 > 6).any() and (a1 < 0).any()  # both clips act
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rule found its ReLU6: no "plain gradient" warning
        for rule in ("guided", "deconvnet"):
            got = project(net, x, "conv2", 1, rule=rule)
            torch.testing.assert_close(got, relu6_reference(model, x, 1, rule))
    assert not torch.allclose(vk.guided_backprop(net, x, "conv2", 1), vk.backprop(net, x, "conv2", 1))
