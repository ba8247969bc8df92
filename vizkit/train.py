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
              schedule="onecycle", augment=True, seed=0, width=32, hidden=256, dropout=0.4)


@dataclass
class History:
    """What a training run recorded: one dict per epoch (loss, accuracy, eval_accuracy, seconds)."""

    epochs: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> list:
        """Per-epoch values of one record, e.g. history["loss"]."""
        if not self.epochs or key not in self.epochs[0]:
            known = sorted(self.epochs[0]) if self.epochs else []
            raise KeyError(f"no per-epoch record {key!r}; recorded: {known}")
        return [e[key] for e in self.epochs]

    def save(self, path) -> None:
        """Write the run as JSON."""
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path) -> History:
        """Read a run written by save()."""
        return cls(**json.loads(Path(path).read_text()))


def _check(name, value, low, high=math.inf, integer=False):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not (low <= value <= high):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} in [{low}, {high}]; got {value!r}")


def _augment(x: torch.Tensor, generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 pixels (zero fill), per image."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
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


def train(net, dataset, epochs: int, lr: float, weight_decay: float = 0.0, *, batch_size: int = 128,
          momentum: float = 0.9, schedule: str = "onecycle", augment: bool = False, seed: int = 0,
          eval_set=None, progress: bool = True) -> History:
    """Train net.model in place with SGD on a dataset of ([0, 1] image, label); returns a History.

    schedule: "onecycle" (warm up then anneal) or "constant". Each epoch records the mean
    training loss, training accuracy, eval_accuracy on eval_set (if given) and seconds.
    """
    _check("epochs", epochs, 1, 10_000, integer=True)
    _check("lr", lr, 1e-12, 100.0)
    _check("weight_decay", weight_decay, 0.0, 10.0)
    _check("batch_size", batch_size, 1, 1_000_000, integer=True)
    if schedule not in ("onecycle", "constant"):
        raise ValueError(f"schedule must be 'onecycle' or 'constant'; got {schedule!r}")
    if len(dataset) == 0:
        raise ValueError("cannot train on an empty dataset")
    settings = dict(epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                    momentum=momentum, schedule=schedule, augment=augment, seed=seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = net.model
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=momentum > 0,
                          weight_decay=weight_decay)
    steps = epochs * math.ceil(len(dataset) / batch_size)
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
             if schedule == "onecycle" else None)
    history = History(settings=settings)
    bar = tqdm(total=steps, desc=f"training {net.name}", disable=not progress, unit="batch")
    model.train()
    try:
        for epoch in range(1, epochs + 1):
            start, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
            for x, y in _batches(dataset, batch_size, shuffle=True, generator=gen):
                if augment:
                    x = _augment(x, gen)
                logits = model(net.normalize(x))
                loss = F.cross_entropy(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                loss_sum += loss.item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                seen += len(y)
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.3f}")
            record = dict(epoch=epoch, loss=loss_sum / seen, accuracy=correct / seen)
            if eval_set is not None:
                record["eval_accuracy"] = evaluate(net, eval_set)
                model.train()
            record["seconds"] = time.perf_counter() - start
            history.epochs.append(record)
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
