"""Net: a model with its preprocessing, class names and layer aliases; load() and wrap() make one."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence, Set
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import _check
from . import texture_net as _texture
from .data import FASHION_CLASSES, open_image
from .data import resize_crop as _resize_crop
from .fashion_cnn import MEAN as FASHION_MEAN
from .fashion_cnn import STD as FASHION_STD
from .fashion_cnn import FashionCNN

BUNDLED_WEIGHTS = Path(__file__).parent / "weights" / "fashion-cnn.pt"
"""The trained fashion-cnn weights shipped inside the package (`make weights` rewrites them)."""


class WeightsUnavailableError(FileNotFoundError):
    """Pretrained weights are neither cached nor downloadable."""


class Net:
    """A classifier with what it takes to feed and read it.

    model: the nn.Module (kept in eval mode); classes: list of names; mean, std: per-channel
    normalisation; input_size: (H, W); resize: shorter side before the centre crop;
    layers: alias -> dotted module path (e.g. "conv1" -> "features.0").
    """

    def __init__(self, model: nn.Module, name: str, classes, mean, std, input_size, resize=None, layers=None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"a Net needs a torch.nn.Module; got {type(model).__name__}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty string; got {name!r}")
        self.model = model.eval()
        self.name = name
        self.classes = _class_names(classes)
        self.mean, self.std = _per_channel(mean, "mean"), _per_channel(std, "std", positive=True)
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean and std need one value per input channel each; got {len(self.mean)} mean "
                             f"value(s) {list(self.mean)} and {len(self.std)} std value(s) {list(self.std)}")
        self.channels = len(self.mean)
        self.input_size = _check.pair(input_size, "input_size")
        self.resize = min(self.input_size) if resize is None else _check.integer(resize, "resize", 1)
        self._sizes_ok = {self.input_size}  # (H, W) sizes the model is known to take
        self.layers = _aliases(self, layers)

    @property
    def device(self) -> torch.device:
        """Where the model's parameters live (CPU if it has none)."""
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def to(self, device) -> Net:
        """Move the model to device ("cpu", "cuda", a torch.device) and return this Net; techniques follow it."""
        d = check_device(device)
        try:
            self.model.to(d)
        except (RuntimeError, AssertionError) as e:  # e.g. a backend this torch build lacks
            raise ValueError(f"could not move {self.name} to {str(d)!r}: {_first_lines(e)}") from None
        return self

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point dtype of the model's parameters (float32 if it has none)."""
        p = next((p for p in self.model.parameters() if p.is_floating_point()), None)
        return p.dtype if p is not None else torch.float32

    def _stats(self, x: torch.Tensor):
        """(mean, std) as (1, C, 1, 1) tensors of x's dtype and device (kept: optimisation loops ask each step)."""
        key = (x.dtype, x.device, self.mean, self.std)
        cache = self.__dict__.setdefault("_stats_cache", {})
        if key not in cache:
            shape = (1, self.channels, 1, 1)
            cache[key] = (torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape),
                          torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape))
        return cache[key]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float pixels in [0, 1] -> model input (x - mean) / std, on the model's device and dtype."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"normalize needs a (N, C, H, W) tensor of [0, 1] pixels; got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"normalize needs floating-point pixels in [0, 1]; got dtype {x.dtype} "
                             "(for uint8 images in 0..255 use x.float() / 255)")
        if x.dim() not in (3, 4) or x.shape[-3] != self.channels:
            raise ValueError(f"{self.name} takes {self.channels}-channel images: normalize needs "
                             f"(N, {self.channels}, H, W); got shape {tuple(x.shape)}")
        x = x.to(self.device, self.dtype)
        mean, std = self._stats(x)
        return (x - mean) / std

    def _input_tensor(self, x: torch.Tensor, what: str) -> torch.Tensor:
        """A (N, C, H, W) model input as the model takes it: finite, on its device, in its dtype."""
        if not x.is_floating_point():
            raise ValueError(f"{what} must be a floating-point model input; got dtype {x.dtype} (for uint8 "
                             "images in 0..255 use net.normalize(x.float() / 255))")
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[0] == 0 or min(x.shape[2:]) < 1:
            raise ValueError(f"{self.name} takes {self.channels}-channel input (N, {self.channels}, H, W) with "
                             f"N, H, W >= 1; {what} has shape {tuple(x.shape)}")
        _check.finite(x, what)
        return x.to(self.device, self.dtype)

    def check_size(self, size) -> None:
        """ValueError if the model cannot take (H, W) inputs; a new size is tried once on a zero image."""
        size = tuple(int(s) for s in size)
        if size in getattr(self, "_sizes_ok", {self.input_size}):
            return
        try:
            _probe(self.model, (1, self.channels, *size), self.device, self.dtype)
        except ValueError as e:
            raise ValueError(f"{self.name} cannot take inputs of size {size} (it was made for {self.input_size}): "
                             f"{e}. Resize the images to {self.input_size} (net.preprocess does it for one "
                             "image)") from None
        self._sizes_ok = getattr(self, "_sizes_ok", {self.input_size}) | {size}

    def preprocess(self, image) -> torch.Tensor:
        """Path / bytes / PIL / ndarray, or a [0, 1] tensor (C, H, W), -> (1, C, H, W) normalised input."""
        if isinstance(image, torch.Tensor):
            x = image.detach()
            if x.dim() == 3:
                x = x.unsqueeze(0)
            if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] not in (1, 3) or min(x.shape[2:]) < 1:
                raise ValueError(f"a tensor image must be (C, H, W) or (1, C, H, W) with C = 1 or 3 and H, W >= 1; "
                                 f"got {tuple(image.shape)}")
            x = _check.pixels(x, "the tensor image").float()
            if x.shape[1] != self.channels:
                x = x.mean(1, keepdim=True) if self.channels == 1 else x.expand(-1, 3, -1, -1)
            if tuple(x.shape[2:]) != self.input_size:
                x = torch.nn.functional.interpolate(x, size=self.input_size, mode="bilinear",
                                                    align_corners=False, antialias=True)
            return self.normalize(x)
        img = open_image(image)
        img = img.convert("L" if self.channels == 1 else "RGB")
        img = _resize_crop(img, self.resize, self.input_size)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        x = torch.from_numpy(arr.reshape(*arr.shape[:2], -1)).permute(2, 0, 1).unsqueeze(0)
        return self.normalize(x.contiguous())

    def deprocess(self, x: torch.Tensor) -> np.ndarray:
        """(1, C, H, W) or (C, H, W) model input -> (H, W, C) float array in [0, 1] for display."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"deprocess needs a tensor; got {type(x).__name__}")
        x = x.detach().float()
        if x.dim() == 4 and x.shape[0] == 1:
            x = x[0]
        if x.dim() != 3 or x.shape[0] != self.channels:
            raise ValueError(f"deprocess needs (1, {self.channels}, H, W) or ({self.channels}, H, W); "
                             f"got {tuple(x.shape)}")
        mean, std = self._stats(x.unsqueeze(0))
        out = (x.unsqueeze(0) * std + mean)[0].clamp(0, 1)
        return out.permute(1, 2, 0).cpu().numpy()

    def pixels(self, x: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """(N, C, H, W) or (C, H, W) model input -> pixels x * std + mean of the same shape, on x's device,
        clamped to [0, 1] (clamp=False: as they are, to measure how far outside [0, 1] an input strays)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"pixels needs a model input tensor (N, C, H, W); got {type(x).__name__}")
        if not x.is_floating_point() or x.dim() not in (3, 4) or x.shape[-3] != self.channels:
            raise ValueError(f"pixels needs a floating-point model input (N, {self.channels}, H, W) or "
                             f"({self.channels}, H, W); got {x.dtype} of shape {tuple(x.shape)}")
        batch = x.detach()[None] if x.dim() == 3 else x.detach()
        mean, std = self._stats(batch)
        out = batch * std + mean
        out = out.clamp(0, 1) if clamp else out
        return out[0] if x.dim() == 3 else out

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, C, H, W) model input -> (N, K) scores before the softmax (float32, or float64 for a float64 model),
        the model in eval mode and left as found; batch_size images at a time."""
        from .hooks import preserved, run

        batch_size = _check.integer(batch_size, "batch_size", 1)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"logits needs a (N, {self.channels}, H, W) model input tensor; got {type(x).__name__} "
                            "(net.preprocess(image) makes one)")
        inp = self._input_tensor(x.detach(), "the model input")
        with preserved(self.model):
            self.model.eval()
            out = [_at_least_float32(run(self, inp[i:i + batch_size])) for i in range(0, len(inp), batch_size)]
        if out[0].dim() != 2:
            raise ValueError(f"{self.name} gives outputs of shape {tuple(out[0].shape[1:])} per image, not one "
                             "score per class")
        return torch.cat(out)

    def probs(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, C, H, W) model input -> (N, K) softmax probabilities, as logits() runs the model."""
        return torch.softmax(self.logits(x, batch_size), dim=1)

    @torch.no_grad()
    def predict(self, x, k: int = 5) -> list[tuple[str, float]]:
        """Top-k (class name, probability) for one image or one preprocessed (1, C, H, W) input."""
        from .hooks import preserved

        k = _check.integer(k, "k", 1)
        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == self.channels \
                and tuple(x.shape[2:]) == self.input_size:
            inp = self._input_tensor(x, "predict's input")
        else:
            inp = self.preprocess(x)
        if inp.shape[0] != 1:
            raise ValueError(f"predict takes one image; got a batch of {inp.shape[0]}")
        with preserved(self.model):
            self.model.eval()
            probs = torch.softmax(self.model(inp).float(), dim=1)[0]
        k = min(k, probs.numel())
        top = probs.topk(k)
        names = self.classes or [f"class {i}" for i in range(probs.numel())]
        return [(names[i] if i < len(names) else f"class {i}", float(p))
                for p, i in zip(top.values.tolist(), top.indices.tolist())]

    def __repr__(self) -> str:
        return (f"Net({self.name!r}, {self.channels} channel(s), input {self.input_size}, "
                f"{len(self.classes)} classes, {len(self.layers)} layer aliases)")


def check_net(net: object, owner: str, name: str = "net") -> Net:
    """net if it is a vizkit Net; a TypeError naming who wanted it, the argument and the fix."""
    if not isinstance(net, Net):
        hint = ("wrap it first: vk.wrap(module, classes=..., mean=..., std=..., input_size=...)"
                if isinstance(net, nn.Module) else "e.g. vk.load('fashion-cnn')")
        raise TypeError(f"{owner}: {name} must be a vizkit Net ({hint}); got {_check.shown(net)}")
    return net


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.promote_types(t.dtype, torch.float32))


def _per_channel(values, what: str, positive: bool = False) -> tuple[float, ...]:
    """One finite number per input channel (std: each > 0) -> tuple of floats."""
    if hasattr(values, "tolist"):  # tensors and arrays
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
        raise TypeError(f"{what} must be a list of numbers, one per input channel (e.g. [0.5, 0.5, 0.5]); "
                        f"got {values!r}")
    low = 0 if positive else None
    return tuple(_check.number(v, f"{what}[{i}]", low=low, open_low=positive) for i, v in enumerate(values))


def _class_names(classes) -> list[str]:
    """A list of class names (strings), one per model output."""
    if isinstance(classes, (str, bytes)) or isinstance(classes, dict) or not hasattr(classes, "__iter__"):
        hint = " (for a dict {index: name} pass [d[i] for i in range(len(d))])" if isinstance(classes, dict) else ""
        raise TypeError(f"classes must be a list of class names (str), one per model output; got {classes!r}{hint}")
    names = list(classes)
    bad = [c for c in names if not isinstance(c, str)]
    if bad:
        raise TypeError(f"classes must be names (str); got {bad[0]!r} ({type(bad[0]).__name__}); "
                        "e.g. pass [str(c) for c in classes]")
    return names


def _aliases(net: Net, layers) -> dict[str, str]:
    """layers (alias -> dotted module path), checked against the model; None: default_aliases of the layers the
    model's forward pass runs (traced once on a zero image; all layers where that fails)."""
    from .hooks import traced

    model = net.model
    if layers is None:
        found = traced(net)
        return default_aliases(model, None if found is None else found.ran)
    if not isinstance(layers, dict):
        raise TypeError(f"layers must be a dict of alias -> dotted module path; got {type(layers).__name__}")
    for alias, path in layers.items():
        if not isinstance(alias, str) or not isinstance(path, str):
            raise TypeError(f"layers must map names (str) to module paths (str); got {alias!r}: {path!r}")
        if not _has(model, path):
            close = difflib.get_close_matches(path, [n for n, _ in model.named_modules() if n], n=3)
            raise ValueError(f"layers[{alias!r}] = {path!r} is not a module of the model"
                             + (f"; did you mean {', '.join(map(repr, close))}?" if close else ""))
    return dict(layers)


def _probe(model: nn.Module, shape, device, dtype):
    """The model's output for zeros of shape, in eval mode under no_grad, leaving the model as it was."""
    from .hooks import preserved

    x = torch.zeros(shape, device=device, dtype=dtype)
    with preserved(model), torch.no_grad():
        model.eval()
        try:
            return model(x)
        except Exception as e:  # noqa: BLE001 - whatever the model raises, the caller names the shape
            raise ValueError(f"the model fails on a zero input of shape {tuple(shape)} "
                             f"({type(e).__name__}: {_first_lines(e)})") from None


def _first_lines(e: Exception, limit: int = 400) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------- layer aliases

_OTHER_ACTIVATIONS = (nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish)


def default_aliases(model: nn.Module, ran: Set[str] | None = None) -> dict[str, str]:
    """Friendly names for a model's layers: VGG (conv3_2, pool3, fc6), ResNet (stem, stage1…),
    otherwise AlexNet style (conv1, relu1, pool1, … fc6, relu6, fc7) in module order, with act1… for the first
    activation other than nn.ReLU after a layer (ReLU6, GELU, SiLU, Hardswish: MobileNet, ConvNeXt, Swin).

    ran: the module paths the forward pass runs; the others get no alias (GoogLeNet's auxiliary heads in eval mode,
    Swin's qkv and ViT's out_proj, whose weights the forward uses through F.linear). None: every layer."""
    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children()) and (ran is None or n in ran)]
    kind = type(model).__name__.lower()
    if kind.startswith("resnet") or kind.startswith("resnext") or kind.startswith("wideresnet"):
        aliases = {"stem": "maxpool", "pool": "avgpool"}
        aliases.update({f"stage{i}": f"layer{i}" for i in range(1, 5) if hasattr(model, f"layer{i}")})
        return {a: p for a, p in aliases.items() if _has(model, p) and (ran is None or p in ran)}
    aliases, block, count, label = {}, 1, 0, None
    vgg = kind.startswith("vgg")
    for path, m in leaves:
        if isinstance(m, nn.Conv2d):
            count += 1
            label = f"{block}_{count}" if vgg else str(count)
            aliases[f"conv{label}"] = path
        elif isinstance(m, nn.Linear):
            count = count + 1 if not vgg else count
            label = str(block if vgg else count)
            if vgg:
                block += 1
            aliases[f"fc{label}"] = path
        elif isinstance(m, nn.ReLU) and label is not None and f"relu{label}" not in aliases:
            aliases[f"relu{label}"] = path
        elif isinstance(m, _OTHER_ACTIVATIONS) and label is not None and f"act{label}" not in aliases:
            aliases[f"act{label}"] = path
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) and label is not None:
            name = f"pool{block}" if vgg else f"pool{label}"
            if name not in aliases:
                aliases[name] = path
            if vgg:
                block, count = block + 1, 0
    return aliases


def _has(model, path):
    try:
        model.get_submodule(path)
        return True
    except AttributeError:
        return False


# --------------------------------------------------------------------------- constructors

def fashion_net(model: nn.Module | None = None) -> Net:
    """A Net around a FashionCNN (untrained if model is None) with Fashion-MNIST's preprocessing."""
    model = FashionCNN() if model is None else model
    return Net(model, "fashion-cnn", FASHION_CLASSES, FASHION_MEAN, FASHION_STD, (28, 28), resize=28)


def texture_net(per_size: int = 128, seed: int = 0, padding_mode: str = "circular") -> Net:
    """The offline texture network "random-multiscale" (see vizkit.texture_net): one layer of seeded random
    filters of sizes 3-15, per_size of each; layers relu_3x3 ... relu_15x15; 128x128 photos by default."""
    per_size = _check.integer(per_size, "per_size", 1)
    _check.choice(padding_mode, "padding_mode", ["circular", "reflect", "zeros"])
    model = _texture.MultiScaleTexture(per_size=per_size, seed=_check.integer(seed, "seed"), padding_mode=padding_mode)
    name = "random-multiscale" if (per_size, seed, padding_mode) == (128, 0, "circular") else \
        f"random-multiscale ({per_size} per size, seed {seed}, {padding_mode})"
    return Net(model, name, [], _texture.MEAN, _texture.STD, (128, 128), layers=_texture.aliases(model))


def wrap(module: nn.Module, classes: Sequence[str] | None = None, mean: Sequence[float] | None = None,
         std: Sequence[float] | None = None, input_size: int | tuple[int, int] | None = None,
         name: str | None = None, layers: dict[str, str] | None = None) -> Net:
    """Make a Net of any image classifier: classes (names), per-channel mean/std, input_size (H, W).

    The model is tried once on a zero image (1, C, H, W), C from mean/std, so a wrong channel count
    or input size fails here, by name, rather than deep inside a technique later.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"wrap needs a torch.nn.Module; got {type(module).__name__}")
    first = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    mean = None if mean is None else _per_channel(mean, "mean")
    std = None if std is None else _per_channel(std, "std", positive=True)
    given = mean or std
    channels = len(given) if given else (first.in_channels if first is not None else None)
    if channels is None:
        raise ValueError("wrap could not tell the number of input channels; pass mean= and std=")
    if input_size is None:
        raise ValueError("wrap needs input_size=(H, W), the image size the model expects")
    mean = mean if mean is not None else (0.0,) * channels
    std = std if std is not None else (1.0,) * channels
    net = Net(module, name or type(module).__name__, [] if classes is None else classes, mean, std, input_size,
              layers=layers)
    out = _probe_wrapped(net, first)
    outputs = out.shape[1] if isinstance(out, torch.Tensor) and out.dim() == 2 else None
    if classes is None:
        last = [m for m in module.modules() if isinstance(m, nn.Linear)]
        count = outputs if outputs is not None else (last[-1].out_features if last else 0)
        net.classes = [f"class {i}" for i in range(count)]
    elif outputs is not None and outputs != len(net.classes):
        raise ValueError(f"classes has {len(net.classes)} names but the model gives {outputs} outputs per image; "
                         "pass one name per output")
    return net


def _probe_wrapped(net: Net, first: nn.Module | None):
    """The wrapped model's output on zeros (1, C, H, W), or a ValueError naming mean/std and input_size."""
    shape = (1, net.channels, *net.input_size)
    try:
        return _probe(net.model, shape, net.device, net.dtype)
    except ValueError as e:
        conv = f" (its first convolution takes {first.in_channels})" if first is not None else ""
        raise ValueError(f"wrap tried the model on {shape}: {net.channels} channel(s) from mean/std and "
                         f"input_size={net.input_size}, and it failed: {e}. Pass one mean and one std value per "
                         f"input channel{conv} and an input_size the model accepts") from None


def available_models() -> list[str]:
    """Names load() accepts: "fashion-cnn", "random-multiscale" (the offline texture network) and
    torchvision's image classifiers."""
    import torchvision
    return ["fashion-cnn", "random-multiscale"] + sorted(torchvision.models.list_models(module=torchvision.models))


def load(name: str, download: bool | None = None, pretrained: bool = True,
         device: str | torch.device | None = None) -> Net:
    """The bundled "fashion-cnn", the offline texture network "random-multiscale", or a torchvision classifier
    with its ImageNet weights, on `device` (None: $VIZKIT_DEVICE if set, else CUDA when available, else the
    CPU; or "cpu", "cuda:1"…).

    pretrained=False gives the same architecture freshly initialised (from torch's global seed),
    e.g. to train it yourself or to compare with the trained one.
    Weights come from torch's hub cache ($TORCH_HOME/hub/checkpoints); when missing they are
    downloaded unless download is False (or $VIZKIT_OFFLINE is set), and otherwise a
    WeightsUnavailableError names the file and the folder to put it in.
    """
    if not isinstance(name, str):
        raise TypeError(f"load takes a model name (str); got {type(name).__name__} "
                        "(use vk.wrap(module, ...) for a model object)")
    if download is not None and not isinstance(download, bool):
        raise TypeError(f"download must be True, False or None; got {download!r}")
    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained must be True or False; got {pretrained!r}")
    device = default_device() if device is None else check_device(device)
    return _load(name, download, pretrained).to(device)


def _load(name: str, download: bool | None, pretrained: bool) -> Net:
    if name == "fashion-cnn" and not pretrained:
        return fashion_net()
    if name == "random-multiscale":
        return texture_net()  # made from its seed: there are no weights to train or download
    if name == "fashion-cnn":
        state = torch.load(BUNDLED_WEIGHTS, map_location="cpu", weights_only=True)
        model = FashionCNN()
        model.load_state_dict(state)
        return fashion_net(model)
    names = available_models()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"no model called {name!r}.{hint} Available: {', '.join(names)}")
    import torchvision
    weights = torchvision.models.get_model_weights(name).DEFAULT
    model = torchvision.models.get_model(name, weights=None)
    if pretrained:
        _load_weights(model, name, weights.url, download)
    tf = weights.transforms()
    return Net(model, name, weights.meta["categories"], tf.mean, tf.std, tf.crop_size[0],
               resize=tf.resize_size[0])


def default_device() -> torch.device:
    """$VIZKIT_DEVICE if set (e.g. "cpu" to keep a GPU free), else CUDA when torch can use a GPU, else the CPU."""
    if os.environ.get("VIZKIT_DEVICE"):
        return check_device(os.environ["VIZKIT_DEVICE"])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_device(device) -> torch.device:
    """A device name or torch.device that this machine has, as a torch.device; ValueError naming the fix."""
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', or a torch.device; got {device!r}")
    try:
        d = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a device torch knows; use 'cpu', 'cuda' or 'cuda:0'") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(d)!r}: this machine (or this torch build) has no usable CUDA GPU; use "
                         "device='cpu' (or device=None to pick CUDA only when there is one)")
    if d.type == "cuda" and d.index is not None and d.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(d)!r}: there are only {torch.cuda.device_count()} CUDA device(s), "
                         f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return d


def checkpoint_path(url: str) -> Path:
    """Where torchvision keeps (and looks for) the weights file of a URL."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _load_weights(model: nn.Module, name: str, url: str, download: bool | None) -> None:
    """Cached (or downloaded) weights into model; a file that does not fit it names itself and the fix."""
    state = _cached_state_dict(url, download)
    try:
        model.load_state_dict(state)
    except Exception as e:  # noqa: BLE001 - wrong keys, shapes or a non-dict: one message that says which file
        path = checkpoint_path(url)
        raise WeightsUnavailableError(
            f"the cached weights file {str(path)!r} does not fit {name} ({type(e).__name__}: {_first_lines(e)}); "
            f"it probably holds another model's weights. Delete it and load {name!r} again to download the right "
            f"file from {url}") from None


def _cached_state_dict(url: str, download: bool | None) -> dict:
    path = checkpoint_path(url)
    if download is None:
        download = not os.environ.get("VIZKIT_OFFLINE")
    if not path.exists():
        problem = "downloading is turned off"
        if download:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                torch.hub.download_url_to_file(url, str(path), progress=True)
            except Exception as e:  # noqa: BLE001 - no network, proxy, HTTP error: one clear message
                problem = f"the download failed ({type(e).__name__}: {e})"
        if not path.exists():
            raise WeightsUnavailableError(
                f"pretrained weights file {path.name!r} is not cached and {problem}. "
                f"Download it from {url} and put it in the folder {str(path.parent)!r} "
                f"(set TORCH_HOME to use another cache).")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a broken cache file gets a message that says which
        raise WeightsUnavailableError(f"could not read weights file {str(path)!r} ({e}); "
                                      f"delete it and download it again from {url}") from None
