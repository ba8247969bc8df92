"""Coursework: check(name, answer) runs a student's answer on fixed small cases against vizkit's own, shows pass or
fail per case with the relative error and, for images, a picture row (yours | reference | difference), names a
recognised mistake, and raises AssertionError on failure, so that one call is the student's check and the grader's
test.

    from vizkit.exercises import check

    def saliency(model, x, target):
        ...                          # the student's few lines
    check("saliency", saliency)

The exercises and what each answer must do: `vizkit.exercises.EXERCISES[name].task`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import lessons_attribute, lessons_inspect, lessons_optimize
from .implement import IMPLEMENTS
from .measured import FINDS, PREDICTIONS
from .runner import (
    NOT_DONE,
    Exercise,
    Find,
    Mistake,
    Predict,
    Report,
    found,
    predicted,
    recognise,
    relative_error,
    run_case,
)

EXERCISES: dict[str, Exercise | Predict | Find] = dict(IMPLEMENTS)
"""Every exercise of the course, by the name `check` takes: an implement, predict or find exercise."""
EXERCISES.update({p.name: p for p in PREDICTIONS})
EXERCISES.update({f.name: f for f in FINDS})
for _lesson in (lessons_inspect, lessons_attribute, lessons_optimize):
    for _exercise in (*_lesson.IMPLEMENTS, *_lesson.PREDICTIONS, *_lesson.FINDS):
        if _exercise.name in EXERCISES:
            raise RuntimeError(f"two exercises are called {_exercise.name!r}")  # a mistake in vizkit itself
        EXERCISES[_exercise.name] = _exercise

__all__ = ["check", "CheckFailed", "EXERCISES", "Exercise", "Predict", "Find", "Mistake", "Report",
           "relative_error", "NOT_DONE"]


class CheckFailed(AssertionError):
    """A check that did not pass (an AssertionError, so a grader counts it as a failed test cell). IPython shows
    only its message, not the lines of vizkit that raised it: the student's own code is where to look."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def check(name: str, answer: Any, setting: Callable[[Any], Any] | None = None, *, show: bool = True,
          hidden: bool = False) -> Report:
    """Check an answer -> the Report (shown in a notebook when show); AssertionError with the report's text when it
    fails, the student's own errors included.

    answer: the student's function (implement exercises); their number or choice, or a function returning it
    (predict); or the panel they set (find it with a panel), with setting(panel), the setting they wrote down,
    applied first. hidden=True runs an implement exercise's stricter cases (a grader's hidden tests)."""
    if not isinstance(name, str) or name not in EXERCISES:
        import difflib

        close = difflib.get_close_matches(str(name), list(EXERCISES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no exercise called {name!r}.{hint} Exercises: {', '.join(EXERCISES)}")
    exercise = EXERCISES[name]
    if isinstance(exercise, Predict):
        report = Report(exercise, [predicted(exercise, answer)])
    elif isinstance(exercise, Find):
        report = Report(exercise, [found(exercise, answer, setting)])
    else:
        if not callable(answer):
            raise CheckFailed(f"{name}: check needs your function (the def in the cell above); got "
                              f"{type(answer).__name__}")
        if hidden and exercise.hidden is None:
            raise ValueError(f"exercise {name!r} has no hidden cases")
        cases = exercise.hidden() if hidden and exercise.hidden is not None else exercise.cases()
        report = Report(exercise, [run_case(exercise, answer, case, args) for case, args in cases.items()])
        if not report.passed and not any(r.message == NOT_DONE for r in report.results):
            report.hint = recognise(exercise, answer, cases)
    if show:
        _show(report)
    if not report.passed:
        raise CheckFailed(report.text())
    return report


def _show(report: Report) -> None:
    """Display the report in a notebook (nothing outside IPython: the AssertionError carries the text)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is not None:
        display(report)
