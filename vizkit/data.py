"""Images and datasets: validated image opening, the bundled sample photos, Fashion-MNIST."""

from __future__ import annotations

import copy
import gzip
import io
import math
import os
import re
import struct
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from . import _check
from ._types import ImageLike, PathLike

if TYPE_CHECKING:
    from .nets import Net

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
"""Fashion-MNIST's ten class names, by label 0-9."""
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's `dataset-fashion-mnist` package puts Fashion-MNIST; looked in before any download."""
MAX_PIXELS = 64_000_000
"""The most pixels `open_image` opens (about 8000 x 8000): larger files are refused as decompression bombs."""
_FASHION_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# --------------------------------------------------------------------------- images

def open_image(source: ImageLike) -> Image.Image:
    """Open a path / bytes / PIL image / ndarray as a validated RGB or L PIL image.

    Arrays may be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), uint8 in [0, 255],
    uint16, bool, or float in [0, 1]. Alpha is composited on white; palettes, CMYK,
    16-bit, float and LA images are converted explicitly; EXIF orientation is applied,
    so photos come out upright. A file's declared size is checked against MAX_PIXELS
    before it is decoded. Raises ValueError / TypeError / FileNotFoundError with a
    message that says what was wrong.
    """
    if isinstance(source, Image.Image):
        try:  # a PIL image opened lazily is decoded here
            return _normalise_mode(_upright(source, "the image"))
        except (OSError, SyntaxError) as e:
            raise ValueError(f"the PIL image could not be decoded, it may be truncated or corrupt: {e}") from None
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
        path = _image_path(source)
        try:
            with open(path, "rb") as f:  # PIL reads the header first: nothing big is read before the checks
                return _decode(f, repr(str(path)))
        except PermissionError:
            raise ValueError(f"cannot read {str(path)!r}: permission denied") from None
    raise TypeError(f"open_image cannot read a {type(source).__name__}; "
                    "pass a path, bytes, a PIL image or an ndarray")


# A web or data address (https://…, ftp://…, data:image/png;base64,…); a Path of one has lost a slash (https:/…).
# Two letters at least before the colon, so that a Windows drive (C:/…) is a path.
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]+:/|data:)", re.IGNORECASE)


def _image_path(source: PathLike) -> Path:
    """source as the path of an existing, non-empty regular file."""
    if str(source) == "":
        raise ValueError("open_image got an empty path")
    path = Path(source).expanduser()
    try:
        st = path.stat()
    except FileNotFoundError:
        if _URL.match(str(source)):
            raise ValueError(f"{str(source)!r} is a URL, and vizkit opens only files on this machine (it fetches "
                             "nothing from the web). Download it first, e.g. urllib.request.urlretrieve(url, "
                             "'cat.jpg') and pass 'cat.jpg', or pass its bytes: "
                             "urllib.request.urlopen(url).read()") from None
        raise FileNotFoundError(f"no image file at {str(path)!r}") from None
    except (OSError, ValueError) as e:  # name too long, NUL byte, a file used as a folder…
        raise ValueError(f"open_image cannot use the path {str(source)!r}: {e}") from None
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not an image file")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a regular file (a device, pipe or socket?)")
    if st.st_size == 0:
        raise ValueError(f"{str(path)!r} is an empty file")
    return path


def _decode(stream, what: str) -> Image.Image:
    """Read the header, check the declared size, then decode fully so truncation is found here."""
    old_limit, old_truncated = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = MAX_PIXELS, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(stream)
            _check_size(img.size, what)
            img.load()
            img = _upright(img, what)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"{what} is too large to open safely ({e}); the limit is vizkit.data.MAX_PIXELS = "
                         f"{MAX_PIXELS:,} pixels") from None
    except UnidentifiedImageError:
        raise ValueError(f"{what} is not an image PIL can read (PNG, JPEG, GIF, BMP, TIFF, WebP…)") from None
    except (OSError, SyntaxError, struct.error, EOFError) as e:
        raise ValueError(f"{what} could not be decoded, it may be truncated or corrupt: {e}") from None
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = old_limit, old_truncated
    return _normalise_mode(img)


def _check_size(size, what: str) -> None:
    w, h = size
    if w == 0 or h == 0:
        raise ValueError(f"{what} is empty ({w} x {h} pixels)")
    if w * h > MAX_PIXELS:
        raise ValueError(f"{what} has {w} x {h} = {w * h:,} pixels; the limit is vizkit.data.MAX_PIXELS = "
                         f"{MAX_PIXELS:,} pixels (shrink the image first)")


def _upright(img: Image.Image, what: str) -> Image.Image:
    """img turned as its EXIF orientation tag says (phone photos are stored sideways)."""
    try:
        orientation = img.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, struct.error, ValueError, KeyError) as e:
        raise ValueError(f"{what} has unreadable EXIF metadata: {e}") from None
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(img)
    return img


def _normalise_mode(img: Image.Image) -> Image.Image:
    """Any PIL mode -> 'RGB' or 'L' (alpha composited on white, 16-bit, 32-bit and float rescaled)."""
    _check_size(img.size, "the image")
    mode = img.mode
    if mode in ("RGB", "L"):
        return img.copy()
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I") or mode == "F":
        return _grey_from_numbers(img)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode == "P":
        return img.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or img.mode == "RGBA":
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        out = Image.alpha_composite(white, rgba)
        return out.convert("L") if mode in ("LA", "La") else out.convert("RGB")
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX


def _grey_from_numbers(img: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit integer or float grey image -> 'L', by the range its values declare.

    16-bit: [0, 65535]. Float: [0, 1], else [0, 255]. 32-bit integer: [0, 255], else [0, 65535]
    (16-bit data stored as 32-bit). Anything else is refused rather than stretched.
    """
    arr = np.asarray(img, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"the {img.mode!r} image contains NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if img.mode.startswith("I;16"):
        top = 65535.0
    elif img.mode == "F" and lo >= 0 and hi <= 1:
        top = 1.0
    elif lo >= 0 and hi <= 255:
        top = 255.0
    elif img.mode != "F" and lo >= 0 and hi <= 65535:
        top = 65535.0
    else:
        expected = "[0, 1] or [0, 255]" if img.mode == "F" else "[0, 255] or [0, 65535]"
        raise ValueError(f"a {img.mode!r} ({'float' if img.mode == 'F' else '32-bit integer'}) image must "
                         f"hold values in {expected}; got values in [{lo:.6g}, {hi:.6g}]. Rescale it to [0, 1] "
                         "floats and pass it as an ndarray")
    return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.size == 0:
        raise ValueError(f"open_image got an empty array of shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
                         f"got shape {arr.shape} (channels-first arrays need .transpose(1, 2, 0))")
    _check_size(arr.shape[1::-1], "the image array")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype.kind == "u" and arr.dtype.itemsize == 2:  # uint16 of either byte order
        arr = (arr.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("the image array contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            hint = " (it looks like 0..255: divide by 255)" if lo >= 0 and hi <= 255 else ""
            raise ValueError(f"a float image array must lie in [0, 1]; got values in [{lo:.3g}, {hi:.3g}]{hint}")
        arr = (arr * 255.0 + 0.5).astype(np.uint8)
    elif arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.integer) and arr.min() >= 0 and arr.max() <= 255:
            arr = arr.astype(np.uint8)
        else:
            raise ValueError(f"an image array of dtype {arr.dtype} must hold values in [0, 255]")
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[arr.ndim if arr.ndim == 2 else arr.shape[2] + 0]
    return _normalise_mode(Image.fromarray(np.ascontiguousarray(arr), mode))


def resize_crop(img: Image.Image, shorter: int, size: tuple[int, int]) -> Image.Image:
    """Resize so the shorter side is `shorter`, then centre-crop to size (H, W).

    Done as one resize of the crop's box in source coordinates (same geometry), so memory
    follows the output size, not the scaled-up image (a 1 x 60000 strip stays small).
    """
    w, h = img.size
    scale = shorter / min(w, h)
    nw, nh = max(size[1], round(w * scale)), max(size[0], round(h * scale))
    left, top = (nw - size[1]) // 2, (nh - size[0]) // 2
    if (nw, nh) == (w, h):
        return img.crop((left, top, left + size[1], top + size[0]))
    sx, sy = w / nw, h / nh  # source pixels per resized pixel
    box = (left * sx, top * sy, (left + size[1]) * sx, (top + size[0]) * sy)
    return img.resize((size[1], size[0]), Image.Resampling.BILINEAR, box=box, reducing_gap=None)


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
    """Fashion-MNIST as uint8 tensors: item i -> ((1, 28, 28) float in [0, 1], label).

    root: a folder holding the four idx files (only that folder is used); None looks in
    $VIZKIT_DATA, Debian's package, vizkit's cache. download: None = unless $VIZKIT_OFFLINE is set.
    """

    classes = FASHION_CLASSES

    def __init__(self, train: bool = False, root: str | os.PathLike | None = None, download: bool | None = None):
        if not isinstance(train, (bool, np.bool_)):
            raise TypeError(f"train must be True (the 60,000 training images) or False (the 10,000 test "
                            f"images); got {train!r}")
        folder = find_fashion_mnist(root, download=download)
        images_file, labels_file = _FASHION_FILES[bool(train)]
        images, labels = _read_idx(folder, images_file), _read_idx(folder, labels_file)
        _check_fashion(images, labels, folder, images_file, labels_file)
        self.images = torch.from_numpy(images)  # (N, 28, 28) uint8
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.train, self.root = bool(train), folder

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        i = _item_index(i, len(self))
        return self.images[i].unsqueeze(0).float().div_(255.0), int(self.labels[i])

    def tensors(self, indices: Sequence[int] | torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All (or the chosen) items at once: ((N, 1, 28, 28) float in [0, 1], (N,) int64)."""
        idx = slice(None) if indices is None else _index_tensor(indices, len(self))
        return self.images[idx].unsqueeze(1).float().div_(255.0), self.labels[idx]

    def subset(self, n: int) -> FashionMNIST:
        """The first n items (n <= len), as a FashionMNIST sharing this one's memory."""
        n = _check.integer(n, "subset size n", 1, len(self))
        part = object.__new__(FashionMNIST)
        part.images, part.labels = self.images[:n], self.labels[:n]
        part.train, part.root = self.train, self.root
        return part

    def __repr__(self) -> str:
        return f"FashionMNIST({'train' if self.train else 'test'}, {len(self)} images, from {self.root})"


def _item_index(i, n: int) -> int:
    """i as an int in [-n, n); IndexError beyond (iteration over a Dataset stops on it)."""
    if isinstance(i, torch.Tensor) and i.dim() == 0 and not i.is_floating_point():
        i = int(i)
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"a dataset index must be an integer; got {i!r} ({type(i).__name__}) "
                        "(use .tensors(indices) or .subset(n) for several items)")
    if not -n <= i < n:
        raise IndexError(f"index {int(i)} is out of range for a dataset of {n} items")
    return int(i)


def _index_tensor(indices, n: int) -> torch.Tensor:
    """A list / array / tensor of item indices -> int64 tensor, each in [-n, n)."""
    try:
        idx = torch.as_tensor(indices)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"indices must be a list, array or tensor of integers; got {indices!r} ({e})") from None
    if idx.numel() == 0:
        return idx.to(torch.int64).reshape(0)
    if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
        raise TypeError(f"indices must be integers; got dtype {idx.dtype}")
    lo, hi = int(idx.min()), int(idx.max())
    if lo < -n or hi >= n:
        raise ValueError(f"indices must lie in [0, {n - 1}] for a dataset of {n} items; got values in [{lo}, {hi}]")
    return idx.to(torch.int64)


# --------------------------------------------------------------------------- image folders

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
"""The file endings `ImageFolder` reads as images (any case); other files are skipped."""
UNLABELLED = -1
"""The label of every item of an `ImageFolder` without class subfolders."""


class ImageFolder(torch.utils.data.Dataset):
    """Every image in a folder and its subfolders: item i -> ((C, H, W) float in [0, 1], class index or -1).

    Each image is opened safely (vk.open_image), made RGB (grey for a 1-channel net or channels=1), its
    shorter side resized and centre-cropped to (H, W) as net.preprocess does: net's input size, or size=.
    Labels: torchvision's layout (one subfolder per class; classes = their sorted names, label = index)
    when every image lies in a subfolder, else -1 for all with classes empty; labelled=True / False asks
    for one layout. Hidden files and folders are skipped. cache keeps decoded items (uint8) in memory.
    """

    def __init__(self, root: PathLike, size: int | tuple[int, int] | None = None, net: Net | None = None,
                 channels: int | None = None,
                 labelled: bool | None = None,
                 cache: bool = True):
        if not isinstance(root, (str, os.PathLike)) or str(root) == "":
            raise TypeError(f"root must be a folder path (str or Path); got {root!r}")
        if net is not None and not all(hasattr(net, a) for a in ("input_size", "channels", "resize")):
            raise TypeError(f"net must be a vizkit Net (vk.load(...) or vk.wrap(...)); got {type(net).__name__}")
        if size is None and net is None:
            raise ValueError("ImageFolder needs the image size: pass net= (to use its input size) or size=(H, W)")
        if labelled is not None and not isinstance(labelled, bool):
            raise TypeError(f"labelled must be True, False or None (decide from the folders); got {labelled!r}")
        if size is None:
            assert net is not None  # checked above: size or net is given
            self.size, self.resize = net.input_size, net.resize
        else:
            self.size = _check.pair(size, "size")
            self.resize = min(self.size)
        self.channels = (net.channels if net is not None else 3) if channels is None else \
            _check.choice(channels, "channels", [1, 3])
        folder = Path(root).expanduser()
        if not folder.exists():
            raise FileNotFoundError(f"no folder at {str(folder)!r}")
        if not folder.is_dir():
            raise ValueError(f"{str(folder)!r} is a file, not a folder of images (open one image with vk.open_image)")
        files = _image_files(folder)
        if not files:
            raise ValueError(f"no images in {str(folder)!r} or its subfolders (looked for {' '.join(IMAGE_EXTENSIONS)}"
                             " files, case-insensitive)")
        loose = [f for f in files if len(f.parts) == 1]
        if labelled and loose:
            raise ValueError(f"labelled=True needs every image in a class subfolder, but {len(loose)} lie directly in "
                             f"{str(folder)!r} (e.g. {loose[0]}); move them into class folders or pass labelled=False")
        if labelled is None:
            labelled = not loose
        self.classes = sorted({f.parts[0] for f in files}) if labelled else []
        index = {c: i for i, c in enumerate(self.classes)}
        self.labels = torch.tensor([index[f.parts[0]] if labelled else UNLABELLED for f in files], dtype=torch.int64)
        self.root, self.paths = folder, [folder / f for f in files]
        self._cache: dict[Path, torch.Tensor] | None = {} if _check_flag(cache, "cache") else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        i = _item_index(i, len(self))
        return self._pixels(i).float().div_(255.0), int(self.labels[i])

    def _pixels(self, i: int) -> torch.Tensor:
        """Item i as a (C, H, W) uint8 tensor, read (or taken from the cache)."""
        if self._cache is not None and self.paths[i] in self._cache:
            return self._cache[self.paths[i]]
        try:
            img = open_image(self.paths[i])
        except (ValueError, FileNotFoundError) as e:
            raise type(e)(f"ImageFolder item {i}: {e}") from None
        img = resize_crop(img.convert("L" if self.channels == 1 else "RGB"), self.resize, self.size)
        x = torch.from_numpy(np.array(img, dtype=np.uint8).reshape(*self.size, -1)).permute(2, 0, 1).contiguous()
        if self._cache is not None:
            self._cache[self.paths[i]] = x
        return x

    def tensors(self, indices: Sequence[int] | torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All (or the chosen) items at once: ((N, C, H, W) float in [0, 1], (N,) int64 labels)."""
        idx = torch.arange(len(self)) if indices is None else _index_tensor(indices, len(self)).reshape(-1)
        idx = idx % len(self)
        if len(idx) == 0:
            return torch.zeros((0, self.channels, *self.size)), self.labels[idx]
        return torch.stack([self._pixels(int(i)) for i in idx]).float().div_(255.0), self.labels[idx]

    def subset(self, n: int) -> ImageFolder:
        """The first n items (n <= len), as an ImageFolder sharing this one's file list and cache."""
        n = _check.integer(n, "subset size n", 1, len(self))
        part = copy.copy(self)
        part.paths, part.labels = self.paths[:n], self.labels[:n]
        return part

    def __repr__(self) -> str:
        kind = f"{len(self.classes)} classes" if self.classes else "unlabelled"
        return (f"ImageFolder({str(self.root)!r}, {len(self)} images, {kind}, {self.channels}x{self.size[0]}x"
                f"{self.size[1]})")


def _check_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def _image_files(folder: Path) -> list[Path]:
    """Image files under folder (hidden ones skipped), relative to it, sorted folder by folder."""
    def refuse(e: OSError):
        raise ValueError(f"cannot read the folder {e.filename!r}: {e.strerror}") from None

    found = []
    for top, dirs, files in os.walk(folder, onerror=refuse):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(top, f).relative_to(folder) for f in files
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return sorted(found, key=lambda p: p.parts)


def batches(dataset: Dataset, batch_size: int, shuffle: bool = False, generator=None, labels: bool = True):
    """Yield ((B, C, H, W) float in [0, 1], (B,) int64 labels) from a Dataset of (image, label) items.

    Every batch is checked (float, finite, in [0, 1], one size, a label per item), so a bad item
    is named here rather than failing deep in the model. labels=False: any label is accepted,
    and None is yielded in its place. Shuffling draws the order as a DataLoader would.
    """
    n = _dataset_length(dataset)
    batch_size = _check.integer(batch_size, "batch_size", 1)
    tensors = getattr(dataset, "tensors", None)
    if callable(tensors):  # in-memory datasets such as FashionMNIST: no per-item calls
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            x, y = tensors(idx)
            yield _checked_images(x, idx.tolist()), (_checked_labels(y, len(x)) if labels else None)
        return
    # a DataLoader over the indices draws from generator exactly as one over the dataset did
    # (torch annotates the dataset as a Dataset; any sequence with len() and [i] works, as a range does)
    loader: torch.utils.data.DataLoader[int] = torch.utils.data.DataLoader(
        range(n), batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=list)  # type: ignore[arg-type]
    for idx in loader:
        yield _collate([dataset[i] for i in idx], idx, labels)


def _dataset_length(dataset: Dataset) -> int:
    if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"expected a map-style Dataset of (image, label) items (with __len__ and "
                        f"__getitem__); got {type(dataset).__name__}")
    n = _check.length(dataset)
    if n is None:
        raise TypeError(f"the dataset ({type(dataset).__name__}) has no length: it needs __len__")
    if n == 0:
        raise ValueError(f"the dataset ({type(dataset).__name__}) is empty (0 items)")
    return n


def _collate(items: list, idx: list[int], labels: bool):
    """[(image, label), ...] of dataset items idx -> ((B, C, H, W) images, (B,) labels), with clear errors."""
    images: list[torch.Tensor] = []
    ys = []
    for i, item in zip(idx, items):
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            got = f"a {type(item).__name__}" + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
            raise ValueError(f"dataset item {i} must be an (image, label) pair; got {got}. Return (image, label) "
                             "from __getitem__ (a TensorDataset(images, labels) does), or pass the images as "
                             "one (N, C, H, W) tensor")
        image, y = item[0], item[1]
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"dataset item {i}'s image must be a (C, H, W) tensor of [0, 1] pixels; got "
                            f"{type(image).__name__} (for PIL images give the dataset "
                            "transform=torchvision.transforms.ToTensor())")
        if image.dim() != 3:
            raise ValueError(f"dataset item {i}'s image must be (C, H, W); got shape {tuple(image.shape)}"
                             + (" (add the channel axis: image.unsqueeze(0))" if image.dim() == 2 else ""))
        if images and image.shape != images[0].shape:
            raise ValueError(f"dataset items have different sizes: item {idx[0]} is {tuple(images[0].shape)}, "
                             f"item {i} is {tuple(image.shape)}; resize them to one size (e.g. with a transform)")
        images.append(image)
        ys.append(y)
    x = _checked_images(torch.stack(images), idx)
    return x, (_checked_labels(ys, len(x), idx) if labels else None)


def _checked_images(x: torch.Tensor, idx: list[int]) -> torch.Tensor:
    return _check.pixels(x, f"the images of dataset items {_describe(idx)}")


def _checked_labels(ys, n: int, idx: list[int] | None = None) -> torch.Tensor:
    """Labels as a (n,) int64 tensor, or a TypeError naming the item with a non-integer label."""
    if isinstance(ys, torch.Tensor):
        if ys.shape != (n,) or ys.is_floating_point() or ys.dtype == torch.bool:
            raise TypeError(f"labels must be a ({n},) tensor of integer class indices; "
                            f"got {ys.dtype} {tuple(ys.shape)}")
        return ys.to(torch.int64)
    assert idx is not None  # a list of labels comes from _collate, which passes its items' indices
    out = []
    for i, y in zip(idx, ys):
        if isinstance(y, torch.Tensor) and y.numel() == 1 and not y.is_floating_point() and y.dtype != torch.bool:
            y = int(y)
        if isinstance(y, bool) or not isinstance(y, (int, np.integer)):
            raise TypeError(f"dataset item {i}'s label must be an integer class index; got {y!r} ({type(y).__name__})")
        out.append(int(y))
    return torch.tensor(out, dtype=torch.int64)


def _describe(idx: list[int]) -> str:
    """A short name for a list of item indices: '0..255' or '3, 17, 5, ...'."""
    if len(idx) > 1 and idx == list(range(idx[0], idx[0] + len(idx))):
        return f"{idx[0]}..{idx[-1]}"
    return ", ".join(map(str, idx[:4])) + (", ..." if len(idx) > 4 else "")


def _cache_dir() -> Path:
    return Path(os.environ.get("VIZKIT_CACHE", Path.home() / ".cache" / "vizkit"))


def find_fashion_mnist(root=None, download: bool | None = None) -> Path:
    """The folder holding Fashion-MNIST's idx files: root alone if given, else $VIZKIT_DATA, Debian's,
    vizkit's cache, or a download (download None: unless $VIZKIT_OFFLINE is set)."""
    if download is None:
        download = not os.environ.get("VIZKIT_OFFLINE")
    if not isinstance(download, (bool, np.bool_)):
        raise TypeError(f"download must be True, False or None; got {download!r}")
    if root is not None:
        return _find_in_root(root, bool(download))
    candidates = [Path(os.environ["VIZKIT_DATA"])] if os.environ.get("VIZKIT_DATA") else []
    candidates += [DEBIAN_FASHION_DIR, _cache_dir() / "fashion-mnist"]
    for c in candidates:
        found = _fashion_folder(c)
        if found is not None:
            return found
    if download:
        target = _cache_dir() / "fashion-mnist"
        problem = _download_fashion(target)
        if problem is None:
            return target / "FashionMNIST" / "raw"
        raise FileNotFoundError(_missing_message(candidates) + f" Download failed: {problem}")
    raise FileNotFoundError(_missing_message(candidates))


def _find_in_root(root, download: bool) -> Path:
    """An explicit root is the only place looked in (never another copy): the files, or a FileNotFoundError."""
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or Path); got {root!r} ({type(root).__name__})")
    folder = Path(root).expanduser()
    found = _fashion_folder(folder)
    if found is not None:
        return found
    if folder.exists() and not folder.is_dir():
        raise FileNotFoundError(f"root={str(root)!r} is a file, not a folder holding Fashion-MNIST's idx files")
    problem = ""
    if download:
        failed = _download_fashion(folder)
        if failed is None:
            return folder / "FashionMNIST" / "raw"
        problem = f" Downloading into it failed: {failed}."
    names = ", ".join(f for pair in _FASHION_FILES.values() for f in pair)
    raise FileNotFoundError(f"root={str(root)!r} holds no Fashion-MNIST idx files (looked for {names}, or .gz, "
                            f"in it, in fashion-mnist/ and in FashionMNIST/raw/).{problem} Put the four files "
                            "there, or leave root out to use $VIZKIT_DATA, Debian's package or vizkit's cache.")


def _fashion_folder(c: Path) -> Path | None:
    for sub in (c, c / "fashion-mnist", c / "FashionMNIST" / "raw"):
        if all(_idx_path(sub, f) is not None for pair in _FASHION_FILES.values() for f in pair):
            return sub
    return None


def _download_fashion(target: Path) -> str | None:
    """Download with torchvision into target; None on success, else what went wrong."""
    try:
        import torchvision
        torchvision.datasets.FashionMNIST(str(target), train=True, download=True)
        torchvision.datasets.FashionMNIST(str(target), train=False, download=True)
    except Exception as e:  # noqa: BLE001 - any download failure becomes one clear message
        return f"{type(e).__name__}: {e}"
    return None


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
    """An idx file of unsigned bytes -> array of its declared shape; ValueError naming the file if it is broken."""
    path = _idx_path(folder, name)
    if path is None:  # callers look for the files first (_fashion_folder)
        raise FileNotFoundError(f"no idx file {name!r} in {str(folder)!r}")
    fix = "replace it with a good copy (or delete it and let vizkit download it)"
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"the idx file {str(path)!r} could not be read, it may be truncated or corrupt ({e}); "
                         f"{fix}") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08 or data[3] == 0:
        begins = data[:4].hex() or "nothing"
        raise ValueError(f"{str(path)!r} is not an idx file of unsigned bytes (it starts with {begins}, expected "
                         f"000008 then the number of dimensions); {fix}")
    start = 4 + 4 * data[3]
    if len(data) < start:
        raise ValueError(f"the idx file {str(path)!r} is truncated inside its header ({len(data)} bytes); {fix}")
    shape = struct.unpack(">" + "I" * data[3], data[4:start])
    if len(data) - start != math.prod(shape):
        raise ValueError(f"the idx file {str(path)!r} declares shape {shape} ({math.prod(shape):,} bytes of data) "
                         f"but holds {len(data) - start:,} bytes: it is truncated or corrupt; {fix}")
    return np.frombuffer(data, dtype=np.uint8, offset=start).reshape(shape).copy()


def _check_fashion(images: np.ndarray, labels: np.ndarray, folder: Path, images_file: str, labels_file: str):
    """(N, H, W) images and (N,) labels in 0..9, or a ValueError naming the files."""
    where = f"in {str(folder)!r}"
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{images_file} {where} must hold (N, H, W) images and {labels_file} (N,) labels; got "
                         f"shapes {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_file} {where} holds {len(images):,} images but {labels_file} holds "
                         f"{len(labels):,} labels; one of them is truncated or from another dataset")
    if labels.size and labels.max() >= len(FASHION_CLASSES):
        raise ValueError(f"{labels_file} {where} holds label {int(labels.max())}; Fashion-MNIST's are 0..9")
