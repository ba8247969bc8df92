"""python -m vizkit scan (vizkit.scan): the long scans from the command line, under torchrun with two gloo
processes, resumable. A scan stopped by a broken image goes on, once it is fixed, from its last finished chunk and
writes what one uninterrupted pass gives; a scan left with other settings is refused."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vizkit as vk
from vizkit.cli import main
from vizkit.scan import scan

N, CHUNK, BROKEN = 3000, 1024, 2500     # three chunks: 0..1023, 1024..2047, 2048..2999 (the broken image's)
LAYERS = ["relu2", "relu3"]
FIELDS = ("values", "indices", "ys", "xs", "scanned")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """3,000 Fashion-MNIST test images as PNG files, in dataset order."""
    root = tmp_path_factory.mktemp("fashion") / "images"
    root.mkdir()
    images = vk.FashionMNIST(train=False).subset(N).tensors()[0]
    for i, image in enumerate(images):
        Image.fromarray((image[0] * 255).round().byte().numpy()).save(root / f"{i:05d}.png")
    return root


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # as each torchrun process runs: the same arithmetic, so the same bits
    yield
    torch.set_num_threads(threads)


def torchrun(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "vizkit", *args], capture_output=True, text=True, env=env, timeout=300)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(getattr(a[layer], f), getattr(b[layer], f))
                                        for layer in a for f in FIELDS)


def test_an_interrupted_torchrun_scan_resumes_and_gives_one_pass_result(folder, tmp_path, one_thread):
    broken = folder / f"{BROKEN:05d}.png"
    good = broken.read_bytes()
    out = tmp_path / "scan.pt"
    args = ["scan", "top-patches", "--model", "fashion-cnn", "--data", str(folder), "--layers", ",".join(LAYERS),
            "--k", "9", "--chunk", str(CHUNK), "--out", str(out)]
    try:
        broken.write_bytes(b"not a picture")
        first = torchrun(*args)
    finally:
        broken.write_bytes(good)
    assert first.returncode != 0 and not out.exists()
    assert "error (rank" in first.stderr and broken.name in first.stderr, first.stderr[-3000:]
    parts = out.with_name("scan.pt.parts")
    assert sorted(p.name for p in parts.glob("chunk-*.pt")) == ["chunk-00000.pt", "chunk-00001.pt"]
    second = torchrun(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming: 2 of 3 chunks were done" in second.stderr + second.stdout
    assert out.exists() and not parts.exists()
    net = vk.load("fashion-cnn")
    data = vk.ImageFolder(folder, net=net)
    one_pass = {layer: vk.top_patches(net, data, layer, k=9, progress=False) for layer in LAYERS}
    assert same(vk.load_scan(out, dataset=data), one_pass)
    crops = vk.load_scan(out, dataset=data)["relu2"].crops(3)      # a loaded scan crops like a fresh one
    assert np.array_equal(crops, one_pass["relu2"].crops(3), equal_nan=True)


class Breaks(torch.utils.data.Dataset):
    """The images, but item `at` cannot be read while `broken` is set."""

    def __init__(self, data, at):
        self.data, self.at, self.broken = data, at, True

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        if self.broken and i == self.at:
            raise OSError(f"image {i} is truncated")
        return self.data[i]


def test_a_scan_left_unfinished_resumes_only_with_its_own_settings(tmp_path):
    net = vk.load("fashion-cnn")
    data = Breaks(vk.FashionMNIST(train=False).subset(N), BROKEN)
    out = tmp_path / "feats.pt"
    with pytest.raises(OSError, match="image 2500 is truncated"):
        scan("features", net, data, "relu5", out, chunk=CHUNK, progress=False)
    with pytest.raises(ValueError, match=r"other settings \(pool: None then, 'avg' now\).*delete the folder"):
        scan("features", net, data, "relu5", out, pool="avg", chunk=CHUNK, progress=False)
    data.broken = False
    assert scan("features", net, data, "relu5", out, chunk=CHUNK, progress=False) == out
    expected = vk.features(net, data, "relu5", progress=False)
    found = vk.load_scan(out)["relu5"]
    assert found.dtype == np.float32 and np.array_equal(found, expected)


def test_the_command_line_names_its_mistakes(tmp_path, capsys):
    out = tmp_path / "x.pt"
    assert main(["scan", "features", "--model", "fashion-cnn", "--data", "fashion-mnist:test:300",
                 "--layers", "relu5", "--pool", "avg", "--out", str(out), "--no-progress"]) == 0
    assert vk.load_scan(out)["relu5"].shape == (300, 128)
    assert main(["scan", "top-patches", "--model", "fashion-cnn", "--data", str(tmp_path / "nowhere"),
                 "--layers", "relu2", "--out", str(out)]) == 1
    assert "error: FileNotFoundError: no folder at" in capsys.readouterr().err
    with pytest.raises(ValueError, match="is not a finished vizkit scan"):
        torch.save({"x": 1}, tmp_path / "other.pt")
        vk.load_scan(tmp_path / "other.pt")


class _Runs:
    """A pickled object that would run code when an unsafe load unpickles it."""

    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('RAN').write_text('ran')",))


def test_a_scan_file_is_read_safely_nothing_in_it_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"settings": {"format": 2, "kind": "features"}, "layers": {"relu5": _Runs()}}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="is not a finished vizkit scan"):
        vk.load_scan(tmp_path / "evil.pt")
    assert not (tmp_path / "RAN").exists()
    # and what a scan writes holds tensors only: torch's safe load reads it whole
    out = tmp_path / "feats.pt"
    scan("features", vk.load("fashion-cnn"), vk.FashionMNIST(train=False).subset(300), "relu5", out, progress=False)
    saved = torch.load(out, weights_only=True)
    assert isinstance(saved["layers"]["relu5"], torch.Tensor)


def test_a_scan_is_refused_against_other_images_or_another_model(tmp_path):
    net = vk.load("fashion-cnn")
    data = vk.FashionMNIST(train=False).subset(300)
    out = tmp_path / "top.pt"
    scan("top-patches", net, data, "conv2", out, k=3, progress=False)
    assert vk.load_scan(out, dataset=data, net=net)["conv2"].dataset is data
    with pytest.raises(ValueError, match="scanned 300 images but dataset holds 400"):
        vk.load_scan(out, dataset=vk.FashionMNIST(train=False).subset(400))
    other = vk.load("fashion-cnn", pretrained=False)
    with pytest.raises(ValueError, match=r"was scanned with fashion-cnn \(weights [0-9a-f]+\), not with this net"):
        vk.load_scan(out, net=other)
