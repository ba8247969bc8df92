"""Receptive fields against an independent measurement: the gradient footprint of each layer in an
all-linear, one-channel copy of the network (max-pool as average-pool, ReLU and batch-norm as identity,
all weights one); and against the sizes published for standard networks."""

import copy

import pytest
import torch
import torchvision
from torch import nn

import vizkit as vk
from vizkit.inspect.receptive import receptive_field, receptive_fields


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
