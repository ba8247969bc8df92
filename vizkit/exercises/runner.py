"""How an exercise is checked: run the student's answer on fixed small cases against vizkit's own answer, compare,
name a recognised mistake, and report it (text, and a picture row yours | reference | difference for images)."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

NOT_DONE = "not done yet: write your answer in the solution cell above (it still raises NotImplementedError)"
"""What `check` says of an exercise whose solution cell still raises NotImplementedError."""


@dataclass
class Mistake:
    """A common wrong answer, written as a wrong implementation (same signature as the answer), and the hint that
    names it when the student's output matches its output on a case."""

    hint: str
    wrong: Callable[..., Any]


@dataclass
class Exercise:
    """An implement exercise: `cases` builds the inputs (name -> tuple of arguments, made fresh for each call),
    `reference` is vizkit's answer, `same(yours, reference)` decides a case (default: same shape and dtype kind,
    relative error below tolerance), `mistakes` the wrong answers it recognises."""

    name: str
    task: str
    cases: Callable[[], dict[str, tuple]]
    reference: Callable[..., Any]
    mistakes: Sequence[Mistake] = ()
    tolerance: float = 1e-4
    same: Callable[[Any, Any], bool] | None = None
    picture: bool = False  # draw yours | reference | difference for this exercise's outputs
    hidden: Callable[[], dict[str, tuple]] | None = None  # stricter cases for a grader's hidden tests


@dataclass
class Predict:
    """A predict-then-check exercise: the student writes a number (or one of `options`) before running anything;
    the check measures the true value with vizkit (`measure()`, computed once) and says it. A number passes within
    `tolerance` (relative to the measured value; 0: exactly), a choice when it is the measured one."""

    name: str
    task: str
    measure: Callable[[], Any]
    tolerance: float = 0.0
    options: Sequence[str] | None = None
    unit: str = ""
    _value: Any = field(default=None, repr=False)

    def value(self) -> Any:
        """The measured answer (measured on first use)."""
        if self._value is None:
            self._value = self.measure()
        return self._value


@dataclass
class Find:
    """A find-it-with-a-panel exercise: the student sets a panel to a state that shows a claim; `judge(panel)` reads
    the panel's current state and measures it with vizkit -> (shown, what it found)."""

    name: str
    task: str
    panel: str  # the class name of the panel it reads (vizkit.ui)
    judge: Callable[[Any], tuple[bool, str]]


@dataclass
class CaseResult:
    """One case: passed, the relative error (None when the answer could not be compared), what went wrong, and the
    two outputs when a picture row should show them."""

    case: str
    passed: bool
    error: float | None = None
    message: str = ""
    yours: Any = None
    reference: Any = None


@dataclass(repr=False)
class Report:
    """What check() found: one CaseResult per case and the hint of a recognised mistake, if any."""

    exercise: Exercise | Predict | Find
    results: list[CaseResult] = field(default_factory=list)
    hint: str = ""
    pictures: bool = True

    @property
    def passed(self) -> bool:
        """True when every case passed."""
        return bool(self.results) and all(r.passed for r in self.results)

    def text(self) -> str:
        """The report as plain text (also the AssertionError's message)."""
        head = f"{self.exercise.name}: " + ("passed" if self.passed else "not yet") + \
            f" ({sum(r.passed for r in self.results)} of {len(self.results)} cases)"
        lines = [head]
        for r in self.results:
            error = f"relative error {r.error:.1e}" if r.error is not None else ""
            mark = "ok " if r.passed else "FAIL"
            lines.append(f"  {mark} {r.case}: {error}{'; ' if error and r.message else ''}{r.message}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __repr__(self) -> str:   # what a terminal, or a notebook's plain-text view, shows
        return self.text()

    def png(self) -> bytes | None:
        """A picture row for the first failing (else the first) case with image-shaped outputs, or None."""
        shown = [r for r in self.results if r.yours is not None and not r.passed] or \
                [r for r in self.results if r.yours is not None]
        return _picture_row(shown[0]) if shown and self.pictures else None

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#b42318"
        body = f"<pre style='color:{colour};margin:0'>{html.escape(self.text())}</pre>"
        png = self.png()
        if png:
            body += f"<img src='data:image/png;base64,{base64.b64encode(png).decode()}'/>"
        return body


def relative_error(x: Any, y: Any) -> float:
    """max |x - y| / max(1e-8, |x| + |y|), element by element: the error the course assignments print."""
    a, b = (np.asarray(torch.as_tensor(v).detach().cpu().double()) for v in (x, y))
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))) if a.size else 0.0


def _copy(value: Any) -> Any:
    """A deep copy of a case argument (tensors cloned, models kept: their state is checked separately)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


def _model_state(model: nn.Module) -> tuple:
    return (model.training, [p.requires_grad for p in model.parameters()],
            [p.detach().clone() for p in model.parameters()], [m.training for m in model.modules()])


def _same_state(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and a[1] == b[1] and a[3] == b[3] and all(torch.equal(x, y) for x, y in zip(a[2], b[2]))


def _shape_and_kind(yours: Any, reference: Any) -> str:
    """'' if yours is a tensor of the reference's shape and dtype kind, else what is wrong."""
    if not isinstance(yours, torch.Tensor):
        return f"you returned a {type(yours).__name__}; expected a tensor of shape {tuple(reference.shape)}"
    if tuple(yours.shape) != tuple(reference.shape):
        return f"your output has shape {tuple(yours.shape)}; expected {tuple(reference.shape)}"
    kinds = {torch.bool: "bool"}
    want = kinds.get(reference.dtype, "floating point" if reference.is_floating_point() else "integer")
    got = kinds.get(yours.dtype, "floating point" if yours.is_floating_point() else "integer")
    if want != got:
        return f"your output's dtype is {yours.dtype}; expected a {want} tensor like {reference.dtype}"
    if yours.is_floating_point() and not bool(torch.isfinite(yours).all()):
        return "your output contains NaN or infinite values"
    return ""


def as_tensor(yours: Any) -> Any:
    """A tuple, list, array or number answer as a tensor (what the checks compare); anything else as it is."""
    if isinstance(yours, (tuple, list, np.ndarray, int, float, np.integer, np.floating)) and \
            not isinstance(yours, bool):
        try:
            return torch.as_tensor(np.asarray(yours))
        except (TypeError, ValueError):
            return yours
    return yours


def _agrees(exercise: Exercise, yours: Any, reference: Any) -> tuple[bool, float | None, str]:
    """(passed, relative error, message) of one output against the reference."""
    yours = as_tensor(yours)
    problem = _shape_and_kind(yours, reference)
    if problem:
        return False, None, problem
    if yours.dtype == torch.bool or not reference.is_floating_point():
        differ = int((yours.long() != reference.long()).sum())
        same = differ == 0 if exercise.same is None else bool(exercise.same(yours, reference))
        return same, None, "" if same else f"{differ} of {reference.numel()} entries differ from the reference"
    error = relative_error(yours.float(), reference.float())
    if exercise.same is not None:
        return bool(exercise.same(yours, reference)), error, ""
    return error <= exercise.tolerance, error, ""


def predicted(exercise: Predict, answer: Any) -> CaseResult:
    """The student's prediction (a value, or a function of no arguments that returns it) against the measured
    value."""
    if callable(answer):
        try:
            answer = answer()
        except NotImplementedError:
            answer = None
        except Exception as e:  # noqa: BLE001 - the student's own error becomes the report's message
            return CaseResult("your prediction", False, message=f"your function raised {type(e).__name__}: {e}")
    if answer is ... or answer is None:
        return CaseResult("your prediction", False, message="not done yet: write your prediction in the cell above")
    truth = exercise.value()
    if exercise.options is not None:
        if answer not in exercise.options:
            return CaseResult("your prediction", False, message=f"choose one of {list(exercise.options)}; you wrote "
                                                                f"{answer!r}")
        return CaseResult("your prediction", answer == truth,
                          message=f"you said {answer!r}; vizkit measures {truth!r}")
    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.integer, np.floating)):
        return CaseResult("your prediction", False, message=f"write a number; you wrote {answer!r}")
    error = abs(float(answer) - float(truth)) / max(abs(float(truth)), 1e-12)
    unit = f" {exercise.unit}" if exercise.unit else ""
    return CaseResult("your prediction", error <= exercise.tolerance, error,
                      f"you said {answer:g}{unit}; vizkit measures {truth:g}{unit}")


def found(exercise: Find, panel: Any, setting: Callable[[Any], Any] | None = None) -> CaseResult:
    """The panel's state, judged: after setting(panel) has set it (the setting the student wrote down, so that a
    grader running the notebook afresh finds it too), or as the student left it with its controls."""
    if type(panel).__name__ != exercise.panel:
        return CaseResult("the panel", False, message=f"give check the {exercise.panel} you set up; you gave "
                                                      f"a {type(panel).__name__}")
    read_from, written = "the setting you wrote down", True
    if setting is not None:
        try:
            setting(panel)
        except NotImplementedError:
            read_from = "the panel's controls (write the setting down in the cell above, so that it is kept)"
            written = False
        except Exception as e:  # noqa: BLE001 - the student's own error becomes the report's message
            return CaseResult("the panel", False, message=f"your setting raised {type(e).__name__}: {e}")
    else:
        read_from = "the panel's controls"
    try:
        shown, what = exercise.judge(panel)
    except Exception as e:  # noqa: BLE001 - a panel state the judge cannot read is the student's to change
        return CaseResult("the panel", False, message=f"the panel's state cannot be read ({type(e).__name__}: {e})")
    if not shown and not written:
        return CaseResult("the panel", False, message=f"not done yet: set the panel with its controls until it shows "
                                                      f"it, then write the setting down in the cell above; now {what}")
    return CaseResult("the panel", bool(shown), message=f"{what} (read from {read_from})")


def run_case(exercise: Exercise, answer: Callable, case: str, args: tuple) -> CaseResult:
    """The student's answer on one case, checked against the reference; never raises for the student's errors."""
    reference = exercise.reference(*_copy(args))
    given = _copy(args)
    models = [a for a in given if isinstance(a, nn.Module)]
    states = [_model_state(m) for m in models]
    try:
        yours = answer(*given)
    except NotImplementedError:
        return CaseResult(case, False, message=NOT_DONE)
    except Exception as e:  # noqa: BLE001 - the student's own error becomes the report's message
        return CaseResult(case, False, message=f"your function raised {type(e).__name__}: {e}")
    changed = [i for i, (a, b) in enumerate(zip(given, args)) if isinstance(a, torch.Tensor) and not torch.equal(a, b)]
    if changed:
        return CaseResult(case, False, message=f"your function changed its input (argument {changed[0] + 1}) in "
                                               "place: work on a copy (x.clone()) or out of place")
    if any(not _same_state(s, _model_state(m)) for s, m in zip(states, models)):
        return CaseResult(case, False, message="your function left the model changed (its mode, requires_grad "
                                               "flags or weights): leave the model as you found it")
    yours = as_tensor(yours)
    passed, error, message = _agrees(exercise, yours, reference)
    picture = exercise.picture and isinstance(yours, torch.Tensor) and yours.shape == reference.shape
    return CaseResult(case, passed, error, message, yours.detach() if picture else None,
                      reference.detach() if picture else None)


def recognise(exercise: Exercise, answer: Callable, cases: dict[str, tuple]) -> str:
    """The hint of the first mistake whose outputs match the student's on every case they fail, or ''."""
    for mistake in exercise.mistakes:
        matched = True
        for args in cases.values():
            try:
                yours = as_tensor(answer(*_copy(args)))
                wrong = mistake.wrong(*_copy(args))
            except Exception:  # noqa: BLE001 - a case the student's answer or the mistake cannot run decides nothing
                matched = False
                break
            if not (isinstance(yours, torch.Tensor) and isinstance(wrong, torch.Tensor)
                    and yours.shape == wrong.shape and _close(yours, wrong, exercise)):
                matched = False
                break
        if matched:
            return mistake.hint
    return ""


def _close(a: torch.Tensor, b: torch.Tensor, exercise: Exercise) -> bool:
    if exercise.same is not None:
        return bool(exercise.same(a, b))
    if a.dtype == torch.bool or b.dtype == torch.bool:
        return bool(torch.equal(a.bool(), b.bool()))
    return relative_error(a.float(), b.float()) <= exercise.tolerance


def _picture_row(result: CaseResult) -> bytes:
    """yours | reference | |difference| for one case's (H, W), (C, H, W) or (N, C, H, W) outputs."""
    from matplotlib.figure import Figure

    from ..plot import to_png

    def as_map(t: torch.Tensor) -> np.ndarray:
        a = t.detach().cpu().double()
        while a.dim() > 2:
            a = a[0] if a.shape[0] == 1 or a.dim() > 3 else a.abs().amax(0)
        return a.numpy() if a.dim() == 2 else a.reshape(1, -1).numpy()

    yours, ref = as_map(result.yours), as_map(result.reference)
    fig = Figure(figsize=(7.5, 2.6))
    axes = fig.subplots(1, 3)
    low, high = float(min(yours.min(), ref.min())), float(max(yours.max(), ref.max()))
    for ax, image, title in ((axes[0], yours, "yours"), (axes[1], ref, "reference"),
                             (axes[2], np.abs(yours - ref), "difference")):
        shown = ax.imshow(image, cmap="magma" if title == "difference" else "viridis",
                          vmin=None if title == "difference" else low, vmax=None if title == "difference" else high)
        ax.set_title(f"{title} ({result.case})", fontsize=9)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
    fig.tight_layout()
    return to_png(fig)
