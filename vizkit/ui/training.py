"""Panel for notebook 02: replay recorded training runs epoch by epoch."""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .._check import integer
from ..plot import mosaic
from ..train import History
from ._draw import colours, paste, png, sheet, text
from ._panel import Panel, check_dict, choose


class TrainingReplayPanel(Panel):
    """Feature maps of a probe image at any recorded epoch, for several runs side by side, above
    the curves of sparsity and dead-filter fraction. runs: name -> History with snapshots."""

    def __init__(self, runs: dict, layer: str | None = None, max_maps: int = 32):
        super().__init__()
        self.runs = check_dict(runs, "TrainingReplayPanel", "runs", "run", "name -> History")
        self.max_maps = integer(max_maps, "max_maps", 1)
        for name, h in self.runs.items():
            if not isinstance(h, History):
                raise TypeError(f"runs[{name!r}] must be a vizkit History (from vk.train or vk.History.load); "
                                f"got {type(h).__name__}")
            if not isinstance(h.snapshots, list) or not h.snapshots:
                raise ValueError(f"run {name!r} has no snapshots; train it with snapshots=True")
        first = next(iter(self.runs.values())).snapshots[0]
        layers = list(first.get("maps") or {})
        if not layers:
            raise ValueError("the runs recorded no feature maps (map_images=0?)")
        probes = [self._probes(name, i, snap, layers) for name, h in self.runs.items()
                  for i, snap in enumerate(h.snapshots)]
        if min(probes) < 1:
            raise ValueError("the runs recorded feature maps of no probe image (map_images=0?)")
        layer = choose(layer, layers, "layer") or layers[0]
        longest = max(len(h.snapshots) for h in self.runs.values())
        self.snapshot = widgets.IntSlider(0, 0, longest - 1, description="snapshot", continuous_update=True,
                                          disabled=longest == 1)
        self.layer = widgets.Dropdown(options=layers, value=layer, description="layer")
        self.probe = widgets.IntSlider(0, 0, min(probes) - 1, description="image", disabled=min(probes) == 1)
        self.caption = widgets.HTML()
        self._drawn: dict[str, dict] = {}
        self._layout(widgets.HBox([self.snapshot, self.layer, self.probe]), self.caption)
        for w in (self.snapshot, self.layer, self.probe):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._timed_render)()
        for name in layers:  # each layer's curves once now (~0.1 s each), so that choosing a layer only redraws
            self._guard(self._curves)(name)

    @staticmethod
    def _probes(run: str, i: int, snap: dict, layers: list[str]) -> int:
        """How many probe images a snapshot kept maps of; it must record all that the panel draws."""
        need = [k for k in ("epoch", "accuracy", "maps", "sparsity", "dead") if k not in snap]
        need += [f"{k}[{a!r}]" for k in ("maps", "sparsity", "dead") if k in snap for a in layers if a not in snap[k]]
        if need:
            raise ValueError(f"run {run!r} snapshot {i} lacks {', '.join(need)}: every run must record the layers "
                             f"the first one does ({layers})")
        return min(len(snap["maps"][a]) for a in layers)

    def _curves(self, layer: str) -> dict:
        """The sparsity and dead-fraction curves of a layer for every run, drawn once by matplotlib into an
        (h, 720, 3) array, with where its axes lie (to mark the epoch shown)."""
        if layer not in self._drawn:
            fig = Figure(figsize=(9, 2.9), dpi=80)
            axes = fig.subplots(1, 2, gridspec_kw=dict(left=0.08, right=0.98, bottom=0.17, top=0.95, wspace=0.28))
            for ax, key in zip(axes, ("sparsity", "dead")):
                for name, h in self.runs.items():
                    ax.plot(*h.series(key, layer), marker=".", label=name)
                ax.set_ylim(-0.02, 1.02)
                ax.set_xlabel("epoch")
                ax.set_ylabel("fraction of activations ≤ 0" if key == "sparsity" else "fraction of dead filters")
                ax.legend(fontsize=7)
            canvas = FigureCanvasAgg(fig)
            canvas.draw()
            height = canvas.get_width_height()[1]
            self._drawn[layer] = {"array": np.asarray(canvas.buffer_rgba())[..., :3].copy(),
                                  "axes": [(ax.transData, height - ax.bbox.y1, height - ax.bbox.y0) for ax in axes]}
        return self._drawn[layer]

    def render(self) -> None:
        """Maps of each run at the chosen snapshot (rows), then sparsity and dead-fraction curves."""
        layer, i, img = self.layer.value, self.snapshot.value, self.probe.value
        rows, epochs = [], []
        for name, h in self.runs.items():
            s = h.snapshots[min(i, len(h.snapshots) - 1)]
            epochs.append(s["epoch"])
            maps = s["maps"][layer][img].float()[: self.max_maps]
            grid = Image.fromarray(colours(mosaic(maps, math.ceil(math.sqrt(2.5 * len(maps)))), "viridis", 0, 1))
            scale = min(700 / grid.width, 170 / grid.height)
            acc = "" if s["accuracy"] is None else f", training accuracy {s['accuracy']:.0%}"
            rows.append((f"{name} — epoch {s['epoch']:.2f}: {s['sparsity'][layer]:.0%} zeros, "
                         f"{s['dead'][layer]:.0%} dead filters{acc}",
                         grid.resize((round(grid.width * scale), round(grid.height * scale)),
                                     Image.Resampling.NEAREST)))
        curves = self._curves(layer)
        top = sum(22 + g.height + 8 for _, g in rows)
        pic, draw = sheet(720, top + curves["array"].shape[0])
        y = 4
        for title, grid in rows:
            text(draw, (360, y), title, 12, anchor="mt")
            paste(pic, grid, (720 - grid.width) // 2, y + 20)
            y += 22 + grid.height + 8
        paste(pic, curves["array"], 0, top)
        for to_pixels, upper, lower in curves["axes"]:  # the epoch shown, on both plots
            x = to_pixels.transform((epochs[0], 0))[0]
            for y0 in np.arange(top + upper, top + lower, 8):
                draw.line((x, y0, x, min(y0 + 4, top + lower)), fill=(128, 128, 128))
        self._picture(png(pic))
        self.caption.value = f"layer <b>{layer}</b>, probe image {img}, snapshot {i}"
        self._idle()
