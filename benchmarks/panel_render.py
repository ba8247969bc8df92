"""How long every panel takes to redraw after a control that only changes what is shown (its results are
computed and cached already): median and p95 per control, in ms. Goal: <= 50 ms here, so that the browser
(comm round trip, PNG decode) stays under 100 ms p95. Sizes follow the notebooks (10,000 test images).

    python benchmarks/panel_render.py --save before.json     # on the old code (PYTHONPATH=old-checkout)
    python benchmarks/panel_render.py --compare before.json  # prints before | after side by side
"""

import argparse
import json
import statistics
import time

import numpy as np
import torch

import vizkit as vk
from vizkit import ui


def timed(panel, widget, values, repeats: int) -> tuple[float, float]:
    """(median, p95) ms of setting widget.value, cycling through values (warmed up once first: their results
    are cached), or, for a range of values, to a new one each time; the widget is left at values[0]."""
    fresh = isinstance(values, range)
    for v in [values[0]] if fresh else [*values, values[0]]:
        widget.value = v
    times = []
    for i in range(repeats):
        v = values[(i + 1) % len(values)]
        if widget.value == v:
            v = values[(i + 2) % len(values)]
        start = time.perf_counter()
        widget.value = v
        times.append(1000 * (time.perf_counter() - start))
        if panel.last_error is not None:
            raise RuntimeError(f"{type(panel).__name__}: {panel.last_error!r}")
    widget.value = values[0]
    return statistics.median(times), float(np.percentile(times, 95))


def cases(n: int):
    """(panel name, build() -> panel, [(control, widget attribute, values), ...]) as the notebooks use them."""
    net = vk.load("fashion-cnn")
    test = vk.FashionMNIST(train=False)
    data = test.subset(n)
    images, labels = data.tensors()
    items = {f"item {i}": test[i][0] for i in (0, 2, 13, 18)}
    photos = {**items, **{f"photo {p}": vk.sample_image(p) for p in vk.sample_images()}}
    feats = {layer: vk.features(net, data, layer, cache=True, progress=False)
             for layer in ("pool1", "pool2", "pool3", "relu4", "relu5")}
    embed_feats = {"pixels": images.reshape(n, -1).numpy(), "relu4": feats["relu4"], "relu5": feats["relu5"]}
    queries = range(1, 400, 7)  # a new query each time: every one is a new search
    yield ("activations", lambda: ui.ActivationsPanel(net, photos, layer="relu1"), [
        ("channel (all channels)", "channel", [1, 2, 3, 4]),
        ("one colour scale", "joint", [False, True]),
        ("layer", "layer", ["relu1", "pool1", "conv2", "relu3"]),
        ("image", "image", list(photos)[:4]),
        ("view", "mode", ["one channel", "all channels"]),  # left at "one channel" for the next row
        ("channel (one channel)", "channel", [5, 6, 7, 8])])
    yield ("training replay", lambda: ui.TrainingReplayPanel(vk.runs.load("monitoring"), layer="relu2"), [
        ("snapshot", "snapshot", [1, 2, 3, 4, 5, 6]),
        ("layer", "layer", ["relu1", "relu2", "relu3"])])
    kept = {name: {"conv1": h.snapshots[-1]["filters"]} for name, h in vk.runs.load("filters").items()}
    untrained = vk.load("fashion-cnn", pretrained=False)
    yield ("filters", lambda: ui.FiltersPanel({"trained": net, "untrained": untrained, **kept}), [
        ("network", "net", ["trained", "untrained", *kept]),
        ("layer", "layer", ["conv2", "conv3", "conv1"]),  # left at conv2 for the next row
        ("input channel (conv2)", "channel", [1, 2, 3, 4]),
        ("one colour scale", "joint", [True, False])])
    yield ("neighbours", lambda: ui.NeighboursPanel(net, images, labels, feats, classes=test.classes, k=8), [
        ("query (new)", "query", queries),  # at pool1 (6,272-d), the first layer
        ("k", "k", [5, 10, 12, 16]),
        ("layer", "layer", ["relu5", "pool1", "pool3", "relu4"]),  # left at relu5, as notebook 04 shows it
        ("query (new), relu5", "query", range(2, 400, 7)),
        ("distance", "metric", ["euclidean", "cosine"])])
    yield ("embedding (PCA)", lambda: ui.EmbeddingPanel(embed_feats, labels, images=images, classes=test.classes), [
        ("layer", "layer", ["relu5", "relu4", "pixels"]),
        ("thumbnails", "show_thumbnails", [True, False])])
    yield ("receptive field", lambda: ui.FieldPanel(net, items), [
        ("y", "y", [1, 2, 3, 4]),
        ("x", "x", [1, 2, 3, 4]),
        ("layer", "layer", ["conv2", "pool2", "conv3", "conv1"]),
        ("image", "image", list(items))])
    yield ("top patches", lambda: ui.PatchesPanel(net, data, ["conv1", "conv2", "conv3"], k=9), [
        ("channel", "channel", [1, 2, 3, 4, 5, 6]),
        ("layer", "layer", ["conv2", "conv3", "conv1"])])
    yield ("projection", lambda: ui.ProjectionPanel(net, items), [
        ("show", "show", ["deconvnet", "backprop", "guided backprop", "side by side"]),
        ("channel (seen)", "channel", [1, 2, 3])])
    yield ("top projections", lambda: ui.TopProjectionsPanel(net, data, ["conv1", "conv2"], k=9), [
        ("channel (seen)", "channel", [1, 2, 3])])
    yield ("occlusion", lambda: ui.OcclusionPanel(net, items, window=7, stride=2, fill=0.0), [
        ("class", "target", ["Trouser", "Bag", "Sneaker", "Ankle boot"]),
        ("image (seen)", "image", list(items))])
    yield ("saliency", lambda: ui.SaliencyPanel(net, items, smooth=16), [
        ("over the image", "overlay", [False, True]),
        ("class (seen)", "target", ["Trouser", "Bag", "Ankle boot"])])
    yield ("adversarial", lambda: ui.AdversarialPanel(net, items, eps=0.05), [
        ("eps (seen)", "eps", [0.01, 0.02, 0.05, 0.1]),
        ("attack (seen)", "method", ["PGD", "FGSM"])])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="test images behind the dataset panels")
    ap.add_argument("--repeats", type=int, default=20, help="timed changes per control")
    ap.add_argument("--save", help="write the timings to this JSON file")
    ap.add_argument("--compare", help="a JSON file from --save: print its timings beside these")
    args = ap.parse_args()
    torch.set_num_threads(2)
    before = json.load(open(args.compare)) if args.compare else {}
    results = {}
    head = f"{'panel':18} {'control':24}" + (f" {'before: median':>15} {'p95':>7}" if before else "")
    print(head + f" {'median':>8} {'p95':>7}" + (f" {'x faster':>9}" if before else ""), flush=True)
    for name, build, controls in cases(args.n):
        panel = build()
        for label, attr, values in controls:
            med, p95 = timed(panel, getattr(panel, attr), values, args.repeats)
            results[f"{name} / {label}"] = (med, p95)
            old = before.get(f"{name} / {label}")
            row = f"{name:18} {label:24}"
            if before:
                row += f" {old[0]:12.1f} ms {old[1]:7.1f}" if old else f" {'-':>15} {'-':>7}"
            row += f" {med:5.1f} ms {p95:7.1f}"
            if old:
                row += f" {old[0] / med:9.1f}"
            print(row, flush=True)
    if args.save:
        with open(args.save, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
