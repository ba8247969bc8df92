"""Named training runs of fashion-cnn for notebooks 02 and 03, and the precomputed copies vizkit ships.

`python -m vizkit.runs` retrains them at the notebooks' full size and rewrites vizkit/weights/runs/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .data import FashionMNIST
from .nets import fashion_net
from .train import History, train

RUNS_DIR = Path(__file__).parent / "weights" / "runs"

# Notebook 02: the same start and batches, three learning rates. Chosen (seed 0, measured at the
# notebook's two budgets) so that the good run loses no conv filters and grows sparse, the
# too-high run loses about a tenth of relu2's filters yet still learns, and the far-too-high run
# kills a third (small budget) to nearly all (full budget) of them and learns far less or nothing.
MONITORING = {
    "good: lr 0.05, one-cycle": dict(lr=0.05, schedule="onecycle", weight_decay=5e-4, batch_size=32),
    "too high: lr 0.08": dict(lr=0.08, schedule="constant", weight_decay=5e-4, batch_size=32),
    "far too high: lr 0.12": dict(lr=0.12, schedule="constant", weight_decay=5e-4, batch_size=32),
}

# Notebook 03: two ways to get noisy first-layer filters.
FILTERS = {
    "too high lr (0.12)": dict(lr=0.12, schedule="constant", weight_decay=5e-4, batch_size=32),
    "no weight decay, overfit": dict(lr=0.05, schedule="constant", weight_decay=0.0, batch_size=64),
}

# The budgets of the precomputed copies (the notebooks' full, non-smoke settings).
FULL = dict(monitoring=dict(images=12000, epochs=6), filters=dict(images=12000, epochs=6))
OVERFIT_IMAGES = 256  # the overfit run sees only this many images, for FULL["filters"]["epochs"] * 10 epochs


def train_run(settings: dict, train_set, epochs: int, seed: int = 0, **options):
    """Train a fresh fashion-cnn (initialised from seed) with one named setting -> (net, History)."""
    torch.manual_seed(seed)
    net = fashion_net()
    return net, train(net, train_set, epochs, seed=seed, **settings, **options)


def load(kind: str) -> dict[str, History]:
    """The precomputed runs shipped with vizkit: kind "monitoring" (notebook 02) or "filters" (03)."""
    if kind not in FULL:
        raise KeyError(f"no precomputed runs called {kind!r}; choose one of {sorted(FULL)}")
    path = RUNS_DIR / f"{kind}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; `python -m vizkit.runs` makes it")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return {name: History(**h) for name, h in saved.items()}


def main(argv=None) -> None:
    """Retrain the runs at full size and write vizkit/weights/runs/{monitoring,filters}.pt."""
    from dataclasses import asdict

    parser = argparse.ArgumentParser(description="Precompute the training runs of notebooks 02 and 03.")
    parser.add_argument("--out", type=Path, default=RUNS_DIR)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = FashionMNIST(train=True)
    probe = FashionMNIST(train=False).tensors(torch.arange(256))[0]
    test = FashionMNIST(train=False).subset(2000)
    size = FULL["monitoring"]
    runs = {}
    for name, settings in MONITORING.items():
        _, runs[name] = train_run(settings, data.subset(size["images"]), size["epochs"], probe=probe,
                                  eval_set=test, map_images=1)
    torch.save({n: asdict(h) for n, h in runs.items()}, args.out / "monitoring.pt")
    size = FULL["filters"]
    runs = {}
    for name, settings in FILTERS.items():
        overfit = "overfit" in name
        subset = data.subset(OVERFIT_IMAGES if overfit else size["images"])
        epochs = size["epochs"] * (10 if overfit else 1)
        _, runs[name] = train_run(settings, subset, epochs, probe=probe, map_images=0)
        runs[name].snapshots = runs[name].snapshots[-1:]  # only the final filters are shown
    torch.save({n: asdict(h) for n, h in runs.items()}, args.out / "filters.pt")


if __name__ == "__main__":
    main()
