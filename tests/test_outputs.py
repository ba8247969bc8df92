"""What a reader meets before running anything: notebooks saved with their outputs (under 2 MB), a Colab
install cell that does nothing elsewhere, the README's badges and pictures, and package data a wheel keeps."""

import fnmatch
import importlib.util
import json
import re
import sys
import types
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
spec = importlib.util.spec_from_file_location("outputs", ROOT / "etc" / "outputs.py")
outputs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(outputs)
REPO = outputs.repository()


def first_code_cell(path: Path) -> dict:
    return next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")


def run_cell(source: str, on_colab: bool, monkeypatch) -> list:
    """Run the cell as IPython would (magics turned into calls), recording what it asks IPython and Colab."""
    calls = []
    shell = types.SimpleNamespace(run_line_magic=lambda *a: calls.append(("magic", *a)))
    if on_colab:
        colab = types.ModuleType("google.colab")
        colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(("widgets",)))
        google = types.ModuleType("google")
        google.colab = colab
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", colab)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(TransformerManager().transform_cell(source), {"get_ipython": lambda: shell})
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_first_code_cell_installs_vizkit_on_colab_only(path, monkeypatch):
    cell = first_code_cell(path)
    assert "".join(cell["source"]) == outputs.colab_cell_source(REPO), "run `python etc/outputs.py --links`"
    assert run_cell("".join(cell["source"]), on_colab=False, monkeypatch=monkeypatch) == []
    assert run_cell("".join(cell["source"]), on_colab=True, monkeypatch=monkeypatch) == [
        ("magic", "pip", f'install -q "vizkit @ git+{REPO}"'), ("widgets",)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_saved_with_their_outputs_and_stay_small(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    unrun = [i for i, c in enumerate(code) if c["execution_count"] is None]
    assert not unrun, f"code cells {unrun} have no outputs saved: run `make outputs`"
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), "saved from one top-to-bottom run"
    assert not any(o.get("output_type") == "error" for c in code for o in c["outputs"])
    assert path.stat().st_size <= outputs.MAX_BYTES
    assert (ROOT / "docs" / "pictures" / f"{path.stem}.png").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_saved_progress_bar_is_left_at_its_start(path):
    """A bar's text is what a reader without widgets sees: it must show where the work ended, not 0/N."""
    nb = json.loads(path.read_text())
    texts = ["".join(o.get("data", {}).get("text/plain", "")) for c in nb["cells"] if c["cell_type"] == "code"
             for o in c["outputs"]]
    stuck = [t for t in texts if re.search(r"\|\s*0/[1-9]\d*", t) or re.search(r"(?<![\d.])0%\|", t)]
    assert not stuck, f"progress bars saved at their start: {stuck} (make outputs writes their end)"


def test_finish_bars_writes_a_bars_end_from_the_widget_state():
    ids = ["bar", "left", "progress", "right"]
    state = {"bar": {"model_name": "HBoxModel", "state": {"children": [f"IPY_MODEL_{i}" for i in ids[1:]]}},
             "left": {"model_name": "HTMLModel", "state": {"value": "object\u2007mass:\u2007100%"}},
             "progress": {"model_name": "FloatProgressModel", "state": {"value": 30.0, "max": 30.0}},
             "right": {"model_name": "HTMLModel", "state": {"value": "\u200730/30\u2007[00:01&lt;00:00]"}}}
    nb = outputs.nbformat_like({"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}}, [
        {"data": {"text/plain": "object mass:   0%|          | 0/30", "application/vnd.jupyter.widget-view+json":
                  {"model_id": "bar"}}}])
    assert outputs.finish_bars(nb) == 1
    assert nb.cells[0]["outputs"][0]["data"]["text/plain"] == "object mass: 100%|██████████| 30/30"


def test_readme_rows_have_their_picture_and_badges():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{path.stem}` |")), None)
        assert row is not None, f"README's table lacks {path.stem}"
        assert f'src="docs/pictures/{path.stem}.png"' in row
        assert outputs.badges(REPO, path.name) in row
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO)


def test_the_package_data_keeps_every_bundled_file():
    """A wheel (Colab, pip install from git) keeps the weights and the precomputed runs, not only an editable
    install."""
    globs = json.loads(re.search(r"^vizkit = (\[.*\])", (ROOT / "pyproject.toml").read_text(), re.M).group(1))
    package = ROOT / "vizkit"
    bundled = [p.relative_to(package).as_posix() for p in (package / "weights").rglob("*") if p.is_file()]
    assert bundled
    missed = [f for f in bundled if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)]
    assert not missed, f"pyproject.toml's package-data leaves out {missed}"
