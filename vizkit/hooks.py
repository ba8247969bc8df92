"""Layer lookup, activation recording, and the guard that leaves a model exactly as it was found."""

from __future__ import annotations

import contextlib
import difflib

import torch
from torch import nn

# Every per-module hook registry torch keeps; preserved() restores them all.
_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
               "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs",
               "_forward_hooks_always_called", "_state_dict_hooks", "_load_state_dict_pre_hooks")


def _model(net) -> nn.Module:
    model = getattr(net, "model", net)
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a vizkit Net or an nn.Module; got {type(net).__name__}")
    return model


def layer_names(net) -> list[str]:
    """Every name a layer argument accepts: the aliases, then the dotted module paths."""
    model = _model(net)
    aliases = list(getattr(net, "layers", {}))
    return aliases + [n for n, _ in model.named_modules() if n]


def resolve(net, layer: str) -> tuple[str, nn.Module]:
    """An alias ("conv1") or dotted path ("features.0") -> (path, module); KeyError lists the valid names."""
    model = _model(net)
    if not isinstance(layer, str):
        raise TypeError(f"a layer is named by a string (alias or dotted path); got {type(layer).__name__}")
    path = getattr(net, "layers", {}).get(layer, layer)
    modules = dict(model.named_modules())
    if path and path in modules:
        return path, modules[path]
    names = layer_names(net)
    close = difflib.get_close_matches(layer, names, n=1, cutoff=0.5)
    hint = f" Closest match: {close[0]!r}." if close else ""
    shown = ", ".join(names[:60]) + (", …" if len(names) > 60 else "")
    raise KeyError(f"no layer {layer!r} in {getattr(net, 'name', type(model).__name__)}.{hint} "
                   f"Valid layers: {shown}")


@contextlib.contextmanager
def record(net, layers, detach: bool = True):
    """Within the block, forward passes store each layer's output in the yielded dict (name -> tensor).

    Outputs are cloned (in-place ReLUs would otherwise overwrite them) and, if detach, cut
    from the graph. Hooks are removed on exit, also when the block raises.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("record needs at least one layer")
    found = {name: resolve(net, name)[1] for name in names}
    store: dict[str, torch.Tensor] = {}
    handles = []

    def hook_for(name):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} ({type(module).__name__}) returns a "
                                f"{type(output).__name__}, not a tensor; pick one of its sub-layers")
            store[name] = output.detach().clone() if detach else output.clone()
        return hook

    try:
        for name, module in found.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        yield store
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def preserved(net):
    """Restore training flags, requires_grad, .grad and all hooks of a model on exit, even on error."""
    model = _model(net)
    modules = list(model.modules())
    modes = [m.training for m in modules]
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    hooks = [{k: dict(getattr(m, k)) for k in _HOOK_DICTS if hasattr(m, k)} for m in modules]
    try:
        yield model
    finally:
        for m, mode, saved in zip(modules, modes, hooks):
            m.training = mode
            for k, d in saved.items():
                live = getattr(m, k)
                if dict(live) != d:
                    live.clear()
                    live.update(d)
        for p, flag, grad in zip(params, flags, grads):
            p.requires_grad_(flag)
            p.grad = grad


def model_state(net) -> dict:
    """A snapshot to compare: training flags, requires_grad, parameter/buffer values, hook ids."""
    model = _model(net)
    return dict(
        training=[m.training for m in model.modules()],
        requires_grad=[p.requires_grad for p in model.parameters()],
        grads=[None if p.grad is None else p.grad.clone() for p in model.parameters()],
        tensors={k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
        hooks=[{k: list(getattr(m, k)) for k in _HOOK_DICTS if hasattr(m, k)} for m in model.modules()],
    )


def same_state(a: dict, b: dict) -> bool:
    """True when two model_state() snapshots are identical (values compared exactly)."""
    if (a["training"], a["requires_grad"], a["hooks"]) != (b["training"], b["requires_grad"], b["hooks"]):
        return False
    if len(a["grads"]) != len(b["grads"]) or a["tensors"].keys() != b["tensors"].keys():
        return False
    for ga, gb in zip(a["grads"], b["grads"]):
        if (ga is None) != (gb is None) or (ga is not None and not torch.equal(ga, gb)):
            return False
    return all(torch.equal(a["tensors"][k], b["tensors"][k]) for k in a["tensors"])
