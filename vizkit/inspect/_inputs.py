"""Turn what a user passes as images into normalised model-input batches."""

from __future__ import annotations

import torch

from ..data import batches


def as_input(net, x) -> torch.Tensor:
    """A (N, C, H, W) model input, or any single image net.preprocess accepts -> (N, C, H, W) input."""
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        if x.shape[1] != net.channels:
            raise ValueError(f"{net.name} takes {net.channels}-channel input; got a batch of shape "
                             f"{tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError("got an empty batch (0 images)")
        if not torch.isfinite(x).all():
            raise ValueError("the input contains NaN or infinite values")
        return x.to(net.device)
    return net.preprocess(x)


def input_batches(net, images, batch_size: int = 256):
    """Yield normalised (B, C, H, W) batches from a (N, C, H, W) input tensor, a Dataset of
    ([0, 1] image, label) items, or a DataLoader of such batches."""
    if isinstance(images, torch.Tensor):
        x = as_input(net, images)
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size]
    elif isinstance(images, torch.utils.data.DataLoader):
        for batch in images:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            yield net.normalize(x)
    elif isinstance(images, torch.utils.data.Dataset):
        if len(images) == 0:
            raise ValueError("got an empty dataset (0 images)")
        for x, _ in batches(images, batch_size):
            yield net.normalize(x)
    else:
        raise TypeError(f"expected a (N, C, H, W) tensor, a Dataset or a DataLoader; "
                        f"got {type(images).__name__}")
