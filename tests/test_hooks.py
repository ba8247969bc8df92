"""Layer lookup, recording, and the model-preserving guard."""

import pytest
import torch

import vizkit as vk
from vizkit.hooks import layer_names, model_state, preserved, record, resolve, same_state


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
    with pytest.raises(TypeError, match="not a tensor"), record(model, "0"):
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
