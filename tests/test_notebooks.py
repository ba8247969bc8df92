"""Notebooks on an ImageNet architecture: every notebook also runs under nbval with AlexNet,
using locally made weights in a temporary torch cache, so the 3-channel 224-pixel path is exercised.
(`make test` runs every notebook with the bundled model; this adds the ImageNet path.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IMAGENET_NOTEBOOKS = [nb for nb in NOTEBOOKS if nb.name.startswith("01_")]


@pytest.mark.parametrize("notebook", IMAGENET_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_alexnet(notebook, tmp_path, random_weights):
    random_weights("alexnet", tmp_path)
    env = dict(os.environ, TORCH_HOME=str(tmp_path), VIZKIT_MODEL="alexnet", VIZKIT_SMOKE="1",
               VIZKIT_OFFLINE="1", MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                             "--nbval-current-env", str(notebook)], env=env, capture_output=True, text=True,
                            cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
