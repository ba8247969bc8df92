"""Dataset passes under torch.distributed (vizkit.distributed; features, top_patches, dead_filters, layer_stats,
evaluate): torchrun with two gloo processes on 3,000 Fashion-MNIST test images gives what one process gives, bit for
bit, each rank reading about half; a broken item in one shard ends both ranks with its error, quickly; ranks that
ask for different things are refused."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import vizkit as vk
from vizkit.distributed import shard_range, world

sys.path.insert(0, str(Path(__file__).parent))
import distributed_worker as worker  # noqa: E402

WORKER = Path(__file__).parent / "distributed_worker.py"


def torchrun(out: Path, case: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")   # one thread each, as the reference
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(WORKER), str(out), case], capture_output=True, text=True, env=env, timeout=timeout)
    return done, time.monotonic() - start


@pytest.fixture(scope="module")
def one_process():
    """The passes in this process, one thread (as each rank runs), no process group."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return worker.run_passes(vk.load("fashion-cnn"), vk.FashionMNIST(train=False).subset(worker.N))
    finally:
        torch.set_num_threads(threads)


def test_two_processes_give_what_one_gives(tmp_path, one_process):
    done, _ = torchrun(tmp_path, "passes")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    read = [set(r["read"]) for r in ranks]
    assert not read[0] & read[1] and read[0] | read[1] == set(range(worker.N))      # disjoint shards, all read
    assert [len(r) for r in read] == [1536, 1464]                                  # whole batches of 256 each
    for rank in ranks:
        found = rank["found"]
        assert found.keys() == one_process.keys()
        for what in ("features", "flat"):
            assert found[what].shape == one_process[what].shape and np.array_equal(found[what], one_process[what])
        for what in ("top_patches", "top_patches_of"):
            for field, value in one_process[what].items():
                assert torch.equal(found[what][field], value), (what, field)
        assert torch.equal(found["dead_filters"], one_process["dead_filters"])
        assert found["evaluate"] == one_process["evaluate"] > 0.8
        for stat, value in one_process["layer_stats"].items():
            assert torch.equal(found["layer_stats"][stat], value), stat


def test_a_broken_item_in_one_shard_ends_both_ranks_with_its_error(tmp_path):
    done, seconds = torchrun(tmp_path, "broken", timeout=120)
    assert done.returncode != 0
    errors = {r: (tmp_path / f"error{r}.txt").read_text() for r in (0, 1)}
    assert errors[1].startswith("OSError") and f"image {worker.BROKEN} is truncated" in errors[1]
    assert errors[0].startswith("RuntimeError: rank 1 of 2 failed on its shard (images 1536..2999): OSError")
    assert seconds < 90, seconds   # not the 30 minutes of gloo's collective timeout


def test_ranks_that_ask_for_different_layers_are_refused_before_any_work(tmp_path):
    done, _ = torchrun(tmp_path, "mismatch", timeout=120)
    assert done.returncode != 0
    for r in (0, 1):
        text = (tmp_path / f"error{r}.txt").read_text()
        assert text.startswith("ValueError: features: the processes disagree on layer") and \
            "rank 0: 'relu1', rank 1: 'relu2'" in text, text


@pytest.mark.parametrize("n, batch_size, size", [(3000, 256, 2), (10, 3, 4), (5, 10, 3), (1, 1, 1), (257, 256, 2),
                                                 (1000, 7, 8)])
def test_shards_are_contiguous_runs_of_whole_batches_covering_every_item(n, batch_size, size):
    spans = [shard_range(n, batch_size, r, size) for r in range(size)]
    assert [i for s in spans for i in s] == list(range(n))
    assert all(s.start % batch_size == 0 for s in spans)
    batches = [len(range(s.start, s.stop, batch_size)) for s in spans]
    assert max(batches) - min(batches) <= 1


def test_layer_stats_are_every_value_of_every_image_counted_once():
    """Against the maps themselves: float64 mean, max and share <= 0 over images and positions, per channel."""
    assert world() == (0, 1)   # no process group here: the pass runs alone
    net = vk.load("fashion-cnn")
    x = vk.FashionMNIST(train=False).subset(300)
    stats = vk.layer_stats(net, x, "relu2", batch_size=64, progress=False)
    maps = vk.activations(net, net.normalize(x.tensors()[0]), "relu2")["relu2"]      # (300, C, h, w)
    flat = maps.transpose(0, 1).reshape(maps.shape[1], -1).double()
    torch.testing.assert_close(stats["mean"], flat.mean(1).float(), rtol=1e-5, atol=1e-6)
    assert torch.equal(stats["max"], flat.amax(1).float())
    assert torch.equal(stats["fraction_zero"], ((flat <= 0).sum(1).double() / flat.shape[1]).float())
    one = vk.activation_stats(maps[7])                                           # one image: as activation_stats
    for key, value in vk.layer_stats(net, net.normalize(x.tensors()[0][7:8]), "relu2", progress=False).items():
        torch.testing.assert_close(value, one[key], rtol=1e-5, atol=1e-6)
