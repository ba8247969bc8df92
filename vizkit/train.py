"""A small, seeded training loop with per-epoch records; `python -m vizkit.train` makes fashion-cnn."""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data import batches as _batches

WEIGHTS_DIR = Path(__file__).parent / "weights"

# The recipe behind the bundled weights; `python -m vizkit.train` reproduces them.
RECIPE = dict(epochs=15, lr=0.05, weight_decay=5e-4, batch_size=128, momentum=0.9,
              schedule="onecycle", augment="flip", seed=0, width=32, hidden=256, dropout=0.3)


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
        if not self.epochs or key not in self.epochs[0]:
            known = sorted(self.epochs[0]) if self.epochs else []
            raise KeyError(f"no per-epoch record {key!r}; recorded: {known}")
        return [e[key] for e in self.epochs]

    def series(self, key: str, layer: str | None = None) -> tuple[list[float], list]:
        """(epoch of each snapshot, its value): series("loss") or series("sparsity", "relu1")."""
        if not self.snapshots:
            raise KeyError("this run recorded no snapshots (pass probe= or keep snapshots=True)")
        if key not in self.snapshots[0]:
            raise KeyError(f"snapshots have no {key!r}; they record {sorted(self.snapshots[0])}")
        values = [s[key] if layer is None else s[key][layer] for s in self.snapshots]
        return [s["epoch"] for s in self.snapshots], values

    def save(self, path) -> None:
        """Write the run (records, snapshots, settings) with torch.save."""
        torch.save(asdict(self), path)

    @classmethod
    def load(cls, path) -> History:
        """Read a run written by save() (tensors and plain values only: weights_only=True)."""
        return cls(**torch.load(path, map_location="cpu", weights_only=True))


def _check(name, value, low, high=math.inf, integer=False):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not (low <= value <= high):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} in [{low}, {high}]; got {value!r}")


def _augment(x: torch.Tensor, generator, shift: bool = True) -> torch.Tensor:
    """Random horizontal flips and (if shift) shifts of up to 2 pixels (zero fill), per image."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if not shift:
        return x
    padded = F.pad(x, (2, 2, 2, 2))
    dy, dx = torch.randint(0, 5, (2, n), generator=generator).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


@torch.no_grad()
def evaluate(net, dataset, batch_size: int = 500) -> float:
    """Top-1 accuracy of net on a labelled dataset of [0, 1] images."""
    was_training = net.model.training
    net.model.eval()
    try:
        correct = total = 0
        for x, y in _batches(dataset, batch_size, shuffle=False):
            correct += (net.model(net.normalize(x)).argmax(1) == y).sum().item()
            total += len(y)
    finally:
        net.model.train(was_training)
    return correct / max(total, 1)


def _probe_batch(dataset, probe, size: int) -> torch.Tensor:
    """The fixed [0, 1] images that snapshots look at: probe itself, or the dataset's first `size`."""
    if probe is None:
        return next(iter(_batches(dataset, min(size, len(dataset)))))[0]
    if isinstance(probe, torch.Tensor):
        if probe.dim() != 4 or len(probe) == 0:
            raise ValueError(f"probe must be (N, C, H, W) images in [0, 1]; got shape {tuple(probe.shape)}")
        return probe
    return next(iter(_batches(probe, min(size, len(probe)))))[0]


@torch.no_grad()
def take_snapshot(net, probe: torch.Tensor, layers: list[str], map_images: int = 2) -> dict:
    """First-layer filters, per-layer sparsity and dead fraction, and a few maps, on a probe batch."""
    from .hooks import record

    model = net.model
    was_training = model.training
    model.eval()
    first_conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    try:
        with record(net, layers) as out:
            model(net.normalize(probe))
    finally:
        model.train(was_training)
    snap = dict(filters=None if first_conv is None else first_conv.weight.detach().clone(),
                sparsity={}, dead={}, dead_channels={}, maps={})
    for name in layers:
        a = out[name]
        alive = a.transpose(0, 1).reshape(a.shape[1], -1).amax(1) > 0
        snap["sparsity"][name] = float((a <= 0).float().mean())
        snap["dead_channels"][name] = ~alive
        snap["dead"][name] = float((~alive).float().mean())
        if a.dim() == 4 and map_images:
            snap["maps"][name] = a[:map_images].half()
    return snap


def _relu_layers(net) -> list[str]:
    names = [a for a in net.layers if a.startswith("relu")]
    if not names:
        raise ValueError(f"{net.name} has no relu aliases; pass snapshot_layers=[...] to choose layers")
    return names


def train(net, dataset, epochs: int, lr: float, weight_decay: float = 0.0, *, batch_size: int = 128,
          momentum: float = 0.9, schedule: str = "onecycle", augment: bool = False, seed: int = 0,
          eval_set=None, snapshots: bool = True, probe=None, probe_size: int = 256,
          snapshot_layers: list[str] | None = None, snapshot_every: int | None = None,
          map_images: int = 2, progress: bool = True) -> History:
    """Train net.model in place with SGD on a dataset of ([0, 1] image, label); returns a History.

    schedule: "onecycle" (warm up then anneal) or "constant"; augment: False, "flip" (random
    horizontal flips) or True / "flip+shift" (flips and shifts up to 2 pixels). Each epoch records the mean
    training loss, training accuracy, eval_accuracy on eval_set (if given) and seconds.
    With snapshots (the default), a fixed probe batch (probe, or the dataset's first probe_size
    images) is looked at before training, after each epoch and every snapshot_every steps:
    see History. snapshot_layers defaults to the net's relu layers. A NaN or infinite loss
    stops training and sets history.diverged.
    """
    _check("epochs", epochs, 1, 10_000, integer=True)
    _check("lr", lr, 1e-12, 100.0)
    _check("weight_decay", weight_decay, 0.0, 10.0)
    _check("batch_size", batch_size, 1, 1_000_000, integer=True)
    if augment not in (False, True, "flip", "flip+shift"):
        raise ValueError(f"augment must be False, 'flip' or 'flip+shift'; got {augment!r}")
    if schedule not in ("onecycle", "constant"):
        raise ValueError(f"schedule must be 'onecycle' or 'constant'; got {schedule!r}")
    if len(dataset) == 0:
        raise ValueError("cannot train on an empty dataset")
    if snapshot_every is not None:
        _check("snapshot_every", snapshot_every, 1, 10**9, integer=True)
    _check("map_images", map_images, 0, 10**6, integer=True)
    settings = dict(epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                    momentum=momentum, schedule=schedule, augment=augment, seed=seed)
    if snapshots:
        layers = list(snapshot_layers) if snapshot_layers is not None else _relu_layers(net)
        from .hooks import resolve
        for name in layers:
            resolve(net, name)
        probe_x = _probe_batch(dataset, probe, probe_size)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = net.model
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=momentum > 0,
                          weight_decay=weight_decay)
    steps = epochs * math.ceil(len(dataset) / batch_size)
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
             if schedule == "onecycle" else None)
    history = History(settings=settings)
    per_epoch = math.ceil(len(dataset) / batch_size)
    since = dict(loss=0.0, correct=0, seen=0)

    def snap(step):
        if not snapshots:
            return
        s = take_snapshot(net, probe_x, layers, map_images)
        seen_ = since["seen"]
        s.update(step=step, epoch=step / per_epoch, loss=since["loss"] / seen_ if seen_ else None,
                 accuracy=since["correct"] / seen_ if seen_ else None)
        since.update(loss=0.0, correct=0, seen=0)
        history.snapshots.append(s)

    # a modest refresh rate: every refresh of a notebook progress bar is a message to the front end
    bar = tqdm(total=steps, desc=f"training {net.name}", disable=not progress, unit="batch", mininterval=0.5)
    model.train()
    step = 0
    snap(0)
    try:
        for epoch in range(1, epochs + 1):
            start, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
            for x, y in _batches(dataset, batch_size, shuffle=True, generator=gen):
                if augment:
                    x = _augment(x, gen, shift=augment != "flip")
                logits = model(net.normalize(x))
                loss = F.cross_entropy(logits, y)
                if not torch.isfinite(loss):
                    history.diverged = True
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                step += 1
                batch_loss, batch_correct = loss.item() * len(y), (logits.argmax(1) == y).sum().item()
                loss_sum, correct, seen = loss_sum + batch_loss, correct + batch_correct, seen + len(y)
                since.update(loss=since["loss"] + batch_loss, correct=since["correct"] + batch_correct,
                             seen=since["seen"] + len(y))
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.3f}", refresh=False)
                if snapshot_every and step % snapshot_every == 0 and step % per_epoch:
                    snap(step)
            if seen == 0:  # diverged on the first batch of an epoch
                snap(step)
                break
            record = dict(epoch=epoch, loss=loss_sum / seen, accuracy=correct / seen)
            if eval_set is not None:
                record["eval_accuracy"] = evaluate(net, eval_set)
                model.train()
            record["seconds"] = time.perf_counter() - start
            history.epochs.append(record)
            snap(step)
            if history.diverged:
                break
    finally:
        bar.close()
        model.eval()
    return history


def main(argv=None) -> None:
    """Train the bundled fashion-cnn from RECIPE and write its weights and record."""
    from .data import FashionMNIST
    from .fashion_cnn import FashionCNN
    from .nets import fashion_net

    parser = argparse.ArgumentParser(description="Train vizkit's bundled fashion-cnn on Fashion-MNIST.")
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
    history = train(net, train_set, recipe["epochs"], recipe["lr"], recipe["weight_decay"],
                    batch_size=recipe["batch_size"], momentum=recipe["momentum"],
                    schedule=recipe["schedule"], augment=recipe["augment"], seed=recipe["seed"],
                    snapshots=False,
                    eval_set=test_set)  # recorded for the curve only; nothing is chosen by it
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
