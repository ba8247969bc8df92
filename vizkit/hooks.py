"""Layer lookup, activation recording, and the guard that leaves a model exactly as it was found."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ._check import layer_list
from ._types import ImageLike, Target

if TYPE_CHECKING:
    from .nets import Net

# Every per-module hook registry torch keeps; preserved() restores them all.
_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
               "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs",
               "_forward_hooks_always_called", "_state_dict_hooks", "_load_state_dict_pre_hooks")
# Plain attributes that hooks or techniques may change on a module: registering a full backward
# hook sets _is_full_backward_hook for good; gradient techniques turn off in-place activations.
_FLAGS = ("training", "_is_full_backward_hook", "inplace")


def _model(net: Net | nn.Module) -> nn.Module:
    model = getattr(net, "model", net)
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a vizkit Net or an nn.Module; got {type(net).__name__}")
    return model


def layer_names(net: Net) -> list[str]:
    """Every name a layer argument accepts: the aliases, then the dotted module paths."""
    model = _model(net)
    aliases = list(getattr(net, "layers", {}))
    return aliases + [n for n, _ in model.named_modules() if n]


def resolve(net: Net, layer: str) -> tuple[str, nn.Module]:
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
    shown = ", ".join(names[:60]) + (", …" if len(names) > 60 else "") or \
        "none (the model has no submodules: give it its layers as attributes or an nn.Sequential)"
    raise KeyError(f"no layer {layer!r} in {getattr(net, 'name', type(model).__name__)}.{hint} "
                   f"Valid layers: {shown}")


def resolve_target(net: Net, target: Target | torch.Tensor) -> int:
    """A class index or class name -> index; an unknown name is a KeyError naming the closest classes."""
    classes = list(getattr(net, "classes", []) or [])
    if isinstance(target, torch.Tensor) and target.numel() == 1 and not target.is_floating_point():
        target = int(target.item())
    if isinstance(target, str):
        if target in classes:
            return classes.index(target)
        folded = [c.lower() for c in classes]
        if target.lower() in folded:
            return folded.index(target.lower())
        close = difflib.get_close_matches(target, classes, n=3, cutoff=0.4)
        hint = f" Closest: {', '.join(map(repr, close))}." if close else ""
        shown = ", ".join(map(repr, classes[:20])) + (", …" if len(classes) > 20 else "")
        raise KeyError(f"no class called {target!r} in {getattr(net, 'name', 'the model')}.{hint} "
                       f"Classes: {shown or 'none named (pass an index)'}")
    if isinstance(target, bool) or not hasattr(target, "__index__"):
        raise TypeError(f"target must be a class index (int) or a class name (str); got {type(target).__name__}")
    index = int(target)
    if index < 0 or (classes and index >= len(classes)):
        top = f"[0, {len(classes) - 1}]" if classes else "a non-negative integer"
        raise ValueError(f"target class index {index} is out of range; valid: {top}")
    return index


def input_error(net: Net, x: ImageLike, error: Exception) -> ValueError:
    """A ValueError explaining that the model could not run input x (shape, dtype) and what it takes."""
    name = getattr(net, "name", type(_model(net)).__name__)
    takes = ""
    if hasattr(net, "input_size"):
        takes = (f"; it takes (N, {net.channels}, H, W) inputs, made for {net.input_size[0]}x{net.input_size[1]} "
                 "images (net.preprocess(image) makes one)")
    shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ValueError(f"{name} could not run an input of shape {shape}{takes}. PyTorch said: {first}")


def run(net: Net, x: torch.Tensor):
    """net's model on x; a failure inside the model (wrong size, channels, dtype) becomes input_error's ValueError."""
    try:
        return _model(net)(x)
    except (RuntimeError, IndexError) as e:
        raise input_error(net, x, e) from e


class StopForward(Exception):
    """Raised by a recording hook once every wanted layer has run: the rest of the network need not."""


class Recording(dict):
    """Layer name -> captured output. forward(x) runs the model and, with stop=True, ends the pass
    once every recorded layer has run (it then returns None instead of the model's output)."""

    def __init__(self, net: Net, names: list[str], stop: bool):
        super().__init__()
        self.net, self.names, self.stop = net, names, stop
        self.versions: dict[str, int | None] = {}  # keep_graph: each output's version when recorded

    def forward(self, x: torch.Tensor):
        """Run the model on x, collecting the layers; the model's output, or None if stopped early."""
        self.clear()
        self.versions.clear()
        try:
            out, stopped = run(self.net, x), False
        except StopForward:
            out, stopped = None, True
        self._unchanged()
        if stopped:
            return None
        missing = [n for n in self.names if n not in self]
        if missing:
            raise ValueError(f"layers {missing} were not run by the model's forward pass")
        return out

    def _unchanged(self) -> None:
        """A recorded output that the rest of the forward pass changed in place (x.relu_(), x += y) no longer
        holds what its layer gave: say so rather than explain the wrong tensor."""
        for name, version in self.versions.items():
            if _version(self[name]) != version:
                raise ValueError(f"the output of layer {name!r} is changed in place later in "
                                 f"{getattr(self.net, 'name', 'the model')}'s forward pass (e.g. x.relu_() or "
                                 "x += y), so it no longer holds what the layer gave; pick the layer after that "
                                 "operation, or make the operation out of place in the model's forward")


def _version(t: torch.Tensor) -> int | None:
    try:
        return t._version
    except RuntimeError:  # inference-mode tensors keep no version counter
        return None


class _OutOfPlace(TorchFunctionMode):
    """Functional calls with inplace=True (F.relu(x, inplace=True), F.dropout…) run out of place."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if kwargs.get("inplace") is True:
            kwargs = {**kwargs, "inplace": False}
        return func(*args, **kwargs)


@contextlib.contextmanager
def inplace_off(net):
    """Within the block, activations with an `inplace` flag (AlexNet's and VGG's ReLUs) and functional calls
    with inplace=True work out of place.

    An in-place ReLU overwrites the tensor its layer produced, which breaks recorded outputs,
    gradients taken with respect to them, and backward rules attached to the ReLU.
    """
    modules = [m for m in _model(net).modules() if isinstance(getattr(m, "inplace", None), bool)]
    saved = [m.inplace for m in modules]
    try:
        for m in modules:
            # torch annotates Module.__setattr__'s value as Tensor | Module, but plain attributes take anything
            m.inplace = False  # type: ignore[assignment]
        with _OutOfPlace():
            yield
    finally:
        for m, flag in zip(modules, saved):
            m.inplace = flag


@contextlib.contextmanager
def record(net: Net, layers: str | Sequence[str], keep_graph: bool = False,
           stop: bool = False) -> Iterator[Recording]:
    """Within the block, forward passes store each layer's output in the yielded Recording (name -> tensor).

    keep_graph=False: outputs are detached clones (safe from later in-place ops).
    keep_graph=True: the very tensors the rest of the forward pass used, still in the graph, so
    that d score / d output can be taken; in-place activations are off within the block.
    stop=True: Recording.forward(x) ends the forward pass after the last recorded layer.
    Hooks are removed (and in-place flags restored) on exit, also when the block raises.
    """
    names = layer_list(layers)
    found = {name: resolve(net, name)[1] for name in names}
    store = Recording(net, list(found), stop)
    handles = []

    def hook_for(name):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise ValueError(f"layer {name!r} ({type(module).__name__}) returns a "
                                f"{type(output).__name__}, not a tensor; pick one of its sub-layers")
            store[name] = output if keep_graph else output.detach().clone()
            if keep_graph:
                store.versions[name] = _version(output)
            if stop and len(store) == len(found):
                raise StopForward
        return hook

    with contextlib.ExitStack() as stack:
        if keep_graph:
            stack.enter_context(inplace_off(net))
        try:
            for name, module in found.items():
                handles.append(module.register_forward_hook(hook_for(name)))
            yield store
        finally:
            for h in handles:
                h.remove()


@contextlib.contextmanager
def preserved(net: Net | nn.Module) -> Iterator[nn.Module]:
    """Restore a model exactly on exit, even on error: training and in-place flags, requires_grad,
    .grad (object and values: backward() accumulates in place), buffers, all hooks, and grad mode."""
    model = _model(net)
    modules = list(model.modules())
    flags = [{k: getattr(m, k) for k in _FLAGS if k in vars(m)} for m in modules]
    params = list(model.parameters())
    wants_grad = [p.requires_grad for p in params]
    grads = [(p.grad, None if p.grad is None else p.grad.detach().clone()) for p in params]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    hooks = [{k: dict(getattr(m, k)) for k in _HOOK_DICTS if hasattr(m, k)} for m in modules]
    grad_mode = torch.is_grad_enabled()
    try:
        yield model
    finally:
        torch.set_grad_enabled(grad_mode)
        for m, saved, saved_hooks in zip(modules, flags, hooks):
            for k, v in saved.items():
                setattr(m, k, v)
            for k, d in saved_hooks.items():
                live = getattr(m, k)
                if dict(live) != d:
                    live.clear()
                    live.update(d)
        with torch.no_grad():
            for p, flag, (grad, values) in zip(params, wants_grad, grads):
                p.requires_grad_(flag)
                if grad is not None and values is not None:  # values is None exactly when grad is
                    grad.copy_(values)
                p.grad = grad
            for b, values in buffers:
                if b.shape == values.shape:
                    b.copy_(values)


@contextlib.contextmanager
def frozen(net):
    """preserved(), with the model in eval mode and its parameters not requiring grad inside the block:
    gradients with respect to the input then cost no weight gradients and never touch .grad."""
    with preserved(net) as model:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        yield model


def model_state(net: Net) -> dict:
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


def layers_of_type(net: Net, types) -> list[str]:
    """Names (aliases, or module paths when the net has none) of layers that are instances of types, in module order."""
    order = {path: i for i, (path, _) in enumerate(_model(net).named_modules())}
    names = list(getattr(net, "layers", None) or [p for p in order if p])
    found = sorted(((name, *resolve(net, name)) for name in names), key=lambda f: order[f[1]])
    return [name for name, _, module in found if isinstance(module, types)]
