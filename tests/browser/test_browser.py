"""End to end, as a student: every notebook in JupyterLab in Chromium, Run All, then every control once.

The notebooks are the student version that a teacher hands out (`make student`: solutions replaced by stubs):
Run All must go on past each unanswered check (their raises-exception tag) and fail nowhere else, and every
panel must work with the exercises undone. (The solved course runs under nbval in `make notebooks`.)
Runs with the visible SMOKE parameter (JupyterLab passes its environment to its kernels). Screenshots of
each notebook after Run All and of each panel after its controls go to tests/browser/screenshots/.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import lab as L  # noqa: E402


def _why_not() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not Path(L.CHROMIUM).exists():
        return (f"no Chromium at {L.CHROMIUM}: install Debian's chromium, or set VIZKIT_CHROMIUM to a Chromium or "
                "Chrome binary")
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed: pip install -e '.[test]'"
    if importlib.util.find_spec("nbgrader") is None:
        return "the student version is made with nbgrader: pip install -e '.[teach]'"
    return None


# skipped test by test, not the module: pytest exits 5 ("no tests collected") on a module-level skip, which would
# fail `make test` on a machine without Chromium
WHY_NOT = _why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """The student version of every notebook (etc/student.py, as `make student` writes it)."""
    out = tmp_path_factory.mktemp("student")
    subprocess.run([sys.executable, str(L.NOTEBOOKS.parent / "etc" / "student.py"), "--out", str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def page_and_lab(student):
    with L.jupyter_lab(env={"VIZKIT_SMOKE": "1"}, notebooks=student) as lab, L.chromium() as page:
        yield page, lab


def checks(folder: Path, name: str) -> int:
    """How many autograded check cells the notebook has."""
    cells = json.loads((folder / name).read_text())["cells"]
    return sum(bool(c["metadata"].get("nbgrader", {}).get("grade")) for c in cells)


@pytest.mark.parametrize("name", L.notebooks())
def test_notebook_in_the_browser(page_and_lab, student, name):
    page, lab = page_and_lab
    run = L.exercise(page, lab, name, run_all_timeout_s=float(os.environ.get("VIZKIT_RUN_ALL_TIMEOUT", 600)))
    unanswered = [e for e in run.errors if "not done yet" in e]
    assert not [e for e in run.errors if "not done yet" not in e], "\n".join(run.errors)
    assert len(unanswered) == checks(student, name), f"{checks(student, name)} checks, but:\n" + "\n".join(unanswered)
    silent = [f"panel {u.panel} {u.control!r} ({u.action})" for u in run.uses if u.picture_ms is None]
    assert not silent, f"the picture did not change after: {', '.join(silent)}"
    assert run.uses or not _has_panel(name), f"{name} shows a panel but no control could be used"


def _has_panel(name):
    return "vizkit.ui" in (L.NOTEBOOKS / name).read_text()


def test_saved_notebooks_show_their_pictures_before_anything_runs(page_and_lab):
    """A student who opens a notebook first sees the saved run: its figures and the snapshot of each panel.
    A notebook that this user did not run is not trusted, so JupyterLab draws no saved widget; each panel
    says in one line that it is live, and no widget error shows."""
    page = page_and_lab[0]  # one Playwright per process: a second sync_playwright() inside the first fails
    with L.jupyter_lab(clear_outputs=False) as lab:
        for name in ("01_layer_activations.ipynb", "12_adversarial_examples.ipynb"):
            L.open_notebook(page, lab, name)
            page.wait_for_timeout(1500)  # let the widget manager try to restore what it can
            assert not L.output_errors(page), (name, L.output_errors(page))
            outputs = page.evaluate("""() => [...document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')].map(e => [
                e.getAttribute('data-mime-type'), e.textContent, [...e.querySelectorAll('img')]
                .filter(i => i.naturalWidth > 0).length])""")
            pictures = sum(n for _, _, n in outputs)
            notes = [text for kind, text, _ in outputs if "a live panel; run the notebook to use it" in text]
            assert pictures >= 3 and notes, (name, pictures, notes)


WRONG_SALIENCY = '''def saliency(model, x, target):
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, target], x)
    return grad[0].amax(0)
'''
RIGHT_SALIENCY = WRONG_SALIENCY.replace("grad[0].amax(0)", "grad[0].abs().amax(0)")


def test_a_student_answers_an_exercise_wrongly_then_rightly(page_and_lab, student):
    """In the student version of notebook 08, a wrong saliency (the signed gradient) gets the picture row and the
    hint that names it, the right one passes."""
    page, lab = page_and_lab
    name = "08_saliency.ipynb"
    cells = json.loads((student / name).read_text())["cells"]
    answer = next(i for i, c in enumerate(cells) if "".join(c["source"]).startswith("def saliency("))
    assert cells[answer + 1]["metadata"]["nbgrader"]["grade"]   # the check cell follows its answer
    L.open_notebook(page, lab, name)
    L.run_all(page, 600)
    errors = L.output_errors(page)   # Run All went on past each unanswered check (their raises-exception tag)
    assert len(errors) == checks(student, name) and all("not done yet" in e for e in errors), errors
    for source, expected in ((WRONG_SALIENCY, "hint: your map equals the signed gradient"),
                             (RIGHT_SALIENCY, "saliency: passed")):
        L.replace_cell_source(page, answer, source)
        L.run_cell(page, answer)
        L.run_cell(page, answer + 1)
        L.wait_idle(page, 60)
        text, pictures = L.cell_output(page, answer + 1)
        assert expected in text and pictures >= 1, (text[:500], pictures)
    L.shutdown_kernel(page)
