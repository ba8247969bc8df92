"""How long vizkit.exercises.check takes, per exercise, from the call to its report, for every kind.

- implement: with a right answer (the reference) and a wrong one (its first written mistake: the failing path
  also recognises the mistake and draws the picture row);
- predict: the first check (vizkit measures the answer then; later checks reuse it) with the measured value (right)
  and with a value off by half (wrong);
- find: the check on the panel as its notebook opens it (the judge reads and measures the panel's state; it
  fails there) — the panel itself is built beforehand, as the notebook does.

Goal: under 2 s each on two CPU cores.

    python benchmarks/exercises.py [--repeats 3] [--threads N] [--kinds implement,predict,find]
"""

import argparse
import time

import torch
from _timing import add_machine_options, apply_machine_options

import vizkit as vk
import vizkit.exercises as exercises
from vizkit.exercises import EXERCISES, Exercise, Find, Predict, check

# what a notebook does with the report: render it as HTML (its text and picture row)
exercises._show = lambda report: report._repr_html_()


def seconds(name: str, answer, repeats: int, before=None) -> float:
    """The best of `repeats` runs of check (before() runs first, untimed), its report rendered (a failing check's
    AssertionError included)."""
    best = float("inf")
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        try:
            check(name, answer)
        except AssertionError:
            pass
        best = min(best, time.perf_counter() - start)
    return best


def panels() -> dict:
    """Each find exercise's panel as its notebook opens it (CI's sizes)."""
    from vizkit import ui

    net, test = vk.load("fashion-cnn"), vk.FashionMNIST(train=False)
    x, y = test.tensors(torch.arange(200))
    first = {}
    for i in range(200):
        first.setdefault(net.classes[int(y[i])], i)
    images = {f"{c} (test #{i})": x[i] for c, i in first.items()}
    subset = test.subset(2000)
    pixels, labels = subset.tensors()
    feats = {layer: vk.features(net, subset, layer, progress=False) for layer in ("pool1", "relu5")}
    return {
        "ActivationsPanel": lambda: ui.ActivationsPanel(net, images, layer="relu1"),
        "NeighboursPanel": lambda: ui.NeighboursPanel(net, pixels, labels, feats, classes=subset.classes, k=8),
        "PatchesPanel": lambda: ui.PatchesPanel(net, subset, ["conv1", "conv2", "conv3"], k=9),
        "OcclusionPanel": lambda: ui.OcclusionPanel(net, images, window=7, stride=2, fill=0.0),
        "AdversarialPanel": lambda: ui.AdversarialPanel(net, images, eps=0.05),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kinds", default="implement,predict,find")
    add_machine_options(ap)
    args = ap.parse_args()
    apply_machine_options(ap, args)  # the exercises run on the CPU: --device only checks what is asked
    kinds = set(args.kinds.split(","))
    built = panels() if "find" in kinds else {}
    print(f"{'exercise':20} {'kind':9} {'right (s)':>10} {'wrong (s)':>10}")
    for name, exercise in EXERCISES.items():
        if isinstance(exercise, Exercise) and "implement" in kinds:
            right = seconds(name, exercise.reference, args.repeats)
            wrong = seconds(name, exercise.mistakes[0].wrong, args.repeats)
            print(f"{name:20} {'implement':9} {right:10.3f} {wrong:10.3f}")
        elif isinstance(exercise, Predict) and "predict" in kinds:
            def forget(e=exercise):
                e._value = None                      # time the first check, which measures
            truth = exercise.value()
            if exercise.options is not None:
                wrong_answer = next(o for o in exercise.options if o != truth)
            else:
                wrong_answer = float(truth) * 1.5 + 1
            right = seconds(name, truth, args.repeats, forget)
            wrong = seconds(name, wrong_answer, args.repeats, forget)
            print(f"{name:20} {'predict':9} {right:10.3f} {wrong:10.3f}")
        elif isinstance(exercise, Find) and "find" in kinds:
            panel = built[exercise.panel]()
            print(f"{name:20} {'find':9} {'':>10} {seconds(name, panel, args.repeats):10.3f}")


if __name__ == "__main__":
    main()
