"""top_patches against brute force; merging shards equals one pass; crops follow the receptive field."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import vizkit as vk


@pytest.fixture(scope="module")
def images(fashion_test):
    return fashion_test.subset(300)


def brute_force(net, data, layer, k):
    """Every image's map, every channel: sort (value desc, index asc), take k."""
    x, _ = data.tensors()
    maps = vk.activations(net, net.normalize(x), layer)[layer]  # (N, C, h, w)
    n, c, h, w = maps.shape
    out = []
    for ch in range(c):
        entries = []
        for i in range(n):
            m = maps[i, ch]
            pos = int(torch.argmax(m.flatten()))
            entries.append((-float(m.flatten()[pos]), i, pos // w, pos % w))
        entries.sort()
        out.append(entries[:k])
    return out


@pytest.mark.parametrize("layer", ["conv1", "relu2", "pool3"])
def test_top_patches_equal_brute_force(fashion, images, layer):
    got = vk.top_patches(fashion, images, layer, k=5, batch_size=64, progress=False)
    ref = brute_force(fashion, images, layer, 5)
    assert got.values.shape == (len(ref), 5)
    for ch, entries in enumerate(ref):
        assert got.indices[ch].tolist() == [e[1] for e in entries]
        assert got.ys[ch].tolist() == [e[2] for e in entries] and got.xs[ch].tolist() == [e[3] for e in entries]
        np.testing.assert_allclose(got.values[ch].numpy(), [-e[0] for e in entries], rtol=1e-5, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(1, 79), min_size=1, max_size=3, unique=True), k=st.integers(1, 6))
def test_merging_shards_equals_one_pass(fashion, fashion_test, cuts, k):
    """Exact equality; batch_size=1 so every image's maps are computed the same way in every run
    (oneDNN's sums can differ in the last bit between batch shapes)."""
    batch = 1
    data = fashion_test.subset(80)
    whole = vk.top_patches(fashion, data, "conv2", k=k, batch_size=batch, progress=False)
    bounds = [0, *sorted(cuts), 80]
    shards = [vk.top_patches(fashion, torch.utils.data.Subset(fashion_test, range(a, b)), "conv2", k=k,
                             batch_size=batch, progress=False) for a, b in zip(bounds, bounds[1:])]
    merged = shards[0]
    for s in shards[1:]:
        merged = merged.merge(s)
    for f in ("values", "indices", "ys", "xs"):
        assert torch.equal(getattr(merged, f), getattr(whole, f)), f


def test_crops_follow_the_field_and_show_clipping(fashion, images):
    tp = vk.top_patches(fashion, images, "conv3", k=4, progress=False)
    rf = tp.rf
    assert rf.size == (20, 20) and rf.stride == (4, 4) and rf.start == (-8, -8)
    for ch in range(3):
        crops = tp.crops(ch)
        assert crops.shape == (4, 20, 20, 1)
        for crop, (top, left, bottom, right), idx in zip(crops, tp.boxes(ch), tp.indices[ch].tolist()):
            img = images[idx][0][0].numpy()
            inside = ~np.isnan(crop[..., 0])
            rows = np.arange(top, bottom)
            cols = np.arange(left, right)
            valid = ((rows >= 0) & (rows < 28))[:, None] & ((cols >= 0) & (cols < 28))[None, :]
            assert np.array_equal(inside, valid)  # NaN exactly where the field leaves the image
            keep_r, keep_c = rows[(rows >= 0) & (rows < 28)], cols[(cols >= 0) & (cols < 28)]
            np.testing.assert_array_equal(crop[..., 0][inside], img[np.ix_(keep_r, keep_c)].ravel())
    with pytest.raises(ValueError, match="channel"):
        tp.crops(128)


def test_bad_input(fashion, images):
    with pytest.raises(ValueError, match="k must"):
        vk.top_patches(fashion, images, "conv1", k=0)
    with pytest.raises(ValueError, match="not maps"):
        vk.top_patches(fashion, images, "fc4", progress=False)
    tp = vk.top_patches(fashion, images.subset(3), "conv1", k=5, progress=False)
    assert tp.indices[0].tolist()[3:] == [-1, -1] and len(tp.crops(0)) == 3  # fewer images than k
    with pytest.raises(ValueError, match="different layers"):
        tp.merge(vk.top_patches(fashion, images.subset(3), "conv2", k=5, progress=False))


def test_mean_crop_averages_the_crops_inside_their_images(fashion, fashion_test):
    import warnings

    tp = vk.top_patches(fashion, fashion_test.subset(200), "conv3", k=5, progress=False)
    for ch in (0, 7):
        crops = tp.crops(ch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: nanmean warns, mean_crop does not
            expected = np.nanmean(crops, 0)
        np.testing.assert_allclose(tp.mean_crop(ch), expected, rtol=1e-6, equal_nan=True)


def test_top_patches_reports_progress_to_a_callback(fashion, fashion_test):
    calls = []
    data = fashion_test.subset(700)
    found = vk.top_patches(fashion, data, "conv2", k=3, batch_size=256, progress=False,
                           callback=lambda done, total: calls.append((done, total)))
    assert calls == [(256, 700), (512, 700), (700, 700)]
    assert torch.equal(found.values, vk.top_patches(fashion, data, "conv2", k=3, progress=False).values)
    with pytest.raises(TypeError, match="callback"):
        vk.top_patches(fashion, data, "conv2", callback="print")


def test_several_layers_in_one_pass_give_what_each_gives_alone(fashion, fashion_test):
    """top_patches_of (the scan's one pass over several layers) agrees exactly with top_patches layer by layer."""
    from vizkit.inspect.patches import top_patches_of

    data = fashion_test.subset(300)
    together = top_patches_of(fashion, data, ["conv3", "conv1", "relu2"], k=5, batch_size=64, progress=False)
    assert list(together) == ["conv3", "conv1", "relu2"]
    for layer, tp in together.items():
        alone = vk.top_patches(fashion, data, layer, k=5, batch_size=64, progress=False)
        for field in ("values", "indices", "ys", "xs", "scanned"):
            assert torch.equal(getattr(tp, field), getattr(alone, field)), (layer, field)
        assert (tp.rf, tp.channel_rfs, tp.layer) == (alone.rf, alone.channel_rfs, layer) and tp.dataset is alone.dataset
    with pytest.raises(TypeError, match="non-empty list of different layer names"):
        top_patches_of(fashion, data, ["conv1", "conv1"], progress=False)
    with pytest.raises(ValueError, match="'fc5' gives .* not maps"):
        top_patches_of(fashion, data, ["conv1", "fc5"], progress=False)
