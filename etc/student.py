"""Write the student version of the course: `make student` (or `python etc/student.py [NN ...]`).

notebooks/ holds the solved course, with its exercises in nbgrader's format: solution regions between
`### BEGIN SOLUTION` / `### END SOLUTION` in cells whose nbgrader metadata says solution, and autograded check
cells whose hidden tests sit between `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`. The student version
(student/, git-ignored) has nbgrader's own preprocessors applied: each solution replaced by a stub that raises
NotImplementedError, hidden tests removed, outputs and saved widget state cleared. nbgrader comes with the
optional extra: pip install 'vizkit[teach]'.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STUDENT = ROOT / "student"


def student_version(nb):
    """The student version of a solved notebook node (changed in place and returned)."""
    try:
        from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions
    except ImportError:
        sys.exit("make student needs nbgrader: pip install 'vizkit[teach]' (or: pip install nbgrader)")
    resources: dict = {}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        nb, resources = step.preprocess(nb, resources)
    nb.metadata.pop("widgets", None)  # the solved run's widget state would show panels the student has not run
    return nb


def exercise_cells(nb) -> dict[str, list]:
    """grade_id -> the notebook's cells of each nbgrader kind: {"solution": [...], "grade": [...]}."""
    found: dict[str, list] = {"solution": [], "grade": []}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        for kind in found:
            if meta.get(kind):
                found[kind].append(cell)
    return found


def main(argv: list[str] | None = None) -> None:
    import nbformat

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="notebook numbers or names (default: all)")
    ap.add_argument("--out", type=Path, default=STUDENT, help="where to write them (default: student/)")
    args = ap.parse_args(argv)
    paths = [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
             if not args.notebooks or any(p.name.startswith(k) for k in args.notebooks)]
    if not paths:
        sys.exit(f"no notebook matches {args.notebooks}")
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb = student_version(nbformat.read(path, as_version=4))
        nbformat.write(nb, args.out / path.name)
        cells = exercise_cells(nb)
        print(f"{path.name:40} {len(cells['solution'])} solution cell(s), {len(cells['grade'])} check cell(s)")


if __name__ == "__main__":
    main()
