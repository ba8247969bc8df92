"""plot.tile against hand-built grids; patch_mosaic and RF.box unchanged; panels pick layers by module type."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import vizkit as vk
from vizkit.hooks import layers_of_type

N = np.nan


def test_tile_pads_with_nan_row_by_row():
    tiles = np.arange(12.0).reshape(3, 2, 2)
    expected = np.array([[0, 1, N, 4, 5],
                         [2, 3, N, 6, 7],
                         [N, N, N, N, N],
                         [8, 9, N, N, N],
                         [10, 11, N, N, N]])
    np.testing.assert_array_equal(vk.plot.tile(tiles), expected)  # cols = ceil(sqrt(3)) = 2
    np.testing.assert_array_equal(vk.plot.tile(tiles, cols=3, pad=0), [[0, 1, 4, 5, 8, 9], [2, 3, 6, 7, 10, 11]])
    wide = vk.plot.tile(torch.arange(3.0).reshape(3, 1, 1), cols=1, pad=2, fill=-1.0)
    np.testing.assert_array_equal(wide, [[0], [-1], [-1], [1], [-1], [-1], [2]])


def test_tile_colour_tiles_and_origins():
    tiles = np.stack([np.full((2, 1, 3), v) for v in (0.25, 0.5)])
    out = vk.plot.tile(tiles, fill=1.0, dtype=np.float32)
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], 0.25)
    np.testing.assert_array_equal(out[:, 1], 1.0)
    np.testing.assert_array_equal(out[:, 2], 0.5)
    assert vk.plot.tile_origin(0, 3, (4, 5), pad=2) == (0, 0)
    assert vk.plot.tile_origin(4, 3, (4, 5), pad=2) == (6, 7)
    with pytest.raises(ValueError, match="tile needs"):
        vk.plot.tile(np.zeros((0, 2, 2)))


def old_patch_mosaic(crops, cols=None, pad=2):
    """The implementation before plot.tile (vizkit/ui/patches.py), kept as the reference."""
    k, h, w, c = crops.shape
    cols = cols or math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    out = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, 3), dtype=np.float32)
    for i, crop in enumerate(crops):
        r, q = divmod(i, cols)
        rgb = np.repeat(crop, 3, axis=2) if c == 1 else crop
        out[r * (h + pad):r * (h + pad) + h, q * (w + pad):q * (w + pad) + w] = np.where(np.isnan(rgb), 0.85, rgb)
    return out


@pytest.mark.parametrize("k,c,cols,pad", [(9, 1, None, 2), (5, 3, None, 2), (7, 1, 3, 1), (1, 3, None, 0)])
def test_patch_mosaic_unchanged(k, c, cols, pad):
    crops = np.random.default_rng(k).random((k, 6, 5, c)).astype(np.float32)
    crops[:, :2, :1] = np.nan  # a field clipped at the border
    new = vk.plot.patch_mosaic(crops, cols, pad)
    assert new.dtype == np.float32
    np.testing.assert_array_equal(new, old_patch_mosaic(crops, cols, pad))
    from vizkit.ui.patches import patch_mosaic  # still importable from its old home
    assert patch_mosaic is vk.plot.patch_mosaic


def test_rf_box_matches_the_field_arithmetic():
    rf = vk.RF(size=(7, 5), stride=(4, 2), start=(-3, -1))
    for y, x in ((0, 0), (3, 5), (10, 1)):
        top, left = rf.start[0] + y * rf.stride[0], rf.start[1] + x * rf.stride[1]
        assert rf.box(y, x) == (top, left, top + rf.size[0], left + rf.size[1])
    ys, xs = torch.tensor([0, 2, 5]), torch.tensor([1, 0, 3])
    boxes = torch.stack(rf.box(ys, xs), 1)
    assert boxes.dtype == torch.int64
    assert boxes.tolist() == [list(rf.box(int(y), int(x))) for y, x in zip(ys, xs)]
    np.testing.assert_array_equal(np.stack(rf.box(ys.numpy(), xs.numpy()), 1), boxes.numpy())


def test_top_patches_boxes_use_rf_box(fashion, fashion_test):
    tp = vk.top_patches(fashion, fashion_test.subset(40), "conv2", k=3, progress=False)
    top = tp.rf.start[0] + tp.ys[1] * tp.rf.stride[0]
    left = tp.rf.start[1] + tp.xs[1] * tp.rf.stride[1]
    old = torch.stack([top, left, top + tp.rf.size[0], left + tp.rf.size[1]], 1).numpy()
    np.testing.assert_array_equal(tp.boxes(1), old)


def small_net(layers):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 10))
    return vk.wrap(model, input_size=(28, 28), layers=layers)


def test_layers_of_type():
    net = small_net({"squash": "2", "logits": "4", "edges": "0"})  # listed out of order
    assert layers_of_type(net, nn.Conv2d) == ["edges"]
    assert layers_of_type(net, (nn.Conv2d, nn.MaxPool2d)) == ["edges", "squash"]  # module order
    assert layers_of_type(small_net({}), (nn.Conv2d, nn.MaxPool2d)) == ["0", "2"]  # no aliases: paths
    assert layers_of_type(net, nn.ReLU) == ["1"]   # no alias is a ReLU: module paths (as ResNet's stage aliases)


def test_layers_of_type_keeps_the_bundled_choice(fashion):
    pools = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)
    assert layers_of_type(fashion, (nn.Conv2d, *pools)) == [a for a in fashion.layers
                                                             if a.startswith(("conv", "pool"))]
    assert layers_of_type(fashion, nn.Conv2d) == [a for a in fashion.layers if a.startswith("conv")]


def test_panels_find_layers_of_a_wrapped_model():
    from vizkit.ui import FieldPanel, FiltersPanel

    torch.manual_seed(0)
    net = small_net({"edges": "0", "squash": "2"})
    field = FieldPanel(net, {"noise": torch.rand(1, 28, 28)})
    assert list(field.layer.options) == ["edges", "squash"] and field.last_error is None
    field.layer.value = "squash"
    assert field.last_error is None and field.y.max == 12 and "size (4, 4)" in field.caption.value
    filters = FiltersPanel({"wrapped": net, "kept": {"edges": torch.randn(4, 1, 3, 3), "bias": torch.zeros(4)}})
    assert list(filters.layer.options) == ["edges"] and filters.last_error is None
    filters.net.value = "kept"
    assert filters.last_error is None
    kept_only = FiltersPanel({"kept": {"edges": torch.randn(4, 1, 3, 3), "bias": torch.zeros(4)}})
    assert list(kept_only.layer.options) == ["edges"]


def test_show_image_takes_tensors_channels_first_and_arrays_channels_last():
    """show_image draws the same picture from a (1, C, H, W) tensor, a (C, H, W) tensor and an (H, W, C) array."""
    rgb = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    expected = rgb[0].permute(1, 2, 0).numpy()
    for image in (rgb, rgb[0], expected, rgb[0].permute(1, 2, 0)):
        shown = vk.plot.show_image(image).get_images()[0].get_array()
        np.testing.assert_allclose(np.asarray(shown), expected, atol=1e-6)
    grey = torch.rand(1, 1, 4, 6, generator=torch.Generator().manual_seed(1))
    for image in (grey, grey[0], grey[0, 0], grey[0].permute(1, 2, 0).numpy()):
        ax = vk.plot.show_image(image)
        np.testing.assert_allclose(np.asarray(ax.get_images()[0].get_array()), grey[0, 0].numpy(), atol=1e-6)
        assert ax.get_images()[0].get_cmap().name == "gray"
    with pytest.raises(ValueError, match="got shape"):
        vk.plot.show_image(torch.zeros(2, 3, 4, 4))
