"""Long dataset scans, from the command line or Python: shared over processes with torchrun, resumable.

    python -m vizkit scan top-patches --model alexnet --data imagenet/train --layers conv1,conv5 --k 9 --out scan.pt
    torchrun --nproc_per_node=4 -m vizkit scan features --model alexnet --data imagenet/val --layers relu5 \\
        --pool avg --out feats.pt

The images are scanned in chunks of whole batches (--chunk); each finished chunk is kept in OUT.parts/, so a scan
that stops (a broken image, a killed job, a time limit) goes on from its last finished chunk when run again with
the same arguments. Under torchrun every chunk is shared by all processes (vizkit.distributed). The finished file
holds, per layer, the top patches merged exactly or the features in dataset order; open it with vk.load_scan.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from . import _check
from ._types import PathLike
from .distributed import _fingerprint, _Shard, world
from .inspect.features import features
from .inspect.patches import TopPatches, _best, top_patches_of
from .inspect.receptive import RF

KINDS = ("top-patches", "features")
"""What `python -m vizkit scan` can compute."""
FORMAT = 2
"""The version of the scan file's layout; `load_scan` refuses other versions (1 held NumPy arrays, which only
an unsafe load can read; 2 holds tensors only)."""


def scan(kind: str, net: Any, data: Any, layers: str | list[str], out: PathLike, *, k: int = 9,
         pool: str | None = None, batch_size: int = 256, chunk: int = 10240, progress: bool = True) -> Path:
    """Scan every image of data (a Dataset) at each layer and write OUT; returns its path.

    kind: "top-patches" (k per channel; conv layers) or "features" (pool: None, "avg" or "max").
    chunk: images per resumable step, rounded up to whole batches. Finished chunks wait in OUT.parts/ until
    the last one is done; a second call with the same settings skips them, with other settings it refuses.
    Under torch.distributed call it on every rank: each chunk is shared, and rank 0 writes the files."""
    kind = _check.choice(kind, "kind", KINDS)
    layers = [layers] if isinstance(layers, str) else list(layers)
    if not layers or not all(isinstance(layer, str) and layer for layer in layers):
        raise TypeError(f"layers must be a layer name or a non-empty list of them; got {layers!r}")
    batch_size = _check.integer(batch_size, "batch_size", 1)
    chunk = -(-_check.integer(chunk, "chunk", 1) // batch_size) * batch_size   # whole batches: the same batches
    n = _check.length(data)
    if not isinstance(data, torch.utils.data.Dataset) or not n:
        raise TypeError(f"data must be a Dataset of ([0, 1] image, label) items with a length; got {data!r}")
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    settings = {"format": FORMAT, "kind": kind, "model": _fingerprint(net), "images": n, "layers": layers,
                "k": k if kind == "top-patches" else None, "pool": pool if kind == "features" else None,
                "batch_size": batch_size, "chunk": chunk}
    rank, size = world()
    starts = list(range(0, n, chunk))
    done = _one_voice(lambda: _resume(parts, settings, len(starts)))
    bar = tqdm(total=n, unit="img", desc=f"{kind} ({size} process{'es' * (size > 1)})", mininterval=0.5,
               disable=not progress or rank != 0, initial=sum(min(chunk, n - starts[c]) for c in done))
    if done and rank == 0 and progress:
        bar.write(f"resuming: {len(done)} of {len(starts)} chunks were done")
    with bar:
        for c, start in enumerate(starts):
            if c in done:
                continue
            images = _Shard(data, range(start, min(n, start + chunk)))
            found = _pass(kind, net, images, layers, k, pool, batch_size)
            if rank == 0:
                _save(found, parts / f"chunk-{c:05d}.pt")
            bar.update(len(images.indices))
    _one_voice(lambda: _finish(parts, out, settings, len(starts)))
    return out


def load_scan(path: PathLike, dataset: Any = None, net: Any = None) -> dict[str, TopPatches | np.ndarray]:
    """A finished scan: layer -> TopPatches (dataset= lets them crop) or (N, D) float32 features.

    dataset: the images that were scanned (their number is checked); net: the model that scanned them (its name and
    weights are checked), so a scan cannot be shown against other images or another model's layers by mistake."""
    try:
        saved = torch.load(Path(path), weights_only=True)   # tensors, numbers and strings: nothing runs
    except pickle.UnpicklingError:
        saved = None
    if not isinstance(saved, dict) or saved.get("settings", {}).get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a finished vizkit scan of format {FORMAT} (python -m vizkit scan ... "
                         f"--out makes one; a scan of an older format must be run again)")
    made = saved["settings"]
    if net is not None and _fingerprint(net) != made["model"]:
        raise ValueError(f"{str(path)!r} was scanned with {made['model']}, not with this net ({_fingerprint(net)}): "
                         f"load the model the scan was made with")
    n = None if dataset is None else _check.length(dataset)
    if dataset is not None and n != made["images"]:
        raise ValueError(f"{str(path)!r} scanned {made['images']} images but dataset holds {n}: pass the dataset the "
                         f"scan was made on (python -m vizkit scan --data)")
    if made["kind"] == "features":
        return {layer: f.numpy() for layer, f in saved["layers"].items()}
    found: dict[str, TopPatches | np.ndarray] = {}
    for layer, f in saved["layers"].items():
        own = None if f["channel_rfs"] is None else tuple(RF(*r) for r in f["channel_rfs"])
        found[layer] = TopPatches(f["values"], f["indices"], f["ys"], f["xs"], layer, RF(*f["rf"]), dataset,
                                  f["scanned"], own)
    return found


def _pass(kind: str, net: Any, images: Any, layers: list[str], k: int, pool: str | None, batch_size: int) -> dict:
    """One chunk's results, layer -> features or TopPatches; the top patches of every layer come from one pass."""
    if kind == "features":
        return {layer: features(net, images, layer, batch_size=batch_size, pool=pool, progress=False)
                for layer in layers}
    return top_patches_of(net, images, layers, k=k, batch_size=batch_size, progress=False)


def _save(found: dict, path: Path) -> None:
    """Write atomically: a chunk file exists only once it is whole."""
    layers = {layer: torch.from_numpy(v) if isinstance(v, np.ndarray) else
              {"values": v.values, "indices": v.indices, "ys": v.ys, "xs": v.xs, "scanned": v.scanned,
               "rf": tuple(v.rf), "channel_rfs": None if v.channel_rfs is None else [tuple(r) for r in v.channel_rfs]}
              for layer, v in found.items()}
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(layers, tmp)
    tmp.replace(path)


def _resume(parts: Path, settings: dict, chunks: int) -> list[int]:
    """(rank 0) The chunks already done; refuses a parts folder left by a scan with other settings."""
    record = parts / "settings.json"
    if record.exists():
        before = json.loads(record.read_text())
        if before != settings:
            differ = [key for key in settings if before.get(key) != settings[key]]
            raise ValueError(f"{str(parts)!r} holds an unfinished scan with other settings ({', '.join(differ)}: "
                             f"{', '.join(f'{before.get(key)!r} then, {settings[key]!r} now' for key in differ)}); "
                             f"run it with its own arguments to finish it, or delete the folder to start anew")
    else:
        parts.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(settings, indent=1))
    return [c for c in range(chunks) if (parts / f"chunk-{c:05d}.pt").exists()]


def _finish(parts: Path, out: Path, settings: dict, chunks: int) -> None:
    """(rank 0) Merge the chunks in order into OUT, then remove the parts folder."""
    loaded = [torch.load(parts / f"chunk-{c:05d}.pt", weights_only=True) for c in range(chunks)]
    layers: dict[str, Any] = {}
    for layer in settings["layers"]:
        pieces = [part[layer] for part in loaded]
        if settings["kind"] == "features":
            layers[layer] = torch.cat(pieces)
            continue
        merged = dict(pieces[0])
        for piece in pieces[1:]:   # the k best of both lists, ties to the lower index: as one pass
            values, indices, ys, xs = (torch.cat([merged[f], piece[f]], 1) for f in ("values", "indices", "ys", "xs"))
            merged.update(zip(("values", "indices", "ys", "xs"), _best(values, indices, ys, xs, settings["k"])))
            merged["scanned"] = torch.cat([merged["scanned"], piece["scanned"]])
        layers[layer] = merged
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    torch.save({"settings": settings, "layers": layers}, tmp)
    tmp.replace(out)
    shutil.rmtree(parts)


def _one_voice(task: Any) -> Any:
    """Run task on rank 0 only and give every rank its result, or raise its error on every rank."""
    rank, size = world()
    if size == 1:
        return task()
    said: list[Any] = [None]
    if rank == 0:
        try:
            said = [(task(), None)]
        except Exception as e:  # noqa: BLE001 - every rank must hear of it
            said = [(None, f"{type(e).__name__}: {e}")]
    dist.broadcast_object_list(said, src=0)
    result, error = said[0]
    if error is not None:
        raise RuntimeError(f"rank 0: {error}") if rank else ValueError(error)
    return result


def _data(spec: str, net: Any) -> Any:
    """--data: a folder of images (vk.ImageFolder at the net's size) or fashion-mnist[:train|:test][:N]."""
    from .data import FashionMNIST, ImageFolder

    if spec.split(":")[0] == "fashion-mnist":
        words = spec.split(":")[1:]
        train = "train" in words
        counts = [int(w) for w in words if w.isdigit()]
        data = FashionMNIST(train=train)
        return data.subset(counts[0]) if counts else data
    return ImageFolder(spec, net=net)


def add_arguments(s: argparse.ArgumentParser) -> None:
    """The arguments of `python -m vizkit scan` (vizkit.cli), added to its parser."""
    s.add_argument("kind", choices=KINDS)
    s.add_argument("--model", required=True, help="a vk.load name (fashion-cnn, alexnet, ...)")
    s.add_argument("--data", required=True, help="a folder of images, or fashion-mnist[:train|:test][:N]")
    s.add_argument("--layers", required=True, help="comma-separated layer names, e.g. conv1,conv5")
    s.add_argument("--out", required=True, type=Path, help="the file to write (partial work goes to OUT.parts/)")
    s.add_argument("--k", type=int, default=9, help="top patches per channel (default 9)")
    s.add_argument("--pool", choices=["avg", "max"], default=None, help="features: pool maps per channel")
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--chunk", type=int, default=10240, help="images per resumable step (default 10240)")
    s.add_argument("--device", default=None, help="cpu or cuda (default: each process's GPU if any)")
    s.add_argument("--no-progress", action="store_true")


def command(args: argparse.Namespace) -> int:
    """Run `python -m vizkit scan` with its parsed arguments (torchrun starts one per process) -> exit status."""
    started = _start_group()
    try:
        from .nets import load

        device = args.device
        if device is None and torch.cuda.is_available():
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        net = load(args.model, device=device)
        out = scan(args.kind, net, _data(args.data, net), [x for x in args.layers.split(",") if x], args.out,
                   k=args.k, pool=args.pool, batch_size=args.batch_size, chunk=args.chunk,
                   progress=not args.no_progress)
        if world()[0] == 0:
            print(f"wrote {out}")
        return 0
    except (ValueError, TypeError, KeyError, OSError, RuntimeError) as e:
        rank, size = world()
        print(f"error{f' (rank {rank} of {size})' if size > 1 else ''}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        if started:
            dist.destroy_process_group()


def _start_group() -> bool:
    """Join torchrun's processes (its environment names them); False in a plain process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return True
