"""A small, seeded training loop with per-epoch records; `python -m vizkit train` makes fashion-cnn."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import time
from collections.abc import Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from . import _check
from ._types import PathLike
from .data import batches as _batches
from .distributed import finish, share
from .hooks import preserved, record, resolve
from .nets import check_net
from .settings import RunOptions, RunSettings, SnapshotSettings, TrainSettings, run_settings

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .nets import Net

WEIGHTS_DIR = Path(__file__).parent / "weights"

# The recipe behind the bundled weights; `python -m vizkit train` reproduces them.
RECIPE = dict(epochs=15, lr=0.05, weight_decay=5e-4, batch_size=128, momentum=0.9,
              schedule="onecycle", augment="flip", seed=0, width=32, hidden=256, dropout=0.3)

RUN_TYPES = dict(epochs=list, settings=dict, snapshots=list, diverged=bool)  # what History.save writes
RECORDED = ("epochs", "lr", "weight_decay", "batch_size", "momentum", "schedule", "augment", "seed")


@dataclass
class History:
    """What a training run recorded.

    epochs: one dict per epoch (loss, accuracy, eval_accuracy, seconds).
    snapshots: dicts taken on a fixed probe batch before training, after every epoch and, if
    asked, every n steps: step, epoch (fractional), filters (first conv layer's weights),
    sparsity and dead (layer -> fraction), dead_channels (layer -> (C,) bool), maps
    (layer -> (n, C, h, w) float16 maps of the first probe images), loss and accuracy since the
    previous snapshot (None at step 0).
    diverged: True if the loss became NaN or infinite and training stopped there.
    """

    epochs: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    snapshots: list[dict] = field(default_factory=list)
    diverged: bool = False

    def __getitem__(self, key: str) -> list:
        """Per-epoch values of one record, e.g. history["loss"]."""
        if not isinstance(key, str):
            raise TypeError(f"a per-epoch record is named by a string such as 'loss'; got {key!r}")
        if not self.epochs or key not in self.epochs[0]:
            known = sorted(self.epochs[0]) if self.epochs else []
            raise KeyError(f"no per-epoch record {key!r}; recorded: {known}")
        return [e[key] for e in self.epochs]

    def series(self, key: str, layer: str | None = None) -> tuple[list[float], list]:
        """(epoch of each snapshot, its value): series("loss") or series("sparsity", "relu1")."""
        if not self.snapshots:
            raise KeyError("this run recorded no snapshots (pass probe= or keep snapshots=True)")
        if not isinstance(key, str) or key not in self.snapshots[0]:
            raise KeyError(f"snapshots have no {key!r}; they record {sorted(self.snapshots[0])}")
        per_layer = isinstance(self.snapshots[0][key], dict)
        if layer is None:
            return [s["epoch"] for s in self.snapshots], [s[key] for s in self.snapshots]
        if not per_layer:
            raise ValueError(f"snapshots' {key!r} is one value per snapshot, not per layer; leave layer=None")
        if not isinstance(layer, str) or any(layer not in s[key] for s in self.snapshots):
            raise KeyError(f"snapshots' {key!r} has no layer {layer!r}; recorded: {sorted(self.snapshots[0][key])}")
        return [s["epoch"] for s in self.snapshots], [s[key][layer] for s in self.snapshots]

    def save(self, path: PathLike) -> None:
        """Write the run (records, snapshots, settings) with torch.save into an existing folder."""
        torch.save(asdict(self), _writable(path, "History.save"))

    @classmethod
    def load(cls, path: PathLike) -> History:
        """Read a run written by save() (tensors and plain values only: weights_only=True)."""
        return history_from(load_file(path, "History.load"), repr(str(path)))


def _writable(path: PathLike, what: str):
    """path if a file can be written there: the folder must exist (none is created silently)."""
    if hasattr(path, "write"):  # an open binary file
        return path
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} needs a file path (str or Path); got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what}: {str(path)!r} is a folder; give a file name inside it, "
                         f"e.g. {str(path / 'run.pt')!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{what}: the folder {str(path.parent)!r} does not exist; create it first "
                                f"(Path({str(path.parent)!r}).mkdir(parents=True)) or choose another path")
    return path


def load_file(path: PathLike, what: str):
    """torch.load(path, weights_only=True) of a vizkit file; missing, corrupt or unsafe files get a clear error."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} needs a file path (str or Path); got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what}: there is no file {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{what}: {str(path)!r} is a folder; give the path of a file written by History.save")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - every unreadable file becomes one clear message, its cause chained
        raise ValueError(f"{what} cannot read {str(path)!r}: {_unreadable(e)}") from e


def _unreadable(e: Exception) -> str:
    """Why torch.load failed, in words: unsafe content refused, or a corrupt / foreign file."""
    inner = e.__cause__ or e.__context__ or e
    text = str(inner).strip() or str(e).strip()
    if "Unsupported global" in text:
        name = text.split("GLOBAL", 1)[-1].split()[0] if "GLOBAL" in text else "an arbitrary"
        return (f"it holds a {name} object, and loading that could run arbitrary code, so this unsafe content "
                "is refused (weights_only=True); load only runs written by History.save")
    detail = text.splitlines()[0][:160] if text else ""
    return (f"it is corrupt or truncated, or not a file written by History.save "
            f"({type(inner).__name__}{': ' + detail if detail else ''})")


def history_from(saved, where: str) -> History:
    """A History from the dict History.save wrote; ValueError naming `where` if it is something else."""
    if not isinstance(saved, dict) or set(saved) != set(RUN_TYPES):
        got = f"a dict with keys {sorted(map(str, saved))}" if isinstance(saved, dict) else type(saved).__name__
        raise ValueError(f"{where} is not a vizkit training run: expected a dict with keys {list(RUN_TYPES)}; "
                         f"got {got}")
    for key, kind in RUN_TYPES.items():
        items = saved[key] if kind is list else []
        if not isinstance(saved[key], kind) or not all(isinstance(i, dict) for i in items):
            raise ValueError(f"{where} is not a vizkit training run: its {key!r} should be a {kind.__name__}"
                             f"{' of dicts' if kind is list else ''}; got {type(saved[key]).__name__}")
    return History(**saved)


# --------------------------------------------------------------------------- checked data

def _describe(v) -> str:
    shape = getattr(v, "shape", None)
    return f"a {type(v).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def _checked_batches(net: Net, dataset: Dataset, what: str, batch_size: int, shuffle: bool = False, generator=None):
    """batches() of (image, label) items that fit net -> ((B, C, H, W) [0, 1] pixels in the model's dtype,
    (B,) int64 labels); batches() checks the items themselves, this their fit (a ValueError naming `what`)."""
    for x, y in _batches(dataset, batch_size, shuffle=shuffle, generator=generator):
        want = (net.channels, *net.input_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"{what}'s images must be {want} (C, H, W) for {net.name}; got "
                             f"{tuple(x.shape[1:])}. Resize or convert them to {net.channels} channel(s) of "
                             f"{net.input_size}")
        _check_labels(y, len(net.classes), what)
        yield x.to(_dtype(net.model)), y


def _check_labels(y: torch.Tensor, classes: int, what: str) -> None:
    """y's class indices are in [0, classes) (no check when classes is 0: the net names none)."""
    if len(y) and (int(y.min()) < 0 or (classes and int(y.max()) >= classes)):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        hint = " (an unlabelled vk.ImageFolder: put the images in one subfolder per class)" if bad == -1 else ""
        raise ValueError(f"{what}'s labels must be class indices in [0, {classes - 1}]; got label {bad}{hint}")


def _dtype(model) -> torch.dtype:
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def _check_dataset(net: Net, dataset: Dataset, what: str) -> None:
    """A non-empty dataset of ([0, 1] image, label) items: the first is checked now, the rest as they are read."""
    if isinstance(dataset, torch.utils.data.DataLoader):
        raise TypeError(f"{what} must be a Dataset of (image, label) items, not a DataLoader; pass its .dataset "
                        "(batching and shuffling are done here)")
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"{what} must be a dataset of (image, label) items (with len() and [i]); "
                        f"got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError(f"{what} is empty; it needs at least one (image, label) item")
    next(_checked_batches(net, dataset, what, 1))


def _check_probe(net: Net, probe) -> None:
    """The probe argument: None (the dataset's first images), an (N, C, H, W) [0, 1] tensor, or a dataset."""
    if probe is None:
        return
    if not isinstance(probe, torch.Tensor):
        return _check_dataset(net, probe, "probe")
    want = (net.channels, *net.input_size)
    if probe.dim() != 4 or len(probe) == 0 or tuple(probe.shape[1:]) != want:
        raise ValueError(f"probe must be (N, {', '.join(map(str, want))}) images in [0, 1] with N >= 1; "
                         f"got shape {tuple(probe.shape)}")
    _check.pixels(probe, "probe")


def _check_settings(net: Net, dataset: Dataset, epochs: int, lr: float, weight_decay: float,
                    settings: TrainSettings | None, eval_set: Dataset | None, snapshots: bool | SnapshotSettings,
                    run: RunSettings) -> tuple[dict, SnapshotSettings | None]:
    """Every train() argument checked (a ValueError / TypeError / KeyError naming it) -> (normalised settings,
    what the snapshots look at, None without snapshots)."""
    check_net(net, "train")
    how = TrainSettings() if settings is None else settings
    if not isinstance(how, TrainSettings):
        raise TypeError(f"settings must be a vk.TrainSettings (e.g. vk.TrainSettings(batch_size=32)); got "
                        f"{type(settings).__name__}")
    if isinstance(snapshots, (bool, np.bool_)):
        watch = SnapshotSettings() if snapshots else None
    elif isinstance(snapshots, SnapshotSettings):
        watch = snapshots
    else:
        raise TypeError(f"snapshots must be True, False or a vk.SnapshotSettings(...); got {snapshots!r}")
    s = dict(epochs=_check.integer(epochs, "epochs", 1, 10_000),
             lr=_check.number(lr, "lr", 0.0, 100.0, open_low=True),
             weight_decay=_check.number(weight_decay, "weight_decay", 0.0, 10.0),
             batch_size=how.batch_size, momentum=how.momentum, schedule=how.schedule, augment=how.augment,
             seed=run.seed, snapshots=watch is not None,
             probe_size=watch.probe_size if watch else 256, snapshot_every=watch.every if watch else None,
             map_images=watch.map_images if watch else 0,
             progress=run.progress)
    if not isinstance(run.progress, bool):
        raise ValueError(f"train's progress must be True or False (it draws its own bar); got {run.progress!r}")
    if not any(p.requires_grad for p in net.model.parameters()):
        raise ValueError(f"no parameter of {net.name} requires grad, so there is nothing to train; "
                         "unfreeze some with p.requires_grad_(True)")
    _check_dataset(net, dataset, "dataset")
    if eval_set is not None:
        _check_dataset(net, eval_set, "eval_set")
    s["layers"] = None
    if watch is not None:
        names = _relu_layers(net) if watch.layers is None else list(watch.layers)
        for name in names:
            resolve(net, name)
        s["layers"] = names
        _check_probe(net, watch.probe)
    return s, watch


def _augment(x: torch.Tensor, generator, shift: bool = True) -> torch.Tensor:
    """Random horizontal flips and (if shift) shifts of up to 2 pixels (zero fill), per image."""
    n, _, h, w = x.shape
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)  # drawn on the CPU: the same on every device
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if not shift:
        return x
    padded = F.pad(x, (2, 2, 2, 2))
    dy, dx = torch.randint(0, 5, (2, n), generator=generator).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


@contextlib.contextmanager
def _rng_kept(net):
    """Within the block, draws from torch's global generators (CPU, and the model's GPU) leave the caller's
    random state as it was: dropout, shuffling samplers and datasets' random transforms draw from them."""
    device = net.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        yield


def _seed(seed: int, net: Net) -> None:
    """Seed the global generators the model draws from (dropout): the CPU's and its GPU's."""
    torch.random.default_generator.manual_seed(seed)
    if net.device.type == "cuda":
        torch.cuda.default_generators[net.device.index or 0].manual_seed(seed)


def evaluate(net: Net, dataset: Dataset, batch_size: int = 500) -> float:
    """Top-1 accuracy of net on a non-empty labelled dataset of [0, 1] images; the model is left as found.
    Under torch.distributed each process scores its shard and all get the whole accuracy (vizkit.distributed)."""
    check_net(net, "evaluate")
    batch_size = _check.integer(batch_size, "batch_size", 1)
    with _rng_kept(net):
        _check_dataset(net, dataset, "dataset")
        part = share(dataset, len(cast(Sized, dataset)), batch_size, "evaluate", model=net)
        shard = cast(Dataset, part.images)   # a Subset of the dataset
        counts = [c for c in finish(part, lambda: _counts(net, shard, batch_size, "dataset")) if c]
        return sum(c for c, _ in counts) / sum(t for _, t in counts)


def _accuracy(net: Net, dataset: Dataset, batch_size: int, what: str) -> float:
    correct, total = _counts(net, dataset, batch_size, what)
    return correct / total


@torch.no_grad()
def _counts(net: Net, dataset: Dataset, batch_size: int, what: str) -> tuple[int, int]:
    """(images classified correctly, images)."""
    with preserved(net) as model:
        model.eval()
        correct = total = 0
        for x, y in _checked_batches(net, dataset, what, batch_size):
            correct += int((model(net.normalize(x)).argmax(1) == y.to(net.device)).sum().item())
            total += len(y)
    return correct, total


def _probe_batch(net: Net, dataset: Dataset, probe, size: int) -> torch.Tensor:
    """The fixed [0, 1] images that snapshots look at: probe itself, or the dataset's first `size`."""
    if isinstance(probe, torch.Tensor):
        return probe.detach().to(_dtype(net.model))
    source, what = (dataset, "dataset") if probe is None else (probe, "probe")
    length = len(cast(Sized, source))  # _check_settings made sure it has one
    return next(_checked_batches(net, source, what, min(size, length)))[0]


@torch.no_grad()
def take_snapshot(net: Net, probe: torch.Tensor, layers: list[str], map_images: int = 2) -> dict:
    """First-layer filters, per-layer sparsity and dead fraction, and a few maps, on a probe batch
    ((N, C, H, W) [0, 1] pixels); the model is left exactly as found. Tensors are on the CPU."""
    check_net(net, "take_snapshot")
    if not isinstance(probe, torch.Tensor):
        raise TypeError(f"probe must be an (N, C, H, W) tensor of [0, 1] pixels; got {_describe(probe)}")
    _check_probe(net, probe)
    probe = probe.detach().to(_dtype(net.model))
    layers = _check.layer_list(layers, "layers")
    map_images = _check.integer(map_images, "map_images", 0)
    first_conv = next((m for m in net.model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    with preserved(net) as model, record(net, layers) as out:
        model.eval()
        out.forward(net.normalize(probe))  # checks that every layer ran
    snap: dict[str, Any] = dict(filters=None if first_conv is None else first_conv.weight.detach().cpu().clone(),
                sparsity={}, dead={}, dead_channels={}, maps={})
    for name in layers:
        a = out[name].cpu()
        alive = a.transpose(0, 1).reshape(a.shape[1], -1).amax(1) > 0
        snap["sparsity"][name] = float((a <= 0).float().mean())
        snap["dead_channels"][name] = ~alive
        snap["dead"][name] = float((~alive).float().mean())
        if a.dim() == 4 and map_images:
            snap["maps"][name] = a[:map_images].half()
    return snap


def _relu_layers(net: Net) -> list[str]:
    names = [a for a in net.layers if a.startswith("relu")]
    if not names:
        raise ValueError(f"{net.name} has no relu aliases; pass snapshots=vk.SnapshotSettings(layers=[...]) to "
                         "choose layers")
    return names


# --------------------------------------------------------------------------- the loop

class _Recorder:
    """Takes the History's snapshots on a fixed probe batch; counts loss and accuracy since the last one."""

    def __init__(self, net: Net, dataset: Dataset, history: History, s: dict, probe, per_epoch: int):
        self.net, self.history, self.layers, self.map_images = net, history, s["layers"], s["map_images"]
        self.probe = _probe_batch(net, dataset, probe, s["probe_size"]) if s["snapshots"] else None
        self.per_epoch = per_epoch
        self.loss, self.correct, self.seen = 0.0, 0, 0

    def count(self, loss_sum: float, correct: int, seen: int) -> None:
        self.loss, self.correct, self.seen = self.loss + loss_sum, self.correct + correct, self.seen + seen

    def take(self, step: int) -> None:
        """Append a snapshot after `step` optimiser steps (nothing when snapshots are off)."""
        if self.probe is None:
            return
        snap = take_snapshot(self.net, self.probe, self.layers, self.map_images)
        seen = self.seen
        snap.update(step=step, epoch=step / self.per_epoch, loss=self.loss / seen if seen else None,
                    accuracy=self.correct / seen if seen else None)
        self.loss, self.correct, self.seen = 0.0, 0, 0
        self.history.snapshots.append(snap)


class _Loop:
    """What every epoch shares: data, optimiser and schedule, the shuffling generator, step count, progress bar."""

    def __init__(self, net: Net, dataset: Dataset, eval_set, s: dict, recorder: _Recorder):
        self.net, self.dataset, self.eval_set, self.s, self.recorder = net, dataset, eval_set, s, recorder
        self.gen = torch.Generator().manual_seed(s["seed"])
        self.opt = torch.optim.SGD(net.model.parameters(), lr=s["lr"], momentum=s["momentum"],
                                   nesterov=s["momentum"] > 0, weight_decay=s["weight_decay"])
        self.per_epoch = recorder.per_epoch
        steps = s["epochs"] * self.per_epoch
        self.sched = (torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=s["lr"], total_steps=steps)
                      if s["schedule"] == "onecycle" else None)
        self.step = 0
        # a modest refresh rate: every refresh of a notebook progress bar is a message to the front end
        self.bar = tqdm(total=steps, desc=f"training {net.name}", disable=not s["progress"], unit="batch",
                        mininterval=0.5)

    def learn(self, loss: torch.Tensor) -> None:
        """One optimiser step (and schedule step) on loss."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        self.step += 1


def _epoch(loop: _Loop, epoch: int) -> tuple[dict | None, bool]:
    """One pass over the shuffled data -> (its record, None if the loss diverged on the first batch; diverged)."""
    net, s, every = loop.net, loop.s, loop.s["snapshot_every"]
    start, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
    for x, y in _checked_batches(net, loop.dataset, "dataset", s["batch_size"], shuffle=True, generator=loop.gen):
        if s["augment"]:
            x = _augment(x, loop.gen, shift=s["augment"] != "flip")
        logits, aux = _train_forward(net, net.normalize(x))
        _check_labels(y, logits.shape[1], "dataset")
        y = y.to(logits.device)
        loss = F.cross_entropy(logits, y) + sum(AUX_WEIGHT * F.cross_entropy(a, y) for a in aux)
        if not torch.isfinite(loss):
            return (_record(loop, epoch, start, loss_sum, correct, seen) if seen else None), True
        loop.learn(loss)
        batch_loss, batch_correct = loss.item() * len(y), (logits.argmax(1) == y).sum().item()
        loss_sum, correct, seen = loss_sum + batch_loss, correct + batch_correct, seen + len(y)
        loop.recorder.count(batch_loss, batch_correct, len(y))
        loop.bar.update(1)
        loop.bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.3f}", refresh=False)
        if every and loop.step % every == 0 and loop.step % loop.per_epoch:
            loop.recorder.take(loop.step)
    return _record(loop, epoch, start, loss_sum, correct, seen), False


AUX_WEIGHT = 0.3  # the auxiliary classifiers' share of the loss, as in GoogLeNet (Szegedy et al. 2015)


def _train_forward(net, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The model in train mode on a batch -> ((N, classes) logits, the auxiliary heads' logits).

    GoogLeNet and Inception v3 return their auxiliary classifiers' logits beside the main ones in train mode
    (a named tuple whose first field is `logits`); they are trained with them, as in the papers."""
    try:
        out = net.model(x)
    except RuntimeError as e:   # e.g. an auxiliary head, run only in train mode, too big for small inputs
        raise ValueError(f"{net.name} fails in train mode on a batch of shape {tuple(x.shape)}: {e}") from None
    aux: list[torch.Tensor] = []
    if isinstance(out, tuple) and hasattr(out, "logits"):
        aux = [a for a in out[1:] if isinstance(a, torch.Tensor)]
        out = out.logits
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{net.name} must return (N, classes) logits to be trained; got {got}")
    return out, aux


def _record(loop: _Loop, epoch: int, start: float, loss_sum: float, correct: int, seen: int) -> dict:
    """An epoch's record: mean loss, accuracy, eval_accuracy (with an eval_set) and seconds."""
    record = dict(epoch=epoch, loss=loss_sum / seen, accuracy=correct / seen)
    if loop.eval_set is not None:
        record["eval_accuracy"] = _accuracy(loop.net, loop.eval_set, 500, "eval_set")
    record["seconds"] = time.perf_counter() - start
    return record


@contextlib.contextmanager
def _training_mode(model):
    """model.train() within the block; on exit every module's training flag and every parameter's .grad
    are as found (parameters and buffers keep what training did to them)."""
    flags = [(m, m.training) for m in model.modules()]
    grads = [(p, p.grad) for p in model.parameters()]
    model.train()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag
        for p, grad in grads:
            p.grad = grad


TRAIN_RUN = ("seed", "progress")  # the RunSettings train reads


def train(net: Net, dataset: Dataset, epochs: int, lr: float, weight_decay: float = 0.0,
          settings: TrainSettings | None = None, *, eval_set: Dataset | None = None,
          snapshots: bool | SnapshotSettings = True, **run: Unpack[RunOptions]) -> History:
    """Train net.model in place with SGD on a dataset of ((C, H, W) [0, 1] image, label); returns a History.

    settings: a vk.TrainSettings (batch size, momentum, schedule, augmentation; None: its defaults). Each epoch
    records the mean training loss, training accuracy, eval_accuracy on eval_set (if given) and seconds.
    snapshots: True (the default: vk.SnapshotSettings()), False, or a vk.SnapshotSettings saying which probe
    images and layers to look at, before training, after each epoch and every so many steps: see History.
    run: seed (of the shuffling, the augmentation and dropout) and progress (True or False). A NaN or infinite
    loss stops training and sets history.diverged.
    Only the parameters and buffers change: training flags and .grad end as found, and so does torch's
    global random state (the run is seeded from seed alone). If the settings or the first snapshot fail,
    the model is untouched; an error during training keeps the updates made so far.
    """
    with _rng_kept(check_net(net, "train")):
        s, watch = _check_settings(net, dataset, epochs, lr, weight_decay, settings, eval_set, snapshots,
                                   run_settings(run, "train", TRAIN_RUN))
        history = History(settings={k: s[k] for k in RECORDED})
        per_epoch = math.ceil(len(cast(Sized, dataset)) / s["batch_size"])  # _check_settings made sure it has a length
        recorder = _Recorder(net, dataset, history, s, watch.probe if watch else None, per_epoch)
        _seed(s["seed"], net)
        recorder.take(0)
        loop = _Loop(net, dataset, eval_set, s, recorder)
        try:
            with torch.enable_grad(), _training_mode(net.model):
                for epoch in range(1, s["epochs"] + 1):
                    record, history.diverged = _epoch(loop, epoch)
                    if record is not None:
                        history.epochs.append(record)
                    recorder.take(loop.step)
                    if history.diverged:
                        break
        finally:
            loop.bar.close()
    return history


def main(argv=None) -> None:
    """Train the bundled fashion-cnn from RECIPE and write its weights and record."""
    from .data import FashionMNIST
    from .fashion_cnn import FashionCNN
    from .nets import fashion_net

    parser = argparse.ArgumentParser(prog="python -m vizkit train",
                                     description="Train vizkit's bundled fashion-cnn on Fashion-MNIST.")
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = dict(RECIPE, epochs=args.epochs)
    torch.manual_seed(recipe["seed"])
    model = FashionCNN(recipe["width"], recipe["hidden"], recipe["dropout"])
    net = fashion_net(model)
    train_set, test_set = FashionMNIST(train=True), FashionMNIST(train=False)
    start = time.perf_counter()
    how = TrainSettings(batch_size=recipe["batch_size"], momentum=recipe["momentum"], schedule=recipe["schedule"],
                        augment=recipe["augment"])
    history = train(net, train_set, recipe["epochs"], recipe["lr"], recipe["weight_decay"], how, snapshots=False,
                    eval_set=test_set, seed=recipe["seed"])  # eval_set: for the curve only; nothing is chosen by it
    seconds = time.perf_counter() - start
    accuracy = evaluate(net, test_set)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / "fashion-cnn.pt")
    record = dict(model="fashion-cnn", recipe=recipe, test_accuracy=accuracy, test_images=len(test_set),
                  training_seconds=round(seconds, 1), cpu_threads=torch.get_num_threads(),
                  torch_version=torch.__version__, per_epoch=history.epochs)
    (args.out / "fashion-cnn.json").write_text(json.dumps(record, indent=1))
    print(f"test accuracy {accuracy:.4f} on {len(test_set)} images; trained in {seconds:.0f} s")


if __name__ == "__main__":
    main()
