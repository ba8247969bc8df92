"""Layer lookup, activation recording, and the guard that leaves a model exactly as it was found."""

from __future__ import annotations

import ast
import contextlib
import difflib
import dis
import inspect
import os
import textwrap
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeGuard, cast

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from . import _trace
from ._check import layer_list
from ._trace import Layout
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


def resolve_layers(net: Net, layers: str | Sequence[str], name: str = "layers") -> list[str]:
    """A layer name or a non-empty list of them, each known to the net (KeyError lists the valid ones) -> the
    names without repeats, in order."""
    names = layer_list(layers, name)
    for layer in names:
        resolve(net, layer)
    return list(dict.fromkeys(names))


class NotRunError(ValueError):
    """A layer the model's forward pass never runs (in eval mode), so it has no output to show."""


# model -> (the ids of its modules and the input it was traced on, its Trace or None): traced again when a module
# is replaced or a net gives it another input
_TRACES: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, _trace.Trace | None]] = weakref.WeakKeyDictionary()


def traced(net: Net | nn.Module) -> _trace.Trace | None:
    """What one forward pass of the model on a zero image of the net's input size shows (vizkit._trace): the
    modules that run in eval mode, and each one's output layout. Traced once per model (again if a module is
    replaced); None for a bare nn.Module, which has no input size, or a model that fails on that image."""
    model = _model(net)
    if not hasattr(net, "input_size"):
        return None
    net = cast("Net", net)
    key = (tuple(id(m) for m in model.modules()), net.channels, tuple(net.input_size))
    hit = _TRACES.get(model)
    if hit is not None and hit[0] == key:
        return hit[1]
    x = torch.zeros((1, net.channels, *net.input_size), device=net.device, dtype=net.dtype)
    try:
        with frozen(net) as m:
            found: _trace.Trace | None = _trace.trace(m, x)
    except Exception:  # noqa: BLE001 - the techniques then run the model and report its failure themselves
        found = None
    _TRACES[model] = (key, found)
    return found


def layout(net: Net, layer: str) -> Layout | None:
    """Where layer's output keeps its channels and whether the image reaches it (see vizkit._trace): e.g.
    Layout("NHWC") for the Linear layers of a ConvNeXt block; None where the trace does not tell."""
    path, _ = resolve(net, layer)
    found = traced(net)
    return None if found is None else found.layouts.get(path)


def image_layers(net: Net, layers: Sequence[str], maps: bool = False) -> list[str]:
    """The layers among `layers` that the forward pass runs (in eval mode) and the image reaches (a layer of SwinV2's
    position table depends on no image), leaving out those whose output the pass changes in place later (a residual
    `x += y` on a block's last activation, as in EfficientNetV2); maps=True: only those giving maps over the image
    grid, (C, h, w) once the channels come first. Without a trace: all of them."""
    found = traced(net)
    if found is None:
        return list(layers)
    out = []
    for name in layers:
        path = resolve(net, name)[0]
        lay = found.layouts.get(path)
        if lay is not None and lay.reached and path not in found.changed and (lay.grid or not maps):
            out.append(name)
    return out


def image_maps(net: Net, layers: Sequence[str]) -> list[str]:
    """image_layers(net, layers, maps=True): the layers that give maps over the image grid that the image reaches."""
    return image_layers(net, layers, maps=True)


def runs(net: Net, layers: Sequence[str]) -> list[str]:
    """The layers among `layers` that the model's forward pass runs in eval mode (all, without a trace)."""
    found = traced(net)
    return list(layers) if found is None else [n for n in layers if resolve(net, n)[0] in found.ran]


def not_run(net: Net, name: str, path: str) -> NotRunError:
    """The NotRunError for a layer the forward pass does not run, naming it and the usual reasons."""
    module = _model(net).get_submodule(path)
    kind = type(module).__name__
    if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
        why = f"a {kind} only holds layers and is never called itself: pick one of its sub-layers"
    else:
        why = ("e.g. an auxiliary head used only in training mode, or a module whose weights the forward uses "
               "through a functional call such as F.linear, as Swin's qkv and ViT's out_proj are")
    shown = name if name == path else f"{name} ({path})"
    mode = "training" if _model(net).training else "eval"
    return NotRunError(f"layer {shown!r} ({kind}) is not run by {getattr(net, 'name', type(_model(net)).__name__)}'s "
                       f"forward pass in {mode} mode ({why}), so it has no output")


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
    """net's model on x; a failure inside the model (wrong size, channels, dtype) becomes input_error's ValueError.

    The model's own exceptions pass unchanged: any other type (a subclass of RuntimeError included), one raised
    by a `raise` statement outside torch (the user's forward or hook), and any failure on one image of a shape,
    dtype and device the model is known to take (so nothing about the input is to blame). An AssertionError from
    torch's checks (torch._assert: a ViT's "Wrong image height!") is about the input too.
    """
    try:
        return _model(net)(x)
    except (RuntimeError, IndexError, AssertionError) as e:
        if type(e) not in (RuntimeError, IndexError, AssertionError) or _raised_by_user(e) or _known_input(net, x):
            raise
        raise input_error(net, x, e) from e


_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_RAISE = dis.opmap["RAISE_VARARGS"]


def _raised_by_user(error: BaseException) -> bool:
    """True when error comes from a `raise` statement outside torch (a torch op failing in C++ leaves the Python
    frame that called it at a call instruction instead)."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return (not code.co_filename.startswith(_TORCH_DIR) and 0 <= tb.tb_lasti < len(code.co_code)
            and code.co_code[tb.tb_lasti] == _RAISE)


def _known_input(net: Net, x: torch.Tensor) -> bool:
    """True when x is one image of the channels, size, dtype and device the net is known to run (wrap and
    check_size try the model on such a zero image)."""
    if not hasattr(net, "input_size") or not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        return False
    sizes = getattr(net, "_sizes_ok", {net.input_size})
    return (x.shape[1] == net.channels and tuple(x.shape[2:]) in sizes and x.dtype == net.dtype
            and x.device == net.device)


class StopForward(Exception):
    """Raised by a recording hook once every wanted layer has run: the rest of the network need not."""


class RepeatedLayerError(ValueError):
    """A recorded layer ran more than once in one forward pass, so it has no single output; .layers names them."""

    def __init__(self, message: str, layers: list[str]):
        super().__init__(message)
        self.layers = layers


class Recording(dict):
    """Layer name -> captured output. forward(x) runs the model and, with stop=True, ends the pass
    once every recorded layer has run (it then returns None instead of the model's output)."""

    def __init__(self, net: Net, names: list[str], stop: bool):
        super().__init__()
        self.net, self.names, self.stop = net, names, stop
        self.versions: dict[str, int | None] = {}  # keep_graph: each output's version when recorded
        self.calls: Counter[str] = Counter()  # how often each layer ran in the current forward pass
        self.waiting: set[nn.Module] = set()  # stop=True: modules that may run a layer again, not yet returned
        self.paths: dict[str, str] = {}  # layer name -> module path, for messages
        self.layouts: dict[str, Layout | None] = {}  # layer name -> its output's layout, as traced

    def check_calls(self) -> None:
        """RepeatedLayerError if a recorded layer ran more than once in this forward pass."""
        again = [n for n in self.names if self.calls[n] > 1]
        if not again:
            return
        model = _model(self.net)
        said = "; ".join(f"{n!r} ({self.paths[n]}: {type(model.get_submodule(self.paths[n])).__name__}) ran "
                         f"{self.calls[n]} times" for n in again)
        parent = self.paths[again[0]].rpartition(".")[0]
        hint = f" (e.g. its parent {parent!r})" if parent else ""
        raise RepeatedLayerError(
            f"{said} in one forward pass of {getattr(self.net, 'name', type(model).__name__)}: one module used at "
            "several places of the forward (as torchvision's BasicBlock calls self.relu twice) has no single output "
            f"to record. Pick a layer that runs once{hint}, or give each use its own module in the model", again)

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
            raise not_run(self.net, missing[0], self.paths[missing[0]])
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


# A module's class -> {attribute: how often one call of its forward may use self.<attribute>}, read from the source.
_USES: weakref.WeakKeyDictionary[type, dict[str, int]] = weakref.WeakKeyDictionary()
_REPEATED = (ast.For, ast.AsyncFor, ast.While, ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef,
             ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _guards(model: nn.Module, modules: dict[str, nn.Module]) -> dict[str, nn.Module | None]:
    """For each layer's module, the outermost module whose forward may call it more than once, going by the
    source (every call of the layer then happens within one call of that module); model when the module is
    registered at several paths; None when nothing suggests a second call."""
    paths: dict[int, list[str]] = {}
    for path, m in model.named_modules(remove_duplicate=False):
        paths.setdefault(id(m), []).append(path)
    guards: dict[str, nn.Module | None] = {}
    for name, module in modules.items():
        found = paths.get(id(module), [])
        guards[name] = model if len(found) != 1 or not found[0] else None
        parent = model
        for part in found[0].split(".") if guards[name] is None else []:
            if type(parent).forward is not nn.Sequential.forward and _uses(type(parent)).get(part, 0) > 1:
                guards[name] = parent
                break
            parent = parent.get_submodule(part)
    return guards


def _uses(cls: type) -> dict[str, int]:
    """How often one call of cls.forward may use each self.<attribute> (2 means "more than once"): a use in a
    loop, comprehension or nested function counts twice, and a use in a method that forward calls counts as
    often as that method is used. Best effort: {} where the source cannot be read."""
    if cls not in _USES:
        uses: Counter[str] = Counter()
        stack: list[str] = []

        def visit(method: str, times: int) -> None:
            sites = _attribute_uses(getattr(cls, method, None))
            if sites is None or method in stack:
                return
            stack.append(method)
            for attr, weight in sites:
                n = min(times * weight, 2)
                uses[attr] = min(uses[attr] + n, 2)
                if inspect.isfunction(getattr(cls, attr, None)):
                    visit(attr, n)
            stack.pop()

        visit("forward", 1)
        _USES[cls] = dict(uses)
    return _USES[cls]


def _attribute_uses(fn) -> list[tuple[str, int]] | None:
    """[(attribute, 1 or 2)] for every self.<attribute> read in the function fn (2: inside a loop,
    comprehension or nested function); None without readable source."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.args.args:
        return None
    me = node.args.args[0].arg
    found: list[tuple[str, int]] = []

    def mine(n: ast.AST) -> TypeGuard[ast.Attribute]:
        return isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == me

    def walk(parent: ast.AST, weight: int) -> None:
        for child in ast.iter_child_nodes(parent):
            w = 2 if isinstance(parent, _REPEATED) and child is not getattr(parent, "iter", None) else weight
            if isinstance(child, ast.Compare) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in child.ops):
                for operand in (child.left, *child.comparators):  # `self.downsample is not None` calls nothing
                    if not mine(operand):
                        walk(ast.Expr(operand), w)
                continue
            if mine(child) and isinstance(child.ctx, ast.Load):
                found.append((child.attr, w))
            walk(child, w)

    for statement in node.body:
        walk(ast.Module(body=[statement], type_ignores=[]), 1)
    return found


@contextlib.contextmanager
def record(net: Net, layers: str | Sequence[str], keep_graph: bool = False,
           stop: bool = False) -> Iterator[Recording]:
    """Within the block, forward passes store each layer's output in the yielded Recording (name -> tensor).

    Every output has its channels on the axis after the batch: a channels-last output (traced so, see
    vizkit._trace: a Linear in a ConvNeXt or Swin block gives (N, H, W, C), in a MaxViT block (N, windows, window
    positions, C), in a ViT (N, tokens, C)) is recorded with its channels moved there, e.g. (N, C, H, W);
    Recording.layouts says how each was laid out (only the first kind are maps over the image grid).
    keep_graph=False: outputs are detached clones (safe from later in-place ops).
    keep_graph=True: the very tensors the rest of the forward pass used (for a moved output, a view of it that
    the rest of the pass then uses), still in the graph, so that d score / d output can be taken; in-place
    activations are off within the block.
    A layer the forward pass did not run (an auxiliary head in eval mode, a module used through F.linear) is a
    NotRunError naming it.
    stop=True: Recording.forward(x) ends the forward pass after the last recorded layer (or, for a layer whose
    module the model's source may call again, after the module that may call it has returned).
    A layer seen to run more than once in one pass (a shared module) is a RepeatedLayerError, not one of its
    outputs; with stop=True a second call that the source hides (through another name) can go unseen.
    Hooks are removed (and in-place flags restored) on exit, also when the block raises.
    """
    names = layer_list(layers)
    model = _model(net)
    resolved = {name: resolve(net, name) for name in names}
    found = {name: module for name, (_, module) in resolved.items()}
    store = Recording(net, list(found), stop)
    store.paths = {name: path for name, (path, _) in resolved.items()}
    trace = traced(net)
    if trace is not None:
        store.layouts = {name: trace.layouts.get(path) for name, path in store.paths.items()}
    # stop=True: a layer whose module the source may call again (a shared ReLU) stops the pass only once the
    # module that may call it again has returned; the whole pass runs when that is the model itself
    guards = _guards(model, found) if stop else {}
    early = stop and model not in guards.values()
    handles = []

    def start(module, inputs):
        store.calls.clear()
        store.waiting.clear()

    def finish(module, inputs, output):
        store.check_calls()

    def maybe_stop():
        if early and len(store) == len(found) and not store.waiting:
            store.check_calls()
            raise StopForward

    def returned(module, inputs, output):
        store.waiting.discard(module)
        maybe_stop()

    def hook_for(name):
        guard = guards.get(name)

        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise ValueError(f"layer {name!r} ({type(module).__name__}) returns a "
                                f"{type(output).__name__}, not a tensor; pick one of its sub-layers")
            lay = store.layouts.get(name)
            c = lay.channel if lay is not None and lay.moved and output.dim() == len(lay.axes) else 1
            a = output.movedim(c, 1) if c != 1 else output
            store.calls[name] += 1
            store[name] = a if keep_graph else a.detach().clone()
            if keep_graph:
                store.versions[name] = _version(output)
            if guard is not None:
                store.waiting.add(guard)
            maybe_stop()
            # the rest of the pass uses the recorded view, so that d score / d recorded output can be taken
            return a.movedim(1, c) if keep_graph and c != 1 else None
        return hook

    with contextlib.ExitStack() as stack:
        if keep_graph:
            stack.enter_context(inplace_off(net))
        try:
            handles.append(model.register_forward_pre_hook(start))
            for name, module in found.items():
                handles.append(module.register_forward_hook(hook_for(name)))
            for guard in {g for g in guards.values() if g is not None and g is not model}:
                handles.append(guard.register_forward_hook(returned))
            handles.append(model.register_forward_hook(finish))
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


# activation modules, for defaults where a network has no nn.ReLU (ConvNeXt, Swin: GELU; EfficientNet: SiLU;
# MobileNetV3: Hardswish; MobileNetV2: ReLU6)
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish)


def layers_of_type(net: Net, types) -> list[str]:
    """Names of layers that are instances of types, in module order; only layers the forward pass runs. Aliases,
    or module paths where the net has no aliases or none of them is of these types (ResNet's are its stages)."""
    order = {path: i for i, (path, _) in enumerate(_model(net).named_modules())}

    def of_type(names: list[str]) -> list[str]:
        found = sorted(((name, *resolve(net, name)) for name in runs(net, names)), key=lambda f: order[f[1]])
        return [name for name, _, module in found if isinstance(module, types)]

    aliases = list(getattr(net, "layers", None) or [])
    return (of_type(aliases) if aliases else []) or of_type([p for p in order if p])
