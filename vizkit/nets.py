"""Net: a model with its preprocessing, class names and layer aliases; load() and wrap() make one."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .data import FASHION_CLASSES, open_image
from .fashion_cnn import MEAN as FASHION_MEAN
from .fashion_cnn import STD as FASHION_STD
from .fashion_cnn import FashionCNN

BUNDLED_WEIGHTS = Path(__file__).parent / "weights" / "fashion-cnn.pt"


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
        self.model = model.eval()
        self.name = name
        self.classes = list(classes)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ValueError(f"mean and std need one value per channel and std > 0; got {mean}, {std}")
        self.channels = len(self.mean)
        self.input_size = _pair(input_size, "input_size")
        self.resize = int(resize) if resize else min(self.input_size)
        self.layers = dict(layers if layers is not None else default_aliases(model))

    @property
    def device(self) -> torch.device:
        """Where the model's parameters live (CPU if it has none)."""
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def _stats(self, x: torch.Tensor):
        shape = (1, self.channels, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return mean, std

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) pixels in [0, 1] -> model input (x - mean) / std, on the model's device."""
        x = x.to(self.device)
        mean, std = self._stats(x)
        return (x - mean) / std

    def preprocess(self, image) -> torch.Tensor:
        """Path / bytes / PIL / ndarray, or a [0, 1] tensor (C, H, W), -> (1, C, H, W) normalised input."""
        if isinstance(image, torch.Tensor):
            x = image.detach().float()
            if x.dim() == 3:
                x = x.unsqueeze(0)
            if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] not in (1, 3):
                raise ValueError(f"a tensor image must be (C, H, W) or (1, C, H, W) with C = 1 or 3; "
                                 f"got {tuple(image.shape)}")
            if x.numel() and (x.min() < 0 or x.max() > 1):
                raise ValueError("a tensor image must hold pixels in [0, 1]; to show a model input "
                                 "use net.deprocess(x)")
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

    @torch.no_grad()
    def predict(self, x, k: int = 5) -> list[tuple[str, float]]:
        """Top-k (class name, probability) for one image or one preprocessed (1, C, H, W) input."""
        from .hooks import preserved

        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == self.channels \
                and tuple(x.shape[2:]) == self.input_size:
            inp = x.to(self.device)
        else:
            inp = self.preprocess(x)
        if inp.shape[0] != 1:
            raise ValueError(f"predict takes one image; got a batch of {inp.shape[0]}")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer; got {k!r}")
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


def _pair(v, what):
    if isinstance(v, int) and not isinstance(v, bool):
        v = (v, v)
    try:
        h, w = (int(a) for a in v)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an int or an (H, W) pair; got {v!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{what} must be positive; got {v!r}")
    return (h, w)


def _resize_crop(img: Image.Image, shorter: int, size: tuple[int, int]) -> Image.Image:
    """Resize so the shorter side is `shorter`, then centre-crop to size (H, W)."""
    w, h = img.size
    scale = shorter / min(w, h)
    nw, nh = max(size[1], round(w * scale)), max(size[0], round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
    left, top = (nw - size[1]) // 2, (nh - size[0]) // 2
    return img.crop((left, top, left + size[1], top + size[0]))


# --------------------------------------------------------------------------- layer aliases

def default_aliases(model: nn.Module) -> dict[str, str]:
    """Friendly names for a model's layers: VGG (conv3_2, pool3, fc6), ResNet (stem, stage1…),
    otherwise AlexNet style (conv1, relu1, pool1, … fc6, relu6, fc7) in module order."""
    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
    kind = type(model).__name__.lower()
    if kind.startswith("resnet") or kind.startswith("resnext") or kind.startswith("wideresnet"):
        aliases = {"stem": "maxpool", "pool": "avgpool"}
        aliases.update({f"stage{i}": f"layer{i}" for i in range(1, 5) if hasattr(model, f"layer{i}")})
        return {a: p for a, p in aliases.items() if _has(model, p)}
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


def wrap(module: nn.Module, classes=None, mean=None, std=None, input_size=None, name: str | None = None,
         layers: dict | None = None) -> Net:
    """Make a Net of any image classifier: classes (names), per-channel mean/std, input_size (H, W)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"wrap needs a torch.nn.Module; got {type(module).__name__}")
    first = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    channels = len(mean) if mean is not None else (first.in_channels if first is not None else None)
    if channels is None:
        raise ValueError("wrap could not tell the number of input channels; pass mean= and std=")
    mean = mean if mean is not None else (0.0,) * channels
    std = std if std is not None else (1.0,) * channels
    if input_size is None:
        raise ValueError("wrap needs input_size=(H, W), the image size the model expects")
    if classes is None:
        last = [m for m in module.modules() if isinstance(m, nn.Linear)]
        classes = [f"class {i}" for i in range(last[-1].out_features)] if last else []
    return Net(module, name or type(module).__name__, classes, mean, std, input_size, layers=layers)


def available_models() -> list[str]:
    """Names load() accepts: "fashion-cnn" and torchvision's image classifiers."""
    import torchvision
    return ["fashion-cnn"] + sorted(torchvision.models.list_models(module=torchvision.models))


def load(name: str, download: bool | None = None, pretrained: bool = True) -> Net:
    """The bundled "fashion-cnn" or a torchvision classifier with its ImageNet weights.

    pretrained=False gives the same architecture freshly initialised (from torch's global seed),
    e.g. to train it yourself or to compare with the trained one.
    Weights come from torch's hub cache ($TORCH_HOME/hub/checkpoints); when missing they are
    downloaded unless download is False (or $VIZKIT_OFFLINE is set), and otherwise a
    WeightsUnavailableError names the file and the folder to put it in.
    """
    if not isinstance(name, str):
        raise TypeError(f"load takes a model name (str); got {type(name).__name__} "
                        "(use vk.wrap(module, ...) for a model object)")
    if name == "fashion-cnn" and not pretrained:
        return fashion_net()
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
        model.load_state_dict(_cached_state_dict(weights.url, download))
    tf = weights.transforms()
    return Net(model, name, weights.meta["categories"], tf.mean, tf.std, tf.crop_size[0],
               resize=tf.resize_size[0])


def checkpoint_path(url: str) -> Path:
    """Where torchvision keeps (and looks for) the weights file of a URL."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


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
