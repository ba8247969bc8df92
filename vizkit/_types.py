"""Type aliases for the public API's arguments (read by mypy and the API reference)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

# An image argument (x, texture, content, style): a (1, C, H, W) normalised model input, or anything
# net.preprocess takes (path, bytes, PIL image, (H, W[, C]) array, [0, 1] (C, H, W) tensor).
ImageLike = torch.Tensor | np.ndarray | Image.Image | str | os.PathLike | bytes
# A class index or a class name.
Target = int | str
# A unit's (y, x) position in a layer's maps; None: the channel's strongest position.
Position = tuple[int, int] | None
# Images to run through the model: a (N, C, H, W) model input, a Dataset of ([0, 1] image, label) items,
# or a DataLoader of such batches.
Images = torch.Tensor | Dataset | DataLoader
# Feature vectors: an (N, D) array or tensor.
Features = np.ndarray | torch.Tensor
# A window or stride: one int for both axes, or an (h, w) pair.
Size = int | tuple[int, int]
# A path to a file.
PathLike = str | os.PathLike
# A progress callback: optimisers call it as callback(step, (1, C, H, W) image in [0, 1], loss).
Callback = Callable[..., object]


class Parametrisation(Protocol):
    """An image parametrisation (vizkit.optimize.param.Pixels, Fourier...): param() is the (N, C, H, W) image in [0, 1],
    param.params() the tensors to optimise, param.project() runs after each step."""

    def __call__(self) -> torch.Tensor: ...

    def params(self) -> list[torch.Tensor]: ...

    def project(self) -> None: ...


# An image transform: transform((1, C, H, W) image, torch.Generator) -> (1, C, H', W') image.
Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
# Targets of a batch: one for every image, one per image, or None (the model's predictions).
Targets = Target | Sequence[Target] | torch.Tensor | None
