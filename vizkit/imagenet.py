"""The switch for the notebooks' ImageNet sections: run one or skip it, and are its weights the published ones?

Each section that needs a torchvision network's ImageNet weights asks
`imagenet_section(name, setting, shows=..., seconds=...)`.
Settings: "auto" runs it when the weights are cached, or when they can be downloaded and the section fits Run All on
this machine (a CUDA GPU, or a CPU estimate within `budget` seconds); True downloads if needed and runs; False skips.
$VIZKIT_IMAGENET (auto, 1, 0) sets the default. Claims about what trained weights show hold only for torchvision's
published file, which `published_weights` recognises by the sha256 prefix in its name, as torchvision checks it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from . import _check
from .nets import Net, available_models, check_device, checkpoint_path, default_device, load, wrap

ENV = "VIZKIT_IMAGENET"
"""The environment variable that sets `imagenet_setting`'s default: auto, 1/true/yes/on or 0/false/no/off."""
CPU_BUDGET = 30.0
"""Seconds one ImageNet section may take on a CPU under "auto" (a notebook's Run All has 2 minutes in all)."""
TIMEOUT = 2.0
"""Seconds the "can the weights be downloaded?" check waits, DNS included."""
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_hashes: dict[tuple[str, int, int], str] = {}   # (path, size, mtime) -> sha256 hex digest


@dataclass
class ImageNetSection:
    """What the switch decided for one section: net (a Net, or None when skipped), reason (one line to print),
    published (True when the weights file is torchvision's published one, so the lecture's claims apply)."""

    model: str
    net: Net | None
    reason: str
    published: bool = False

    @property
    def runs(self) -> bool:
        """True when the section has its network and runs."""
        return self.net is not None

    def __str__(self) -> str:
        return self.reason


def imagenet_setting(value: object = None) -> str | bool:
    """"auto", True or False from a notebook's IMAGENET value; None: $VIZKIT_IMAGENET, else "auto"."""
    if value is None:
        value = os.environ.get(ENV) or "auto"
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v == "auto":
            return "auto"
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    raise ValueError(f"IMAGENET (or ${ENV}) must be 'auto', True or False (in the environment: auto, 1 or 0); "
                     f"got {value!r}")


def duration(seconds: float) -> str:
    """A wait in words a reader takes in at once: "45 s" under 2 minutes, "25 min" under 2 hours, else "6 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.0f} h"


def imagenet_section(name: str, setting: object = None, *, shows: str, seconds: float, size: int | None = None,
                     budget: float = CPU_BUDGET, device: str | torch.device | None = None,
                     timeout: float = TIMEOUT) -> ImageNetSection:
    """Decide one ImageNet section: load `name` with its ImageNet weights on `device`, or skip; one line says why.

    shows: what the section draws (for the line); seconds: its own estimate of its time on a CPU (2 cores), which
    "auto" compares with budget; on a CUDA device "auto" takes any section. setting: "auto" / True / False, or
    None for $VIZKIT_IMAGENET. size: the square input size (pixels) the section's Net takes, e.g. a small one for
    a quick check (None: the network's own, 224). With True a failed download raises WeightsUnavailableError.
    """
    choice = imagenet_setting(setting)
    url, size_mb = _weights(name)
    if not isinstance(shows, str) or not shows.strip():
        raise TypeError(f"shows must say what the section draws, as a non-empty string; got {shows!r}")
    seconds = _check.number(seconds, "seconds", low=0)
    budget = _check.number(budget, "budget", low=0)
    timeout = _check.number(timeout, "timeout", low=0)
    size = None if size is None else _check.integer(size, "size", 32)
    dev = default_device() if device is None else check_device(device)
    gpu = dev.type == "cuda"
    path = checkpoint_path(url)
    cached = path.exists()
    megabytes = f"{size_mb:.0f} MB" if size_mb else "size unknown"
    here = f"about {duration(seconds)} on a CPU" + (", less on this GPU" if gpu else "")
    turn_on = f"set IMAGENET = True in the first cell, or ${ENV}=1, to download and run it"

    def skip(why: str, how: str = turn_on) -> ImageNetSection:
        return ImageNetSection(name, None, f"Skipped: {shows} (needs {name}'s ImageNet weights, {megabytes}; {here}): "
                                           f"{why}; {how}.")

    if choice is False:
        return skip("IMAGENET is False", f"set IMAGENET = 'auto' or True in the first cell, or ${ENV}=auto, to run "
                                         f"it{'' if cached else ' (True downloads the weights)'}")
    how = "cached"
    if not cached:
        if choice == "auto":
            if not gpu and seconds > budget:
                return skip(f"the weights are not cached and the section takes longer than the {budget:.0f} s a "
                            "CPU section may add to Run All")
            if os.environ.get("VIZKIT_OFFLINE"):
                return skip("the weights are not cached and VIZKIT_OFFLINE is set",
                            f"unset VIZKIT_OFFLINE and {turn_on}")
            if not reachable(url, timeout):
                return skip(f"the weights are not cached and {urlparse(url).netloc} cannot be reached",
                            f"put {path.name} in {path.parent}, or go online and {turn_on}")
        how = "downloaded"
    net = load(name, download=not cached, device=dev)
    if size is not None and (size, size) != net.input_size:   # the same network, fed smaller (or larger) images
        net = wrap(net.model, net.classes, net.mean, net.std, size, name=name)
    published = published_weights(name)
    weights = ("the published weights" if published else
               "stand-in weights, not torchvision's published file: the pictures below are not meaningful and "
               "the lecture's claims are not checked")
    return ImageNetSection(name, net, f"Running: {shows}, on {name} ({how}, {here}); {weights}.", published)


def reachable(url: str, timeout: float = TIMEOUT) -> bool:
    """True if a HEAD request to url answers within timeout seconds (name lookup included); never raises."""
    answer: list[bool] = []

    def ask():
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout) as r:
                answer.append(200 <= r.status < 400)
        except Exception:  # noqa: BLE001 - no network, proxy, DNS or HTTP error: all mean "not now"
            answer.append(False)

    worker = threading.Thread(target=ask, daemon=True)   # a slow name lookup ignores the socket timeout
    worker.start()
    worker.join(timeout)
    return bool(answer and answer[0])


def published_weights(model: Net | str) -> bool:
    """True if the weights file vk.load reads for this model (a Net or a name) is torchvision's published one:
    its sha256 begins with the hash prefix in the file's name (as torch.hub's check_hash tests it)."""
    name = model.name if isinstance(model, Net) else model
    return file_is_published(checkpoint_path(_weights(name)[0]))


def file_is_published(path: str | os.PathLike) -> bool:
    """True if the file exists and its sha256 begins with the hex digits after the last "-" of its name."""
    path = Path(path)
    match = torch.hub.HASH_REGEX.search(path.name)
    if not path.is_file() or match is None or not match.group(1):
        return False
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:   # a few hundred MB: hash once per file version
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key].startswith(match.group(1))


def _weights(name: str) -> tuple[str, float | None]:
    """(URL, size in MB or None) of a torchvision classifier's default ImageNet weights."""
    import torchvision
    if not isinstance(name, str):
        raise TypeError(f"an ImageNet section needs a torchvision model name (str); got {name!r}")
    names = [n for n in available_models() if n not in ("fashion-cnn", "random-multiscale")]
    if name not in names:
        import difflib
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"{name!r} is not a torchvision classifier with ImageNet weights{hint}")
    weights = torchvision.models.get_model_weights(name).DEFAULT
    size = weights.meta.get("_file_size")
    return weights.url, float(size) if size else None
