"""Panel for notebook 12: an adversarial example beside its original, with what the network says of each.

Each attack on one image takes milliseconds (FGSM: one backward pass; PGD: a few dozen), so every control
recomputes at once; every setting's result is kept, so going back to it only redraws."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from .._check import choice, integer, number
from ..hooks import resolve_target
from ..optimize import fgsm, pgd
from ._draw import above, below, text
from ._panel import Panel, check_net, model_inputs

UNTARGETED = "none: move away from the prediction"


class AdversarialPanel(Panel):
    """Original | perturbation (amplified so that +-eps spans black to white) | adversarial image, each with
    the network's top 3. eps, the attack (FGSM or PGD), the image and an optional target class are controls."""

    def __init__(self, net, images: dict, eps: float = 0.03, method: str = "FGSM", target=None, steps: int = 20,
                 max_eps: float = 0.3):
        super().__init__()
        self.net = check_net(net, "AdversarialPanel")
        self.inputs = model_inputs(net, images, "AdversarialPanel")
        max_eps = number(max_eps, "max_eps", 0, 1, open_low=True)
        eps = number(eps, "eps", 0, max_eps)
        self.pgd_steps = integer(steps, "steps", 1, 1000)
        choice(method, "method", ["FGSM", "PGD"])
        start = UNTARGETED if target is None else net.classes[resolve_target(net, target)]
        if not net.classes:
            raise ValueError("AdversarialPanel needs a net with class names (vk.wrap(..., classes=[...]))")
        self.image = widgets.Dropdown(options=list(self.inputs), description="image")
        self.eps = widgets.FloatSlider(eps, min=0, max=max_eps, step=max_eps / 100, readout_format=".3f",
                                       description="eps", continuous_update=False)
        self.method = widgets.ToggleButtons(options=["FGSM", "PGD"], value=method, description="attack")
        self.target = widgets.Dropdown(options=[UNTARGETED, *net.classes], value=start, description="target")
        self._results: dict = {}
        self._tops: dict = {}
        self._layout(widgets.HBox([self.image, self.target]), widgets.HBox([self.eps, self.method]))
        for w in (self.image, self.eps, self.method, self.target):
            w.observe(self._guard(lambda change: self._timed_render()), "value")
        self._guard(self._timed_render)()

    def attack(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(original pixels, adversarial pixels), each (1, C, H, W) in [0, 1], for the current settings (cached,
        with the network's top 3 for each)."""
        key = (self.image.value, self.eps.value, self.method.value, self.target.value)
        if key not in self._results:
            self._busy(f"attacking with {self.method.value}")
            x = self.inputs[self.image.value]
            targeted = self.target.value != UNTARGETED
            target = self.target.value if targeted else None
            if self.method.value == "FGSM":
                adv = fgsm(self.net, x, target, self.eps.value, targeted=targeted)
            else:
                adv = pgd(self.net, x, target, self.eps.value, steps=self.pgd_steps, targeted=targeted)
            self._results[key] = (self.net.pixels(x), self.net.pixels(adv))
            self._tops[key] = [self.top3(p) for p in self._results[key]]
        return self._results[key]

    def top3(self, pixels: torch.Tensor) -> list[tuple[str, float]]:
        """The network's three most probable classes for a (1, C, H, W) pixel image."""
        p = self.net.probs(self.net.normalize(pixels))[0]
        top = p.topk(min(3, p.numel()))
        return [(self.net.classes[i], float(v)) for v, i in zip(top.values.tolist(), top.indices.tolist())]

    def _build(self):
        fig = Figure(figsize=(9.6, 4.0), dpi=80)
        h, w = self.net.input_size
        axes = [fig.add_axes((0.02 + 0.33 * i, 0.3, 0.29, 0.6)) for i in range(3)]
        grey = "gray" if self.net.channels == 1 else None
        parts = {"axes": axes, "images": [ax.imshow(np.zeros((h, w)), cmap=grey, vmin=0, vmax=1,
                                                                 interpolation="nearest") for ax in axes]}
        for ax in axes:
            ax.set_axis_off()
        parts["dynamic"] = parts["images"]  # titles and predictions are written with PIL
        return fig, parts

    def render(self) -> None:
        """The three images and their top-3 predictions."""
        x, adv = self.attack()
        before, after = self._tops[(self.image.value, self.eps.value, self.method.value, self.target.value)]
        eps = self.eps.value
        delta = adv - x
        shown = 0.5 + delta / (2 * eps) if eps > 0 else torch.full_like(delta, 0.5)
        parts = self._figure("adversarial", self._build)
        titles = ["original", f"perturbation x {1 / (2 * eps):.0f}" if eps > 0 else "perturbation (none)",
                  "adversarial"]
        for k, img in enumerate((x, shown.clamp(0, 1), adv)):
            a = img[0].permute(1, 2, 0).cpu().numpy()
            parts["images"][k].set_data(a[:, :, 0] if a.shape[2] == 1 else a)
        linf, l2 = float(delta.abs().max()), float(delta.norm())
        notes = [top3_text(before), f"max |change| {linf:.3f}\nL2 norm {l2:.2f}", top3_text(after)]

        def write(draw):
            for ax, title, note in zip(parts["axes"], titles, notes):
                text(draw, above(ax), title, 14, anchor="mb")
                text(draw, below(ax), note, 12, anchor="ma", mono=True)
        self._redraw(write)
        flipped = before[0][0] != after[0][0]
        self.progress.layout.display = "none"
        self.message.value = (f"{self.method.value}, eps = {eps:.3f}: the network now says <b>{after[0][0]}</b> "
                              f"({after[0][1]:.3f})" + (" — the label flipped" if flipped else " — unchanged"))


def top3_text(top: list[tuple[str, float]]) -> str:
    """[(class, probability), ...] as aligned lines."""
    return "\n".join(f"{name[:14]:<14} {p:5.3f}" for name, p in top)
