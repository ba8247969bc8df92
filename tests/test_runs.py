"""The claims notebook 02 makes, checked at CI's budget, and the shipped precomputed runs."""

import pytest
import torch

import vizkit as vk
from vizkit.runs import MONITORING, train_run

SMOKE_IMAGES, SMOKE_EPOCHS = 2000, 3  # notebook 02's VIZKIT_SMOKE budget


@pytest.fixture(scope="module")
def smoke_runs():
    train_set = vk.FashionMNIST(train=True).subset(SMOKE_IMAGES)
    probe = vk.FashionMNIST(train=False).tensors(torch.arange(256))[0]
    return {name: train_run(settings, train_set, SMOKE_EPOCHS, progress=False,
                            snapshots=vk.SnapshotSettings(probe=probe))[1]
            for name, settings in MONITORING.items()}


def deep_dead(snapshot):
    return max(snapshot["dead"][layer] for layer in ("relu2", "relu3"))


def test_too_high_learning_rates_kill_filters(smoke_runs):
    good, too_high, far_too_high = smoke_runs.values()
    assert all(deep_dead(h.snapshots[0]) <= 0.05 for h in smoke_runs.values())  # the same healthy start
    assert deep_dead(good.snapshots[-1]) <= 0.05
    assert deep_dead(too_high.snapshots[-1]) >= 0.08
    assert deep_dead(far_too_high.snapshots[-1]) >= 0.3
    assert good.epochs[-1]["accuracy"] > far_too_high.epochs[-1]["accuracy"] + 0.15


def test_good_run_grows_sparse(smoke_runs):
    good = next(iter(smoke_runs.values()))
    _, zeros = good.series("sparsity", "relu3")
    assert 0.35 < zeros[0] < 0.65          # dense at initialisation: about half the values are zero
    assert zeros[-1] > zeros[0] + 0.1      # sparser after training


@pytest.mark.parametrize("kind", ["monitoring", "filters"])
def test_precomputed_runs_load(kind):
    runs = vk.runs.load(kind)
    assert runs and all(h.snapshots for h in runs.values())
    if kind == "monitoring":
        assert list(runs) == list(MONITORING)
        assert deep_dead(runs[list(MONITORING)[1]].snapshots[-1]) >= 0.08
    with pytest.raises(KeyError, match="monitoring"):
        vk.runs.load("nope")
