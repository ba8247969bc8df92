"""Layer lookup, recording, and the model-preserving guard."""

import pytest
import torch
from _state import model_state, same_state

import vizkit as vk
from vizkit.hooks import layer_names, preserved, record, resolve


def test_resolve_alias_and_path(fashion):
    assert resolve(fashion, "conv2") == ("features.3", fashion.model.features[3])
    assert resolve(fashion, "features.3")[1] is fashion.model.features[3]
    assert "conv1" in layer_names(fashion) and "classifier.2" in layer_names(fashion)


def test_unknown_layer_lists_names_and_closest(fashion):
    with pytest.raises(KeyError) as info:
        resolve(fashion, "conv9")
    msg = str(info.value)
    assert "Closest match" in msg and "conv1" in msg and "features.0" in msg
    with pytest.raises(TypeError):
        resolve(fashion, 3)


def test_record_clones_and_removes_hooks(fashion, fashion_batch):
    x, _ = fashion_batch
    with record(fashion, ["conv1", "relu1"]) as out:
        fashion.model(x)
    assert torch.equal(out["relu1"], out["conv1"].clamp(min=0))
    assert not fashion.model.features[0]._forward_hooks
    with pytest.raises(RuntimeError), record(fashion, "conv1"):
        raise RuntimeError("boom")
    assert not fashion.model.features[0]._forward_hooks


def test_record_rejects_non_tensor_outputs():
    class Pair(torch.nn.Module):
        def forward(self, x):
            return x, x

    model = torch.nn.Sequential(Pair())
    with pytest.raises(ValueError, match="not a tensor"), record(model, "0"):
        model(torch.zeros(1))


def test_preserved_restores_everything_even_on_error(fresh_fashion):
    net = fresh_fashion
    net.model.features[0].weight.requires_grad_(False)
    net.model.train()
    user_hook = net.model.features[0].register_forward_hook(lambda *a: None)
    before = model_state(net)
    with pytest.raises(ValueError), preserved(net):
        net.model.eval()
        for p in net.model.parameters():
            p.requires_grad_(True)
            p.grad = torch.ones_like(p)
        net.model.features[3].register_forward_hook(lambda *a: None)
        del net.model.features[0]._forward_hooks[user_hook.id]
        raise ValueError("inside")
    assert same_state(before, model_state(net))
    assert net.model.training and not net.model.features[0].weight.requires_grad
    # the comparison itself can fail: a changed weight is noticed
    with torch.no_grad():
        net.model.features[0].bias += 1
    assert not same_state(before, model_state(net))
    assert isinstance(vk.preserved, type(preserved))


def test_preserved_restores_grads_that_backward_accumulated_in_place(fresh_fashion, fashion_batch):
    net, x = fresh_fashion, fashion_batch[0][:2]
    bias = net.model.classifier[-1].bias
    bias.grad = torch.full_like(bias, 0.25)
    kept = bias.grad
    with preserved(net):
        net.model(x).sum().backward()  # adds into the existing .grad tensor
        assert not torch.equal(kept, torch.full_like(bias, 0.25))
    assert bias.grad is kept and torch.equal(bias.grad, torch.full_like(bias, 0.25))


def test_preserved_restores_flags_hooks_set_and_grad_mode(fresh_fashion):
    net = fresh_fashion
    relu = net.model.features[1]
    relu.inplace = True
    before = model_state(net)
    with preserved(net):
        net.model.features[0].register_full_backward_hook(lambda *a: None)
        relu.inplace = False
        torch.set_grad_enabled(False)
    assert torch.is_grad_enabled() and relu.inplace
    assert net.model.features[0]._is_full_backward_hook is None
    assert same_state(before, model_state(net))
    net.model.features[0].register_backward_hook(lambda *a: None)  # mixing would raise if the flag leaked


def test_model_state_notices_flags_and_grad_mode(fresh_fashion):
    net = fresh_fashion
    before = model_state(net)
    net.model.features[1].inplace = True
    assert not same_state(before, model_state(net))
    net.model.features[1].inplace = False
    with torch.no_grad():
        assert not same_state(before, model_state(net))


def test_record_keep_graph_gives_the_tensor_the_forward_pass_used(fashion, fashion_batch):
    x = fashion_batch[0][:1].clone().requires_grad_(True)
    model = torchvision_like_inplace(fashion)
    with record(model, "features.0", keep_graph=True) as rec:
        out = rec.forward(x)
        assert not model.features[1].inplace  # in-place ReLU off while recording the graph
    assert model.features[1].inplace
    (g,) = torch.autograd.grad(out[0, 3], rec["features.0"])
    assert g.shape == rec["features.0"].shape and g.abs().sum() > 0
    assert (rec["features.0"] < 0).any()  # not overwritten by the ReLU that follows


def torchvision_like_inplace(fashion):
    import copy

    model = copy.deepcopy(fashion.model)
    for m in model.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = True
    return model


def test_record_stop_ends_the_forward_pass(fresh_fashion, fashion_batch):
    net = fresh_fashion
    ran = []
    net.model.classifier.register_forward_hook(lambda *a: ran.append(1))
    with record(net, ["conv1", "relu2"], stop=True) as rec:
        assert rec.forward(fashion_batch[0][:2]) is None
    assert not ran and set(rec) == {"conv1", "relu2"}
    with record(net, "fc6", stop=True) as rec:
        assert rec.forward(fashion_batch[0][:2]) is None and list(rec) == ["fc6"]


def test_resolve_target(fashion):
    from vizkit.hooks import resolve_target

    assert resolve_target(fashion, "Bag") == 8 == resolve_target(fashion, "bag") == resolve_target(fashion, 8)
    assert resolve_target(fashion, torch.tensor(8)) == 8
    with pytest.raises(KeyError, match="'Sandal'"):
        resolve_target(fashion, "Sandals")
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        resolve_target(fashion, 10)
    with pytest.raises(TypeError):
        resolve_target(fashion, 1.5)
    with pytest.raises(TypeError):
        resolve_target(fashion, True)


class _InPlaceAfter(torch.nn.Module):
    """conv1's output is changed in place by x.relu_(); conv2's goes through F.relu(inplace=True)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(1, 2, 3), torch.nn.Conv2d(2, 2, 3)

    def forward(self, x):
        x = self.conv1(x)
        x.relu_()
        return torch.nn.functional.relu(self.conv2(x), inplace=True).mean((2, 3))


def test_record_keep_graph_refuses_outputs_changed_in_place_and_makes_functional_inplace_out_of_place():
    net = vk.wrap(_InPlaceAfter(), input_size=8)
    x = torch.randn(1, 1, 8, 8)
    with record(net, ["conv2"], keep_graph=True) as rec:
        rec.forward(x)
    assert (rec["conv2"] < 0).any()  # F.relu(inplace=True) ran out of place: the recorded output is intact
    with record(net, ["conv1"], keep_graph=True) as rec, pytest.raises(ValueError, match="changed in place"):
        rec.forward(x)
    with record(net, ["conv1"], keep_graph=True, stop=True) as rec:  # stopped at conv1: nothing changed it
        rec.forward(x)
    assert (rec["conv1"] < 0).any()
    with record(net, ["conv1"]) as rec:  # a detached copy is taken before the in-place ReLU
        rec.forward(x)
    assert (rec["conv1"] < 0).any()
    assert torch.overrides._get_current_function_mode_stack() == []
    with pytest.raises(ValueError, match="changed in place"):
        vk.grad_cam(net, x, 0, "conv1")


def test_a_model_without_submodules_gets_a_hint():
    net = vk.wrap(torch.nn.Conv2d(3, 2, 3), input_size=8)
    with pytest.raises(KeyError, match="no submodules"):
        resolve(net, "0")


# ----------------------------------------------------------------------------- the user's own exceptions


class UserError(RuntimeError):
    """An exception of the user's own (a RuntimeError subclass, as many are)."""


@pytest.mark.parametrize("error", [UserError("boom"), RuntimeError("boom"), IndexError("boom")])
@pytest.mark.parametrize("size", [28, 32])  # the size the net was made for, and another it can take
def test_an_exception_raised_in_the_users_hook_passes_unchanged(fresh_fashion, error, size):
    from vizkit.ui import ActivationsPanel

    def hook(module, inputs, output):
        raise error

    net, x = fresh_fashion, torch.zeros(1, 1, size, size)
    net.model.features[0].register_forward_hook(hook)
    for call in (lambda: vk.activations(net, x, "relu2"), lambda: vk.features(net, x, "relu2", progress=False),
                 lambda: ActivationsPanel(net, {"x": torch.rand(1, size, size)})):
        with pytest.raises(type(error)) as info:
            call()
        assert info.value is error and "could not run" not in str(info.value)


class _RaisesInForward(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)

    def forward(self, x):
        y = self.conv(x)
        if x.abs().sum() > 0:
            raise RuntimeError("my model refuses non-zero images")
        return y.mean((2, 3))


def test_an_exception_raised_in_the_models_forward_passes_unchanged():
    net = vk.wrap(_RaisesInForward(), input_size=8)
    for x in (torch.ones(1, 1, 8, 8), torch.ones(1, 1, 9, 9), torch.ones(2, 1, 9, 9)):
        with pytest.raises(RuntimeError, match="^my model refuses non-zero images$"):
            vk.hooks.run(net, x)
        with pytest.raises(RuntimeError, match="^my model refuses non-zero images$"):
            vk.grad_cam(net, x[:1], 0, "conv")  # runs the whole model


def test_a_real_shape_mismatch_still_names_the_input():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 26 * 26, 3))
    net = vk.wrap(model, input_size=28)
    with pytest.raises(ValueError, match=r"could not run an input of shape \(1, 1, 20, 20\).*made for 28x28"):
        vk.activations(net, torch.zeros(1, 1, 20, 20), "2")
    with pytest.raises(ValueError, match=r"could not run an input of shape \(1, 1, 28, 28\).*PyTorch said: .*"
                                         r"(double|Double|dtype)"):
        vk.hooks.run(net, torch.zeros(1, 1, 28, 28, dtype=torch.float64))  # the wrong dtype


# ----------------------------------------------------------------------------- a module used twice in a pass


@pytest.fixture(scope="module")
def resnet():
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    return vk.wrap(model, mean=[0.5] * 3, std=[0.25] * 3, input_size=32, name="resnet18")


@pytest.mark.parametrize("stop", [True, False])
def test_a_module_run_twice_in_one_pass_is_refused_not_recorded_once(resnet, stop):
    x = torch.randn(1, 3, 32, 32)
    with record(resnet, ["layer1.0.conv1", "layer1.0.relu"], stop=stop) as rec, \
            pytest.raises(vk.hooks.RepeatedLayerError, match=r"'layer1\.0\.relu' \(layer1\.0\.relu: ReLU\) ran 2 "
                                                             r"times in one forward pass of resnet18.*'layer1\.0'"):
        rec.forward(x)
    assert rec.calls["layer1.0.relu"] == 2
    with pytest.raises(ValueError, match=r"layer1\.1\.relu.*ran 2 times"):
        vk.activations(resnet, x, "layer1.1.relu")  # stop=True: the pass goes on until the block has returned
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in resnet.model.modules())


def test_a_module_run_once_still_stops_the_pass_early(resnet):
    x = torch.randn(1, 3, 32, 32)
    ran = []
    handle = resnet.model.fc.register_forward_hook(lambda *a: ran.append(1))
    try:
        for layer in ("stem", "stage1", "layer1.0.conv1", "layer1.0.bn2", "layer2.0.downsample"):
            assert vk.activations(resnet, x, layer)[layer].dim() == 3
        assert not ran
        with record(resnet, ["layer1.0.conv1"], stop=False) as rec:
            assert rec.forward(x).shape == (1, 1000)
        assert ran and rec.calls["layer1.0.conv1"] == 1
    finally:
        handle.remove()


class _SharedAtTheTop(torch.nn.Module):
    """One ReLU module called after each conv by the model's own forward."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2, self.relu = torch.nn.Conv2d(1, 2, 3), torch.nn.Conv2d(2, 2, 3), torch.nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x)))).mean((2, 3))


def test_a_shared_module_is_refused_with_stop_even_when_its_first_call_completes_the_recording():
    net = vk.wrap(_SharedAtTheTop(), input_size=8)
    with pytest.raises(ValueError, match=r"'relu' \(relu: ReLU\) ran 2 times"):
        vk.activations(net, torch.randn(1, 1, 8, 8), "relu")
    assert vk.activations(net, torch.randn(1, 1, 8, 8), "conv2")["conv2"].shape == (2, 4, 4)


def test_the_activations_panel_leaves_out_modules_run_twice(resnet):
    from vizkit.ui import ActivationsPanel

    bare = vk.wrap(resnet.model, mean=[0.5] * 3, std=[0.25] * 3, input_size=32, layers={})  # module paths only
    panel = ActivationsPanel(bare, {"x": torch.rand(3, 32, 32)})
    assert panel.last_error is None and "layer1.0.conv1" in panel.map_layers and "layer1.0" in panel.map_layers
    assert not [n for n in panel.map_layers if n.endswith(".relu") and n != "relu"]


# --------------------------------------------------------------------------- layouts: channels-last layers, layers
# the forward never runs, layers the image never reaches (small stand-ins for ConvNeXt, GoogLeNet, Swin, SwinV2)

LAYOUT_SIZE = (12, 10)  # H != W != every channel count, so no axis can pass for another


class ChannelsLast(torch.nn.Module):
    """A ConvNeXt-style block: conv -> permute to (N, H, W, C) -> Linear -> ReLU -> permute back -> conv -> head."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.Linear(6, 5)
        self.relu, self.head, self.out = torch.nn.ReLU(), torch.nn.Conv2d(5, 4, 3, padding=1), torch.nn.Linear(4, 3)

    def forward(self, x):
        x = self.relu(self.fc(self.conv(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return self.out(self.head(x).mean((2, 3)))


class ChannelsFirst(ChannelsLast):
    """The same function with the Linear as a 1x1 convolution: every technique must agree on the two."""

    def __init__(self, twin: ChannelsLast):
        super().__init__()
        self.load_state_dict(twin.state_dict())
        self.fc = torch.nn.Conv2d(6, 5, 1)
        with torch.no_grad():
            self.fc.weight.copy_(twin.fc.weight[:, :, None, None])
            self.fc.bias.copy_(twin.fc.bias)

    def forward(self, x):
        return self.out(self.head(self.relu(self.fc(self.conv(x)))).mean((2, 3)))


def layout_pair(seed: int = 0):
    """(channels-last net, its channels-first twin, an input)."""
    torch.manual_seed(seed)
    model = ChannelsLast()
    nets = [vk.wrap(m, classes=["a", "b", "c"], input_size=LAYOUT_SIZE, name=name,
                    layers={"conv": "conv", "fc": "fc", "relu": "relu", "head": "head"})
            for m, name in ((model, "last"), (ChannelsFirst(model), "first"))]
    return (*nets, torch.randn(1, 3, *LAYOUT_SIZE, generator=torch.Generator().manual_seed(seed + 1)))


class Unused(torch.nn.Module):
    """An auxiliary head run only in training mode, and a Linear whose weights the forward uses through F.linear."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.aux = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3))
        self.proj, self.fc = torch.nn.Linear(4, 4), torch.nn.Linear(4, 3)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        out = self.fc(torch.nn.functional.linear(x.mean((2, 3)), self.proj.weight, self.proj.bias))
        return out + self.aux(x) if self.training else out


def test_channels_last_layers_are_recorded_channels_first():
    from vizkit.hooks import layout

    net, twin, x = layout_pair()
    assert layout(net, "fc").axes == layout(net, "relu").axes == "NHWC" and layout(net, "conv").axes == "NCHW"
    assert layout(net, "fc").grid and layout(net, "fc").moved and not layout(twin, "fc").moved
    got, want = vk.activations(net, x, ["fc", "relu", "head"]), vk.activations(twin, x, ["fc", "relu", "head"])
    assert got["relu"].shape == (5, *LAYOUT_SIZE)
    for name in want:
        torch.testing.assert_close(got[name], want[name])
    with record(net, "relu", keep_graph=True) as rec:  # the recorded view is what the rest of the pass uses
        out = rec.forward(x.requires_grad_(True))
        (g,) = torch.autograd.grad(out[0, 1], rec["relu"])
    assert g.shape == (1, 5, *LAYOUT_SIZE) and g.abs().sum() > 0


def test_layouts_follow_permutes_and_tokens_are_not_maps():
    from vizkit.hooks import layout

    class Mixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.norm = torch.nn.Conv2d(3, 6, 4, stride=4), torch.nn.LayerNorm(6)
            self.swap, self.tokens = torch.nn.Linear(6, 6), torch.nn.Linear(6, 5)
            self.out = torch.nn.Linear(5, 2)

        def forward(self, x):
            x = self.norm(torch.movedim(self.conv(x), 1, -1))   # (N, H, W, C) by movedim
            x = self.swap(x).transpose(1, 3)                    # (N, C, W, H): channels first, axes swapped
            t = self.tokens(x.flatten(2).transpose(1, 2))       # (N, tokens, C) after a reshape
            return self.out(t.mean(1))

    net = vk.wrap(Mixed(), input_size=(16, 12), name="mixed")
    axes = {name: layout(net, name).axes for name in ("conv", "norm", "swap", "tokens")}
    assert axes == {"conv": "NCHW", "norm": "NHWC", "swap": "NHWC", "tokens": "N?C"}
    assert not layout(net, "tokens").grid and "not the image grid" in layout(net, "tokens").describe()
    assert vk.activations(net, torch.zeros(1, 3, 16, 12), "tokens")["tokens"].shape == (5, 12)


def test_layers_the_forward_never_runs_are_named():
    from vizkit.hooks import NotRunError

    net = vk.wrap(Unused(), input_size=8, name="unused")
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(NotRunError, match=r"layer 'proj' \(Linear\) is not run by unused's forward pass.*F.linear"):
        vk.activations(net, x, "proj")
    with pytest.raises(NotRunError, match=r"'aux.1' \(Linear\) is not run.*auxiliary head"):
        vk.activations(net, x, ["conv", "aux.1"])
    net.model.train()
    with record(net, "aux.1") as rec:  # in training mode the head runs, and is recorded
        rec.forward(x)
    net.model.eval()
    assert rec["aux.1"].shape == (1, 3)


def test_layers_changed_in_place_later_are_not_offered():
    """A residual x += y on a block's last activation (EfficientNetV2's blocks) changes that layer's output after
    its hook saw it: image_layers leaves it out (a panel must not default to it)."""
    from vizkit.hooks import image_layers

    class InPlace(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.act1 = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.SiLU()
            self.conv2, self.act2 = torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.SiLU()
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            x = self.act1(self.conv1(x))
            y = self.act2(self.conv2(x))
            y += x
            return self.fc(y.mean((2, 3)))

    net = vk.wrap(InPlace(), classes=["a", "b"], mean=[0.5], std=[0.25], input_size=8)
    assert image_layers(net, ["conv1", "act1", "conv2", "act2"]) == ["conv1", "act1", "conv2"]
