"""Every torchvision classifier through every technique and panel: random weights, a small input, each once.

Each cell of the table says what happened: "ok" (finite results), "refused: <reason>" (a ValueError or TypeError:
the technique says it cannot apply, and why) or "ERROR: <type>" (any other exception, or non-finite results:
a bug). Models over --max-params parameters are skipped and listed. Layers, per model: the first and the last
Conv2d that the forward pass runs ("a conv layer", "the last conv layer with maps"); targets are class indices.
tests/test_families.py runs the same on one tiny model per architecture family in `make test`.

    python benchmarks/sweep.py [--models resnet18 vit_b_16 ...] [--size 64] [--out sweep.md]
        [--max-params 150e6] [--panels render|drive|none] [--threads N]

Progress goes to stderr; the Markdown table and a summary to stdout (and to --out). Set OMP_WAIT_POLICY=PASSIVE
on shared cores. Measured at 128 px, panels rendered, on 2 CPU cores busy with other work: 13 small and medium
models in 11 min; VGG16, RegNetY-32GF, EfficientNet-B7 and ViT-B/16 in 4 min of CPU time (14 min of wall time
there), 7.6 GB at most. 64 px, the default, is meant to keep all 75 near 20 minutes on a quiet machine.
"""

import argparse
import gc
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

import vizkit as vk

MIN_SIZE = {"inception_v3": 112}  # its pooling needs 75 px, and DeepDream's smaller octave 1.4 times that
FIXED_SIZE = {"maxvit_t": 224}  # its attention partitions (7 x 7) must tile the maps at every stage
SIZED = {"vit": "image_size"}  # builders that take the input size (position embeddings are made for one size)

TECHNIQUES = {
    "activations": lambda z: vk.activations(z.net, z.x, [z.conv, z.last]),
    "activations (every alias)": lambda z: vk.activations(z.net, z.x, list(z.net.layers)),
    "dead_filters": lambda z: vk.dead_filters(z.net, z.data, z.last),
    "filter_weights": lambda z: vk.filter_smoothness(vk.filter_weights(z.net, z.conv)),
    "features": lambda z: vk.features(z.net, z.data, z.last, pool="avg", progress=False),
    "nearest+embed": lambda z: (lambda f: vk.embed(f, "pca")[vk.nearest(f, 0, k=2)[0]])(
        vk.features(z.net, z.data, z.last, progress=False)),
    "receptive_field": lambda z: vk.receptive_field(z.net, z.last),
    "top_patches": lambda z: vk.top_patches(z.net, z.data, z.last, k=2, progress=False).crops(1),
    "deconvnet": lambda z: vk.deconvnet(z.net, z.x, z.last, 1),
    "backprop": lambda z: vk.backprop(z.net, z.x, z.last, 1),
    "guided_backprop": lambda z: vk.guided_backprop(z.net, z.x, z.last, 1),
    "saliency": lambda z: vk.saliency(z.net, z.x, 1, smooth=2),
    "grad_cam": lambda z: vk.grad_cam(z.net, z.x, 1, z.last),
    "guided_grad_cam": lambda z: vk.guided_grad_cam(z.net, z.x, 1, z.last),
    "occlusion": lambda z: vk.occlusion(z.net, z.x, 0, z.window, z.window, progress=False),
    "occlusion_activation": lambda z: vk.occlusion_activation(z.net, z.x, z.conv, 0, z.window, z.window,
                                                              progress=False),
    "invert": lambda z: vk.invert(z.net, z.x, z.last, steps=2, progress=False).image,
    "visualize_filter": lambda z: vk.visualize_filter(z.net, z.last, 1, steps=2, progress=False).image,
    "visualize_filter (fourier)": lambda z: vk.visualize_filter(z.net, z.conv, 1, steps=2, parametrisation="fourier",
                                                                progress=False).image,
    "visualize_class": lambda z: vk.visualize_class(z.net, 3, steps=2, progress=False).image,
    "fgsm": lambda z: vk.fgsm(z.net, z.x, 0, eps=0.03),
    "pgd": lambda z: vk.pgd(z.net, z.x, None, eps=0.03, steps=2),
    "deepdream": lambda z: vk.deepdream(z.net, z.x, z.last, octaves=2, steps=2, progress=False).image,
    "synthesize_texture": lambda z: vk.synthesize_texture(z.net, z.x, [z.conv], steps=2, progress=False).image,
    "style_transfer": lambda z: vk.style_transfer(z.net, z.x, z.x.flip(3), steps=2, settings=vk.StyleSettings(
        content_layer=z.last, style_layers=[z.conv]), progress=False).image,
    "predict": lambda z: z.net.predict(z.x, k=2),
    "train": lambda z: train(z),  # last: it changes the weights (random anyway, for the panels after it)
}


def train(z: "Subject") -> list:
    """One epoch on the photos, snapshots of the two layers kept for the training-replay panel."""
    history = vk.train(z.net, z.data, epochs=1, lr=0.01, progress=False, settings=vk.TrainSettings(batch_size=4),
                       snapshots=vk.SnapshotSettings(layers=[z.conv, z.last]))
    z.history = history
    return [e["loss"] for e in history.epochs]

PANELS = {
    "ActivationsPanel": lambda z, ui: ui.ActivationsPanel(z.net, z.images),
    "FiltersPanel": lambda z, ui: ui.FiltersPanel({z.name: z.net}),
    "NeighboursPanel": lambda z, ui: ui.NeighboursPanel(z.net, z.data.tensors()[0], z.data.labels, {
        z.last: vk.features(z.net, z.data, z.last, pool="avg", progress=False)}, k=2),
    "FieldPanel": lambda z, ui: ui.FieldPanel(z.net, z.images),
    "PatchesPanel": lambda z, ui: ui.PatchesPanel(z.net, z.data, [z.conv, z.last], k=2),
    "ProjectionPanel": lambda z, ui: ui.ProjectionPanel(z.net, z.images),
    "TopProjectionsPanel": lambda z, ui: ui.TopProjectionsPanel(z.net, z.data, [z.conv, z.last], k=2),
    "OcclusionPanel": lambda z, ui: ui.OcclusionPanel(z.net, z.images, window=z.window, stride=z.window),
    "SaliencyPanel": lambda z, ui: ui.SaliencyPanel(z.net, z.images, smooth=2),
    "InversionPanel": lambda z, ui: ui.InversionPanel(z.net, z.images, steps=2),
    "FilterPanel": lambda z, ui: ui.FilterPanel(z.net, z.data, steps=2, k=2),
    "ClassModelPanel": lambda z, ui: ui.ClassModelPanel(z.net, steps=2),
    "AdversarialPanel": lambda z, ui: ui.AdversarialPanel(z.net, z.images, steps=2),
    "DeepDreamPanel": lambda z, ui: ui.DeepDreamPanel(z.net, z.images, size=z.size, octaves=2, steps=2),
    "TexturePanel": lambda z, ui: ui.TexturePanel(z.net, z.images, size=z.size, steps=2),
    "StylePanel": lambda z, ui: ui.StylePanel(z.net, z.images, {"b": z.images["b"]}, size=z.size, steps=2),
    "TrainingReplayPanel": lambda z, ui: ui.TrainingReplayPanel({"run": z.history}),
}


class Subject:
    """One model and what the techniques take: net, x, data, images, conv, last, window, size, name."""

    def __init__(self, name: str, size: int, folder: Path):
        weights = torchvision.models.get_model_weights(name).DEFAULT
        kwargs = {SIZED[k]: size for k in SIZED if name.startswith(k)}
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None, **kwargs)
        tf = weights.transforms()
        self.net = vk.wrap(model, classes=weights.meta["categories"], mean=tf.mean, std=tf.std, input_size=size,
                           name=name)
        self.name, self.size, self.window = name, size, max(size // 4, 1)
        self.data = vk.ImageFolder(folder, net=self.net)
        self.x = self.net.normalize(self.data[0][0][None])
        self.images = {"a": self.data[0][0], "b": self.data[3][0]}
        self.conv, self.last = conv_layers(self.net.model, self.x)
        self.history: vk.History | None = None


def conv_layers(model: torch.nn.Module, x: torch.Tensor) -> tuple[str, str]:
    """(the first, the last) Conv2d that model(x) runs, whose output is (N, C, h, w) maps."""
    ran: list[str] = []
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: ran.append(n) if o.dim() == 4 else None)
             for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    if not ran:
        raise ValueError("no Conv2d runs")
    return ran[0], ran[-1]


def photos(root: Path) -> Path:
    """Nine real photos (the sample photos whole and their left and right halves), one folder per photo."""
    for name in vk.sample_images():
        img = vk.sample_image(name)
        w, h = img.size
        (root / name).mkdir(parents=True)
        for part, box in (("whole", (0, 0, w, h)), ("left", (0, 0, w // 2, h)), ("right", (w // 2, 0, w, h))):
            img.crop(box).save(root / name / f"{part}.png")
    return root


def finite(out: object) -> bool:
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else [out]
    return all(np.isfinite(torch.as_tensor(v).detach().cpu().float().numpy()).all() for v in values
               if isinstance(v, (torch.Tensor, np.ndarray)))


def outcome(fn: Callable[[], object], model_name: str, check: bool = True) -> str:
    """'ok', 'refused: <reason>' or 'ERROR: <type>' for fn() (its tensors finite if check); the full messages are
    kept in MESSAGES."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn()
    except Exception as e:  # noqa: BLE001 - the sweep reports every failure, whatever its type
        return classify(e, model_name)
    if check and out is not None and not finite(out):
        return "ERROR: not finite"
    return "ok"


def classify(e: Exception, model_name: str) -> str:
    if isinstance(e, (ValueError, TypeError)):
        return "refused: " + short(str(e), model_name, e)
    kind = f"ERROR: {type(e).__name__}"
    MESSAGES.setdefault(kind, Counter())[first_line(str(e))] += 1
    return kind


MESSAGES: dict[str, Counter] = {}  # cell -> full messages seen, with counts


def first_line(message: str, limit: int = 300) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "(no message)"
    return line if len(line) <= limit else line[:limit] + "…"


def short(message: str, model_name: str, e: Exception, limit: int = 48) -> str:
    """A refusal in a few words: the model's name dropped, cut at limit characters."""
    text = first_line(message).replace(model_name, "<model>")
    cell = text if len(text) <= limit else text[:limit - 1] + "…"
    cell = cell.replace("|", "/")
    MESSAGES.setdefault("refused: " + cell, Counter())[f"{type(e).__name__}: {text}"] += 1
    return cell


def render(make: Callable, z: Subject, ui: Any, mode: str) -> None:
    """Make the panel and drive it."""
    drive(make(z, ui), mode)


def drive(panel: Any, mode: str) -> None:
    """Render the panel once; in mode 'drive', also change every value control once (as tests/test_zoo.drive)."""
    import ipywidgets as widgets

    run = getattr(panel, "run", None)
    if run is not None:
        run(block=True)
    check_panel(panel, "first view")
    if mode != "drive":
        return
    skip = (widgets.FileUpload, widgets.Button, widgets.Image, widgets.HTML, widgets.Label, widgets.IntProgress,
            widgets.Output, widgets.Text, widgets.Textarea)
    for name, w in vars(panel).items():
        if not isinstance(w, widgets.ValueWidget) or isinstance(w, skip) or getattr(w, "disabled", False):
            continue
        value = other_value(w)
        if value is None:
            continue
        w.value = value
        if run is not None:
            run(block=True)
        check_panel(panel, f"{name} = {value!r}")


def check_panel(panel: Any, what: str) -> None:
    if panel.last_error is not None:
        raise panel.last_error
    if not panel.png():
        raise RuntimeError(f"the panel shows nothing after {what}")


def other_value(w):
    """A value for widget w other than its current one, or None."""
    import ipywidgets as widgets

    if isinstance(w, widgets.Checkbox):
        return not w.value
    if hasattr(w, "options"):
        options = list(w._options_values)
        if isinstance(w, widgets.SelectMultiple):
            return tuple(o for o in options if o not in w.value)[:1] or None
        return next((o for o in options if o != w.value), None)
    if isinstance(w, (widgets.IntSlider, widgets.FloatSlider, widgets.FloatLogSlider, widgets.BoundedIntText,
                      widgets.BoundedFloatText)) and w.min != w.max:
        step = w.step or 1
        return w.value + step if w.value + step <= w.max else w.value - step
    return None


def sweep_model(name: str, size: int, folder: Path, panels: str) -> dict[str, str]:
    """technique or panel -> outcome, for one model."""
    started = time.perf_counter()
    try:
        z = Subject(name, size, folder)
    except Exception as e:  # noqa: BLE001 - a model that cannot even be wrapped gets a row of its error
        return dict.fromkeys(columns(panels), classify(e, name))
    row = {}
    for technique, fn in TECHNIQUES.items():
        t = time.perf_counter()
        # top patches' crops are NaN where a receptive field reaches past the image
        row[technique] = outcome(partial(fn, z), name, check=technique != "top_patches")
        log(f"  {technique}: {row[technique]} ({time.perf_counter() - t:.1f} s)")
    if panels != "none":
        import vizkit.ui as ui

        for panel, make in PANELS.items():
            t = time.perf_counter()
            if panel == "TrainingReplayPanel" and z.history is None:
                row[panel] = "skipped: no training run"
                continue
            row[panel] = outcome(partial(render, make, z, ui, panels), name)
            log(f"  {panel}: {row[panel]} ({time.perf_counter() - t:.1f} s)")
    log(f"  {name}: {time.perf_counter() - started:.0f} s, layers {z.conv} .. {z.last}")
    return row


def columns(panels: str) -> list[str]:
    return list(TECHNIQUES) + (list(PANELS) if panels != "none" else [])


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def report(rows: dict[str, dict[str, str]], skipped: dict[str, int], size: int, panels: str, seconds: float) -> str:
    """The Markdown table (a row per architecture), the summary and the messages behind each cell."""
    cols = columns(panels)
    lines = [f"Sweep: {len(rows)} torchvision classifiers, random weights, {size} px "
             f"({', '.join(f'{k} {v}' for k, v in sorted(MIN_SIZE.items()) + sorted(FIXED_SIZE.items()))} px), "
             f"panels: {panels}; {seconds / 60:.0f} min.", "",
             "| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(row.get(c, "") for c in cols) + " |")
    cells = Counter(v.split(":")[0] for row in rows.values() for v in row.values())
    counts = ", ".join(f"{cells[k]} {k}" for k in ("ok", "refused", "ERROR", "skipped") if cells[k])
    clean = sum(all(v == "ok" for v in row.values()) for row in rows.values())
    no_errors = sum(not any(v.startswith("ERROR") for v in row.values()) for row in rows.values())
    lines += ["", f"**Summary**: {len(rows)} models × {len(cols)} techniques and panels = {sum(cells.values())} "
              f"cells: {counts}. {clean} of {len(rows)} models pass everything; {no_errors} raise no errors.", ""]
    per_column = {c: Counter(row.get(c, "").split(":")[0] for row in rows.values()) for c in cols}
    lines += ["| technique / panel | ok | refused | ERROR |", "|---|---|---|---|"]
    lines += [f"| {c} | {n['ok']} | {n['refused']} | {n['ERROR']} |" for c, n in per_column.items()]
    if skipped:
        lines += ["", "Skipped (over the parameter limit): " +
                  ", ".join(f"{n} ({p / 1e6:.0f} M)" for n, p in skipped.items()) + "."]
    if MESSAGES:
        lines += ["", "Messages behind the cells (count):"]
        for cell, messages in sorted(MESSAGES.items()):
            for message, count in messages.most_common(3):
                lines.append(f"- `{cell}` ({count}): {message}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    everything = sorted(torchvision.models.list_models(module=torchvision.models))
    ap.add_argument("--models", nargs="+", default=everything, metavar="NAME", help="default: every classifier")
    ap.add_argument("--size", type=int, default=64, help="input size in pixels (default 64)")
    ap.add_argument("--out", type=Path, help="also write the Markdown report here")
    ap.add_argument("--max-params", type=float, default=150e6, help="skip larger models (default 150e6)")
    ap.add_argument("--panels", choices=["render", "drive", "none"], default="render",
                    help="render each panel's first view (the default), also change each control once (drive: "
                         "about twice the time), or leave panels out")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: leave as is)")
    args = ap.parse_args()
    unknown = sorted(set(args.models) - set(everything))
    if unknown:
        ap.error(f"not torchvision classifiers: {', '.join(unknown)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(True)
    started = time.perf_counter()
    rows: dict[str, dict[str, str]] = {}
    skipped = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = photos(Path(tmp) / "photos")
        for i, name in enumerate(args.models, 1):
            params = torchvision.models.get_model_weights(name).DEFAULT.meta["num_params"]
            if params > args.max_params:
                skipped[name] = params
                log(f"[{i}/{len(args.models)}] {name}: skipped ({params / 1e6:.0f} M parameters)")
                continue
            size = FIXED_SIZE.get(name, max(args.size, MIN_SIZE.get(name, 0)))
            log(f"[{i}/{len(args.models)}] {name} ({params / 1e6:.1f} M parameters, {size} px)")
            rows[name] = sweep_model(name, size, folder, args.panels)
            gc.collect()
    text = report(rows, skipped, args.size, args.panels, time.perf_counter() - started)
    print(text)
    if args.out:
        args.out.write_text(text)
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
