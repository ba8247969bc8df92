"""Exercises of notebooks 07, 08 and 12: deconvnet, saliency, occlusion, adversarial examples
(beyond the contract's nine in implement.py and the first measured ones in measured.py)."""

from __future__ import annotations

from typing import Any

from .measured import _fashion, _test_set
from .runner import Exercise, Find, Predict

# --------------------------------------------------------------------------- predict, then check


def _conv1_projection_pixels() -> int:
    """Non-zero pixels of the deconvnet projection of the conv1 unit notebook 07 shows next: channel 3's strongest
    unit on the ankle boot (test #0), whose 5x5 field lies inside the image."""
    from ..attribute import deconvnet
    from ..inspect import activations, receptive_field

    net = _fashion()
    x = net.normalize(_test_set()[0][0][None])
    conv1 = activations(net, x, "conv1")["conv1"]
    y, x_ = divmod(int(conv1[3].argmax()), conv1.shape[2])
    top, left, bottom, right = receptive_field(net, "conv1").box(y, x_)
    if top < 0 or left < 0 or bottom > x.shape[2] or right > x.shape[3]:  # the question is about a unit inside
        raise RuntimeError(f"conv1 unit ({y}, {x_}) is at the border; the exercise needs one inside")
    return int((deconvnet(net, x, "conv1", 3) != 0).sum())


PREDICTIONS: list[Predict] = [
    Predict("conv1_projection_pixels", "fashion-cnn's conv1 has 5x5 filters (stride 1, padding 2) on the grey "
            "28x28 image. Send one conv1 unit whose receptive field lies inside the image back to the pixels "
            "with the deconvnet: how many of the 784 pixels of its projection are non-zero?",
            _conv1_projection_pixels, unit="pixels"),
]


# --------------------------------------------------------------------------- find it with a panel

def _boot_flips(panel: Any) -> tuple[bool, str]:
    """The adversarial panel shows the ankle boot under an untargeted PGD attack, at the smallest eps on its
    slider for which the network's label changes (measured again with vk.pgd, the panel's number of steps)."""
    from ..optimize import pgd
    from ..ui.adversarial import UNTARGETED

    net = panel.net
    name = panel.image.value
    x = panel.inputs[name]
    own = int(net.logits(x).argmax(1))
    if net.classes[own] != "Ankle boot":
        return False, f"{name!r} is seen as {net.classes[own]!r}: pick the image the network calls 'Ankle boot'"
    if panel.method.value != "PGD":
        return False, f"the attack is {panel.method.value}: switch it to PGD"
    if panel.target.value != UNTARGETED:
        return False, f"the attack moves toward {panel.target.value!r}: set the target to none (untargeted)"
    slider, eps = panel.eps, float(panel.eps.value)

    def label(e: float) -> int:
        return int(net.logits(pgd(net, x, own, e, steps=panel.pgd_steps)).argmax(1))

    now = label(eps)
    if now == own:
        return False, f"PGD at eps = {eps:.3f} leaves the boot an ankle boot: raise eps until the label flips"
    below = [slider.min + i * slider.step for i in range(int(round((slider.max - slider.min) / slider.step)) + 1)]
    for e in (e for e in below if e < eps - slider.step / 2):  # every value of the slider below eps, smallest first
        if label(e) != own:
            return False, (f"PGD at eps = {eps:.3f} makes the boot a {net.classes[now]!r}, but a smaller eps on the "
                           "slider flips it too: lower eps, one step at a time, until the label stays")
    return True, (f"PGD at eps = {eps:.3f} ({eps * 255:.1f} grey levels) makes the boot a {net.classes[now]!r}, "
                  f"and no smaller eps on the slider changes its label")


FINDS: list[Find] = [
    Find("boot_flips", "Set the adversarial panel to the ankle boot, the untargeted PGD attack, and the smallest "
         "eps on its slider at which the network's label changes", "AdversarialPanel", _boot_flips),
]

IMPLEMENTS: list[Exercise] = []
