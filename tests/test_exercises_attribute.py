"""The exercises of notebooks 07, 08 and 12 (deconvnet, saliency and occlusion, adversarial examples): each
prediction's measured value is right (checked against an independent measurement) and a wrong prediction fails; each
find passes for a state the panel's controls reach and fails for the panel as the notebook opens it; and the
notebooks' own solutions pass their checks."""

import json
from pathlib import Path

import pytest
import torch

import vizkit as vk
from vizkit.exercises import EXERCISES, check
from vizkit.exercises.lessons_attribute import FINDS, IMPLEMENTS, PREDICTIONS
from vizkit.ui import AdversarialPanel, OcclusionPanel

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_the_lessons_exercises_are_registered():
    for exercise in (*IMPLEMENTS, *PREDICTIONS, *FINDS):
        assert EXERCISES[exercise.name] is exercise
    assert {"conv1_projection_pixels", "boot_flips"} <= set(EXERCISES)


# --------------------------------------------------------------------------- predict, then check

def test_conv1_projection_pixels_is_one_filter(fashion, fashion_test):
    assert EXERCISES["conv1_projection_pixels"].value() == 25
    # independently: a conv1 unit's projection is its 5x5 filter times its activation, so every unit whose field
    # lies inside the image (and whose filter has no zero weight) covers 25 pixels
    x = fashion.normalize(fashion_test[0][0][None])
    weights = vk.filter_weights(fashion, "conv1")
    assert weights.shape[1:] == (1, 5, 5) and bool((weights != 0).all())
    conv1 = vk.activations(fashion, x, "conv1")["conv1"]
    for channel in (0, 3, 17):
        for y, x_ in ((2, 2), (14, 14), (25, 9)):
            projected = vk.deconvnet(fashion, x, "conv1", channel, position=(y, x_))
            expected = torch.zeros(28, 28)
            expected[y - 2:y + 3, x_ - 2:x_ + 3] = conv1[channel, y, x_] * weights[channel, 0]
            torch.testing.assert_close(projected[0, 0], expected, atol=1e-6, rtol=0)
            assert int((projected != 0).sum()) == 25


@pytest.mark.parametrize("name, right, wrong", [("conv1_projection_pixels", 25, 1), ("boot_flip_eps", 0.05, 0.03)])
def test_a_prediction_passes_when_right_and_says_the_measured_value_when_wrong(name, right, wrong):
    assert check(name, right, show=False).passed
    assert check(name, lambda: right, show=False).passed
    with pytest.raises(AssertionError, match=f"you said {wrong:g}.*vizkit measures {right:g}"):
        check(name, wrong, show=False)


def test_boot_flip_eps_is_the_first_budget_at_which_pgd_flips_the_boot(fashion, fashion_test):
    boot, label = fashion_test[0]
    x = fashion.normalize(boot[None])
    flips = [int(fashion.logits(vk.pgd(fashion, x, int(label), eps, steps=20)).argmax(1)) != int(label)
             for eps in (0.01, 0.02, 0.03, 0.05)]
    assert flips == [False, False, False, True]
    assert EXERCISES["boot_flip_eps"].value() == 0.05


# --------------------------------------------------------------------------- find it with a panel

@pytest.fixture(scope="module")
def adversarial_panel(fashion, fashion_test):
    """Notebook 12's first panel, as the notebook makes it."""
    x, y = fashion_test.tensors(torch.arange(200))
    first_of = {}
    for i in range(200):
        name = fashion.classes[int(y[i])]
        if name in ("Ankle boot", "Trouser", "Shirt", "Sneaker") and name not in first_of:
            first_of[name] = i
    return AdversarialPanel(fashion, {f"{name} (test #{i})": x[i] for name, i in first_of.items()}, eps=0.05)


def set_panel(panel, **values):
    for name, value in values.items():
        getattr(panel, name).value = value


def not_written(panel):
    raise NotImplementedError   # the student version's setting, before the student writes it


def test_boot_flips_fails_as_the_notebook_opens_the_panel(adversarial_panel):
    panel = adversarial_panel
    set_panel(panel, image="Ankle boot (test #0)", method="FGSM", eps=0.05, target=panel.target.options[0])
    with pytest.raises(AssertionError, match="not done yet.*switch it to PGD"):
        check("boot_flips", panel, not_written, show=False)


def test_boot_flips_passes_at_the_smallest_flipping_eps_of_the_slider(adversarial_panel):
    panel = adversarial_panel
    set_panel(panel, image="Ankle boot (test #0)", method="PGD", target=panel.target.options[0])
    step = panel.eps.step
    said = {}
    for k in range(8, 15):   # what the panel itself says, one slider step at a time
        panel.eps.value = k * step
        assert panel.last_error is None
        said[k] = "the label flipped" in panel.message.value
    first = min(k for k, flipped in said.items() if flipped)
    assert not any(said[k] for k in range(8, first))
    panel.eps.value = first * step
    report = check("boot_flips", panel, show=False)
    assert report.passed and "no smaller eps on the slider" in report.text()
    assert abs(first * step - 0.033) < 1e-9    # the value notebook 12's solution writes down
    panel.eps.value = (first - 1) * step
    with pytest.raises(AssertionError, match="leaves the boot an ankle boot: raise eps"):
        check("boot_flips", panel, show=False)
    panel.eps.value = (first + 1) * step
    with pytest.raises(AssertionError, match="a smaller eps on the slider flips it too"):
        check("boot_flips", panel, show=False)


def test_boot_flips_needs_the_boot_pgd_and_no_target(adversarial_panel):
    panel = adversarial_panel
    set_panel(panel, image="Trouser (test #2)", method="PGD", eps=0.033, target=panel.target.options[0])
    with pytest.raises(AssertionError, match="pick the image the network calls 'Ankle boot'"):
        check("boot_flips", panel, show=False)
    set_panel(panel, image="Ankle boot (test #0)", target="Sneaker")
    with pytest.raises(AssertionError, match="set the target to none"):
        check("boot_flips", panel, show=False)
    set_panel(panel, target=panel.target.options[0])
    with pytest.raises(AssertionError, match="give check the AdversarialPanel"):
        check("boot_flips", object(), show=False)


def test_occlusion_sandal_on_notebook_08s_panel(fashion, fashion_test):
    """Notebook 08's exercise panel opens on the boot with a 3x3 black square (no sandal anywhere); the notebook's
    solution, a 7x7 square, shows one."""
    footwear = {f"{fashion_test.classes[int(fashion_test.labels[i])]} (test #{i})": fashion_test[i][0]
                for i in (0, 8, 9)}
    panel = OcclusionPanel(fashion, footwear, window=3, stride=1, fill=0.0)
    assert panel.image.value == "Ankle boot (test #0)"
    assert not bool((panel.probs().argmax(0) == fashion.classes.index("Sandal")).any())
    with pytest.raises(AssertionError, match="no position of the window turns the boot into a sandal"):
        check("occlusion_sandal", panel, show=False)

    def solution(p):
        p.image.value = "Ankle boot (test #0)"
        p.window.value = 7
    assert check("occlusion_sandal", panel, solution, show=False).passed
    panel.image.value = "Sandal (test #8)"
    with pytest.raises(AssertionError, match="pick an image the network calls 'Ankle boot'"):
        check("occlusion_sandal", panel, show=False)


# --------------------------------------------------------------------------- the notebooks' own answers

def solution_cells(notebook: str) -> list[tuple[str, str]]:
    """(answer source, check source) of each exercise of a notebook, in order."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    pairs = []
    for answer, test in zip(cells, cells[1:]):
        if answer.get("metadata", {}).get("nbgrader", {}).get("solution") and \
                test.get("metadata", {}).get("nbgrader", {}).get("grade"):
            pairs.append(("".join(answer["source"]), "".join(test["source"])))
    return pairs


@pytest.mark.parametrize("notebook, names", [
    ("07_deconvnet.ipynb", ["max_unpool", "conv1_projection_pixels"]),
    ("08_saliency.ipynb", ["occlusion", "occlusion_sandal", "saliency"]),
    ("12_adversarial_examples.ipynb", ["fgsm", "boot_flip_eps", "boot_flips"]),
])
def test_the_notebooks_solutions_pass_their_checks(notebook, names):
    pairs = solution_cells(notebook)
    assert [test.split('"')[1] for _, test in pairs] == names
    for answer, test in pairs:
        if "panel" in test:   # a find: the notebooks run it against their panels (nbval)
            continue
        scope = {"torch": torch, "check": lambda *a, **k: check(*a, show=False, **k)}
        exec(answer, scope)   # noqa: S102 - the notebook's own solution cell
        exec(test.replace("### BEGIN HIDDEN TESTS\n", "").replace("### END HIDDEN TESTS\n", ""), scope)  # noqa: S102
