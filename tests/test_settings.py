"""The settings dataclasses: checked when made, plain values kept, run keywords refused by name, one bar shared."""

import os

import numpy as np
import pytest
import torch
from tqdm.auto import tqdm

import vizkit as vk
from vizkit.settings import run_settings


def test_settings_keep_plain_values():
    run = vk.RunSettings(seed=np.int64(3), every=np.int32(2), batch_size=np.int64(8))
    assert (run.seed, run.every, run.batch_size) == (3, 2, 8)
    assert all(type(v) is int for v in (run.seed, run.every, run.batch_size))
    how = vk.TrainSettings(batch_size=np.int64(16), momentum=np.float32(0.5))
    assert type(how.batch_size) is int and type(how.momentum) is float
    style = vk.StyleSettings(style_weight=np.float64(2), size=np.int64(64), style_layers="relu1")
    assert style.style_layers == ["relu1"] and type(style.size) is int
    assert style.but(style_weight=3.0).style_weight == 3.0 and style.style_weight == 2.0


@pytest.mark.parametrize("make, error, match", [
    (lambda: vk.RunSettings(seed=1.5), TypeError, "seed must be an integer"),
    (lambda: vk.RunSettings(every=-1), ValueError, "every must be an integer in \\[0"),
    (lambda: vk.RunSettings(callback="print"), TypeError, "callback must be a function"),
    (lambda: vk.RunSettings(progress="yes"), TypeError, "progress must be True, False or a tqdm bar"),
    (lambda: vk.RunSettings(batch_size=0), ValueError, "batch_size"),
    (lambda: vk.TrainSettings(schedule="cosine"), ValueError, "schedule must be one of"),
    (lambda: vk.TrainSettings(momentum=1.5), ValueError, "momentum"),
    (lambda: vk.SnapshotSettings(layers=[]), TypeError, "snapshot layers"),
    (lambda: vk.SnapshotSettings(every=0), ValueError, "snapshot every"),
    (lambda: vk.StyleSettings(style_weight=0), ValueError, "style_weight"),
    (lambda: vk.StyleSettings(size=4), ValueError, "size must be an integer in \\[8"),
    (lambda: vk.StyleSettings(init="grey"), ValueError, "init must be one of 'content', 'noise'"),
    (lambda: vk.StyleSettings(content_layer=3), TypeError, "content_layer"),
])
def test_bad_settings_are_named_when_made(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_technique_names_the_run_settings_it_takes(fashion, fashion_batch):
    with pytest.raises(TypeError, match=r"invert got an unexpected keyword 'sed' \(did you mean 'seed'\?\).*seed, "
                                        r"every, callback, progress"):
        vk.invert(fashion, fashion_batch[0][:1], "relu1", steps=1, sed=3)
    with pytest.raises(TypeError, match=r"occlusion got an unexpected keyword 'seed'.*batch_size, progress"):
        vk.occlusion(fashion, fashion_batch[0][:1], 0, 7, 7, seed=3)
    assert run_settings({"every": 2}, "x", seed=5) == vk.RunSettings(seed=5, every=2)


def test_one_bar_is_shared_and_left_open():
    with open(os.devnull, "w") as sink, tqdm(total=4, file=sink) as bar:
        with vk.RunSettings(progress=bar).bar(2, "part") as got:
            assert got is bar
            got.update(2)
        assert bar.n == 2 and not bar.disable  # not closed by the block (closing a bar disables it)
        bar.update(1)
    with vk.RunSettings(progress=False).bar(3, "own") as own:
        assert own.disable and own.total == 3


def test_deepdream_advances_the_callers_bar(fashion, fashion_batch):
    seen = []
    with open(os.devnull, "w") as sink, tqdm(total=4, file=sink) as bar:
        vk.deepdream(fashion, fashion_batch[0][:1], "relu2", octaves=2, steps=2, size=40, progress=bar,
                     callback=lambda step, image, loss: seen.append(step))
        assert bar.n == 4 and not bar.disable
    assert seen == [2, 4] and torch.is_grad_enabled()
