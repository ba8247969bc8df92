"""Hostile input at the API's edge (images, datasets, nets): every bad value gets a clear error that names
it, nothing is silently wrong, memory stays bounded, and nothing of the caller's model changes."""

import gzip
import io
import pathlib
import resource
import struct
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import vizkit as vk
from vizkit import data
from vizkit.nets import checkpoint_path

NAN = float("nan")


class Items(torch.utils.data.Dataset):
    """A dataset that returns whatever items it was given."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class Stream(IterableDataset):
    def __iter__(self):
        return iter([(torch.zeros(1, 28, 28), 0)])


def images(n=6, channels=1, size=28, dtype=torch.float32, scale=1.0):
    return (torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0)) * scale).to(dtype)


def pairs(x, labels=None):
    return Items([(im, 0 if labels is None else labels[i]) for i, im in enumerate(x)])


def small_model(channels=3, size=16, classes=2):
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * (size // 2) ** 2, classes))


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds no image data (a bomb's header)."""
    def chunk(kind, body):
        import zlib
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"x") + chunk(b"IEND", b"")


def write_idx(path, arr: np.ndarray, raw: bytes | None = None):
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    path.write_bytes(raw if raw is not None else header + arr.astype(np.uint8).tobytes())


def fashion_folder(folder, n=5):
    """A tiny, valid Fashion-MNIST folder: n train and n test items."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "t10k"):
        write_idx(folder / f"{split}-images-idx3-ubyte", np.full((n, 28, 28), 7))
        write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    return folder


@pytest.fixture
def env(fashion, fashion_test, tmp_path):
    small = fashion_test.subset(12)
    x, _ = small.tensors()
    return SimpleNamespace(
        net=fashion, small=small, x=fashion.normalize(x[:1]), pixels=x, tmp=tmp_path,
        wrapped=lambda **kw: vk.wrap(small_model(), **{"input_size": 16, **kw}),
    )


# --------------------------------------------------------------------------- (1) wrong answers, now errors

WRONG = {
    # NaN / inf in tensors
    "predict NaN input": (lambda e: e.net.predict(torch.full((1, 1, 28, 28), NAN)), ValueError, r"NaN"),
    "predict inf input": (lambda e: e.net.predict(e.x.clone().index_fill_(3, torch.tensor([0]), float("inf"))),
                          ValueError, r"1?\d+ NaN or infinite"),
    "preprocess NaN tensor": (lambda e: e.net.preprocess(torch.full((1, 28, 28), NAN)), ValueError, r"NaN"),
    "preprocess inf tensor": (lambda e: e.net.preprocess(torch.full((1, 1, 9, 9), float("-inf"))), ValueError,
                              r"NaN or infinite"),
    "activations NaN": (lambda e: vk.activations(e.net, torch.full((2, 1, 28, 28), NAN), "conv1"), ValueError,
                        r"NaN"),
    # NaN / inf in wrap(mean=, std=)
    "wrap std NaN": (lambda e: e.wrapped(mean=[0.5] * 3, std=[0.2, NAN, 0.2]), ValueError, r"std\[1\].*nan"),
    "wrap std inf": (lambda e: e.wrapped(std=[float("inf")] * 3), ValueError, r"std\[0\].*finite"),
    "wrap mean NaN": (lambda e: e.wrapped(mean=[NAN] * 3, std=[1] * 3), ValueError, r"mean\[0\]"),
    "wrap std 0": (lambda e: e.wrapped(mean=[0] * 3, std=[1, 0, 1]), ValueError, r"std\[1\].*\(0, inf\)"),
    "wrap std negative": (lambda e: e.wrapped(std=[-1.0] * 3), ValueError, r"std\[0\].*got -1"),
    # NaN in float images
    "float array NaN": (lambda e: vk.open_image(np.full((3, 3), NAN, np.float32)), ValueError, r"NaN"),
    "F image NaN": (lambda e: vk.open_image(Image.fromarray(np.full((3, 3), NAN, np.float32))), ValueError,
                    r"'F'.*NaN"),
    "F image out of range": (lambda e: vk.open_image(Image.fromarray(np.full((3, 3), -4.0, np.float32))),
                             ValueError, r"\[0, 1\] or \[0, 255\].*-4"),
    "I image > 16 bit": (lambda e: vk.open_image(Image.fromarray(np.full((3, 3), 100_000, np.int32))), ValueError,
                         r"32-bit integer.*100000"),
    "float array in 0..255": (lambda e: vk.open_image(np.full((3, 3), 200.0)), ValueError, r"divide by 255"),
    # dataset items that are uint8 or floats in 0..255
    "features uint8 items": (lambda e: vk.features(e.net, pairs(images(dtype=torch.uint8, scale=255)), "fc4",
                                                   progress=False), ValueError, r"uint8.*/ 255"),
    "features 0..255 items": (lambda e: vk.features(e.net, pairs(images(scale=255)), "fc4", progress=False),
                              ValueError, r"dataset items 0\.\.5.*divide by 255"),
    "dead_filters uint8 items": (lambda e: vk.dead_filters(e.net, pairs(images(dtype=torch.uint8)), "conv1"),
                                 ValueError, r"floating-point"),
    "dead_filters 0..255 items": (lambda e: vk.dead_filters(e.net, pairs(images(scale=255)), "conv1"),
                                  ValueError, r"divide by 255"),
    "top_patches uint8 items": (lambda e: vk.top_patches(e.net, pairs(images(dtype=torch.uint8)), "conv2", k=2,
                                                         progress=False), ValueError, r"floating-point"),
    "top_patches 0..255 items": (lambda e: vk.top_patches(e.net, pairs(images(scale=255)), "conv2", k=2,
                                                          progress=False), ValueError, r"divide by 255"),
    "features normalised items": (lambda e: vk.features(e.net, pairs(images() - 0.5), "fc4", progress=False),
                                  ValueError, r"looks normalised"),
    "features NaN items": (lambda e: vk.features(e.net, pairs(torch.full((3, 1, 28, 28), NAN)), "fc4",
                                                 progress=False), ValueError, r"NaN"),
    "loader 0..255 batches": (lambda e: vk.features(e.net, DataLoader(pairs(images(scale=255)), batch_size=4),
                                                    "fc4", progress=False), ValueError,
                              r"batch 0 of the DataLoader.*divide by 255"),
    "train uint8 items": (lambda e: vk.evaluate(e.net, pairs(images(dtype=torch.uint8, scale=255))), ValueError,
                          r"uint8"),
    # DataLoaders whose order is not the dataset's
    "features shuffled loader": (lambda e: vk.features(e.net, DataLoader(e.small, batch_size=4, shuffle=True), "fc4",
                                                       progress=False), ValueError, r"shuffle=False"),
    "top_patches shuffled loader": (lambda e: vk.top_patches(e.net, DataLoader(e.small, batch_size=4, shuffle=True),
                                                             "conv2", k=2, progress=False), ValueError,
                                    r"in order.*pass the dataset itself"),
    "custom batch_sampler": (lambda e: vk.features(e.net, DataLoader(e.small, batch_sampler=[[3, 2], [1, 0]]), "fc4",
                                                   progress=False), ValueError, r"batch_sampler"),
    "drop_last": (lambda e: vk.features(e.net, DataLoader(e.small, batch_size=5, drop_last=True), "fc4",
                                        progress=False), ValueError, r"drop_last=True.*last 2 item"),
    "iterable dataset loader": (lambda e: vk.features(e.net, DataLoader(Stream(), batch_size=1), "conv1",
                                                      progress=False), TypeError, r"a Dataset with a length"),
    # an explicit root without the files
    "root without files": (lambda e: vk.FashionMNIST(root=e.tmp, download=False), FileNotFoundError,
                           r"root=.*holds no Fashion-MNIST idx files"),
    "root without files, default download offline": (lambda e: vk.FashionMNIST(root=e.tmp / "nope"),
                                                     FileNotFoundError, r"nope.*holds no Fashion-MNIST"),
    # a string where a bool goes would silently pick the training set
    "FashionMNIST train='test'": (lambda e: vk.FashionMNIST(train="test"), TypeError, r"train must be True"),
    "classes as one string": (lambda e: e.wrapped(classes="ab"), TypeError, r"classes must be a list.*'ab'"),
    "classes vs outputs": (lambda e: e.wrapped(classes=["a", "b", "c"]), ValueError, r"3 names.*2 outputs"),
}


@pytest.mark.parametrize("case", WRONG.values(), ids=list(WRONG))
def test_silently_wrong_inputs_now_raise(env, case):
    call, error, pattern = case
    with pytest.raises(error, match=pattern):
        call(env)


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((40, 80, 3), np.uint8)  # stored landscape: left half white, right half black
    arr[:, :40] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    raw = encode(Image.fromarray(arr), "JPEG", exif=exif.tobytes(), quality=95)
    (tmp_path / "phone.jpg").write_bytes(raw)
    for source in (raw, tmp_path / "phone.jpg", Image.open(io.BytesIO(raw))):
        out = np.asarray(vk.open_image(source).convert("L"), dtype=float)
        assert out.shape == (80, 40)  # portrait, as the camera meant
        assert out[:30].mean() > 200 and out[-30:].mean() < 50  # the white half is now on top
    # applying it twice does not turn it again
    once = vk.open_image(raw)
    assert np.array_equal(np.asarray(vk.open_image(once)), np.asarray(once))


@pytest.mark.parametrize("values, expected", [(0.5, 128), (1.0, 255), (0.0, 0), (128.0, 128), (255.0, 255)])
def test_float_tiff_keeps_its_range(values, expected):
    raw = encode(Image.fromarray(np.full((4, 4), values, np.float32)), "TIFF")
    img = vk.open_image(raw)
    assert Image.open(io.BytesIO(raw)).mode == "F" and img.mode == "L"
    assert abs(int(np.asarray(img)[0, 0]) - expected) <= 1


def test_integer_and_16_bit_images_keep_their_range():
    assert np.asarray(vk.open_image(encode(Image.fromarray(np.full((2, 2), 30000, np.int32)), "TIFF")))[0, 0] == 117
    assert np.asarray(vk.open_image(Image.fromarray(np.full((2, 2), 200, np.int32))))[0, 0] == 200
    assert np.asarray(vk.open_image(encode(Image.fromarray(np.full((2, 2), 65535, np.uint16)), "PNG")))[0, 0] == 255
    big_endian = np.full((2, 2), 65535, dtype=">u2")
    assert np.asarray(vk.open_image(big_endian))[0, 0] == 255


def test_float64_and_float16_inputs_are_converted(env):
    x = env.net.normalize(env.pixels[:3])
    ref = vk.activations(env.net, x, "conv2")["conv2"]
    torch.testing.assert_close(vk.activations(env.net, x.double(), "conv2")["conv2"], ref)
    assert env.net.normalize(env.pixels[:2].double()).dtype == torch.float32
    assert env.net.predict(x[:1].double(), k=1)[0][0] == env.net.predict(x[:1], k=1)[0][0]
    assert env.net.preprocess(env.pixels[0].half()).dtype == torch.float32
    # float64 items of a dataset, and a TensorDataset (whose .tensors is a tuple, not a method)
    f = vk.features(env.net, x, "fc5", progress=False)
    g = vk.features(env.net, TensorDataset(env.pixels[:3].double(), torch.zeros(3, dtype=torch.long)), "fc5",
                    progress=False)
    np.testing.assert_allclose(g, f, atol=1e-5)


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_shuffled_batches_keep_a_dataloaders_order():
    """Checking items one by one must not change which items a seeded shuffle gives (train() relies on it)."""
    ds = pairs(images(23, size=2), labels=list(range(23)))
    old = [y.tolist() for _, y in DataLoader(ds, batch_size=5, shuffle=True, generator=seeded(3))]
    new = [y.tolist() for _, y in data.batches(ds, 5, shuffle=True, generator=seeded(3))]
    assert new == old and sorted(sum(new, [])) == list(range(23))


def test_an_explicit_root_is_the_only_place_looked_in(tmp_path, monkeypatch, fashion_test):
    monkeypatch.setenv("VIZKIT_DATA", str(fashion_test.root))  # a good copy elsewhere is never used instead
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "empty")):
        vk.FashionMNIST(root=tmp_path / "empty", download=False)
    mine = vk.FashionMNIST(root=fashion_folder(tmp_path / "mine"), download=False)
    assert len(mine) == 5 and mine.root == tmp_path / "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match="is a file"):
        vk.FashionMNIST(root=tmp_path / "file", download=False)


# --------------------------------------------------------------------------- (2) memory

def test_a_long_thin_png_preprocesses_in_little_memory(tmp_path):
    strip = np.tile(np.linspace(0, 255, 60_000).astype(np.uint8)[:, None], (1, 1))  # 60000 x 1 (H x W)
    path = tmp_path / "strip.png"
    Image.fromarray(strip).save(path)
    net = vk.wrap(small_model(3, 224, 2), mean=[0.5] * 3, std=[0.5] * 3, input_size=224)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    x = net.preprocess(path)
    elapsed = time.perf_counter() - start
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert x.shape == (1, 3, 224, 224) and torch.isfinite(x).all()
    assert elapsed < 5 and grown < 200_000  # the old path asked for ~9 GB here
    # the crop is the strip's middle 1/224 slice, stretched: a vertical gradient around mid-grey
    pix = net.deprocess(x)[..., 0]
    assert abs(pix.mean() - 0.5) < 0.01 and (np.diff(pix[:, 100]) >= -1e-6).all()
    assert vk.load("fashion-cnn", pretrained=False).preprocess(Image.fromarray(strip.T)).shape == (1, 1, 28, 28)


def test_a_non_image_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "archive.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 8_000_000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="not an image"):
        vk.open_image(b"warm-up: PIL imports its plugins on first use")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="not an image"):
            vk.open_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000  # the old code read all 8 MB first


@pytest.mark.parametrize("width, height", [(10_000, 7_000), (1, 70_000_000), (100_000, 100_000)])
def test_declared_size_is_checked_before_decoding(tmp_path, width, height):
    raw = png_header_only(width, height)
    (tmp_path / "bomb.png").write_bytes(raw)
    for source in (raw, tmp_path / "bomb.png"):
        with pytest.raises(ValueError, match=r"MAX_PIXELS = 64,000,000"):
            vk.open_image(source)


# --------------------------------------------------------------------------- (3) errors that say what is wrong

def ragged():
    return Items([(torch.zeros(1, 28, 28), 0), (torch.zeros(1, 30, 28), 1)])


UNCLEAR = {
    # model inputs of the wrong dtype, shape or size
    "activations int64 input": (lambda e: vk.activations(e.net, torch.zeros(1, 1, 28, 28, dtype=torch.long),
                                                         "conv1"), ValueError, r"floating-point.*int64"),
    "predict uint8 input": (lambda e: e.net.predict(torch.zeros(1, 1, 28, 28, dtype=torch.uint8)), ValueError,
                            r"floating-point.*/ 255"),
    "preprocess uint8 tensor": (lambda e: e.net.preprocess(torch.zeros(1, 28, 28, dtype=torch.uint8)), ValueError,
                                r"floating-point pixels.*/ 255"),
    "preprocess bool tensor": (lambda e: e.net.preprocess(torch.ones(1, 28, 28, dtype=torch.bool)), ValueError,
                               r"torch.bool"),
    "preprocess zero-size tensor": (lambda e: e.net.preprocess(torch.zeros(1, 0, 28)), ValueError, r"H, W >= 1"),
    "normalize uint8": (lambda e: e.net.normalize(torch.zeros(1, 1, 28, 28, dtype=torch.uint8)), ValueError,
                        r"normalize.*uint8.*/ 255"),
    "normalize wrong channels": (lambda e: e.net.normalize(torch.zeros(1, 3, 28, 28)), ValueError,
                                 r"fashion-cnn takes 1-channel.*\(1, 3, 28, 28\)"),
    "normalize an array": (lambda e: e.net.normalize(np.zeros((1, 1, 28, 28))), TypeError, r"ndarray"),
    "predict float k": (lambda e: e.net.predict(e.x, k=2.0), TypeError, r"k must be an integer.*2\.0"),
    "predict bool k": (lambda e: e.net.predict(e.x, k=True), TypeError, r"k must be an integer"),
    "check_size wrong size": (lambda e: e.net.check_size((32, 32)), ValueError,
                              r"fashion-cnn cannot take inputs of size \(32, 32\).*\(28, 28\).*mat1"),
    # dataset items of the wrong kind
    "3-channel items": (lambda e: vk.features(e.net, pairs(images(channels=3)), "fc4", progress=False), ValueError,
                        r"fashion-cnn takes 1-channel images.*3 channel"),
    "3-channel loader": (lambda e: vk.dead_filters(e.net, DataLoader(pairs(images(channels=3)), batch_size=2),
                                                   "conv1"), ValueError, r"fashion-cnn takes 1-channel"),
    "ragged items": (lambda e: vk.features(e.net, ragged(), "fc4", progress=False), ValueError,
                     r"different sizes: item 0 is \(1, 28, 28\), item 1 is \(1, 30, 28\)"),
    "ragged items in a loader": (lambda e: vk.features(e.net, DataLoader(ragged(), batch_size=2), "fc4",
                                                       progress=False), ValueError, r"could not make a batch.*size"),
    "bare tensor items": (lambda e: vk.features(e.net, Items(list(images(2))), "fc4", progress=False), ValueError,
                          r"item 0 must be an \(image, label\) pair; got a Tensor"),
    "1-tuple items": (lambda e: vk.top_patches(e.net, Items([(im,) for im in images(2)]), "conv2", k=1,
                                               progress=False), ValueError, r"got a tuple of length 1"),
    "PIL items": (lambda e: vk.features(e.net, Items([(Image.new("L", (28, 28)), 0)]), "fc4", progress=False),
                  TypeError, r"ToTensor"),
    "2-D items": (lambda e: vk.features(e.net, Items([(torch.zeros(28, 28), 0)]), "fc4", progress=False),
                  ValueError, r"unsqueeze\(0\)"),
    "float labels in training data": (lambda e: vk.evaluate(e.net, pairs(images(2), [0.5, 1.5])), TypeError,
                                      r"item 0's label.*0\.5"),
    "empty dataset": (lambda e: vk.features(e.net, Items([]), "fc4", progress=False), ValueError, r"no images"),
    "empty dataset to batches": (lambda e: next(data.batches(Items([]), 4)), ValueError, r"empty"),
    "batch_size 0": (lambda e: next(data.batches(e.small, 0)), ValueError, r"batch_size.*got 0"),
    "batch_size float": (lambda e: vk.dead_filters(e.net, e.small, "conv1", batch_size=2.0), TypeError,
                         r"batch_size must be an integer"),
    "loader of dicts": (lambda e: vk.features(e.net, DataLoader([{"x": torch.zeros(1, 28, 28)}], batch_size=1),
                                              "fc4", progress=False), TypeError, r"got dict"),
    "unbatched loader": (lambda e: vk.features(e.net, DataLoader(e.small, batch_size=None), "fc4", progress=False),
                         ValueError, r"batch_size=None"),
    "dataset index float": (lambda e: e.small[1.5], TypeError, r"index must be an integer"),
    "dataset index past the end": (lambda e: e.small[12], IndexError, r"12 is out of range.*12 items"),
    "tensors float indices": (lambda e: e.small.tensors([0.5]), TypeError, r"indices must be integers"),
    "tensors index too big": (lambda e: e.small.tensors([0, 99]), ValueError, r"\[0, 11\].*99"),
    "subset bool": (lambda e: e.small.subset(True), TypeError, r"subset size n"),
    "subset 0": (lambda e: e.small.subset(0), ValueError, r"subset size n.*\[1, 12\]"),
    "root an int": (lambda e: vk.FashionMNIST(root=5), TypeError, r"root must be a folder"),
    "download a string": (lambda e: vk.FashionMNIST(download="no"), TypeError, r"download"),
    # images
    "truncated lazy PIL image": (lambda e: vk.open_image(Image.open(io.BytesIO(
        encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)), "JPEG")[:900]))),
                                 ValueError, r"PIL image could not be decoded"),
    "path with NUL": (lambda e: vk.open_image("a\0b.png"), ValueError, r"cannot use the path"),
    "a device": (lambda e: vk.open_image("/dev/null"), ValueError, r"not a regular file"),
    "a URL": (lambda e: vk.open_image("https://example.com/cat.jpg"), ValueError,
              r"'https://example\.com/cat\.jpg' is a URL.*fetches nothing.*urlretrieve\(url, "
              r".*urlopen\(url\)\.read\(\)"),
    "a URL to preprocess": (lambda e: e.net.preprocess("HTTP://example.com/cat.png"), ValueError,
                            r"'HTTP://example\.com/cat\.png' is a URL.*Download it first"),
    "a URL as a Path": (lambda e: vk.open_image(pathlib.Path("https://example.com/cat.jpg")), ValueError,
                        r"'https:/example\.com/cat\.jpg' is a URL"),
    "a data URL": (lambda e: vk.open_image("data:image/png;base64,iVBORw0KGgo="), ValueError, r"is a URL"),
    "a drive letter is a path": (lambda e: vk.open_image("C:/no/cat.jpg"), FileNotFoundError,
                                 r"no image file at 'C:/no/cat\.jpg'"),
    # wrap / Net
    "wrap wrong channel count": (lambda e: e.wrapped(mean=[0.5], std=[0.2]), ValueError,
                                 r"\(1, 1, 16, 16\).*1 channel\(s\) from mean/std.*first convolution takes 3"),
    "wrap wrong input_size": (lambda e: e.wrapped(input_size=20), ValueError,
                              r"input_size=\(20, 20\).*failed.*mat1 and mat2"),
    "wrap mean a number": (lambda e: e.wrapped(mean=0.5, std=[1] * 3), TypeError, r"mean must be a list.*0\.5"),
    "wrap mean/std lengths": (lambda e: e.wrapped(mean=[0, 0], std=[1, 1, 1]), ValueError,
                              r"2 mean value\(s\).*3 std value\(s\)"),
    "wrap input_size 0": (lambda e: e.wrapped(input_size=0), ValueError,
                          r"input_size must be an integer in \[1.*got 0"),
    "wrap input_size negative": (lambda e: e.wrapped(input_size=(16, -4)), ValueError, r"input_size\[1\]"),
    "wrap input_size float": (lambda e: e.wrapped(input_size=(16.5, 16)), TypeError, r"input_size\[0\].*16\.5"),
    "wrap input_size triple": (lambda e: e.wrapped(input_size=(3, 16, 16)), ValueError, r"\(h, w\) pair"),
    "wrap classes ints": (lambda e: e.wrapped(classes=[0, 1]), TypeError, r"classes must be names.*\[str"),
    "wrap classes dict": (lambda e: e.wrapped(classes={0: "a", 1: "b"}), TypeError, r"d\[i\] for i"),
    "wrap bad layer path": (lambda e: e.wrapped(layers={"c": "9"}), ValueError, r"layers\['c'\] = '9'"),
    "wrap name int": (lambda e: e.wrapped(name=5), TypeError, r"name must be"),
    "load pretrained string": (lambda e: vk.load("fashion-cnn", pretrained="yes"), TypeError, r"pretrained"),
    "load download string": (lambda e: vk.load("resnet18", download="no"), TypeError, r"download"),
}


@pytest.mark.parametrize("case", UNCLEAR.values(), ids=list(UNCLEAR))
def test_bad_input_gets_a_clear_error(env, case):
    call, error, pattern = case
    with pytest.raises(error, match=pattern):
        call(env)


@pytest.mark.parametrize("breakage, pattern", [
    (lambda f: f.write_bytes(f.read_bytes()[:-100]), r"declares shape \(5, 28, 28\).*holds 3,820 bytes"),
    (lambda f: f.write_bytes(f.read_bytes() + b"extra"), r"truncated or corrupt"),
    (lambda f: f.write_bytes(b"\x00\x00"), r"not an idx file.*0000"),
    (lambda f: f.write_bytes(b"\x00\x00\x0d\x03" + f.read_bytes()[4:]), r"not an idx file.*00000d03"),
    (lambda f: f.write_bytes(f.read_bytes()[:9]), r"truncated inside its header"),
])
def test_a_broken_idx_file_is_named(tmp_path, breakage, pattern):
    folder = fashion_folder(tmp_path / "f")
    breakage(folder / "t10k-images-idx3-ubyte")
    with pytest.raises(ValueError, match=pattern) as info:
        vk.FashionMNIST(root=folder, download=False)
    assert "t10k-images-idx3-ubyte" in str(info.value)


def test_idx_files_that_disagree_are_named(tmp_path):
    folder = fashion_folder(tmp_path / "f")
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(4))
    with pytest.raises(ValueError, match=r"5 images but t10k-labels-idx1-ubyte holds 4 labels"):
        vk.FashionMNIST(root=folder, download=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.full(5, 12))
    with pytest.raises(ValueError, match=r"label 12.*0\.\.9"):
        vk.FashionMNIST(root=folder, download=False)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 40)[:-6])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz.*could not be read"):
        vk.FashionMNIST(root=folder, download=False)


def test_weights_of_another_architecture_are_named(tmp_path, monkeypatch, random_weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    wrong = random_weights("resnet18", tmp_path)
    target = checkpoint_path(torchvision.models.AlexNet_Weights.DEFAULT.url)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(open(wrong, "rb").read())
    with pytest.raises(vk.WeightsUnavailableError, match=r"alexnet-owt-7be5be79\.pth.*does not fit alexnet.*"
                                                         r"Delete it.*download the right"):
        vk.load("alexnet", download=False)


# --------------------------------------------------------------------------- (4) state

def bn_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 2))


def snapshot(model):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    return (model.training, [m.training for m in model.modules()], state,
            [p.requires_grad for p in model.parameters()], [dict(m._forward_hooks) for m in model.modules()])


def same(a, b):
    return a[0] == b[0] and a[1] == b[1] and a[3] == b[3] and a[4] == b[4] and all(
        torch.equal(a[2][k], b[2][k]) for k in a[2])


def test_probes_leave_the_model_as_they_found_it():
    model = bn_model()
    model[1].running_mean.fill_(0.3)
    model[0].weight.requires_grad_(False)
    net = vk.wrap(model, mean=[0.5] * 3, std=[0.2] * 3, input_size=12)
    net.model.train()
    before = snapshot(model)
    net.check_size((40, 24))  # a new size: one probe forward pass
    with pytest.raises(ValueError, match="cannot take inputs of size"):
        net.check_size((0, 5))
    assert same(before, snapshot(model)) and model.training
    # a failing wrap leaves everything too
    broken = bn_model().train()
    before = snapshot(broken)
    with pytest.raises(ValueError, match="wrap tried"):
        vk.wrap(broken, mean=[0.5], std=[0.2], input_size=12)
    after = snapshot(broken)
    assert after[2].keys() == before[2].keys() and all(torch.equal(before[2][k], after[2][k]) for k in before[2])


def test_inputs_are_not_changed_in_place(env):
    x = env.x.clone().double().requires_grad_(True)
    kept = x.detach().clone()
    vk.activations(env.net, x, "conv1")
    env.net.predict(x.float())
    assert x.dtype == torch.float64 and x.requires_grad and torch.equal(x.detach(), kept)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("bad", [None, float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("shape", [(0, 3), (1,), (7, 5), (2, 3, 4, 5)])
def test_the_finite_check_agrees_with_torch_isfinite(dtype, bad, shape):
    """_check.finite (every dataset pass runs it on every batch, by its extremes) refuses exactly what
    torch.isfinite(x).all() refuses, wherever the bad value sits."""
    from vizkit import _check

    x = torch.randn(shape).to(dtype)
    if bad is not None and x.numel():
        x.view(-1)[torch.randint(x.numel(), ())] = bad
    if bool(torch.isfinite(x).all()):
        assert _check.finite(x, "x") is x
    else:
        with pytest.raises(ValueError, match="x contains 1 NaN or infinite value"):
            _check.finite(x, "x")
    assert _check.finite(torch.tensor([1, 2]), "ints") is not None   # integers are always finite
