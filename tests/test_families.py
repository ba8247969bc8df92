"""One tiny random-weight model per torchvision architecture family (concatenation, squeeze-excitation, stochastic
depth, channels-last blocks, auxiliary heads, attention), built from torchvision's own classes, through every
technique of test_zoo and every panel: each works (finite results, the model left as found) or refuses with a
ValueError or TypeError that names the model or the layer and gives the reason (REFUSALS: the pairs allowed to);
never a raw Python error. benchmarks/sweep.py does the same for every torchvision classifier at full size."""

import re
from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torchvision.models as tvm
from test_zoo import CLASSES, TECHNIQUES, checked, drive, write_images
from torch import nn
from torchvision.models import convnext, efficientnet, mobilenetv3

import vizkit as vk

C = len(CLASSES)


class Family(NamedTuple):
    what: str  # what the family brings that a plain chain of convolutions has not
    build: Callable[[], nn.Module]
    size: int  # input size (H = W)
    conv: str  # a conv layer
    last: str  # the last layer with maps


def _mobilenet_v3():
    block = partial(mobilenetv3.InvertedResidualConfig, dilation=1, width_mult=1.0)
    return tvm.MobileNetV3([block(16, 3, 16, 16, True, "RE", 2), block(16, 3, 32, 24, True, "HS", 2)],
                           last_channel=32, num_classes=C)


def _efficientnet_v2():
    blocks = [efficientnet.FusedMBConvConfig(1, 3, 1, 16, 16, 1), efficientnet.MBConvConfig(4, 3, 2, 16, 24, 1)]
    return tvm.EfficientNet(blocks, dropout=0.2, stochastic_depth_prob=0.2, last_channel=32, num_classes=C)


def _convnext():
    stages = [convnext.CNBlockConfig(16, 32, 1), convnext.CNBlockConfig(32, None, 1)]
    return tvm.ConvNeXt(stages, stochastic_depth_prob=0.1, num_classes=C)


FAMILIES = {
    "densenet": Family("concatenation (torch.cat of a list)", lambda: tvm.DenseNet(
        growth_rate=8, block_config=(2, 2), num_init_features=16, bn_size=2, num_classes=C), 32,
        "features.conv0", "features.denseblock2.denselayer2.conv2"),
    "shufflenet": Family("concatenation, chunk and channel shuffle", lambda: tvm.ShuffleNetV2(
        [1, 1, 1], [8, 16, 32, 64, 64], num_classes=C), 32, "conv1.0", "conv5.0"),
    "googlenet": Family("auxiliary heads (idle in eval mode), Inception blocks", lambda: tvm.GoogLeNet(
        num_classes=C, aux_logits=True, init_weights=False), 64, "conv1.conv", "inception5b"),
    "mobilenet_v3": Family("squeeze-excitation (a pooled branch rescales the maps), hard-swish", _mobilenet_v3, 32,
                           "features.0.0", "features.3.0"),
    "efficientnet_v2": Family("stochastic depth, squeeze-excitation, SiLU", _efficientnet_v2, 32,
                              "features.0.0", "features.3.0"),
    "convnext": Family("channels-last blocks: permute, LayerNorm, Linear on (N, H, W, C)", _convnext, 32,
                       "features.0.0", "features.3.0.block.5"),
    "swin": Family("shifted-window attention on channels-last maps", lambda: tvm.SwinTransformer(
        [4, 4], 16, [1, 1], [1, 2], [2, 2], stochastic_depth_prob=0.1, num_classes=C), 32,
        "features.0.0", "features.3.0"),
    "vit": Family("attention over patch tokens", lambda: tvm.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=C), 32,
        "conv_proj", "conv_proj"),
}

# (family, technique or panel) -> the reason a refusal must give (a regex, any case). Only these pairs may refuse:
# a ValueError or TypeError naming the model or the layer, and saying why. Keep it small: each refusal is a lesson
# a student cannot have on that network.
ATTENTION = "attention|window|mixes"
NO_MAPS = "no .*layers.*maps|pass layers"
ONE_SIZE = "image size|octave"
REFUSALS = {
    # Swin's shifted windows mix positions with input-dependent weights: no receptive field to crop patches by
    **{("swin", n): ATTENTION for n in ("receptive_field", "top_patches", "PatchesPanel", "TopProjectionsPanel")},
    # a ViT's only maps are its patch embedding's: no activation maps for the optimisation panels' default layers
    **{("vit", n): NO_MAPS for n in ("TexturePanel", "StylePanel")},
    # a ViT takes one image size only, and DeepDream's octaves shrink the image
    ("vit", "deepdream"): ONE_SIZE, ("vit", "DeepDreamPanel"): f"{NO_MAPS}|{ONE_SIZE}",
}


def make(kind: str):
    torch.manual_seed(0)
    family = FAMILIES[kind]
    return vk.wrap(family.build(), classes=CLASSES, mean=[0.5, 0.4, 0.3], std=[0.25, 0.25, 0.25],
                   input_size=family.size, name=kind)


EXTRA = {  # what these families add to test_zoo's techniques
    "activations (every alias)": lambda z: vk.activations(z.net, z.x, list(z.net.layers)),
    "train": lambda z: vk.train(make(z.kind), z.data, epochs=1, lr=0.01, progress=False,
                                settings=vk.TrainSettings(batch_size=4),
                                snapshots=vk.SnapshotSettings(layers=[z.conv, z.last])).epochs,
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("families") / "photos")


_NETS: dict = {}


def subject(kind: str, folder) -> SimpleNamespace:
    """One family's model (shared within the module: techniques must leave it as found), its layers and data."""
    if kind not in _NETS:
        _NETS[kind] = make(kind)
    net, family = _NETS[kind], FAMILIES[kind]
    data = vk.ImageFolder(folder, net=net)
    return SimpleNamespace(net=net, x=net.normalize(data[0][0][None]), data=data, conv=family.conv, last=family.last,
                           kind=kind, size=family.size, images={"a": data[0][0], "b": data[4][0]})


@pytest.fixture(params=list(FAMILIES))
def family(request, folder):
    return subject(request.param, folder)


def works_or_refuses(z, name: str, fn):
    """fn()'s result, or None where it refused as REFUSALS allows."""
    try:
        return fn()
    except (ValueError, TypeError) as e:
        if (z.kind, name) not in REFUSALS:
            raise
        refused(z, name, e)
        return None


def refused(z, name: str, e: Exception) -> None:
    """Check a refusal: it names the model or a layer asked for, and gives REFUSALS' reason."""
    message = str(e)
    assert re.search(REFUSALS[z.kind, name], message, re.I), f"{z.kind} / {name}: refused without saying why: {e}"
    assert any(n in message for n in (z.kind, z.conv, z.last)), f"{z.kind} / {name}: refused naming nothing: {e}"


def finite(out) -> bool:
    values = out.values() if isinstance(out, dict) else [out]
    return all(np.isfinite(torch.as_tensor(v).detach().cpu().numpy()).all() for v in values
               if isinstance(v, (torch.Tensor, np.ndarray)))


@pytest.mark.parametrize("name", list(TECHNIQUES) + list(EXTRA))
def test_every_technique_works_or_refuses_on_every_family(family, name):
    fn = TECHNIQUES.get(name) or EXTRA[name]
    out = works_or_refuses(family, name, lambda: checked(family, fn))
    assert out is None or name == "top_patches" or finite(out), name


# --------------------------------------------------------------------------- layers a technique must read right

TOKENS = "encoder.layers.encoder_layer_1"  # the ViT's last block: (N, 17 tokens, 16), no maps


@pytest.mark.parametrize("name", ["receptive_field", "top_patches", "grad_cam", "deconvnet", "guided_backprop",
                                  "occlusion_activation"])
def test_map_techniques_refuse_a_vit_token_layer_by_name(folder, name):
    """Attention mixes every patch with every other: no (C, h, w) maps, no receptive field in the lecture's sense."""
    z = SimpleNamespace(**{**vars(subject("vit", folder)), "conv": TOKENS, "last": TOKENS})
    with pytest.raises(ValueError) as refusal:
        checked(z, TECHNIQUES[name])
    message = str(refusal.value)
    assert TOKENS in message and re.search("maps|token|attention|positions", message, re.I), message


# family -> (a channels-last layer, output (N, H, W, C); the Permute module right after it, the same values as
# (N, C, H, W)). A technique on the first must give what it gives on the second, or refuse naming the layer.
CHANNELS_LAST = {"convnext": ("features.3.0.block.5", "features.3.0.block.6"), "swin": ("norm", "permute")}
TWIN = {
    "activations": lambda z, layer: vk.activations(z.net, z.x, [layer])[layer],
    "dead_filters": lambda z, layer: vk.dead_filters(z.net, z.data, layer),
    "features": lambda z, layer: vk.features(z.net, z.data, layer, pool="avg", progress=False),
    "top_patches": lambda z, layer: vk.top_patches(z.net, z.data, layer, k=2, progress=False).values,
    "receptive_field": lambda z, layer: vk.receptive_field(z.net, layer),
    "deconvnet": lambda z, layer: vk.deconvnet(z.net, z.x, layer, 1),
    "guided_backprop": lambda z, layer: vk.guided_backprop(z.net, z.x, layer, 1),
    "grad_cam": lambda z, layer: vk.grad_cam(z.net, z.x, "dog", layer),
    "occlusion_activation": lambda z, layer: vk.occlusion_activation(z.net, z.x, layer, 1, 8, 8, progress=False),
    "visualize_filter": lambda z, layer: vk.visualize_filter(z.net, layer, 1, steps=2, progress=False).image,
    "deepdream": lambda z, layer: vk.deepdream(z.net, z.x, layer, octaves=1, steps=2, progress=False).image,
}


def _tensor(v) -> torch.Tensor:
    return v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))


@pytest.mark.parametrize("kind,name", [(k, n) for k in CHANNELS_LAST for n in TWIN])
def test_channels_last_layers_are_read_as_channels_last(folder, kind, name):
    z = subject(kind, folder)
    layer, twin = CHANNELS_LAST[kind]
    want = works_or_refuses(z, name, lambda: checked(z, lambda z: TWIN[name](z, twin)))
    try:
        got = checked(z, lambda z: TWIN[name](z, layer))
    except ValueError as e:  # a refusal names the layer and says why: channels-last, or the twin's own reason
        reason = r"channels.last|\(N, H, W, C\)" + (f"|{REFUSALS[kind, name]}" if want is None else "")
        assert layer in str(e) and re.search(reason, str(e), re.I), str(e)
        return
    assert want is not None, f"{name} works on {layer} but refuses the same values at {twin}"
    torch.testing.assert_close(_tensor(got), _tensor(want))


# --------------------------------------------------------------------------- every panel

PANELS = {
    "ActivationsPanel": lambda z, ui: ui.ActivationsPanel(z.net, z.images),
    "FiltersPanel": lambda z, ui: ui.FiltersPanel({z.kind: z.net}),
    "NeighboursPanel": lambda z, ui: ui.NeighboursPanel(z.net, z.data.tensors()[0], z.data.labels, {
        z.last: vk.features(z.net, z.data, z.last, pool="avg", progress=False)}, k=2),
    "FieldPanel": lambda z, ui: ui.FieldPanel(z.net, z.images),
    "PatchesPanel": lambda z, ui: ui.PatchesPanel(z.net, z.data, [z.conv, z.last], k=2),
    "ProjectionPanel": lambda z, ui: ui.ProjectionPanel(z.net, z.images),
    "TopProjectionsPanel": lambda z, ui: ui.TopProjectionsPanel(z.net, z.data, [z.conv, z.last], k=2),
    "OcclusionPanel": lambda z, ui: ui.OcclusionPanel(z.net, z.images, window=8, stride=8),
    "SaliencyPanel": lambda z, ui: ui.SaliencyPanel(z.net, z.images, smooth=2),
    "InversionPanel": lambda z, ui: ui.InversionPanel(z.net, z.images, steps=2),
    "FilterPanel": lambda z, ui: ui.FilterPanel(z.net, z.data, steps=2, k=2),
    "ClassModelPanel": lambda z, ui: ui.ClassModelPanel(z.net, steps=2),
    "AdversarialPanel": lambda z, ui: ui.AdversarialPanel(z.net, z.images, steps=2),
    "DeepDreamPanel": lambda z, ui: ui.DeepDreamPanel(z.net, z.images, size=z.size, octaves=2, steps=2),
    "TexturePanel": lambda z, ui: ui.TexturePanel(z.net, z.images, size=z.size, steps=2),
    "StylePanel": lambda z, ui: ui.StylePanel(z.net, z.images, {"b": z.images["b"]}, size=z.size, steps=2),
    "TrainingReplayPanel": lambda z, ui: ui.TrainingReplayPanel({"run": vk.train(
        make(z.kind), z.data, 2, 0.01, progress=False, settings=vk.TrainSettings(batch_size=4),
        snapshots=vk.SnapshotSettings(layers=[z.conv, z.last]))}),
}
NO_MODEL = {"EmbeddingPanel"}  # takes a features table only; the "features" technique covers each family


def test_all_panels_are_covered():
    import vizkit.ui as ui

    assert set(ui.__all__) == set(PANELS) | NO_MODEL


@pytest.mark.parametrize("name", list(PANELS))
def test_every_panel_works_or_refuses_on_every_family(family, name):
    """The panel renders and every control works once (test_zoo.drive), or it refuses as REFUSALS allows: when
    made, or in its message line after a control changed. The model is left as found."""
    import vizkit.ui as ui

    def run(z):
        panel = works_or_refuses(z, name, lambda: PANELS[name](z, ui))
        if panel is None:
            return
        try:
            drive(panel)
        except AssertionError:  # drive found an error in the panel's message line
            if (z.kind, name) not in REFUSALS or not isinstance(panel.last_error, (ValueError, TypeError)):
                raise
            refused(z, name, panel.last_error)

    checked(family, run)
