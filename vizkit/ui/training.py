"""Panel for notebook 02: replay recorded training runs epoch by epoch."""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .._check import integer
from ..plot import mosaic
from ..train import History
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
        self.widget = widgets.VBox([widgets.HBox([self.snapshot, self.layer, self.probe]), self.caption,
                                    self.view, self.message])
        for w in (self.snapshot, self.layer, self.probe):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._timed_render)()

    @staticmethod
    def _probes(run: str, i: int, snap: dict, layers: list[str]) -> int:
        """How many probe images a snapshot kept maps of; it must record all that the panel draws."""
        need = [k for k in ("epoch", "accuracy", "maps", "sparsity", "dead") if k not in snap]
        need += [f"{k}[{a!r}]" for k in ("maps", "sparsity", "dead") if k in snap for a in layers if a not in snap[k]]
        if need:
            raise ValueError(f"run {run!r} snapshot {i} lacks {', '.join(need)}: every run must record the layers "
                             f"the first one does ({layers})")
        return min(len(snap["maps"][a]) for a in layers)

    def render(self) -> None:
        """Maps of each run at the chosen snapshot (rows), then sparsity and dead-fraction curves."""
        layer, i, img = self.layer.value, self.snapshot.value, self.probe.value
        n = len(self.runs)
        fig = Figure(figsize=(10, 2.6 * n + 2.6))
        gs = fig.add_gridspec(n + 1, 2, height_ratios=[2.6] * n + [2.4])
        epochs = []
        for row, (name, h) in enumerate(self.runs.items()):
            s = h.snapshots[min(i, len(h.snapshots) - 1)]
            epochs.append(s["epoch"])
            maps = s["maps"][layer][img].float()[: self.max_maps]
            ax = fig.add_subplot(gs[row, :])
            cols = math.ceil(math.sqrt(2.5 * len(maps)))
            ax.imshow(np.ma.masked_invalid(mosaic(maps, cols)), cmap="viridis", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_axis_off()
            acc = "" if s["accuracy"] is None else f", training accuracy {s['accuracy']:.0%}"
            ax.set_title(f"{name} — epoch {s['epoch']:.2f}: {s['sparsity'][layer]:.0%} zeros, "
                         f"{s['dead'][layer]:.0%} dead filters{acc}", fontsize=9)
        for col, key in enumerate(("sparsity", "dead")):
            ax = fig.add_subplot(gs[n, col])
            for name, h in self.runs.items():
                x, y = h.series(key, layer)
                ax.plot(x, y, marker=".", label=name)
            ax.axvline(epochs[0], color="grey", lw=0.8, ls="--")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("epoch")
            ax.set_ylabel("fraction of activations ≤ 0" if key == "sparsity" else "fraction of dead filters")
            ax.legend(fontsize=7)
        fig.tight_layout()
        self._show(fig)
        self.caption.value = f"layer <b>{layer}</b>, probe image {img}, snapshot {i}"
        self.message.value = ""
