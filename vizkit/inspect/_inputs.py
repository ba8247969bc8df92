"""Turn what a user passes as images into normalised model-input batches."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .. import _check
from .._types import ImageLike, Images
from ..data import batches

if TYPE_CHECKING:
    from ..nets import Net


def as_input(net: Net, x: ImageLike, full: bool = False) -> torch.Tensor:
    """A (N, C, H, W) model input, or any single image net.preprocess accepts -> (N, C, H, W) input.

    A model input must be floating point and finite; it is moved to the model's device and dtype
    (float64 -> float32). full=True: the caller runs the whole model, so a size other than
    net.input_size is tried on it once (a ValueError naming both sizes); callers that stop at a
    layer leave it False, as convolutional layers take any size.
    """
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        if x.shape[1] != net.channels:
            raise ValueError(f"{net.name} takes {net.channels}-channel input; got a batch of shape "
                             f"{tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError("got an empty batch (0 images)")
        x = net._input_tensor(x, "the input")
        if full:
            net.check_size(x.shape[2:])
        return x
    return net.preprocess(x)


def input_batches(net: Net, images: Images, batch_size: int = 256, ordered: bool = True, full: bool = False):
    """Yield normalised (B, C, H, W) batches from a (N, C, H, W) input tensor, a Dataset of
    ([0, 1] image, label) items, or a DataLoader of such batches.

    Pixels are checked (float, finite, in [0, 1]) and the channel count and size against the net.
    ordered: the caller matches results to dataset indices, so a DataLoader must give the items
    in the dataset's order, all of them. full: as in as_input.
    """
    batch_size = _check.integer(batch_size, "batch_size", 1)
    if isinstance(images, torch.Tensor):
        x = as_input(net, images, full)
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size]
    elif isinstance(images, torch.utils.data.DataLoader):
        if ordered:
            _check_order(images)
        for b, batch in enumerate(_loader_batches(images)):
            x = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
            what = f"batch {b} of the DataLoader"
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{what} must be a (B, C, H, W) tensor of [0, 1] pixels, or an (images, labels) "
                                f"pair; got {type(x).__name__}")
            yield _model_input(net, _check.pixels(x, what), what, full)
    elif isinstance(images, torch.utils.data.Dataset):
        for x, _ in batches(images, batch_size, labels=False):
            yield _model_input(net, x, "the dataset's images", full)
    else:
        raise TypeError(f"expected a (N, C, H, W) tensor, a Dataset or a DataLoader; "
                        f"got {type(images).__name__}")


def _model_input(net: Net, x: torch.Tensor, what: str, full: bool) -> torch.Tensor:
    """(B, C, H, W) [0, 1] pixels -> model input, once their shape fits the net."""
    if x.dim() != 4:
        hint = " (a DataLoader with batch_size=None gives single items: give it a batch_size)" if x.dim() == 3 else ""
        raise ValueError(f"{what} must be (B, C, H, W); got shape {tuple(x.shape)}{hint}")
    if x.shape[1] != net.channels:
        fix = "x.mean(0, keepdim=True) for grey" if net.channels == 1 else "x.expand(3, -1, -1) for grey images"
        raise ValueError(f"{net.name} takes {net.channels}-channel images; {what} have {x.shape[1]} channel(s) "
                         f"(shape {tuple(x.shape)}). Convert them in the dataset (e.g. {fix}) or use a net "
                         f"made for {x.shape[1]} channel(s)")
    if full:
        net.check_size(x.shape[2:])
    return net.normalize(x)


def _check_order(loader) -> None:
    """Refuse a DataLoader whose batches are not the dataset's items 0, 1, 2, … in order."""
    data = torch.utils.data
    fix = "pass the dataset itself, or a DataLoader with shuffle=False and no sampler"
    if isinstance(loader.dataset, data.IterableDataset):
        raise ValueError(f"results are matched to dataset indices, and an IterableDataset has none; "
                         f"use a map-style Dataset ({fix})")
    bs = loader.batch_sampler
    in_order = isinstance(loader.sampler, data.SequentialSampler) and (
        bs is None or (type(bs) is data.BatchSampler and bs.sampler is loader.sampler))
    if not in_order:
        raise ValueError("the DataLoader does not give the dataset's items in order (shuffle=True, a sampler or a "
                         f"batch_sampler), but results are matched to dataset indices: {fix}")
    if bs is not None and bs.drop_last and len(loader.dataset) % bs.batch_size:
        raise ValueError(f"the DataLoader has drop_last=True, which leaves out the last "
                         f"{len(loader.dataset) % bs.batch_size} item(s), but results are matched to dataset "
                         "indices: use drop_last=False or pass the dataset itself")


def _loader_batches(loader):
    """Iterate a DataLoader; a batch it cannot make (ragged items, odd types) becomes a ValueError."""
    it = iter(loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"the DataLoader could not make a batch ({type(e).__name__}: {e}); its items must be "
                             "([0, 1] image tensor (C, H, W), label) pairs, all of one size") from e
        yield batch
