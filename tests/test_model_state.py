"""The shared rule: every technique leaves the model exactly as found, when it works and when it fails.

Add each new technique to TECHNIQUES: a call that works and a call that raises.
"""

import contextlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _state import model_state, same_state
from PIL import Image
from torch import nn

import vizkit as vk
from vizkit.inspect.patches import top_patches_of
from vizkit.optimize import objectives, param
from vizkit.train import take_snapshot
from vizkit.ui import (
    ActivationsPanel,
    AdversarialPanel,
    ClassModelPanel,
    DeepDreamPanel,
    FieldPanel,
    FiltersPanel,
    InversionPanel,
    NeighboursPanel,
    OcclusionPanel,
    PatchesPanel,
    ProjectionPanel,
    SaliencyPanel,
    StylePanel,
    TexturePanel,
    TopProjectionsPanel,
)

X = torch.zeros(1, 1, 28, 28)
BAD = torch.zeros(1, 3, 28, 28)  # wrong number of channels



def filters_panel_error(net):
    """Drive a FiltersPanel into an error (it shows errors, so re-raise the one it caught)."""
    panel = FiltersPanel({"net": net, "kept": {"conv1": torch.zeros(2, 1, 3, 3)}})
    panel.net.value = "kept"
    panel.layer.value = "conv2"  # "kept" has no conv2
    raise panel.last_error


def panel_error(panel):
    """Panels show errors instead of raising them: re-raise the one a panel caught."""
    if panel.last_error is None:
        raise AssertionError("the panel was expected to fail")
    raise panel.last_error


TECHNIQUES = {
    "activations": (lambda net, x: vk.activations(net, x, ["conv1", "relu3", "fc5"]),
                    lambda net, x: vk.activations(net, BAD, ["conv1"])),
    "activations (unknown layer)": (lambda net, x: vk.activations(net, x, "pool2"),
                                    lambda net, x: vk.activations(net, x, ["conv1", "nope"])),
    "dead_filters": (lambda net, x: vk.dead_filters(net, x.repeat(4, 1, 1, 1), "conv2"),
                     lambda net, x: vk.dead_filters(net, BAD, "conv2")),
    "layer_stats": (lambda net, x: vk.layer_stats(net, x.repeat(4, 1, 1, 1), "conv2", progress=False),
                    lambda net, x: vk.layer_stats(net, BAD, "conv2", progress=False)),
    "filter_weights": (lambda net, x: vk.filter_weights(net, "conv1"),
                       lambda net, x: vk.filter_weights(net, "pool1")),
    "filter_smoothness": (lambda net, x: vk.filter_smoothness(net.model.features[0].weight),
                          lambda net, x: vk.filter_smoothness(net.model.features[0].bias)),
    "take_snapshot": (lambda net, x: take_snapshot(net, x.clamp(0, 1), ["relu1", "relu4"]),
                      lambda net, x: take_snapshot(net, x.clamp(0, 1), ["relu1", "relu9"])),
    "FiltersPanel": (lambda net, x: FiltersPanel({"net": net}, layer="conv2"),
                     lambda net, x: filters_panel_error(net)),
    "features": (lambda net, x: vk.features(net, x.repeat(3, 1, 1, 1), "relu4", progress=False),
                 lambda net, x: vk.features(net, x, "relu4", pool="median", progress=False)),
    "features (layer not run)": (lambda net, x: vk.features(net, x, "conv1", pool="max", progress=False),
                                 lambda net, x: vk.features(net, BAD, "conv1", progress=False)),
    "NeighboursPanel": (lambda net, x: NeighboursPanel(net, x.clamp(0, 1).repeat(4, 1, 1, 1), [0, 1, 2, 3],
                                                       {"relu5": torch.rand(4, 128).numpy()}, k=2),
                        lambda net, x: NeighboursPanel(net, x.repeat(4, 1, 1, 1), [0, 1, 2, 3], {})),
    "receptive_field": (lambda net, x: vk.receptive_fields(net),
                        lambda net, x: vk.receptive_field(net, "conv9")),
    "top_patches": (lambda net, x: vk.top_patches(net, x.repeat(5, 1, 1, 1), "conv2", k=2, progress=False),
                    lambda net, x: vk.top_patches(net, x, "fc4", progress=False)),
    "top_patches_of": (lambda net, x: top_patches_of(net, x.repeat(5, 1, 1, 1), ["conv1", "conv2"], k=2,
                                                     progress=False),
                       lambda net, x: top_patches_of(net, x, ["conv2", "fc4"], progress=False)),
    "FieldPanel": (lambda net, x: FieldPanel(net, {"x": x[0].clamp(0, 1)}),
                   lambda net, x: FieldPanel(net, {"x": x[0].clamp(0, 1)}, layers=["conv9"])),
    "PatchesPanel": (lambda net, x: PatchesPanel(net, vk.FashionMNIST(train=False).subset(20), ["conv2"], k=2),
                     lambda net, x: PatchesPanel(net, vk.FashionMNIST(train=False).subset(20), [])),
    "predict": (lambda net, x: net.predict(x, k=3),
                lambda net, x: net.predict(x, k=-1)),
    "Net.probs": (lambda net, x: net.probs(x.repeat(3, 1, 1, 1), batch_size=2),
                  lambda net, x: net.probs(BAD)),
    "measure.accuracy and flip_rate": (lambda net, x: vk.measure.flip_rate(net, x, -x, [3]),
                                       lambda net, x: vk.measure.accuracy(net, x, [1, 2])),
    "measure.margin_gradient": (lambda net, x: vk.measure.margin_gradient(net, x, [3]),
                                lambda net, x: vk.measure.margin_gradient(net, BAD, [3])),
    "measure.feature_error and gram_errors": (
        lambda net, x: (vk.measure.feature_error(net, x, x + 1, "relu2"),
                        vk.measure.gram_errors(net, x, x + 1, ["relu1", "relu3"])),
        lambda net, x: vk.measure.gram_errors(net, x, x, ["relu1", "fc4"])),
    "measure.activation_gain": (lambda net, x: vk.measure.activation_gain(net, x, x + 1, "relu2", channel=3),
                                lambda net, x: vk.measure.activation_gain(net, x, x, "relu9")),
    "ActivationsPanel": (lambda net, x: ActivationsPanel(net, {"x": x[0].clamp(0, 1)}),
                         lambda net, x: ActivationsPanel(net, {"bad": torch.full((1, 28, 28), 5.0)})),
    "deconvnet": (lambda net, x: vk.deconvnet(net, x, "pool2", 3),
                  lambda net, x: vk.deconvnet(net, x, "fc4", 3)),
    "deconvnet_steps": (lambda net, x: vk.deconvnet_steps(net, x, "relu3", 3, position=(1, 2)),
                        lambda net, x: vk.deconvnet_steps(net, x, "relu3", 3, position=(7, 0))),
    "backprop": (lambda net, x: vk.backprop(net, x, "conv3", 3),
                 lambda net, x: vk.backprop(net, x, "conv3", 300)),
    "guided_backprop": (lambda net, x: vk.guided_backprop(net, x, "fc5", 3),
                        lambda net, x: vk.guided_backprop(net, x, "fc5", 3, position=(0, 0))),
    "saliency": (lambda net, x: vk.saliency(net, x, "Bag", smooth=2),
                 lambda net, x: vk.saliency(net, x, "Bags")),
    "grad_cam": (lambda net, x: vk.grad_cam(net, x, 3, "relu2"),
                 lambda net, x: vk.grad_cam(net, x, 3, "fc6")),
    "guided_grad_cam": (lambda net, x: vk.guided_grad_cam(net, x, 3, "conv3"),
                        lambda net, x: vk.guided_grad_cam(net, x, 11, "conv3")),
    "occlusion": (lambda net, x: vk.occlusion(net, x, 3, 7, 7, progress=False),
                  lambda net, x: vk.occlusion(net, x, 3, 7, 0, progress=False)),
    "occlusion_probs": (lambda net, x: vk.occlusion_probs(net, x, 7, 7, progress=False),
                        lambda net, x: vk.occlusion_probs(net, x, 7, 7, fill=2.0, progress=False)),
    "image_pixels": (lambda net, x: vk.image_pixels(net, x, size=20),
                     lambda net, x: vk.image_pixels(net, x, size=-1)),
    "ProjectionPanel": (lambda net, x: ProjectionPanel(net, {"x": x[0].clamp(0, 1)}, layers=["conv2"]),
                        lambda net, x: ProjectionPanel(net, {"x": x[0].clamp(0, 1)}, layers=["fc5"])),
    "TopProjectionsPanel": (lambda net, x: TopProjectionsPanel(net, vk.FashionMNIST(train=False).subset(12),
                                                               ["conv2"], k=2),
                            lambda net, x: panel_error(TopProjectionsPanel(net, vk.FashionMNIST(train=False)
                                                                           .subset(12), ["fc4"], k=2))),
    "OcclusionPanel": (lambda net, x: OcclusionPanel(net, {"x": x[0].clamp(0, 1)}, window=14, stride=7),
                       lambda net, x: OcclusionPanel(net, {})),
    "SaliencyPanel": (lambda net, x: SaliencyPanel(net, {"x": x[0].clamp(0, 1)}, smooth=2),
                      lambda net, x: panel_error(SaliencyPanel(net, {"x": x[0].clamp(0, 1)}, layers=["fc4"]))),
    "invert": (lambda net, x: vk.invert(net, x, "relu2", steps=3, progress=False),
               lambda net, x: vk.invert(net, x, "relu2", steps=0, progress=False)),
    "visualize_filter": (lambda net, x: vk.visualize_filter(net, "conv3", 4, steps=3, progress=False),
                         lambda net, x: vk.visualize_filter(net, "conv3", 400, steps=3, progress=False)),
    "visualize_class": (lambda net, x: vk.visualize_class(net, "Coat", steps=3, progress=False),
                        lambda net, x: vk.visualize_class(net, "Coats", steps=3, progress=False)),
    "optimize (output and a layer)": (
        lambda net, x: vk.optimize(net, objectives.class_logit(2) + objectives.dream("relu2"),
                                   param.Pixels(x.clamp(0, 1)), 2, progress=False),
        lambda net, x: vk.optimize(net, objectives.dream("relu9"), param.Pixels(x.clamp(0, 1)), 2, progress=False)),
    "InversionPanel": (lambda net, x: InversionPanel(net, {"x": x[0].clamp(0, 1)}, steps=3).run(block=True),
                       lambda net, x: InversionPanel(net, {"x": x[0].clamp(0, 1)}, layers=["relu9"])),
    "ClassModelPanel": (lambda net, x: ClassModelPanel(net, steps=4).run(block=True),
                        lambda net, x: ClassModelPanel(net, start="Coats")),
    "occlusion_activation": (lambda net, x: vk.occlusion_activation(net, x, "conv2", 1, 7, 7, progress=False),
                             lambda net, x: vk.occlusion_activation(net, x, "conv2", 99, 7, 7, progress=False)),
    "fgsm": (lambda net, x: vk.fgsm(net, x, 3, 0.05, targeted=True),
             lambda net, x: vk.fgsm(net, x, 3, -0.05)),
    "pgd": (lambda net, x: vk.pgd(net, x.repeat(2, 1, 1, 1), None, 0.05, steps=3, random_start=True),
            lambda net, x: vk.pgd(net, x, 12, 0.05, steps=3)),
    "pgd (l2)": (lambda net, x: vk.pgd(net, x, "Bag", 1.0, steps=2, norm="l2", targeted=True),
                 lambda net, x: vk.pgd(net, x, "Bag", 1.0, steps=0, norm="l2")),
    "AdversarialPanel": (lambda net, x: AdversarialPanel(net, {"x": x[0].clamp(0, 1)}, eps=0.1, method="PGD",
                                                         target="Bag"),
                         lambda net, x: AdversarialPanel(net, {"x": x[0].clamp(0, 1)}, target="Bags")),
    "DeepDreamPanel": (lambda net, x: DeepDreamPanel(net, {"x": x[0].clamp(0, 1)}, octaves=2, steps=2).run(block=True),
                       lambda net, x: DeepDreamPanel(net, {"x": x[0].clamp(0, 1)}, layers=["fc5"])),
    "synthesize_texture": (lambda net, x: vk.synthesize_texture(net, x, ["relu1", "relu2"], steps=2, progress=False),
                           lambda net, x: vk.synthesize_texture(net, x, ["relu1", "fc5"], steps=2, progress=False)),
    "style_transfer": (lambda net, x: vk.style_transfer(net, x, x.flip(3), steps=2, settings=vk.StyleSettings(
                           content_layer="relu2", style_layers=["relu1"], optimizer="adam"), progress=False),
                       lambda net, x: vk.style_transfer(net, x, x, steps=2, settings=vk.StyleSettings(
                           content_layer="relu2", style_layers=["relu9"]), progress=False)),
    "TexturePanel": (lambda net, x: TexturePanel(net, {"x": x[0].clamp(0, 1)}, layers=["relu1"], size=28,
                                                 steps=2).run(block=True),
                     lambda net, x: TexturePanel(net, {"x": x[0].clamp(0, 1)}, layers=["relu9"])),
    "StylePanel": (lambda net, x: StylePanel(net, {"x": x[0].clamp(0, 1)}, {"y": x[0].clamp(0, 1).flip(2)},
                                             style_layers=["relu1"], content_layer="relu2", size=28,
                                             steps=2).run(block=True),
                   lambda net, x: StylePanel(net, {"x": x[0].clamp(0, 1)}, {}, style_layers=["relu1"])),
    "deepdream": (lambda net, x: vk.deepdream(net, x, "relu2", octaves=2, steps=2, size=40, progress=False),
                  lambda net, x: vk.deepdream(net, x, "relu3", octaves=12, steps=2, progress=False)),
}


def assert_left_as_found(net, name, works, fails, data):
    """works(net, data) and a failing fails(net, data) both leave the model exactly as found."""
    before = model_state(net)
    works(net, data)
    assert same_state(before, model_state(net)), f"{name} changed the model"
    with pytest.raises((ValueError, KeyError, TypeError)):
        fails(net, data)
    assert same_state(before, model_state(net)), f"{name} changed the model when it failed"


@pytest.mark.parametrize("grad_mode", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("name", list(TECHNIQUES))
def test_technique_leaves_model_as_found(name, grad_mode, fresh_fashion, fashion_batch):
    net, x = fresh_fashion, fashion_batch[0][:1].clone()
    # an unusual state, so that "restored to the defaults" would not pass by luck
    net.model.train()
    net.model.features[3].weight.requires_grad_(False)
    net.model.classifier[2].bias.grad = torch.full_like(net.model.classifier[2].bias, 0.5)
    net.model.features[0].weight.grad = torch.zeros_like(net.model.features[0].weight)
    net.model.features[0].register_forward_hook(lambda *a: None)
    net.model.features[1].inplace = True  # as in torchvision's AlexNet and VGG
    net.model.features[4].register_full_backward_hook(lambda *a: None)
    works, fails = TECHNIQUES[name]
    kept = x.clone()
    with torch.set_grad_enabled(grad_mode):
        assert_left_as_found(net, name, works, fails, x)
        assert torch.is_grad_enabled() == grad_mode
    assert torch.equal(x, kept) and not x.requires_grad and x.grad is None, f"{name} changed its input"


def test_layer_outputs_does_not_leak_no_grad_to_the_caller(fashion, fashion_batch):
    from vizkit.inspect.features import layer_outputs

    for _ in layer_outputs(fashion, fashion_batch[0], "conv2", batch_size=16, progress=False):
        assert torch.is_grad_enabled()


def test_training_changes_only_the_net_it_trains(fashion_test):
    trained, other = vk.load("fashion-cnn"), vk.load("fashion-cnn")
    before = model_state(other)
    trained_before = model_state(trained)
    subset = torch.utils.data.Subset(fashion_test, range(64))
    vk.train(trained, subset, epochs=1, lr=0.01, progress=False)
    assert same_state(before, model_state(other))
    assert not same_state(trained_before, model_state(trained))


# --------------------------------------------------------------------------- the three leaks issue 9 found

def test_train_leaves_the_model_as_found_when_the_first_snapshot_fails(fresh_fashion, fashion_test):
    net = fresh_fashion
    net.model.eval()
    before = model_state(net)
    rng = torch.random.get_rng_state()
    with pytest.raises((ValueError, KeyError)):
        vk.train(net, fashion_test.subset(32), epochs=1, lr=0.01, progress=False,
                 snapshots=vk.SnapshotSettings(layers=["relu1", "relu9"]))
    assert same_state(before, model_state(net)) and not net.model.training
    assert torch.equal(rng, torch.random.get_rng_state())


def test_receptive_field_leaves_batch_norm_statistics_alone():
    torch.manual_seed(0)
    net = vk.load("resnet18", pretrained=False)
    net.model.train()
    before = model_state(net)
    vk.receptive_fields(net)
    vk.receptive_field(net, "stage2")
    assert same_state(before, model_state(net)) and net.model.training


@pytest.mark.parametrize("method", ["umap", "tsne", "pca"])
def test_embeddings_leave_torch_threads_alone(method):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        points = torch.rand(60, 8, generator=torch.Generator().manual_seed(0)).numpy()
        vk.embed(points, method, **({"perplexity": 10} if method == "tsne" else {}))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- a user's functional model, an image folder

class FunctionalNet(nn.Module):
    """ReLUs called as functions, one of them in place (x.relu_()), one with inplace=True."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1), nn.Linear(6, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x), inplace=True), 2)
        x = self.conv2(x)
        x.relu_()
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


@pytest.fixture(scope="module")
def folder_of_items(tmp_path_factory, fashion_test):
    """Six Fashion-MNIST items as PNG files in class folders: a vk.ImageFolder for fashion-cnn."""
    root = tmp_path_factory.mktemp("folder")
    for i in range(6):
        x, y = fashion_test[i]
        (root / str(y)).mkdir(exist_ok=True)
        Image.fromarray((x[0].numpy() * 255).astype(np.uint8)).save(root / str(y) / f"{i}.png")
    return root


FUNCTIONAL = {
    "guided_backprop": (lambda net, x: vk.guided_backprop(net, x, "conv2", 1),
                        lambda net, x: vk.guided_backprop(net, x, "conv2", 9)),
    "deconvnet (gradient rule)": (lambda net, x: vk.deconvnet(net, x, "conv2", 1),
                                  lambda net, x: vk.deconvnet(net, x, "fc", 1)),
    "guided_grad_cam": (lambda net, x: vk.guided_grad_cam(net, x, 2, "conv1"),
                        lambda net, x: vk.guided_grad_cam(net, x, 2, "conv2")),  # conv2's output: x.relu_()
    "saliency": (lambda net, x: vk.saliency(net, x, 1, smooth=2), lambda net, x: vk.saliency(net, x, 7)),
}


@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_functional_relu_rules_leave_the_model_as_found(name):
    torch.manual_seed(0)
    net = vk.wrap(FunctionalNet(), input_size=12)
    net.model.train()
    net.model.conv1.register_forward_hook(lambda *a: None)
    x = net.normalize(torch.rand(1, 1, 12, 12, generator=torch.Generator().manual_seed(0)))
    works, fails = FUNCTIONAL[name]
    before = model_state(net)
    with pytest.warns(UserWarning) if name.startswith("deconvnet") else contextlib.nullcontext():
        works(net, x)
    assert same_state(before, model_state(net)), f"{name} changed the model"
    with pytest.raises((ValueError, KeyError, TypeError)):
        fails(net, x)
    assert same_state(before, model_state(net)), f"{name} changed the model when it failed"
    assert torch.overrides._get_current_function_mode_stack() == []  # the ReLU rule's mode is gone


IMAGE_FOLDER = {
    "features": (lambda net, ds: vk.features(net, ds, "relu4", batch_size=4, progress=False),
                 lambda net, ds: vk.features(net, ds, "relu4", pool="sum", progress=False)),
    "top_patches": (lambda net, ds: vk.top_patches(net, ds, "conv2", k=2, progress=False),
                    lambda net, ds: vk.top_patches(net, ds, "fc4", k=2, progress=False)),
    "dead_filters": (lambda net, ds: vk.dead_filters(net, ds, "relu2"),
                     lambda net, ds: vk.dead_filters(net, vk.ImageFolder(ds.root, size=28, channels=3), "relu2")),
    "layer_stats": (lambda net, ds: vk.layer_stats(net, ds, "relu2", progress=False),
                    lambda net, ds: vk.layer_stats(net, vk.ImageFolder(ds.root, size=28, channels=3), "relu2")),
    "evaluate": (lambda net, ds: vk.evaluate(net, ds), lambda net, ds: vk.evaluate(net, vk.ImageFolder(
        ds.root, net=net, labelled=False))),
}


@pytest.mark.parametrize("name", list(IMAGE_FOLDER))
def test_techniques_on_an_image_folder_leave_the_model_as_found(name, fresh_fashion, folder_of_items):
    net = fresh_fashion
    net.model.train()
    net.model.features[1].inplace = True
    ds = vk.ImageFolder(folder_of_items, net=net)
    works, fails = IMAGE_FOLDER[name]
    assert_left_as_found(net, name, works, fails, ds)


# Public functions that take net first but are not checked by the shared tables, and why.
NOT_TECHNIQUES = {"preserved": "the guard itself (tests/test_hooks.py)", "record": "the recorder (tests/test_hooks.py)",
                  "train": "changes the weights by design (test_training_changes_only_the_net_it_trains)"}


def test_every_technique_is_in_the_shared_tables():
    """Every public function that takes net first has a working and a failing call in TECHNIQUES or IMAGE_FOLDER
    (so a new technique cannot skip the model-state test), unless NOT_TECHNIQUES says why not."""
    import inspect
    import re

    called = {name for table in (TECHNIQUES, IMAGE_FOLDER) for works, fails in table.values() for f in (works, fails)
              for name in re.findall(r"\bvk\.(\w+)\(", inspect.getsource(f))}
    takes_net = {n for n in vk.__all__ if inspect.isfunction(getattr(vk, n))
                 and next(iter(inspect.signature(getattr(vk, n)).parameters), None) == "net"}
    missing = takes_net - called - set(NOT_TECHNIQUES)
    assert not missing, f"public techniques without an entry in TECHNIQUES: {sorted(missing)}"
