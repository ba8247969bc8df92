"""Settings grouped the way nanoGPT groups a config: small dataclasses, checked once when made.

RunSettings says *how* a long computation runs (seed, previews, progress, batch size), apart from *what* it
computes; the optimisation techniques and the occlusion scans take its fields as keywords (`progress=False`,
`seed=1`, `every=8, callback=show`...) and make one. TrainSettings, SnapshotSettings and StyleSettings group the
many knobs of `train` and `style_transfer`.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, TypedDict

import torch
from tqdm.auto import tqdm

from . import _check
from ._types import Callback

if TYPE_CHECKING:
    from torch.utils.data import Dataset


@dataclass(frozen=True)
class RunSettings:
    """How a computation runs, not what it computes.

    seed: its random draws (starting noise, jitter); every: keep a snapshot (Result.snapshots) and call callback
    every this many steps (0: never, but callback still sees the last step); callback(step, (1, C, H, W) image in
    [0, 1], loss) for live previews, or callback(done, total) for a scan; progress: a tqdm bar (True), none (False),
    or a tqdm bar to advance (several calls sharing one); batch_size: images through the model at once (None: the
    technique's choice; results do not depend on it).
    """

    seed: int = 0
    every: int = 0
    callback: Callback | None = None
    progress: bool | tqdm = True
    batch_size: int | None = None

    def __post_init__(self):
        _keep(self, "seed", _check.integer(self.seed, "seed", -(2**63), 2**64 - 1))
        _keep(self, "every", _check.integer(self.every, "every", 0))
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be a function (or None); got {self.callback!r}")
        if not isinstance(self.progress, (bool, tqdm)):
            raise TypeError(f"progress must be True, False or a tqdm bar to advance; got {self.progress!r}")
        if self.batch_size is not None:
            _keep(self, "batch_size", _check.integer(self.batch_size, "batch_size", 1))

    @contextlib.contextmanager
    def bar(self, total: int, desc: str, unit: str = "step") -> Iterator[tqdm]:
        """Within the block, the progress bar to advance: the one given as progress (left open after it), or a new
        one (closed after it; disabled with progress=False)."""
        if isinstance(self.progress, tqdm):
            yield self.progress
            return
        with tqdm(total=total, desc=desc, unit=unit, disable=not self.progress, mininterval=0.5) as bar:
            yield bar

    def but(self, **changes: Any) -> RunSettings:
        """A copy with some fields changed (e.g. settings.but(seed=settings.seed + 1))."""
        return replace(self, **changes)


def _keep(settings: object, name: str, value: Any) -> None:
    """Store a checked value (a plain int or float, not a numpy scalar) in a frozen dataclass."""
    object.__setattr__(settings, name, value)


class RunOptions(TypedDict, total=False):
    """RunSettings' fields as keyword arguments (for type checkers)."""

    seed: int
    every: int
    callback: Callback | None
    progress: bool | tqdm
    batch_size: int | None


RUN_FIELDS = tuple(f.name for f in fields(RunSettings))


def run_settings(options: Mapping[str, Any], what: str, takes: Sequence[str] = RUN_FIELDS,
                 **defaults: Any) -> RunSettings:
    """RunSettings from a technique's **run keywords (defaults first); a keyword it does not take is a TypeError
    that names what it takes."""
    unknown = [k for k in options if k not in takes]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(takes) + ["steps", "lr", "size"], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"{what} got an unexpected keyword {unknown[0]!r}{hint}; its run settings are "
                        f"{', '.join(takes)}")
    return RunSettings(**{**defaults, **options})


SCHEDULES = ("onecycle", "constant")
"""The learning-rate schedules `TrainSettings.schedule` takes."""
AUGMENTS = (False, True, "flip", "flip+shift")
"""The values `TrainSettings.augment` takes (True means "flip+shift")."""


@dataclass(frozen=True)
class TrainSettings:
    """How train() trains, beyond the epochs, learning rate and weight decay: SGD with `momentum` on batches of
    batch_size; schedule "onecycle" (warm up, then anneal) or "constant"; augment False, "flip" (random horizontal
    flips) or True / "flip+shift" (flips and shifts of up to 2 pixels). With "onecycle", PyTorch's OneCycleLR
    cycles the momentum between 0.95 and 0.85 itself, so `momentum` counts only with "constant"."""

    batch_size: int = 128
    momentum: float = 0.9
    schedule: str = "onecycle"
    augment: bool | str = False

    def __post_init__(self):
        _keep(self, "batch_size", _check.integer(self.batch_size, "batch_size", 1, 1_000_000))
        _keep(self, "momentum", _check.number(self.momentum, "momentum", 0, 1))
        _check.choice(self.schedule, "schedule", SCHEDULES)
        _check.choice(self.augment, "augment", AUGMENTS)


@dataclass(frozen=True)
class SnapshotSettings:
    """What train() looks at while it trains: a fixed probe batch (probe: (N, C, H, W) [0, 1] pixels or a dataset;
    None: the training set's first probe_size images) is looked at before training, after each epoch and, if every
    is set, every this many steps; layers: the layers recorded (None: the net's ReLU layers); map_images: how many
    probe images' maps each snapshot keeps."""

    probe: torch.Tensor | Dataset | None = None
    probe_size: int = 256
    layers: Sequence[str] | None = None
    every: int | None = None
    map_images: int = 2

    def __post_init__(self):
        _keep(self, "probe_size", _check.integer(self.probe_size, "probe_size", 1))
        if self.layers is not None:
            _keep(self, "layers", _check.layer_list(self.layers, "snapshot layers"))
        if self.every is not None:
            _keep(self, "every", _check.integer(self.every, "snapshot every", 1))
        _keep(self, "map_images", _check.integer(self.map_images, "map_images", 0, 10**6))


INITS = ("content", "noise")
"""Where `StyleSettings.init` starts the image: the content photo or noise."""


@dataclass(frozen=True)
class StyleSettings:
    """What style_transfer() optimises (Gatys et al. 2016).

    content_layer: the layer whose maps keep the content (None: the network's choice, see style_transfer);
    style_layers: the layers whose Gram matrices carry the style (None: its choice); content_weight (alpha) and
    style_weight (beta) weigh the two normalised errors, tv_weight a total-variation prior; layer_weights: one
    weight per style layer (None: equal); size: the content image's shorter side in pixels (None: as given);
    style_size: the style image's (None: the content's); init: start from "content" or "noise"; optimizer
    "lbfgs" or "adam", with learning rate lr (None: 1 for L-BFGS, 0.02 for Adam).
    """

    content_layer: str | None = None
    style_layers: Sequence[str] | None = None
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.0
    layer_weights: Sequence[float] | Mapping[str, float] | None = None
    size: int | None = None
    style_size: int | None = None
    init: str = "content"
    optimizer: str = "lbfgs"
    lr: float | None = None

    def __post_init__(self):
        if self.content_layer is not None and not isinstance(self.content_layer, str):
            raise TypeError(f"content_layer must be a layer name (str); got {self.content_layer!r}")
        if self.style_layers is not None:
            _keep(self, "style_layers", _check.layer_list(self.style_layers, "style_layers"))
        for name in ("content_weight", "style_weight"):
            _keep(self, name, _check.number(getattr(self, name), name, 0, open_low=True))
        _keep(self, "tv_weight", _check.number(self.tv_weight, "tv_weight", 0))
        for name in ("size", "style_size"):
            if getattr(self, name) is not None:
                _keep(self, name, _check.integer(getattr(self, name), name, 8))
        _check.choice(self.init, "init", INITS)
        _check.choice(self.optimizer, "optimizer", ["lbfgs", "adam"])
        if self.lr is not None:
            _keep(self, "lr", _check.number(self.lr, "lr", 0, open_low=True))

    def but(self, **changes: Any) -> StyleSettings:
        """A copy with some fields changed (e.g. settings.but(style_weight=10))."""
        return replace(self, **changes)
