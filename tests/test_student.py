"""The teacher's cycle: the student version of a notebook (etc/student.py, nbgrader's own preprocessors), and a full
nbgrader round trip in a temporary course folder: generate the assignment, autograde the solved notebook (full
points), the untouched student version (none) and one with a planted wrong answer (that exercise's points lost)."""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("student", ROOT / "etc" / "student.py")
student = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student)

GRAM = '''def gram(features):
    """(B, C, h, w) -> (B, C, C) Gram matrices divided by h * w."""
    ### BEGIN SOLUTION
    f = features.flatten(2)
    return f @ f.transpose(1, 2) / f.shape[2]
    ### END SOLUTION
'''
KNN = '''def knn(features, query, k):
    """(N, D) features, a row, k -> (k,) nearest rows by cosine distance, the query left out."""
    ### BEGIN SOLUTION
    import torch.nn.functional as F
    f = F.normalize(features.double(), dim=1)
    d = 1 - f @ f[query]
    d[query] = float("inf")
    return d.argsort(stable=True)[:k]
    ### END SOLUTION
'''


def cell(source: str, kind: str | None = None, points: int = 0, grade_id: str = "") -> nbformat.NotebookNode:
    c = nbformat.v4.new_code_cell(source)
    if kind:
        c.metadata["nbgrader"] = {"grade": kind == "grade", "grade_id": grade_id, "locked": kind == "grade",
                                  "schema_version": 3, "solution": kind == "solution", "task": False,
                                  **({"points": points} if kind == "grade" else {})}
    return c


def course_notebook() -> nbformat.NotebookNode:
    """A small solved notebook with two exercises in nbgrader's format (2 and 3 points), one with hidden tests."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [cell("from vizkit.exercises import check"),
                cell(GRAM, "solution", grade_id="gram-answer"),
                cell('check("gram", gram, show=False)\n### BEGIN HIDDEN TESTS\ncheck("gram", gram, show=False, '
                     'hidden=True)\n### END HIDDEN TESTS\n', "grade", 2, "gram-check"),
                cell(KNN, "solution", grade_id="knn-answer"),
                cell('check("knn", knn, show=False)', "grade", 3, "knn-check")]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="gram: passed")]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_the_student_version_has_stubs_no_hidden_tests_and_no_outputs():
    nb = student.student_version(course_notebook())
    sources = [c.source for c in nb.cells]
    assert "raise NotImplementedError()" in sources[1] and "f @ f.transpose" not in sources[1]
    assert sources[1].startswith("def gram(features):") and '"""(B, C, h, w)' in sources[1]   # the signature stays
    assert "hidden=True" not in sources[2] and 'check("gram", gram, show=False)' in sources[2]
    assert all(not c.get("outputs") for c in nb.cells) and "widgets" not in nb.metadata
    cells = student.exercise_cells(nb)
    assert len(cells["solution"]) == 2 and len(cells["grade"]) == 2


def score(root: Path, submission: nbformat.NotebookNode, who: str) -> float:
    """Autograde one submission of assignment ps1 -> its score."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    folder = root / "submitted" / who / "ps1"
    folder.mkdir(parents=True)
    nbformat.write(submission, folder / "ps1.ipynb")
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = "vizkit"
    result = NbGraderAPI(config=config).autograde("ps1", who)
    assert result["success"], result.get("log")
    with Gradebook(f"sqlite:///{root}/gradebook.db", "vizkit") as gradebook:
        return gradebook.find_submission("ps1", who).score


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A course folder with ps1 generated from the solved notebook (nbgrader runs alembic from the venv)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    (tmp_path / "source" / "ps1").mkdir(parents=True)
    nbformat.write(course_notebook(), tmp_path / "source" / "ps1" / "ps1.ipynb")
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    config.CourseDirectory.course_id = "vizkit"
    result = NbGraderAPI(config=config).generate_assignment("ps1")
    assert result["success"], result.get("log")
    return tmp_path


def test_an_nbgrader_round_trip_gives_full_none_or_the_points_of_the_wrong_answer(course):
    released = nbformat.read(course / "release" / "ps1" / "ps1.ipynb", as_version=4)
    assert "raise NotImplementedError()" in released.cells[1].source
    solved = nbformat.read(course / "source" / "ps1" / "ps1.ipynb", as_version=4)
    assert score(course, solved, "solved") == 5
    assert score(course, released, "untouched") == 0
    planted = nbformat.read(course / "source" / "ps1" / "ps1.ipynb", as_version=4)
    planted.cells[1].source = planted.cells[1].source.replace("/ f.shape[2]", "")   # not divided by h * w
    assert score(course, planted, "planted") == 3
    shutil.rmtree(course / "autograded", ignore_errors=True)
