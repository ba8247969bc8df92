"""Dataset passes shared over torch.distributed: each process scans a contiguous shard of the images, and every
process gets the result one process would have computed.

Nothing to call here: `features`, `top_patches`, `dead_filters` and `layer_stats` notice an initialised default
process group (torchrun, then torch.distributed.init_process_group) and share the work; in a plain process they
run as before. A shard is a run of whole batches, the very batches one process makes, so each image goes
through the same computation as in one process (same threads assumed) and the combined result is identical.

    torchrun --nproc_per_node=2 my_scan.py     # my_scan.py: dist.init_process_group("gloo"); vk.top_patches(...)

Before any work the ranks compare their settings (the pass, model weights, layer, k, dataset length, ...) and
refuse to start if they differ. An error in one rank's shard (a broken image) ends every rank, naming it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ._types import Images


def world() -> tuple[int, int]:
    """(this process's rank, the number of processes); (0, 1) without an initialised default process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard_range(n: int, batch_size: int, rank: int, size: int) -> range:
    """Items [start, stop) of rank's shard of n: whole batches of batch_size, split as evenly as they go."""
    batches = -(-n // batch_size)
    start, stop = (min(n, (r * batches // size) * batch_size) for r in (rank, rank + 1))
    return range(start, stop)


@dataclass
class Share:
    """One process's part of a dataset pass: its rank, the number of processes, its items and their images."""
    rank: int
    size: int
    span: range
    images: Images

    @property
    def shared(self) -> bool:
        return self.size > 1


def share(images: Images, n: int, batch_size: int, what: str, **settings: Any) -> Share:
    """This process's part of a pass over n images in batches of batch_size: all of them in a plain process.

    Under a process group, once every rank has called it with the same settings (else a ValueError on every
    rank, naming what differs), a contiguous run of whole batches: a slice of a tensor, a Subset of a Dataset
    (in-memory datasets keep their fast .tensors()), or a DataLoader like the one given over such a Subset."""
    rank, size = world()
    if size == 1:
        return Share(0, 1, range(n), images)
    if isinstance(images, torch.utils.data.DataLoader) and images.batch_size is not None:
        batch_size = images.batch_size            # the loader's batches are the ones one process makes
    agree(what, images=n, batch_size=batch_size, **settings)
    span = shard_range(n, batch_size, rank, size)
    return Share(rank, size, span, _slice(images, span))


def agree(what: str, **settings: Any) -> None:
    """Refuse, on every rank, settings that differ between ranks (models are compared by their weights)."""
    mine = {key: _fingerprint(value) for key, value in {"pass": what, **settings}.items()}
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    for key in dict.fromkeys(k for s in everyone for k in s):
        values = [s.get(key) for s in everyone]
        if len(set(values)) > 1:
            said = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
            raise ValueError(f"{what}: the processes disagree on {key} ({said}); every rank must make the same call "
                             f"on the same data")


def finish(part: Share, compute: Callable[[], Any]) -> list[Any]:
    """Every rank's compute() result, in rank order (an empty shard gives None without calling it).

    Each rank runs its own shard, then all say how it went: if one failed, its error is raised there and every
    other rank raises a RuntimeError naming that rank, its images and the error, instead of waiting forever."""
    if not part.shared:
        return [compute()]
    error: Exception | None = None
    result = None
    try:
        result = compute() if len(part.span) else None
    except Exception as e:  # noqa: BLE001 - any error in the shard must reach the other ranks before we raise
        error = e
    status = None if error is None else f"{type(error).__name__}: {error}"
    everyone: list[Any] = [None] * part.size
    dist.all_gather_object(everyone, (status, part.span, None if error else result))
    if error is not None:
        raise error
    for rank, (failed, span, _) in enumerate(everyone):
        if failed is not None:
            raise RuntimeError(f"rank {rank} of {part.size} failed on its shard (images {span.start}.."
                               f"{span.stop - 1}): {failed}")
    return [result for _, _, result in everyone]


def _slice(images: Images, span: range) -> Images:
    if isinstance(images, torch.Tensor):
        return images[span.start:span.stop]
    if isinstance(images, torch.utils.data.DataLoader):
        loader = images
        return torch.utils.data.DataLoader(
            _Shard(loader.dataset, span), batch_size=loader.batch_size, num_workers=loader.num_workers,
            collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, timeout=loader.timeout,
            worker_init_fn=loader.worker_init_fn, multiprocessing_context=loader.multiprocessing_context)
    return _Shard(images, span)


class _Shard(torch.utils.data.Subset):
    """A contiguous run of a dataset's items; an in-memory dataset's .tensors(idx) carries over."""

    def __init__(self, dataset: Any, span: range) -> None:
        super().__init__(dataset, span)
        parent = getattr(dataset, "tensors", None)
        if callable(parent):
            ids = torch.arange(span.start, span.stop)
            self.tensors = lambda idx=None: parent(ids if idx is None else ids[idx])


def _fingerprint(value: Any) -> str:
    """A short, comparable description: a Net by its name and a hash of its weights, anything else by repr."""
    from .nets import Net

    if isinstance(value, Net):
        h = hashlib.sha1()
        for key, t in value.model.state_dict().items():
            h.update(key.encode())
            h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                     if t.numel() else b"")
        return f"{value.name} (weights {h.hexdigest()[:12]})"
    return repr(value)
