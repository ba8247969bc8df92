"""How long vizkit.exercises.check takes, per exercise, from the call to its report: with a right answer (the
reference), and with a wrong one (its first written mistake: the failing path also recognises the mistake and
draws the picture row). Goal: under 2 s each on two CPU cores.

    python benchmarks/exercises.py [--repeats 3] [--threads N]
"""

import argparse
import time

from _timing import add_machine_options, apply_machine_options

import vizkit.exercises as exercises
from vizkit.exercises import EXERCISES, check

# what a notebook does with the report: render it as HTML (its text and picture row)
exercises._show = lambda report: report._repr_html_()


def seconds(name: str, answer, repeats: int) -> float:
    """The best of `repeats` runs of check, its report rendered (a failing check's AssertionError included)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            check(name, answer)
        except AssertionError:
            pass
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    add_machine_options(ap)
    args = ap.parse_args()
    apply_machine_options(ap, args)  # the exercises run on the CPU: --device only checks what is asked
    print(f"{'exercise':16} {'right (s)':>10} {'wrong (s)':>10}")
    for name, exercise in EXERCISES.items():
        right = seconds(name, exercise.reference, args.repeats)
        wrong = seconds(name, exercise.mistakes[0].wrong, args.repeats)
        print(f"{name:16} {right:10.3f} {wrong:10.3f}")


if __name__ == "__main__":
    main()
