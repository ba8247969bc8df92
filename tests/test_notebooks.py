"""Notebooks on an ImageNet architecture: the notebooks that read VIZKIT_MODEL also run under nbval with
AlexNet, using locally made weights in a temporary torch cache and a folder of photo crops (VIZKIT_PHOTOS),
so the 3-channel 224-pixel path and vk.ImageFolder are exercised. (`make test` runs every notebook with
the bundled model; this adds the ImageNet path.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IMAGENET_NOTEBOOKS = [nb for nb in NOTEBOOKS if nb.name[:3] in ("01_", "06_", "07_", "08_")]


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
