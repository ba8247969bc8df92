"""`python -m vizkit info`: what a bug report needs, true to what is installed and set."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vizkit as vk
from vizkit import info
from vizkit.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_it_lists_every_dependency_that_pyproject_names():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(info.DEPENDENCIES) == {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0] for d in deps}


def test_it_lists_every_setting_the_package_reads():
    read = set()
    for path in (ROOT / "vizkit").rglob("*.py"):
        read |= set(re.findall(r"\bVIZKIT_[A-Z_]+\b", path.read_text()))
    assert read <= set(info.SETTINGS), f"settings vizkit reads but `info` does not list: {read - set(info.SETTINGS)}"


def test_values_agree_with_what_is_installed(monkeypatch):
    monkeypatch.setenv("VIZKIT_OFFLINE", "1")
    monkeypatch.delenv("VIZKIT_IMAGENET", raising=False)
    found = info.system_info()
    assert found["vizkit"] == vk.__version__
    assert torch.__version__.startswith(found["torch"])
    assert found["torch threads"] == str(torch.get_num_threads())
    assert found["cuda devices"] == ("none" if not torch.cuda.is_available() else found["cuda devices"])
    assert found["VIZKIT_OFFLINE"] == "1" and "VIZKIT_IMAGENET" not in found
    assert all(isinstance(v, str) and "\n" not in v for v in found.values())


def test_missing_data_is_reported_not_raised(monkeypatch):
    def nowhere(root=None, download=None):
        raise FileNotFoundError("no Fashion-MNIST here")

    monkeypatch.setattr("vizkit.data.find_fashion_mnist", nowhere)
    assert info.system_info()["fashion-mnist"] == "not found (FileNotFoundError)"


def test_the_command_prints_one_line_per_value(capsys):
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(info.system_info())
    assert lines[0].split() == ["vizkit:", vk.__version__]
    assert any(line.startswith("torch:") for line in lines)


def test_python_dash_m_runs_it_and_a_missing_command_is_named():
    done = subprocess.run([sys.executable, "-m", "vizkit", "info"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "torchvision:" in done.stdout, done.stderr
    done = subprocess.run([sys.executable, "-m", "vizkit"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "{scan,info,train,runs}" in done.stderr


@pytest.mark.parametrize("command, words", [("train", "--epochs"), ("runs", "--only")])
def test_train_and_runs_are_subcommands_with_their_own_help(command, words, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and f"python -m vizkit {command}" in out and words in out
