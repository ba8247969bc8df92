"""One rank of tests/test_distributed.py, started by torchrun: the dataset passes on 3,000 Fashion-MNIST test images.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_worker.py OUT CASE

CASE "passes": features, top patches (of one layer, and of two in one pass), dead filters and layer statistics,
saved with the items this rank read to OUT/rank<r>.pt. "broken": one item in rank 1's shard cannot be read.
"mismatch": the ranks ask for different layers. Any error is also written to OUT/error<r>.txt before the rank
exits with it.
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

import vizkit as vk
from vizkit.inspect.patches import top_patches_of

N = 3000
BROKEN = 2500   # in rank 1's shard: batches of 256, so rank 0 reads items 0..1535 and rank 1 the rest
PASSES = {"features": ("relu3", dict(pool="avg")), "flat": ("pool2", {}), "top_patches": ("relu2", dict(k=9)),
          "top_patches_of": (["conv3", "conv1"], dict(k=4)), "dead_filters": ("relu3", {}),
          "layer_stats": ("relu1", {}), "evaluate": (None, {})}
FIELDS = ("values", "indices", "ys", "xs", "scanned")


class Recording(torch.utils.data.Dataset):
    """The images, noting which items were read (through the fast .tensors() as through [i])."""

    def __init__(self, data, broken: int | None = None):
        self.data, self.broken, self.read = data, broken, set()
        if broken is None:   # in memory: batches come through .tensors(); a broken item forces item by item
            self.tensors = self._tensors

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        if i == self.broken:
            raise OSError(f"image {i} is truncated")
        self.read.add(int(i))
        return self.data[i]

    def _tensors(self, idx=None):
        idx = torch.arange(len(self.data)) if idx is None else torch.as_tensor(idx)
        self.read.update(idx.tolist())
        return self.data.tensors(idx)


def run_passes(net, data) -> dict:
    """Every dataset pass of PASSES on data (what tests/test_distributed.py also runs in one process)."""
    found = {}
    for what, (layer, options) in PASSES.items():
        if what in ("features", "flat"):
            found[what] = vk.features(net, data, layer, progress=False, **options)
        elif what == "top_patches":
            top = vk.top_patches(net, data, layer, progress=False, **options)
            found[what] = {f: getattr(top, f) for f in FIELDS}
        elif what == "top_patches_of":   # several layers in one pass, as python -m vizkit scan does
            tops = top_patches_of(net, data, layer, progress=False, **options)
            found[what] = {f"{name} {f}": getattr(top, f) for name, top in tops.items() for f in FIELDS}
        elif what == "dead_filters":
            found[what] = vk.dead_filters(net, data, layer)
        elif what == "evaluate":
            # unrecorded: evaluate's up-front check of item 0 would blur which shard each rank read
            found[what] = vk.evaluate(net, getattr(data, "data", data), batch_size=256)
        else:
            found[what] = vk.layer_stats(net, data, layer, progress=False)
    return found


def main(out: Path, case: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    net = vk.load("fashion-cnn")
    data = Recording(vk.FashionMNIST(train=False).subset(N), broken=BROKEN if case == "broken" else None)
    try:
        if case == "mismatch":
            vk.features(net, data, "relu1" if rank == 0 else "relu2", progress=False)
        else:
            found = run_passes(net, data)
            torch.save({"found": found, "read": sorted(data.read)}, out / f"rank{rank}.pt")
    except Exception as e:
        (out / f"error{rank}.txt").write_text(f"{type(e).__name__}: {e}")
        raise
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
