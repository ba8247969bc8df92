"""Receptive fields against an independent measurement: the gradient footprint of each layer in an
all-linear, one-channel copy of the network (max-pool as average-pool, ReLU and batch-norm as identity,
all weights one); and against the sizes published for standard networks."""

import copy
import re

import pytest
import torch
import torchvision
from torch import nn

import vizkit as vk
from vizkit.inspect.receptive import channel_fields, receptive_field, receptive_fields


class _Stop(Exception):
    pass


def linear_copy(model: nn.Module) -> nn.Module:
    """Same geometry, no nonlinearity, one channel, positive weights."""
    model = copy.deepcopy(model)
    first = True
    for name, m in list(model.named_modules()):
        if not name:
            continue
        parent, _, leaf = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        if isinstance(m, nn.Conv2d):
            conv = nn.Conv2d(m.in_channels if first else 1, 1, m.kernel_size, m.stride, m.padding, m.dilation,
                             bias=False)
            nn.init.ones_(conv.weight)
            setattr(owner, leaf, conv)
            first = False
        elif isinstance(m, nn.MaxPool2d):
            setattr(owner, leaf, nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode))
        elif isinstance(m, nn.AdaptiveMaxPool2d):
            setattr(owner, leaf, nn.AdaptiveAvgPool2d(m.output_size))
        elif isinstance(m, (nn.ReLU, nn.BatchNorm2d, nn.Dropout)):
            setattr(owner, leaf, nn.Identity())
    return model.eval()


def footprint_boxes(net, layers, size):
    """For each layer: the input rows and columns whose gradient is non-zero, for its unit (0, 0)
    and for its middle unit -> {layer: ((row0, row1, col0, col1) of (0, 0), of the middle, (y, x))}."""
    model = linear_copy(net.model)
    modules = {n: model.get_submodule(vk.hooks.resolve(net, n)[0]) for n in layers}
    outs = {}

    def hook_for(name):
        def hook(module, inputs, output):
            outs[name] = output
            if len(outs) == len(modules):
                raise _Stop
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in modules.items()]
    x = torch.ones(1, net.channels, size, size, requires_grad=True)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    boxes = {}
    for name, out in outs.items():
        found = []
        h, w = out.shape[2:]
        for y, xx in ((0, 0), (h // 2, w // 2)):
            (g,) = torch.autograd.grad(out[0, :, y, xx].sum(), x, retain_graph=True)
            hit = g[0].abs().sum(0) > 0
            rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
            found.append((int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])))
        boxes[name] = (found[0], found[1], (h // 2, w // 2))
    return boxes


def expected_box(rf, y, x, size):
    r0, c0 = rf.start[0] + y * rf.stride[0], rf.start[1] + x * rf.stride[1]
    return (max(r0, 0), min(r0 + rf.size[0] - 1, size - 1), max(c0, 0), min(c0 + rf.size[1] - 1, size - 1))


def imagenet(name):
    model = torchvision.models.get_model(name, weights=None)
    return vk.wrap(model, mean=[0.5] * 3, std=[0.25] * 3, input_size=224, name=name)


def map_layers(net):
    """Every layer with spatial maps: all leaf conv/pool/relu/bn modules, and the aliases."""
    names = [n for n, m in net.model.named_modules()
             if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.ReLU, nn.BatchNorm2d))
             and not n.startswith("classifier")]
    names += [a for a, p in net.layers.items()  # aliases of map layers; adaptive pools depend on the size
              if not isinstance(net.model.get_submodule(p), (nn.Linear, nn.AdaptiveAvgPool2d))
              and not p.startswith("classifier")]
    return list(dict.fromkeys(names))


@pytest.mark.parametrize("name, size", [("fashion-cnn", 96), ("alexnet", 320), ("vgg16", 320), ("resnet18", 576)])
def test_fields_match_the_gradient_footprint(name, size):
    net = vk.load("fashion-cnn") if name == "fashion-cnn" else imagenet(name)
    layers = map_layers(net)
    fields = {n: receptive_field(net, n) for n in layers}
    boxes = footprint_boxes(net, layers, size)
    assert len(boxes) == len(layers) > 5
    for layer in layers:
        corner, middle, (y, x) = boxes[layer]
        rf = fields[layer]
        assert corner == expected_box(rf, 0, 0, size), layer
        assert middle == expected_box(rf, y, x, size), layer
        assert middle[1] - middle[0] + 1 == rf.size[0], f"{layer}: field not fully inside the test image"


def test_published_sizes():
    alexnet, vgg, resnet = imagenet("alexnet"), imagenet("vgg16"), imagenet("resnet18")
    assert receptive_field(alexnet, "pool5") == ((195, 195), (32, 32), (-66, -66))
    assert receptive_field(alexnet, "conv1") == ((11, 11), (4, 4), (-2, -2))
    assert receptive_field(vgg, "conv5_3").size == (196, 196)
    assert receptive_field(vgg, "pool5")[:2] == ((212, 212), (32, 32))
    assert receptive_field(resnet, "stage4")[:2] == ((435, 435), (32, 32))
    table = receptive_fields(alexnet)
    assert list(table)[:3] == ["conv1", "relu1", "pool1"] and table["fc6"].size[0] >= 224


def test_dilation_and_branches():
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 2, 3, padding=2, dilation=2)
            self.b = nn.Conv2d(1, 2, 1)
            self.pool = nn.AvgPool2d(2)

        def forward(self, x):
            return self.pool(torch.relu(self.a(x) + self.b(x)))

    net = vk.wrap(Branches(), input_size=32)
    assert receptive_field(net, "a") == ((5, 5), (1, 1), (-2, -2))
    assert receptive_field(net, "pool") == ((6, 6), (2, 2), (-2, -2))  # union of the two paths, then pooled
    boxes = footprint_boxes(net, ["pool"], 32)
    assert boxes["pool"][1] == expected_box(receptive_field(net, "pool"), *boxes["pool"][2], 32)


def test_unsupported_layers_are_named():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Upsample(scale_factor=2), nn.Conv2d(2, 2, 3))
    with pytest.raises(ValueError, match="Upsample"):
        receptive_field(vk.wrap(model, input_size=16), "2")
    with pytest.raises(KeyError, match="conv1"):
        receptive_field(vk.load("fashion-cnn"), "conv7")


class FunctionalNet(nn.Module):
    """A user's own model written with functional calls: F.relu, F.max_pool2d / F.avg_pool2d, F.conv2d on a
    parameter, a residual block and global average pooling by x.mean((2, 3))."""

    def __init__(self, pool="max"):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.w = nn.Parameter(torch.randn(4, 4, 5, 5) * 0.1)
        self.res = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(4, 10)
        self.pool = torch.nn.functional.max_pool2d if pool == "max" else torch.nn.functional.avg_pool2d

    def forward(self, x):
        x = self.pool(torch.nn.functional.relu(self.conv1(x)), 2)
        x = torch.nn.functional.relu(torch.nn.functional.conv2d(x, self.w, padding=2))
        x = torch.nn.functional.relu(x + self.res(x))
        x = self.head(self.pool(x, kernel_size=3, stride=2, padding=1))
        return self.fc(x.mean((2, 3)))


def test_functional_models_match_the_gradient_footprint():
    fields = {}
    for pool in ("max", "avg"):
        net = vk.wrap(FunctionalNet(pool), input_size=28)
        fields[pool] = {n: receptive_field(net, n) for n in ("conv1", "res", "head", "fc")}
    assert fields["max"] == fields["avg"]               # pooling kind does not change the geometry
    assert fields["max"]["res"] == ((16, 16), (2, 2), (-7, -7))    # 3, pooled to 4, 5x5 -> 12, 3x3 -> 16
    model = FunctionalNet("avg").eval()                 # positive weights, no biases: the footprint is exact
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.ones_like(p) if p.dim() > 1 else torch.zeros_like(p))
    size = 64
    x = torch.ones(1, 1, size, size, requires_grad=True)
    outs = {}
    handles = [getattr(model, n).register_forward_hook(lambda m, i, o, n=n: outs.__setitem__(n, o))
               for n in ("conv1", "res", "head")]
    model(x)
    for h in handles:
        h.remove()
    for name, out in outs.items():
        h, w = out.shape[2:]
        for y, xx in ((0, 0), (h // 2, w // 2)):
            (g,) = torch.autograd.grad(out[0, :, y, xx].sum(), x, retain_graph=True)
            hit = g[0, 0] != 0
            rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
            got = (int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1]))
            assert got == expected_box(fields["avg"][name], y, xx, size), (name, y, xx)
    assert fields["avg"]["fc"].size[0] >= 28            # after global pooling a unit sees the whole image


def test_top_patches_and_their_panel_on_a_functional_model():
    from vizkit.ui import PatchesPanel

    torch.manual_seed(0)
    net = vk.wrap(FunctionalNet("max"), mean=[0.286], std=[0.353], input_size=28)
    data = vk.FashionMNIST(train=False).subset(40)
    top = vk.top_patches(net, data, "res", k=3, progress=False)
    assert top.rf.size == (16, 16) and top.crops(0).shape[0] == 3
    panel = PatchesPanel(net, data, ["conv1", "res"], k=3)
    assert panel.last_error is None and len(panel.png()) > 1000


# --------------------------------------------------------------------------- beyond plain chains (issue 23)

def unit_footprint(model, x, layer_module, channel, y, xx, channels_last=False):
    """Input rows and columns (first, last) with a non-zero gradient for one unit of a module's output."""
    outs = []
    handle = layer_module.register_forward_hook(lambda m, i, o: outs.append(o))
    x = x.clone().requires_grad_(True)
    model(x)
    handle.remove()
    out = outs[0]
    unit = out[0, y, xx, channel] if channels_last else out[0, channel, y, xx]
    (g,) = torch.autograd.grad(unit, x)
    hit = g[0].abs().sum(0) > 0
    rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
    return (int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])) if len(rows) else None


def ones_(model):
    """Positive weights and no biases: every path's gradient is positive, so a footprint is the whole field."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.ones_like(p) / p[0].numel() if p.dim() > 1 else torch.zeros_like(p))
    return model.eval()


class Concat(nn.Module):
    """Two branches with different kernels, concatenated: channels 0-1 see 3x3, channels 2-4 see 5x5."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3, padding=1)
        self.b = nn.Conv2d(1, 3, 5, padding=2)
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool2d(2)  # max-pooling's gradient would reach one pixel of each window only
        self.mix = nn.Conv2d(5, 4, 1)

    def forward(self, x):
        return self.mix(self.pool(self.relu(torch.cat([self.a(x), self.b(x)], 1))))


def test_concatenated_channels_keep_their_branch_fields():
    net = vk.wrap(Concat(), input_size=24)
    narrow, wide = ((3, 3), (1, 1), (-1, -1)), ((5, 5), (1, 1), (-2, -2))
    assert [receptive_field(net, "relu", channel=c) for c in range(5)] == [narrow] * 2 + [wide] * 3
    assert receptive_field(net, "relu") == wide                                 # the union over channels
    assert receptive_field(net, "pool", channel=0) == ((4, 4), (2, 2), (-1, -1))  # each channel pooled alike
    assert receptive_field(net, "pool", channel=4) == ((6, 6), (2, 2), (-2, -2))
    assert receptive_field(net, "mix", channel=0) == ((6, 6), (2, 2), (-2, -2))   # a 1x1 conv mixes them
    with pytest.raises(ValueError, match=r"channel"):
        receptive_field(net, "relu", channel=5)
    model, size = ones_(Concat()), 24
    x = torch.ones(1, 1, size, size)
    for layer, module in (("relu", model.relu), ("pool", model.pool)):
        for c in range(5):
            rf = receptive_field(net, layer, channel=c)
            for y, xx in ((0, 0), (5, 5)):
                assert unit_footprint(model, x, module, c, y, xx) == expected_box(rf, y, xx, size), (layer, c, y)


def test_top_patches_crop_each_channel_by_its_own_field():
    torch.manual_seed(0)
    net = vk.wrap(Concat(), input_size=24)
    data = torch.rand(6, 1, 24, 24)
    top = vk.top_patches(net, data, "relu", k=2, progress=False)
    assert top.rf.size == (5, 5) and top.field(0).size == (3, 3) and top.field(4).size == (5, 5)
    assert top.boxes(0)[0, 2] - top.boxes(0)[0, 0] == 3


class SqueezeExcite(nn.Module):
    """A conv, a squeeze-and-excitation gate (global pool -> 1x1 convs -> sigmoid) rescaling its maps, a conv."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(4, 2, 1), nn.Conv2d(2, 4, 1)
        self.gate = nn.Sigmoid()
        self.scaled = nn.Identity()
        self.after = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        x = self.conv(x)
        x = self.scaled(x * self.gate(self.fc2(torch.relu(self.fc1(self.squeeze(x))))))
        return self.after(x)


def test_a_globally_pooled_branch_gives_the_whole_image_and_local_leaves_it_out():
    size = 20
    net = vk.wrap(SqueezeExcite(), input_size=size)
    whole = receptive_field(net, "scaled")
    assert whole.stride == (0, 0) and whole.start == (-1, -1) and whole.size == (size + 2, size + 2)
    assert receptive_field(net, "after") == ((size + 4, size + 4), (0, 0), (-2, -2))  # still everything, and padding
    assert receptive_field(net, "scaled", local=True) == ((3, 3), (1, 1), (-1, -1))
    assert receptive_field(net, "after", local=True) == ((5, 5), (1, 1), (-2, -2))
    model = ones_(SqueezeExcite())
    assert unit_footprint(model, torch.ones(1, 1, size, size), model.scaled, 0, 0, 0) == \
        expected_box(whole, 0, 0, size) == (0, size - 1, 0, size - 1)
    top = vk.top_patches(net, torch.rand(3, 1, size, size), "scaled", k=1, progress=False)
    assert top.rf == receptive_field(net, "scaled", local=True)  # the patch shows the local field


def test_field_panel_draws_the_local_field_and_says_the_whole_image_reaches_it():
    from vizkit.ui import FieldPanel

    net = vk.wrap(SqueezeExcite(), input_size=20)
    panel = FieldPanel(net, {"blank": torch.zeros(1, 1, 20, 20)}, ["conv", "after"])
    panel.layer.value = "after"
    assert panel.last_error is None and "size (5, 5)" in panel.caption.value
    assert "whole image (24x24)" in panel.caption.value
    panel.layer.value = "conv"
    assert "size (3, 3)" in panel.caption.value and "whole image" not in panel.caption.value


class ChannelsLast(nn.Module):
    """ConvNeXt's block: conv, permute to (N, H, W, C), LayerNorm and Linear over C, permute back, conv."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 6)
        self.after = nn.Conv2d(6, 2, 3, padding=1)

    def forward(self, x):
        x = self.fc(self.norm(self.conv(x).permute(0, 2, 3, 1)))
        return self.after(x.permute(0, 3, 1, 2))


def test_permute_layernorm_linear_keep_positions():
    net = vk.wrap(ChannelsLast(), input_size=16)
    assert receptive_field(net, "norm") == receptive_field(net, "fc") == ((3, 3), (1, 1), (-1, -1))
    assert receptive_field(net, "fc", channel=5) == ((3, 3), (1, 1), (-1, -1))  # channels: the last axis
    with pytest.raises(ValueError, match="channel"):
        receptive_field(net, "fc", channel=6)
    assert receptive_field(net, "after") == ((5, 5), (1, 1), (-2, -2))
    model, size = ChannelsLast().eval(), 16
    x = torch.rand(1, 1, size, size)
    assert unit_footprint(model, x, model.fc, 1, 7, 7, channels_last=True) == \
        expected_box(receptive_field(net, "fc"), 7, 7, size)
    assert unit_footprint(model, x, model.after, 1, 7, 7) == expected_box(receptive_field(net, "after"), 7, 7, size)


def test_stochastic_depth_is_pointwise():
    from torchvision.ops import StochasticDepth, stochastic_depth

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 2, 3, padding=1)
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.drop = StochasticDepth(0.2, "row")
            self.out = nn.Identity()

        def forward(self, x):
            x = self.stem(x)
            x = x + self.drop(self.conv(x))
            return self.out(x + stochastic_depth(x, 0.1, "batch", self.training))

    net = vk.wrap(Residual(), input_size=16)
    assert receptive_field(net, "drop") == ((5, 5), (1, 1), (-2, -2)) == receptive_field(net, "out")


def test_refusals_name_the_layer_the_model_and_the_reason(monkeypatch):
    from vizkit.inspect import receptive

    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.spare = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3)
            self.table = nn.Linear(2, 2)
            self.register_buffer("coords", torch.zeros(3, 2))

        def forward(self, x):
            return self.conv(x) + self.table(self.coords).sum()

    net = vk.wrap(Unused(), input_size=16, name="unused-net")
    with pytest.raises(ValueError, match=r"'spare'.*unused-net.*not used by the model's forward pass"):
        receptive_field(net, "spare")
    with pytest.raises(ValueError, match=r"'table'.*unused-net.*does not depend on the input image"):
        receptive_field(net, "table")
    assert list(receptive_fields(net).values()) == [receptive_field(net, "conv")]  # all layers: those with one

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(receptive._Walk, "_conv", broken)
    net = vk.wrap(Concat(), input_size=24, name="concat-net")
    with pytest.raises(ValueError, match=r"'mix' of concat-net.*walk failed at a \(Conv2d\).*RuntimeError: boom"):
        receptive_field(net, "mix")


def test_one_pass_serves_every_layer_until_the_model_changes(monkeypatch):
    from vizkit.inspect import receptive
    from vizkit.ui import FieldPanel

    runs = []
    original = receptive._Walk.run
    monkeypatch.setattr(receptive._Walk, "run", lambda self, *a, **k: runs.append(1) or original(self, *a, **k))
    net = vk.wrap(Concat(), input_size=24)
    fields = receptive_fields(net, ["a", "b", "pool", "mix"])
    assert [receptive_field(net, n) for n in fields] == list(fields.values()) and len(runs) == 1
    FieldPanel(net, {"blank": torch.zeros(1, 1, 24, 24)}, ["a", "pool", "mix"])
    assert len(runs) == 1
    net.model.b = nn.Conv2d(1, 3, 7, padding=3)  # a changed model is measured again
    assert receptive_field(net, "relu", channel=4).size == (7, 7) and len(runs) == 2


def tiny(kind):
    """Small members of torchvision's families, quick at 64 px."""
    from functools import partial

    tv = torchvision.models
    if kind == "convnext":
        from torchvision.models.convnext import CNBlockConfig
        return tv.ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, None, 1)], stochastic_depth_prob=0.1)
    if kind == "efficientnet_v2":
        from torchvision.models.efficientnet import FusedMBConvConfig, MBConvConfig
        return tv.EfficientNet([FusedMBConvConfig(1, 3, 1, 8, 8, 1), FusedMBConvConfig(4, 3, 2, 8, 16, 2),
                                MBConvConfig(4, 3, 2, 16, 24, 2)], 0.2, stochastic_depth_prob=0.2,
                               norm_layer=partial(nn.BatchNorm2d, eps=1e-3), last_channel=32)
    if kind == "swin":
        return tv.SwinTransformer([4, 4], 16, [1, 1], [1, 2], [2, 2], stochastic_depth_prob=0.1)
    if kind == "densenet":
        return tv.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2)
    if kind == "vit":
        return tv.VisionTransformer(image_size=64, patch_size=16, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=16)
    return tv.get_model(kind, weights=None)


# What a refusal may say, per family; every other layer must get a field.
REFUSED = {"swin": r"window attention|not used", "vit": r"tokens|not used", "shufflenet_v2_x0_5": r"not used",
           "efficientnet_v2": r"not used"}


@pytest.mark.parametrize("kind", ["squeezenet1_1", "shufflenet_v2_x0_5", "mobilenet_v3_small", "densenet",
                                  "convnext", "efficientnet_v2", "swin", "vit"])
def test_every_layer_of_torchvision_families_gets_a_field_or_a_reason(kind):
    torch.manual_seed(0)
    net = vk.wrap(tiny(kind), mean=[0.5] * 3, std=[0.25] * 3, input_size=64, name=kind)
    done, refused = {}, {}
    for layer in [n for n, _ in net.model.named_modules() if n]:
        try:
            done[layer] = receptive_field(net, layer)
        except ValueError as e:
            assert repr(layer) in str(e) and kind in str(e), str(e)
            refused[layer] = str(e)
    assert len(done) > 2
    for message in refused.values():
        assert re.search(REFUSED.get(kind, "^$"), message), message
    if kind == "squeezenet1_1":  # a Fire module: 1x1 and 3x3 expansions, concatenated
        fire = net.model.features[3]
        ones = fire.expand1x1.out_channels
        assert receptive_field(net, "features.3", channel=0).size[0] + 2 * done["features.2"].stride[0] == \
            receptive_field(net, "features.3", channel=ones).size[0]
    if kind == "mobilenet_v3_small":  # squeeze-and-excitation from the first block on
        assert done["features.1"].stride == (0, 0) and receptive_field(net, "features.1", local=True).stride == (4, 4)
    if kind == "vit":
        assert "conv_proj" in done and done["heads"].stride == (0, 0)  # the class token sees the whole image
    if kind == "swin":
        assert done["features.0"].size == (4, 4) and done["head"].stride == (0, 0)
    if kind == "densenet":  # each layer's new channels keep their own field inside a dense block
        sizes = [rf.size for rf in channel_fields(net, "features.denseblock1")]
        assert sizes[0] < sizes[-1] and sizes == sorted(sizes)


def test_fields_after_a_channel_shuffle_contain_every_gradient():
    """ShuffleNet chunks, concatenates and shuffles channels: each channel's field holds its gradient footprint."""
    torch.manual_seed(0)
    model = torchvision.models.shufflenet_v2_x0_5().eval()
    size = 64
    net = vk.wrap(model, mean=[0.5] * 3, std=[0.25] * 3, input_size=size)
    fields = channel_fields(net, "stage2.1")
    assert len({rf.size for rf in fields}) == 2  # the shuffled halves: passed through, or through the branch
    outs = []
    model.stage2[1].register_forward_hook(lambda m, i, o: outs.append(o))
    x = torch.randn(1, 3, size, size, requires_grad=True)
    model(x)
    checked = set()
    for c in range(16):
        (g,) = torch.autograd.grad(outs[0][0, c, 4, 4], x, retain_graph=True)
        hit = g[0].abs().sum(0) > 0
        if not hit.any():
            continue  # a dead unit: no gradient at all
        rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
        top, left, bottom, right = fields[c].box(4, 4)
        assert top <= rows[0] and rows[-1] < bottom and left <= cols[0] and cols[-1] < right, c
        assert rows[-1] - rows[0] + 1 > fields[c].size[0] // 2, c  # and the field is not far too large
        checked.add(fields[c].size)
    assert len(checked) == 2
