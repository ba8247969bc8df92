"""A zoo of small custom models, written as a user would, wrapped with vk.wrap: every technique runs on each,
on every device this machine has, and leaves the model as found; every panel renders on each device."""

import warnings
from types import SimpleNamespace

import ipywidgets as widgets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _state import model_state, same_state
from PIL import Image
from torch import nn

import vizkit as vk

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
CLASSES = ["cat", "dog", "bird", "fish"]
SIZE = 32


class Functional(nn.Module):
    """Only the convolutions and the linear layer are modules; everything else is a function call."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 12, 3, padding=1)
        self.fc = nn.Linear(12, len(CLASSES))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.adaptive_avg_pool2d(F.relu(self.conv2(x)), 1)
        return self.fc(torch.flatten(x, 1))


class Block(nn.Module):
    """x + conv(relu(conv(x)))."""

    def __init__(self, c):
        super().__init__()
        self.conv1, self.conv2, self.relu = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1), nn.ReLU()

    def forward(self, x):
        return x + self.conv2(self.relu(self.conv1(x)))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.block = nn.Conv2d(3, 8, 3, stride=2, padding=1), Block(8)
        self.fc = nn.Linear(8 * 8 * 8, len(CLASSES))

    def forward(self, x):
        x = self.block(F.relu(self.stem(x), inplace=True))
        return self.fc(F.max_pool2d(x, 2).flatten(1))


class GapHead(nn.Module):
    """Conv, batch-norm, ReLU; a 1x1 conv to class maps averaged over positions (no linear layer)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 12, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(12, len(CLASSES), 1)

    def forward(self, x):
        return self.head(self.body(x)).mean((2, 3))


class TorchvisionStyle(nn.Module):
    """features / avgpool / classifier as torchvision's AlexNet and VGG (in-place ReLUs, dropout)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(12 * 4, 16), nn.ReLU(inplace=True),
                                        nn.Linear(16, len(CLASSES)))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class Concat(nn.Module):
    """An Inception-like block: a 1x1 and a 3x3 branch side by side, their maps joined with torch.cat."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.branch1, self.branch3 = nn.Conv2d(8, 6, 1), nn.Conv2d(8, 6, 3, padding=1)
        self.mix = nn.Conv2d(12, 12, 3, padding=1)
        self.fc = nn.Linear(12, len(CLASSES))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        x = torch.cat([F.relu(self.branch1(x)), F.relu(self.branch3(x))], dim=1)
        x = F.relu(self.mix(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al.): a globally pooled branch of 1x1 convs and a sigmoid rescales each map."""

    def __init__(self, c, reduction=4):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Conv2d(c, c // reduction, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(c // reduction, c, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(self.pool(x))


class SENet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.se = nn.Conv2d(3, 8, 3, padding=1), SqueezeExcite(8)
        self.conv2 = nn.Conv2d(8, 12, 3, padding=1)
        self.fc = nn.Linear(12, len(CLASSES))

    def forward(self, x):
        x = self.se(F.max_pool2d(F.relu(self.conv1(x)), 2))
        return self.fc(F.relu(self.conv2(x)).mean((2, 3)))


# model -> (class, a conv layer, the last conv layer with maps)
ZOO = {"functional": (Functional, "conv1", "conv2"), "residual": (Residual, "stem", "block.conv2"),
       "gap": (GapHead, "conv1", "conv2"), "torchvision": (TorchvisionStyle, "conv1", "conv2"),
       "concat": (Concat, "stem", "mix"), "squeeze-excite": (SENet, "conv1", "conv2")}


def make(kind: str, device: str = "cpu"):
    torch.manual_seed(0)
    model = ZOO[kind][0]()
    return vk.wrap(model.to(device), classes=CLASSES, mean=[0.5, 0.4, 0.3], std=[0.25, 0.25, 0.25],
                   input_size=SIZE, name=kind)


def write_images(root, sizes=((40, 50), (37, 33), (64, 48), (32, 32), (20, 90), (33, 40))):
    """Random PNG and JPEG files in class folders cat/ and dog/ (torchvision's layout)."""
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            name = f"{i}.{'png' if i % 2 else 'jpg'}"
            Image.fromarray(rng.integers(0, 255, (h, w, 3), np.uint8)).save(root / c / name)
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("zoo") / "photos")


_NETS = {}


@pytest.fixture(params=[(k, d) for k in ZOO for d in DEVICES], ids=lambda p: f"{p[0]}-{p[1]}")
def zoo(request, folder):
    """One zoo model (shared within the module: techniques must leave it as found), its layers and data."""
    kind, device = request.param
    if request.param not in _NETS:
        _NETS[request.param] = make(kind, device)
    net = _NETS[request.param]
    data = vk.ImageFolder(folder, net=net)
    x = net.normalize(data[0][0][None])
    return SimpleNamespace(net=net, x=x, data=data, conv=ZOO[kind][1], last=ZOO[kind][2], kind=kind)


def checked(z, fn):
    """fn(z) under the check that the model is left exactly as found."""
    before = model_state(z.net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # deconvnet's fallback on non-chains
        out = fn(z)
    assert same_state(before, model_state(z.net))
    return out


TECHNIQUES = {
    "activations": lambda z: vk.activations(z.net, z.x, [z.conv, z.last]),
    "dead_filters": lambda z: vk.dead_filters(z.net, z.data, z.last),
    "filter_weights": lambda z: vk.filter_smoothness(vk.filter_weights(z.net, z.conv)),
    "features": lambda z: vk.features(z.net, z.data, z.last, pool="avg", progress=False),
    "nearest+embed": lambda z: (lambda f: vk.embed(f, "pca")[vk.nearest(f, 0, k=2)[0]])(
        vk.features(z.net, z.data, z.last, progress=False)),
    "receptive_field": lambda z: vk.receptive_field(z.net, z.last),
    "top_patches": lambda z: vk.top_patches(z.net, z.data, z.last, k=2, progress=False).crops(1),
    "deconvnet": lambda z: vk.deconvnet(z.net, z.x, z.last, 1),
    "backprop": lambda z: vk.backprop(z.net, z.x, z.last, 1),
    "guided_backprop": lambda z: vk.guided_backprop(z.net, z.x, z.last, 1),
    "saliency": lambda z: vk.saliency(z.net, z.x, "dog", smooth=2),
    "grad_cam": lambda z: vk.grad_cam(z.net, z.x, "dog", z.last),
    "guided_grad_cam": lambda z: vk.guided_grad_cam(z.net, z.x, 1, z.last),
    "occlusion": lambda z: vk.occlusion(z.net, z.x, "cat", 8, 8, progress=False),
    "occlusion_probs": lambda z: vk.occlusion_probs(z.net, z.x, 8, 8, fill=0.5, progress=False),
    "occlusion_activation": lambda z: vk.occlusion_activation(z.net, z.x, z.conv, 0, 8, 8, progress=False),
    "invert": lambda z: vk.invert(z.net, z.x, z.last, steps=2, progress=False).image,
    "visualize_filter": lambda z: vk.visualize_filter(z.net, z.last, 1, steps=2, progress=False).image,
    "visualize_filter (fourier)": lambda z: vk.visualize_filter(z.net, z.conv, 1, steps=2, parametrisation="fourier",
                                                                progress=False).image,
    "visualize_class": lambda z: vk.visualize_class(z.net, "fish", steps=2, progress=False).image,
    "fgsm": lambda z: vk.fgsm(z.net, z.x, "cat", eps=0.03),
    "pgd": lambda z: vk.pgd(z.net, z.x.repeat(2, 1, 1, 1), None, eps=0.03, steps=2, random_start=True),
    "deepdream": lambda z: vk.deepdream(z.net, z.x, z.last, octaves=2, steps=2, progress=False).image,
    "synthesize_texture": lambda z: vk.synthesize_texture(z.net, z.x, [z.conv], steps=2, progress=False).image,
    "style_transfer": lambda z: vk.style_transfer(z.net, z.x, z.x.flip(3), steps=2, settings=vk.StyleSettings(
        content_layer=z.last, style_layers=[z.conv]), progress=False).image,
    "predict": lambda z: z.net.predict(z.x, k=2),
}


@pytest.mark.parametrize("name", list(TECHNIQUES))
def test_every_technique_runs_on_custom_models(zoo, name):
    out = checked(zoo, TECHNIQUES[name])
    values = out.values() if isinstance(out, dict) else [out]
    for v in values:
        if isinstance(v, (torch.Tensor, np.ndarray)):
            assert np.isfinite(torch.as_tensor(v).detach().cpu().numpy()).all() or name == "top_patches", name


def test_projections_have_the_input_shape_and_deconvnet_says_when_it_falls_back(zoo):
    for fn in (vk.deconvnet, vk.backprop, vk.guided_backprop):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g = fn(zoo.net, zoo.x, zoo.last, 1)
        assert g.shape == zoo.x.shape and g.device == zoo.x.device
        chain = zoo.kind == "torchvision"
        assert any("gradient-rule" in str(w.message) for w in caught) == (fn is vk.deconvnet and not chain)


def test_functional_relus_follow_the_backward_rules():
    """F.relu calls get the deconvnet / guided rules, as nn.ReLU modules do: on the functional model the rules
    agree with a copy of it that uses nn.ReLU modules."""
    net = make("functional")

    class Modular(Functional):
        def __init__(self):
            super().__init__()
            self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()

        def forward(self, x):
            x = F.max_pool2d(self.relu1(self.conv1(x)), 2)
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.relu2(self.conv2(x)), 1), 1))

    twin = Modular()
    twin.load_state_dict(net.model.state_dict())
    twin = vk.wrap(twin, classes=CLASSES, mean=net.mean, std=net.std, input_size=SIZE)
    x = net.normalize(torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)))
    for fn in (vk.guided_backprop, vk.backprop, lambda n, x, layer, c: vk.attribute.gradient.project(
            n, x, layer, c, rule="deconvnet")):
        torch.testing.assert_close(fn(net, x, "conv2", 3), fn(twin, x, "conv2", 3))
    plain = vk.backprop(net, x, "conv2", 3)
    assert not torch.allclose(vk.guided_backprop(net, x, "conv2", 3), plain)  # the rule did act
    torch.testing.assert_close(vk.guided_grad_cam(net, x, 1, "conv2"), vk.guided_grad_cam(twin, x, 1, "conv2"))


def test_train_a_custom_model_on_an_image_folder(folder):
    net = make("torchvision")
    data = vk.ImageFolder(folder, net=net)
    history = vk.train(net, data, epochs=1, lr=0.01, progress=False, settings=vk.TrainSettings(batch_size=4),
                       snapshots=vk.SnapshotSettings(layers=["conv2"]))
    assert len(history.epochs) == 1 and len(history.snapshots) == 2
    with pytest.raises(ValueError, match="relu"):  # a functional model has no relu aliases: the message says so
        vk.train(make("functional"), data, epochs=1, lr=0.01, progress=False)


# --------------------------------------------------------------------------- every panel, on a custom model

def _other(widget):
    """A value for widget other than its current one (None if it has no other)."""
    if isinstance(widget, widgets.Checkbox):
        return not widget.value
    if hasattr(widget, "options"):
        options = list(widget._options_values)  # the values, also where the options are (label, value) pairs
        if isinstance(widget, widgets.SelectMultiple):
            new = tuple(o for o in options if o not in widget.value)[:1]
            return new or None
        return next((o for o in options if o != widget.value), None)
    if isinstance(widget, (widgets.IntSlider, widgets.FloatSlider, widgets.FloatLogSlider, widgets.BoundedIntText,
                           widgets.BoundedFloatText)):
        if widget.disabled or widget.min == widget.max:
            return None
        step = widget.step or 1
        up = widget.value + step
        return up if up <= widget.max else widget.value - step
    return None


def controls(panel) -> dict:
    """The panel's value widgets that a user changes (not buttons, uploads, images or text)."""
    skip = (widgets.FileUpload, widgets.Button, widgets.Image, widgets.HTML, widgets.Label, widgets.IntProgress,
            widgets.Output, widgets.Text, widgets.Textarea)
    return {k: w for k, w in vars(panel).items() if isinstance(w, widgets.ValueWidget) and not isinstance(w, skip)}


def drive(panel):
    """Render once, then change every control once; each change must leave no error. -> names changed."""
    run = getattr(panel, "run", None)
    if run is not None:
        run(block=True)
    assert panel.last_error is None, panel.last_error
    assert panel.png(), "the panel shows nothing"
    changed = []
    for name, widget in controls(panel).items():
        value = _other(widget)
        if value is None:
            continue
        widget.value = value
        if run is not None:
            run(block=True)
        assert panel.last_error is None, f"{type(panel).__name__}.{name} = {value!r}: {panel.last_error!r}"
        changed.append(name)
    return changed


@pytest.fixture(scope="module", params=DEVICES)
def panel_setup(request, folder):
    """Models on each device this machine has (a panel must bring GPU results to the CPU to draw them)."""
    from vizkit.ui._panel import Panel  # noqa: F401 - the panels need ipywidgets; fail here if they cannot load

    gap = make("gap", request.param)
    data = vk.ImageFolder(folder, net=gap)
    images = {"a": data[0][0], "b": data[4][0]}
    feats = {"conv2": vk.features(gap, data, "conv2", pool="avg", progress=False),
             "conv1": vk.features(gap, data, "conv1", pool="avg", progress=False)}
    return SimpleNamespace(net=gap, functional=make("functional", request.param), data=data, images=images, feats=feats)


PANELS = {
    "ActivationsPanel": lambda s, ui: ui.ActivationsPanel(s.functional, s.images),
    "FiltersPanel": lambda s, ui: ui.FiltersPanel({"gap": s.net, "functional": s.functional}),
    "NeighboursPanel": lambda s, ui: ui.NeighboursPanel(s.net, s.data.tensors()[0], s.data.labels, s.feats, k=2),
    "EmbeddingPanel": lambda s, ui: ui.EmbeddingPanel(s.feats, s.data.labels, images=s.data.tensors()[0],
                                                      classes=s.data.classes),
    "FieldPanel": lambda s, ui: ui.FieldPanel(s.functional, s.images),
    "PatchesPanel": lambda s, ui: ui.PatchesPanel(s.net, s.data, ["conv1", "conv2"], k=2),
    "ProjectionPanel": lambda s, ui: ui.ProjectionPanel(s.functional, s.images),
    "TopProjectionsPanel": lambda s, ui: ui.TopProjectionsPanel(s.net, s.data, ["conv1", "conv2"], k=2),
    "OcclusionPanel": lambda s, ui: ui.OcclusionPanel(s.net, s.images, window=8, stride=8),
    "SaliencyPanel": lambda s, ui: ui.SaliencyPanel(s.functional, s.images, smooth=2),
    "InversionPanel": lambda s, ui: ui.InversionPanel(s.net, s.images, steps=2),
    "FilterPanel": lambda s, ui: ui.FilterPanel(s.net, s.data, steps=2, k=2),
    "ClassModelPanel": lambda s, ui: ui.ClassModelPanel(s.net, steps=2),
    "AdversarialPanel": lambda s, ui: ui.AdversarialPanel(s.net, s.images, steps=2),
    "DeepDreamPanel": lambda s, ui: ui.DeepDreamPanel(s.net, s.images, size=SIZE, octaves=2, steps=2),
    "TexturePanel": lambda s, ui: ui.TexturePanel(s.net, s.images, size=SIZE, steps=2),
    "StylePanel": lambda s, ui: ui.StylePanel(s.net, s.images, {"b": s.images["b"]}, size=SIZE, steps=2),
    "TrainingReplayPanel": lambda s, ui: ui.TrainingReplayPanel(
        {"run": vk.train(make("torchvision", s.net.device), s.data, 2, 0.01, progress=False,
                         settings=vk.TrainSettings(batch_size=3),
                         snapshots=vk.SnapshotSettings(layers=["conv1", "conv2"]))}),
}


@pytest.mark.parametrize("name", list(PANELS))
def test_every_panel_renders_a_custom_model_and_each_control_works(panel_setup, name):
    import vizkit.ui as ui

    drive(PANELS[name](panel_setup, ui))


def test_all_panels_are_covered():
    import vizkit.ui as ui

    assert set(ui.__all__) == set(PANELS)


def test_channels_last_inputs():
    """Images stored channels-last (a permuted (H, W, C) array) work too: L-BFGS views the gradient as flat."""
    net = make("gap")
    x = net.normalize(torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0)).permute(0, 3, 1, 2))
    assert not x.is_contiguous()
    vk.style_transfer(net, x, x.flip(3), steps=2, settings=vk.StyleSettings(content_layer="conv2",
                                                                            style_layers=["conv1"]), progress=False)
    vk.pgd(net, x, 0, eps=0.03, steps=2)


def test_receptive_fields_through_concatenation_and_squeeze_excitation():
    """Concatenated branches: the union of their fields (the 3x3 branch's, 8 px, holds the 1x1's, 4 px), then the
    3x3 mix conv. Squeeze-excitation multiplies each map by a number pooled over the whole image: the field of
    conv2's first unit covers the whole input."""
    assert vk.receptive_field(make("concat"), "mix") == ((12, 12), (2, 2), (-5, -5))
    size, _, start = vk.receptive_field(make("squeeze-excite"), "conv2")
    assert all(s <= 0 and s + n >= SIZE for n, s in zip(size, start)), (size, start)
