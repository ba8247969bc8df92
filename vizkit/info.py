"""What a bug report needs to know about this machine: `python -m vizkit info` prints it, to paste into the report.

vizkit's version, Python's and the platform's; the installed version of every package vizkit depends on (read from
the installed metadata, so nothing heavy is imported for it but torch); torch's build, threads and devices; and
where vizkit looks for its data, weights and settings (the VIZKIT_* environment variables that are set).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

DEPENDENCIES = ("torch", "torchvision", "numpy", "pillow", "matplotlib", "ipywidgets", "jupyterlab", "scikit-learn",
                "scipy", "umap-learn", "openTSNE", "tqdm")
"""The distributions vizkit depends on (pyproject.toml's dependencies), whose versions a report lists."""
SETTINGS = ("VIZKIT_DEVICE", "VIZKIT_DATA", "VIZKIT_CACHE", "VIZKIT_OFFLINE", "VIZKIT_IMAGENET", "VIZKIT_MODEL",
            "VIZKIT_PHOTOS", "VIZKIT_SCAN", "VIZKIT_SMOKE", "TORCH_HOME", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")
"""The environment variables that change what vizkit or torch does; a report lists those that are set."""


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def system_info() -> dict[str, str]:
    """Name -> value, every value a one-line string: versions, torch's devices, data paths and settings."""
    import torch

    from . import __version__
    from .data import find_fashion_mnist

    info = {"vizkit": __version__, "python": f"{platform.python_version()} ({sys.executable})",
            "platform": platform.platform()}
    info.update({name: _version(name) for name in DEPENDENCIES})
    info["torch build"] = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU only"
    info["torch threads"] = str(torch.get_num_threads())
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() \
        else []
    info["cuda devices"] = ", ".join(gpus) or "none"
    try:
        info["fashion-mnist"] = str(find_fashion_mnist(download=False))
    except (FileNotFoundError, OSError, ValueError) as e:
        info["fashion-mnist"] = f"not found ({type(e).__name__})"
    info["torch cache"] = torch.hub.get_dir()
    info.update({name: os.environ[name] for name in SETTINGS if os.environ.get(name)})
    return info


def report() -> str:
    """system_info() as "name: value" lines, ready to paste into a bug report."""
    info = system_info()
    width = max(map(len, info))
    return "\n".join(f"{name + ':':{width + 1}} {value}" for name, value in info.items())
