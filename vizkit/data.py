"""Images and datasets: validated image opening, the bundled sample photos, Fashion-MNIST."""

from __future__ import annotations

import gzip
import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, UnidentifiedImageError

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MAX_PIXELS = 64_000_000  # refuse decompression bombs beyond ~8000 x 8000
_FASHION_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# --------------------------------------------------------------------------- images

def open_image(source) -> Image.Image:
    """Open a path / bytes / PIL image / ndarray as a validated RGB or L PIL image.

    Arrays may be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), uint8 in [0, 255],
    uint16, bool, or float in [0, 1]. Alpha is composited on white; palettes, CMYK,
    16-bit and LA images are converted explicitly. Raises ValueError / TypeError /
    FileNotFoundError with a message that says what was wrong.
    """
    if isinstance(source, Image.Image):
        return _normalise_mode(source)
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, torch.Tensor):
        raise TypeError("open_image got a torch.Tensor; pass a PIL image, an ndarray (H, W[, C]) "
                        "or a path (use net.deprocess(x) to turn a model input into an array)")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ValueError("open_image got empty bytes: no image data to decode")
        return _decode(io.BytesIO(data), "the given bytes")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if str(source) == "":
            raise ValueError("open_image got an empty path")
        if not path.exists():
            raise FileNotFoundError(f"no image file at {str(path)!r}")
        if path.is_dir():
            raise ValueError(f"{str(path)!r} is a folder, not an image file")
        if path.stat().st_size == 0:
            raise ValueError(f"{str(path)!r} is an empty file")
        with open(path, "rb") as f:
            return _decode(io.BytesIO(f.read()), repr(str(path)))
    raise TypeError(f"open_image cannot read a {type(source).__name__}; "
                    "pass a path, bytes, a PIL image or an ndarray")


def _decode(stream, what: str) -> Image.Image:
    """Decode with a pixel limit, loading fully so truncation is found here, not later."""
    old_limit, old_truncated = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = MAX_PIXELS, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(stream)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"{what} is too large to open safely ({e}); "
                         f"the limit is {MAX_PIXELS:,} pixels") from None
    except UnidentifiedImageError:
        raise ValueError(f"{what} is not an image PIL can read (PNG, JPEG, GIF, BMP, TIFF, WebP…)") from None
    except (OSError, SyntaxError) as e:
        raise ValueError(f"{what} could not be decoded, it may be truncated or corrupt: {e}") from None
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = old_limit, old_truncated
    return _normalise_mode(img)


def _normalise_mode(img: Image.Image) -> Image.Image:
    """Any PIL mode -> 'RGB' or 'L' (alpha composited on white, 16-bit rescaled)."""
    w, h = img.size
    if w == 0 or h == 0:
        raise ValueError(f"the image is empty ({w} x {h} pixels)")
    if w * h > MAX_PIXELS:
        raise ValueError(f"the image has {w * h:,} pixels; the limit is {MAX_PIXELS:,}")
    mode = img.mode
    if mode in ("RGB", "L"):
        return img.copy()
    if mode == "1":
        return img.convert("L")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 1.0)
        if mode in ("I", "F") and arr.max() <= 255:
            top = 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode == "P":
        return img.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or img.mode == "RGBA":
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        out = Image.alpha_composite(white, rgba)
        return out.convert("L") if mode in ("LA", "La") else out.convert("RGB")
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.size == 0:
        raise ValueError(f"open_image got an empty array of shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
                         f"got shape {arr.shape} (channels-first arrays need .transpose(1, 2, 0))")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("the image array contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"a float image array must lie in [0, 1]; got values in [{lo:.3g}, {hi:.3g}]")
        arr = (arr * 255.0 + 0.5).astype(np.uint8)
    elif arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.integer) and arr.min() >= 0 and arr.max() <= 255:
            arr = arr.astype(np.uint8)
        else:
            raise ValueError(f"an image array of dtype {arr.dtype} must hold values in [0, 255]")
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[arr.ndim if arr.ndim == 2 else arr.shape[2] + 0]
    return _normalise_mode(Image.fromarray(np.ascontiguousarray(arr), mode))


# --------------------------------------------------------------------------- sample photos

def sample_images() -> dict[str, Path]:
    """Names -> paths of real photographs shipped by scikit-learn and matplotlib."""
    found: dict[str, Path] = {}
    try:
        import sklearn.datasets
        folder = Path(sklearn.datasets.__file__).parent / "images"
        for name in ("china", "flower"):
            if (folder / f"{name}.jpg").exists():
                found[name] = folder / f"{name}.jpg"
    except ImportError:
        pass
    try:
        import matplotlib
        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        if path.exists():
            found["grace_hopper"] = path
    except ImportError:
        pass
    return found


def sample_image(name: str) -> Image.Image:
    """One bundled photo by name (see sample_images()) as an RGB PIL image."""
    photos = sample_images()
    if name not in photos:
        raise KeyError(f"no sample photo called {name!r}; available: {sorted(photos)}")
    return open_image(photos[name])


# --------------------------------------------------------------------------- Fashion-MNIST

class FashionMNIST(torch.utils.data.Dataset):
    """Fashion-MNIST as uint8 tensors: item i -> ((1, 28, 28) float in [0, 1], label)."""

    classes = FASHION_CLASSES

    def __init__(self, train: bool = False, root: str | os.PathLike | None = None, download: bool = True):
        folder = find_fashion_mnist(root, download=download)
        images_file, labels_file = _FASHION_FILES[bool(train)]
        self.images = torch.from_numpy(_read_idx(folder, images_file))  # (N, 28, 28) uint8
        self.labels = torch.from_numpy(_read_idx(folder, labels_file).astype(np.int64))
        self.train, self.root = bool(train), folder

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i].unsqueeze(0).float().div_(255.0), int(self.labels[i])

    def tensors(self, indices=None) -> tuple[torch.Tensor, torch.Tensor]:
        """All (or the chosen) items at once: ((N, 1, 28, 28) float in [0, 1], (N,) int64)."""
        idx = slice(None) if indices is None else torch.as_tensor(indices)
        return self.images[idx].unsqueeze(1).float().div_(255.0), self.labels[idx]

    def subset(self, n: int) -> FashionMNIST:
        """The first n items (n <= len), as a FashionMNIST sharing this one's memory."""
        if not isinstance(n, int) or not 1 <= n <= len(self):
            raise ValueError(f"subset size must be an integer in [1, {len(self)}]; got {n!r}")
        part = object.__new__(FashionMNIST)
        part.images, part.labels = self.images[:n], self.labels[:n]
        part.train, part.root = self.train, self.root
        return part

    def __repr__(self) -> str:
        return f"FashionMNIST({'train' if self.train else 'test'}, {len(self)} images, from {self.root})"


def batches(dataset, batch_size: int, shuffle: bool = False, generator=None):
    """Yield ((B, C, H, W) float in [0, 1], (B,) labels) from a Dataset of (image, label) items."""
    if hasattr(dataset, "tensors"):  # in-memory datasets such as FashionMNIST: no per-item calls
        n = len(dataset)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            yield dataset.tensors(order[start:start + batch_size])
    else:
        yield from torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                               generator=generator)


def _cache_dir() -> Path:
    return Path(os.environ.get("VIZKIT_CACHE", Path.home() / ".cache" / "vizkit"))


def find_fashion_mnist(root=None, download: bool = True) -> Path:
    """The folder holding Fashion-MNIST's idx files: root, $VIZKIT_DATA, Debian's, vizkit's cache, or a download."""
    candidates = [Path(root)] if root is not None else []
    if os.environ.get("VIZKIT_DATA"):
        candidates.append(Path(os.environ["VIZKIT_DATA"]))
    candidates += [DEBIAN_FASHION_DIR, _cache_dir() / "fashion-mnist"]
    for c in candidates:
        for sub in (c, c / "fashion-mnist", c / "FashionMNIST" / "raw"):
            if all(_idx_path(sub, f) is not None for pair in _FASHION_FILES.values() for f in pair):
                return sub
    if root is not None and not download:
        raise FileNotFoundError(f"no Fashion-MNIST idx files in {str(root)!r}")
    if download:
        target = _cache_dir() / "fashion-mnist"
        try:
            import torchvision
            torchvision.datasets.FashionMNIST(str(target), train=True, download=True)
            torchvision.datasets.FashionMNIST(str(target), train=False, download=True)
        except Exception as e:  # noqa: BLE001 - any download failure becomes one clear message
            raise FileNotFoundError(_missing_message(candidates) + f" Download failed: {e}") from None
        return target / "FashionMNIST" / "raw"
    raise FileNotFoundError(_missing_message(candidates))


def _missing_message(candidates) -> str:
    where = ", ".join(str(c) for c in candidates)
    return ("Fashion-MNIST not found (looked in " + where + "). On Debian/Ubuntu: "
            "`sudo apt-get install dataset-fashion-mnist`; or put the four *-idx?-ubyte(.gz) files in a "
            "folder and set VIZKIT_DATA to it.")


def _idx_path(folder: Path, name: str) -> Path | None:
    for p in (folder / name, folder / (name + ".gz")):
        if p.is_file():
            return p
    return None


def _read_idx(folder: Path, name: str) -> np.ndarray:
    path = _idx_path(folder, name)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()
