"""The notebooks keep to settings, calls, pictures and asserts: no function is defined in a cell, and vizkit is
used through its public face (vizkit, its three technique families, vizkit.ui, vizkit.measure, vizkit.plot), so
that a measurement a sentence relies on lives in the package, where it is tested."""

import ast
import json
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# vizkit.attribute.scan: brute-force occlusion, for the one comparison that needs it
PUBLIC = {"vizkit", "vizkit.ui", "vizkit.measure", "vizkit.plot", "vizkit.exercises", "vizkit.attribute",
          "vizkit.inspect", "vizkit.optimize", "vizkit.attribute.scan"}


def code_cells(path: Path, answers: bool = True) -> list[tuple[int, ast.Module]]:
    """(cell number, parsed source) of every code cell but the Colab install cell, magics turned into calls;
    answers=False leaves out the exercises' solution cells (nbgrader's: where the student writes a function)."""
    cells = json.loads(path.read_text())["cells"]
    return [(i, ast.parse(TransformerManager().transform_cell("".join(c["source"]))))
            for i, c in enumerate(cells)
            if c["cell_type"] == "code" and "colab-install" not in c.get("metadata", {}).get("tags", [])
            and (answers or not c.get("metadata", {}).get("nbgrader", {}).get("solution"))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_function_is_defined_in_a_cell(path):
    found = [(i, n.name) for i, tree in code_cells(path, answers=False) for n in ast.walk(tree)
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    assert not found, f"functions defined in cells (cell, name): {found}; a function a notebook needs lives in vizkit"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_vizkit_is_used_through_its_public_modules(path):
    used = set()
    for _, tree in code_cells(path):
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                used |= {a.name for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.module:
                used.add(n.module)
    internal = sorted(m for m in used if m.split(".")[0] == "vizkit" and m not in PUBLIC)
    assert not internal, f"imports of vizkit's internals: {internal} (use vk.measure, vk.image_pixels, ...)"


def test_the_checks_see_a_definition_and_an_internal_import(tmp_path):
    answer = {"nbgrader": {"solution": True, "grade": False, "grade_id": "a", "locked": False, "schema_version": 3}}
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": ["%matplotlib inline\n", "def f(x):\n",
                                                                       "    return x\n"]},
                    {"cell_type": "code", "metadata": answer, "source": ["def gram(features):\n", "    pass\n"]},
                    {"cell_type": "code", "metadata": {}, "source": ["from vizkit.optimize.style import grams"]}]}
    path = tmp_path / "99_x.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(AssertionError, match="'f'"):
        test_no_function_is_defined_in_a_cell(path)
    with pytest.raises(AssertionError, match="vizkit.optimize.style"):
        test_vizkit_is_used_through_its_public_modules(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_check_cell_lets_run_all_go_on(path):
    """An exercise's check cell (nbgrader's grade cell) is tagged raises-exception, so that a student's Run All goes
    on past a check not answered yet (the root conftest.py still makes nbval fail it in the solved course)."""
    cells = json.loads(path.read_text())["cells"]
    untagged = [i for i, c in enumerate(cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade")
                and "raises-exception" not in c["metadata"].get("tags", [])]
    assert not untagged, f"check cells without the raises-exception tag: {untagged}"
