"""Notebooks on an ImageNet architecture: the notebooks that read VIZKIT_MODEL also run under nbval with
AlexNet, using locally made weights in a temporary torch cache and a folder of photo crops (VIZKIT_PHOTOS),
so the 3-channel 224-pixel path and vk.ImageFolder are exercised; and every ImageNet section (a cell tagged
"imagenet", which asks vk.imagenet_section) runs after its notebook's parameter cell on seeded stand-in weights,
at the SMOKE sizes. (`make test` runs every notebook with the bundled model, where those sections are skipped
offline; this adds the ImageNet path.)"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# The notebooks that read VIZKIT_MODEL, by file-name prefix: each also runs on AlexNet below. A new notebook that
# reads VIZKIT_MODEL adds its prefix here; test_every_notebook_with_a_model_switch_is_covered fails until it does.
IMAGENET_PREFIXES = ("01_", "06_", "07_", "08_")
IMAGENET_NOTEBOOKS = [nb for nb in NOTEBOOKS if nb.name[:3] in IMAGENET_PREFIXES]
TAG = "imagenet"


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def section_cells(path: Path) -> list[int]:
    """Indices of the notebook's ImageNet section cells (tagged "imagenet")."""
    return [i for i, c in enumerate(cells(path)) if TAG in c.get("metadata", {}).get("tags", [])]


def parameter_cell(path: Path) -> int:
    """Index of the parameter cell: the first code cell but the Colab install cell."""
    return next(i for i, c in enumerate(cells(path)) if c["cell_type"] == "code"
                and "colab-install" not in c.get("metadata", {}).get("tags", []))


def section_models(path: Path) -> set[str]:
    """The models the sections ask for: the first argument of every vk.imagenet_section call."""
    found = set()
    for i in section_cells(path):
        tree = ast.parse("".join(cells(path)[i]["source"]))
        found |= {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
                  and getattr(n.func, "attr", None) == "imagenet_section" and n.args
                  and isinstance(n.args[0], ast.Constant)}
    return found


SECTION_NOTEBOOKS = [nb for nb in NOTEBOOKS if section_cells(nb)]


def photo_folder(root: Path) -> Path:
    """24 crops of the photos shipped with scikit-learn and matplotlib, in one class folder per photo."""
    import vizkit as vk
    for name in vk.sample_images():
        image = vk.sample_image(name)
        (root / name).mkdir(parents=True)
        w, h = image.size
        for i in range(8):
            left, top = (i % 4) * (w - w // 2) // 3, (i // 4) * (h - h // 2)
            image.crop((left, top, left + w // 2, top + h // 2)).save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize("notebook", IMAGENET_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_alexnet(notebook, tmp_path, random_weights):
    random_weights("alexnet", tmp_path)
    env = dict(os.environ, TORCH_HOME=str(tmp_path), VIZKIT_MODEL="alexnet", VIZKIT_SMOKE="1",
               VIZKIT_OFFLINE="1", MPLBACKEND="Agg", VIZKIT_PHOTOS=str(photo_folder(tmp_path / "photos")))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                             "--nbval-current-env", str(notebook)], env=env, capture_output=True, text=True,
                            cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout


@pytest.fixture(scope="module")
def stand_in_home(tmp_path_factory, random_weights):
    """One TORCH_HOME holding seeded stand-in weights for every model an ImageNet section asks for."""
    home = tmp_path_factory.mktemp("stand_ins")
    old = os.environ.get("TORCH_HOME")
    for name in sorted(set().union(*map(section_models, SECTION_NOTEBOOKS))):
        random_weights(name, home)
    if old is None:
        os.environ.pop("TORCH_HOME", None)
    else:
        os.environ["TORCH_HOME"] = old
    return home


@pytest.mark.parametrize("notebook", SECTION_NOTEBOOKS, ids=lambda p: p.stem)
def test_imagenet_sections_run_on_stand_in_weights(notebook, stand_in_home, tmp_path):
    """The parameter cell, then every ImageNet section, in a kernel: each runs (cached stand-ins), says its weights
    are stand-ins, and skips none. Sections use only what the parameter cell defines."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.reads(notebook.read_text(), as_version=4)
    nb.cells = [nb.cells[i] for i in [parameter_cell(notebook), *section_cells(notebook)]]
    env = dict(os.environ, TORCH_HOME=str(stand_in_home), VIZKIT_SMOKE="1", VIZKIT_OFFLINE="1",
               VIZKIT_IMAGENET="auto", VIZKIT_DEVICE="cpu", MPLBACKEND="Agg")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=env)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    models = section_models(notebook)
    assert "Skipped" not in text, text
    assert text.count("Running: ") == len(section_cells(notebook)) and "stand-in weights" in text, text
    assert all(f", on {m} (cached, about " in text for m in models), text


def test_every_notebook_with_a_model_switch_is_covered():
    """A notebook that reads VIZKIT_MODEL runs on AlexNet above; one that reads VIZKIT_IMAGENET has its sections
    tagged and run on stand-ins; every cell that asks for ImageNet weights is such a section."""
    for nb in NOTEBOOKS:
        text = nb.read_text()
        assert ("VIZKIT_MODEL" in text) == (nb in IMAGENET_NOTEBOOKS), (
            f"{nb.name} reads VIZKIT_MODEL but {nb.name[:3]!r} is not in IMAGENET_PREFIXES (tests/test_notebooks.py)"
            if "VIZKIT_MODEL" in text else f"{nb.name}: in IMAGENET_PREFIXES but never reads VIZKIT_MODEL")
        assert ("VIZKIT_IMAGENET" in text) == (nb in SECTION_NOTEBOOKS), nb.name
        for i, cell in enumerate(cells(nb)):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and ("imagenet_section(" in source or "download=False" in source):
                assert i in section_cells(nb), f"{nb.name}, cell {i}: an ImageNet section without the {TAG!r} tag"
    assert {nb.name[:2] for nb in SECTION_NOTEBOOKS} >= {"03", "10", "11", "12", "13", "14", "15"}


@pytest.fixture(scope="module")
def fashion_scan(tmp_path_factory):
    """A top-patches scan of all 10,000 Fashion-MNIST test images at notebooks 06 and 07's default layers, as
    `python -m vizkit scan top-patches --model fashion-cnn --data fashion-mnist:test --layers conv1,conv2,conv3`."""
    import vizkit as vk
    from vizkit.scan import scan

    out = tmp_path_factory.mktemp("scan") / "fashion-top9.pt"
    return scan("top-patches", vk.load("fashion-cnn"), vk.FashionMNIST(train=False), ["conv1", "conv2", "conv3"],
                out, k=9, progress=False)


@pytest.mark.parametrize("notebook", [nb for nb in NOTEBOOKS if nb.name[:3] in ("06_", "07_")], ids=lambda p: p.stem)
def test_a_scan_made_beforehand_drives_the_top_patch_panels(notebook, fashion_scan, tmp_path):
    """With VIZKIT_SCAN, notebooks 06 and 07 show the scan's top patches over every image, and every cell (its
    asserts included) still passes."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.reads(notebook.read_text(), as_version=4)
    env = dict(os.environ, VIZKIT_SCAN=str(fashion_scan), VIZKIT_SMOKE="1", VIZKIT_OFFLINE="1", MPLBACKEND="Agg")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=env)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    assert f"over 10000 images (scanned beforehand: {fashion_scan})" in text or \
        f"among 10000 images (scanned beforehand: {fashion_scan})" in text, text[:2000]
