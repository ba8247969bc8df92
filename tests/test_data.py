"""open_image: every mode converts to what a model needs; bad input gets a clear error."""

import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import vizkit as vk
from vizkit import data


def png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgba_is_composited_on_white():
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 255          # red
    arr[:2, :, 3] = 255        # top half opaque, bottom half transparent
    img = vk.open_image(png_bytes(Image.fromarray(arr, "RGBA")))
    assert img.mode == "RGB"
    out = np.asarray(img)
    assert (out[0, 0] == [255, 0, 0]).all() and (out[3, 3] == [255, 255, 255]).all()


def test_la_palette_cmyk_16bit_and_bilevel():
    la = Image.fromarray(np.stack([np.full((3, 3), 10, np.uint8), np.zeros((3, 3), np.uint8)], -1), "LA")
    assert vk.open_image(png_bytes(la)).mode == "L"
    assert np.asarray(vk.open_image(png_bytes(la))).max() == 255  # transparent -> white

    pal = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4)).convert("P")
    assert vk.open_image(pal).mode == "RGB"
    pal_t = pal.copy()
    pal_t.info["transparency"] = 0
    assert vk.open_image(pal_t).mode == "RGB"

    cmyk = Image.new("CMYK", (5, 5), (0, 255, 255, 0))  # pure red in CMYK
    rgb = np.asarray(vk.open_image(png_bytes(cmyk, "JPEG")))
    assert rgb.shape == (5, 5, 3) and rgb[..., 0].mean() > 200 and rgb[..., 1].mean() < 60

    sixteen = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    out = vk.open_image(png_bytes(sixteen))
    assert out.mode == "L" and np.asarray(out).min() == 255

    bilevel = Image.new("1", (4, 4), 1)
    assert vk.open_image(bilevel).mode == "L"


def test_arrays_of_each_kind():
    assert vk.open_image(np.zeros((5, 6), np.uint8)).size == (6, 5)
    assert vk.open_image(np.zeros((5, 6, 1), np.uint8)).mode == "L"
    assert vk.open_image(np.ones((5, 6, 3), np.float32)).getpixel((0, 0)) == (255, 255, 255)
    assert vk.open_image(np.zeros((5, 6, 4), np.uint8)).mode == "RGB"
    assert vk.open_image(np.full((2, 2), 65535, np.uint16)).getpixel((0, 0)) == 255
    assert vk.open_image(np.ones((2, 2), bool)).getpixel((0, 0)) == 255


def test_paths_and_bytes(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(png_bytes(Image.new("RGB", (3, 2), (1, 2, 3))))
    assert vk.open_image(p).getpixel((0, 0)) == (1, 2, 3)
    assert vk.open_image(str(p)).size == (3, 2)
    assert vk.open_image(p.read_bytes()).size == (3, 2)


@pytest.mark.parametrize("source, error, words", [
    (b"", ValueError, "empty"),
    (b"this is not an image", ValueError, "not an image"),
    (np.zeros((3, 4, 5), np.uint8), ValueError, "(H, W"),
    (np.zeros((0, 4), np.uint8), ValueError, "empty"),
    (np.full((2, 2), 2.0), ValueError, "[0, 1]"),
    (np.full((2, 2), np.nan), ValueError, "NaN"),
    (torch.zeros(3, 4, 4), TypeError, "Tensor"),
    (42, TypeError, "int"),
    ("", ValueError, "empty path"),
])
def test_bad_input_is_named(source, error, words):
    with pytest.raises(error) as info:
        vk.open_image(source)
    assert words in str(info.value)


def test_missing_folder_empty_and_truncated_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file"):
        vk.open_image(tmp_path / "nope.jpg")
    with pytest.raises(ValueError, match="folder"):
        vk.open_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty file"):
        vk.open_image(tmp_path / "empty.png")
    good = png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)), "JPEG")
    (tmp_path / "cut.jpg").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="truncated"):
        vk.open_image(tmp_path / "cut.jpg")


def test_decompression_bomb_is_refused():
    bomb = png_bytes(Image.new("1", (9000, 9000)))  # 81 Mpx, a few kB compressed
    with pytest.raises(ValueError, match="too large"):
        vk.open_image(bomb)
    with pytest.raises(ValueError, match="limit"):
        vk.open_image(Image.new("1", (9000, 9000)))


def test_sample_photos_are_real_rgb_photos():
    photos = vk.sample_images()
    assert {"china", "flower", "grace_hopper"} <= set(photos)
    img = vk.sample_image("china")
    assert img.mode == "RGB" and min(img.size) > 200 and np.asarray(img).std() > 20
    with pytest.raises(KeyError, match="available"):
        vk.sample_image("nope")


def test_fashion_mnist(fashion_test, tmp_path, monkeypatch):
    assert len(fashion_test) == 10_000 and len(fashion_test.classes) == 10
    x, y = fashion_test[0]
    assert x.shape == (1, 28, 28) and 0 <= x.min() and x.max() <= 1 and y == 9  # first test item: ankle boot
    xs, ys = fashion_test.tensors([0, 1])
    assert torch.equal(xs[0], x) and ys.tolist()[0] == y
    # $VIZKIT_DATA comes first; an empty folder there is skipped, a missing dataset is explained
    monkeypatch.setenv("VIZKIT_DATA", str(tmp_path))
    assert data.find_fashion_mnist(download=False) == data.DEBIAN_FASHION_DIR
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "absent")
    monkeypatch.setenv("VIZKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        data.find_fashion_mnist(download=False)
    for f in fashion_test.root.glob("*-ubyte*"):
        shutil.copy(f, tmp_path / f.name)
    assert data.find_fashion_mnist(download=False) == tmp_path


# --------------------------------------------------------------------------- ImageFolder

def photo(path, h, w, seed=0, fmt=None):
    """A random RGB image file of h x w pixels (PNG or JPEG by its suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), np.uint8)).save(path, fmt)
    return path


@pytest.fixture
def classes_folder(tmp_path):
    """torchvision's layout: one subfolder per class (a nested folder, an upper-case suffix, clutter)."""
    root = tmp_path / "pets"
    photo(root / "dog" / "a.png", 40, 60, 1)
    photo(root / "dog" / "deeper" / "b.JPG", 50, 30, 2)
    photo(root / "cat" / "c.jpeg", 28, 28, 3)
    photo(root / "cat" / ".ipynb_checkpoints" / "c-checkpoint.png", 28, 28, 4)  # hidden: skipped
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_with_class_folders(classes_folder, fashion):
    ds = vk.ImageFolder(classes_folder, size=(24, 32))
    assert ds.classes == ["cat", "dog"] and len(ds) == 3 and ds.labels.tolist() == [0, 1, 1]
    assert [p.name for p in ds.paths] == ["c.jpeg", "a.png", "b.JPG"]
    x, y = ds[1]
    assert x.shape == (3, 24, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 and y == 1
    xs, ys = ds.tensors([2, -1])
    assert xs.shape == (2, 3, 24, 32) and ys.tolist() == [1, 1] and torch.equal(xs[0], ds[2][0])
    assert torch.equal(ds.tensors()[0][0], ds[0][0]) and ds.tensors([])[0].shape == (0, 3, 24, 32)
    part = ds.subset(2)
    assert len(part) == 2 and part.classes == ds.classes and torch.equal(part[1][0], ds[1][0])
    with pytest.raises(IndexError):
        ds[3]
    # at a net's input size, as net.preprocess makes it (shorter side resized, centre crop), grey for fashion-cnn
    grey = vk.ImageFolder(classes_folder, net=fashion)
    assert grey[1][0].shape == (1, 28, 28)
    torch.testing.assert_close(fashion.normalize(grey[2][0][None]), fashion.preprocess(grey.paths[2]))
    assert "2 classes" in repr(grey)


def test_image_folder_without_class_folders(tmp_path, classes_folder):
    root = tmp_path / "loose"
    photo(root / "x.png", 30, 30)
    photo(root / "sub" / "y.png", 30, 30, 1)
    ds = vk.ImageFolder(root, size=16)
    assert ds.classes == [] and ds.labels.tolist() == [-1, -1] and ds[0][0].shape == (3, 16, 16)
    with pytest.raises(ValueError, match="labelled=False"):
        vk.ImageFolder(root, size=16, labelled=True)
    flat = vk.ImageFolder(classes_folder, size=16, labelled=False)  # class folders, read as one set
    assert flat.classes == [] and flat.labels.tolist() == [-1, -1, -1]


def test_image_folder_errors_name_the_folder_or_file(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no folder"):
        vk.ImageFolder(tmp_path / "absent", size=8)
    photo(tmp_path / "one.png", 10, 10)
    with pytest.raises(ValueError, match="is a file"):
        vk.ImageFolder(tmp_path / "one.png", size=8)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match="no images"):
        vk.ImageFolder(tmp_path / "empty", size=8)
    with pytest.raises(ValueError, match="net= .* or size="):
        vk.ImageFolder(tmp_path)
    with pytest.raises(TypeError, match="root"):
        vk.ImageFolder(None, size=8)
    with pytest.raises(ValueError, match="channels"):
        vk.ImageFolder(tmp_path, size=8, channels=2)
    with pytest.raises(TypeError, match="vizkit Net"):
        vk.ImageFolder(tmp_path, net=torch.nn.Conv2d(3, 3, 1))
    (tmp_path / "zz-broken.png").write_bytes(b"not an image at all")
    ds = vk.ImageFolder(tmp_path, size=8)
    with pytest.raises(ValueError, match=r"item 1: .*zz-broken\.png.* not an image"):
        ds[1]
    with pytest.raises(ValueError, match="zz-broken"):  # also when features() reads it in a batch
        vk.features(vk.wrap(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3)), input_size=8), ds, "0", progress=False)
    monkeypatch.setattr(data, "MAX_PIXELS", 50)  # open_image's decompression-bomb limit applies
    with pytest.raises(ValueError, match="one.png.*MAX_PIXELS"):
        vk.ImageFolder(tmp_path, size=8)[0]


def test_image_folder_keeps_decoded_items(classes_folder, monkeypatch):
    ds = vk.ImageFolder(classes_folder, size=8)
    opened = []
    real = data.open_image
    monkeypatch.setattr(data, "open_image", lambda p: opened.append(p) or real(p))
    first = ds[0][0]
    assert torch.equal(ds.subset(1)[0][0], first) and len(opened) == 1  # a subset shares the cache
    uncached = vk.ImageFolder(classes_folder, size=8, cache=False)
    uncached[0], uncached[0]
    assert len(opened) == 3


def test_features_and_top_patches_on_an_image_folder(classes_folder, fashion):
    ds = vk.ImageFolder(classes_folder, net=fashion)
    f = vk.features(fashion, ds, "relu4", batch_size=2, progress=False)
    x, _ = ds.tensors()
    np.testing.assert_allclose(f, vk.features(fashion, fashion.normalize(x), "relu4", progress=False), atol=1e-6)
    tp = vk.top_patches(fashion, ds, "conv2", k=2, batch_size=2, progress=False)
    assert tp.values.shape == (64, 2) and tp.crops(3).shape == (2, *tp.rf.size, 1)
    assert vk.nearest(f, 0, k=2)[0].shape == (2,)
