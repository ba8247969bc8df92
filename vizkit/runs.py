"""Named training runs of fashion-cnn for notebooks 02 and 03, and the precomputed copies vizkit ships.

`python -m vizkit runs` retrains them at the notebooks' full size and rewrites vizkit/weights/runs/.
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import torch

from . import _check
from ._types import PathLike
from .data import FashionMNIST
from .nets import fashion_net
from .settings import SnapshotSettings, TrainSettings
from .train import RUN_TYPES, History, history_from, load_file, train

RUNS_DIR = Path(__file__).parent / "weights" / "runs"

# Notebook 02: the same start and batches, three learning rates. Chosen (seed 0, measured at the
# notebook's two budgets) so that the good run loses no conv filters and grows sparse, the
# too-high run loses about a tenth of relu2's filters yet still learns, and the far-too-high run
# kills a third (small budget) to nearly all (full budget) of them and learns far less or nothing.
ONE_CYCLE = TrainSettings(batch_size=32, schedule="onecycle")
CONSTANT = TrainSettings(batch_size=32, schedule="constant")
MONITORING = {
    "good: lr 0.05, one-cycle": dict(lr=0.05, weight_decay=5e-4, settings=ONE_CYCLE),
    "too high: lr 0.08": dict(lr=0.08, weight_decay=5e-4, settings=CONSTANT),
    "far too high: lr 0.12": dict(lr=0.12, weight_decay=5e-4, settings=CONSTANT),
}

# Notebook 03: the lecture's causes of noisy first-layer filters, as fashion-cnn shows them (measured over two seeds
# at the notebook's two budgets): too few or too small steps leave the filters near their random start (the rate far
# too low, or one epoch); weight decay smooths them, but only with enough steps. (A rate too high kills the network
# and leaves its filters smooth: notebook 03 shows notebook 02's far-too-high run.)
FILTERS = {
    "too low lr (0.001)": dict(lr=0.001, weight_decay=5e-4, settings=CONSTANT),
    "too short (1 epoch)": dict(lr=0.05, weight_decay=5e-4, settings=ONE_CYCLE),
    "no weight decay": dict(lr=0.05, weight_decay=0.0, settings=ONE_CYCLE),
    "strong weight decay (5e-3)": dict(lr=0.05, weight_decay=5e-3, settings=ONE_CYCLE),
}
FILTER_EPOCHS = {"too short (1 epoch)": 1}  # the runs that train fewer epochs than the notebook's budget

# The budgets of the precomputed copies (the notebooks' full, non-smoke settings).
FULL = dict(monitoring=dict(images=12000, epochs=6), filters=dict(images=12000, epochs=6))

# What a run's settings and options may set: train()'s keywords, apart from those train_run passes itself (net,
# dataset, epochs, seed), and its run setting progress.
TRAIN_KEYWORDS = [n for n, p in inspect.signature(train).parameters.items()
                  if n not in ("net", "dataset", "epochs") and p.kind is not p.VAR_KEYWORD] + ["progress"]


def train_run(settings: dict, train_set, epochs: int, seed: int = 0, **options):
    """Train a fresh fashion-cnn (initialised from seed) with one named setting -> (net, History).

    settings and options are train()'s keyword arguments; torch's global random state is left as found."""
    _check_options(settings, options)
    seed = _check.integer(seed, "seed", -(2**63), 2**64 - 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = fashion_net()
    return net, train(net, train_set, epochs, seed=seed, **settings, **options)


def _check_options(settings, options: dict) -> None:
    """settings and options are train() keywords (the seed apart), and options repeat none of the settings."""
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict of train() keywords, like MONITORING's; "
                        f"got {type(settings).__name__}")
    for what, given in (("settings", settings), ("options", options)):
        unknown = [k for k in given if k not in TRAIN_KEYWORDS]
        if unknown:
            raise TypeError(f"{what} has {unknown[0]!r}, which is not a train() setting; valid: "
                            f"{', '.join(TRAIN_KEYWORDS)} (seed is train_run's own argument)")
    both = sorted(set(settings) & set(options))
    if both:
        raise ValueError(f"{both[0]!r} is given both in settings and as an option; give it once")


def load(kind: str) -> dict[str, History]:
    """The precomputed runs shipped with vizkit: kind "monitoring" (notebook 02) or "filters" (03)."""
    if not isinstance(kind, str):
        raise TypeError(f"kind names a set of precomputed runs ({' or '.join(map(repr, FULL))}); got {kind!r}")
    if kind not in FULL:
        raise KeyError(f"no precomputed runs called {kind!r}; choose one of {sorted(FULL)}")
    path = RUNS_DIR / f"{kind}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; `python -m vizkit runs` makes it")
    return read_runs(path)


def read_runs(path: PathLike) -> dict[str, History]:
    """name -> History from a file main() wrote; ValueError if it is missing its runs, corrupt or unsafe."""
    saved = load_file(path, "vizkit.runs.load")
    if not isinstance(saved, dict) or not saved or not all(isinstance(n, str) for n in saved):
        got = f"a dict with keys {list(saved)[:5]}" if isinstance(saved, dict) else type(saved).__name__
        raise ValueError(f"{str(path)!r} does not hold precomputed runs (a non-empty dict of run name -> "
                         f"History.save's dict); got {got}. `python -m vizkit runs` rewrites it")
    if set(saved) == set(RUN_TYPES):
        raise ValueError(f"{str(path)!r} holds one training run, not precomputed runs (name -> run); "
                         "read it with vk.History.load")
    return {name: history_from(h, f"run {name!r} in {str(path)!r}") for name, h in saved.items()}


def main(argv=None) -> None:
    """Retrain the runs at full size and write vizkit/weights/runs/{monitoring,filters}.pt."""
    from dataclasses import asdict

    parser = argparse.ArgumentParser(prog="python -m vizkit runs",
                                     description="Precompute the training runs of notebooks 02 and 03.")
    parser.add_argument("--out", type=Path, default=RUNS_DIR)
    parser.add_argument("--only", choices=sorted(FULL), help="remake one kind of runs (default: both)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = FashionMNIST(train=True)
    probe = FashionMNIST(train=False).tensors(torch.arange(256))[0]
    test = FashionMNIST(train=False).subset(2000)
    if args.only in (None, "monitoring"):
        size = FULL["monitoring"]
        runs = {}
        for name, settings in MONITORING.items():
            _, runs[name] = train_run(settings, data.subset(size["images"]), size["epochs"], eval_set=test,
                                      snapshots=SnapshotSettings(probe=probe, map_images=1))
        torch.save({n: asdict(h) for n, h in runs.items()}, args.out / "monitoring.pt")
    if args.only in (None, "filters"):
        size = FULL["filters"]
        runs = {}
        for name, settings in FILTERS.items():
            _, runs[name] = train_run(settings, data.subset(size["images"]), FILTER_EPOCHS.get(name, size["epochs"]),
                                      eval_set=test, snapshots=SnapshotSettings(probe=probe, map_images=0))
            runs[name].snapshots = runs[name].snapshots[-1:]  # only the final filters are shown
        torch.save({n: asdict(h) for n, h in runs.items()}, args.out / "filters.pt")


if __name__ == "__main__":
    main()
