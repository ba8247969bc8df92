"""A snapshot of everything a technique must leave as it found it, for the shared model-state tests."""

import torch

from vizkit.hooks import _FLAGS, _HOOK_DICTS, _model


def model_state(net) -> dict:
    """A snapshot to compare: module flags, requires_grad, .grad, parameter/buffer values, hook ids, grad mode."""
    model = _model(net)
    return dict(
        flags=[{k: getattr(m, k) for k in _FLAGS if k in vars(m)} for m in model.modules()],
        requires_grad=[p.requires_grad for p in model.parameters()],
        grads=[None if p.grad is None else p.grad.clone() for p in model.parameters()],
        grad_ids=[None if p.grad is None else id(p.grad) for p in model.parameters()],
        tensors={k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
        hooks=[{k: list(getattr(m, k)) for k in _HOOK_DICTS if hasattr(m, k)} for m in model.modules()],
        grad_mode=torch.is_grad_enabled(),
    )


def same_state(a: dict, b: dict) -> bool:
    """True when two model_state() snapshots are identical (values compared exactly)."""
    plain = ("flags", "requires_grad", "grad_ids", "hooks", "grad_mode")
    if any(a[k] != b[k] for k in plain):
        return False
    if len(a["grads"]) != len(b["grads"]) or a["tensors"].keys() != b["tensors"].keys():
        return False
    for ga, gb in zip(a["grads"], b["grads"]):
        if (ga is None) != (gb is None) or (ga is not None and not torch.equal(ga, gb)):
            return False
    return all(torch.equal(a["tensors"][k], b["tensors"][k]) for k in a["tensors"])
