"""vizkit.exercises: each exercise's answer means what vizkit's own technique means (checked against it and against
independent references), every written mistake is caught and named, and a student's own errors come back as
AssertionErrors that say what went wrong."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA

import vizkit as vk
from vizkit.exercises import EXERCISES, NOT_DONE, check
from vizkit.exercises.implement import IMPLEMENTS, tiny_model

NAMES = ["dead_filters", "knn", "pca", "receptive_field", "max_unpool", "occlusion", "saliency", "gram", "fgsm"]


def test_the_contract_names_are_all_there():
    assert set(NAMES) <= set(EXERCISES)


@pytest.mark.parametrize("name", list(IMPLEMENTS))
def test_the_reference_passes(name):
    report = check(name, IMPLEMENTS[name].reference, show=False)
    assert report.passed and "passed" in report.text()


MISTAKES = [(name, i) for name, e in IMPLEMENTS.items() for i in range(len(e.mistakes))]


@pytest.mark.parametrize("name, index", MISTAKES, ids=[f"{n}-{i}" for n, i in MISTAKES])
def test_every_written_mistake_is_caught_and_named(name, index):
    mistake = IMPLEMENTS[name].mistakes[index]
    with pytest.raises(AssertionError) as caught:
        check(name, mistake.wrong, show=False)
    assert f"hint: {mistake.hint}" in str(caught.value)


def test_every_exercise_names_at_least_two_mistakes():
    assert all(len(e.mistakes) >= 2 for e in IMPLEMENTS.values())


# --------------------------------------------------------------------------- same meaning as vizkit's technique

def net_of(model, channels):
    return vk.wrap(model, mean=[0.0] * channels, std=[1.0] * channels, input_size=(12, 12))


def test_dead_filters_means_vk_dead_filters(fashion, fashion_batch):
    images = fashion_batch[0][:32]
    maps = vk.activations(fashion, images, "relu3")["relu3"]
    assert torch.equal(IMPLEMENTS["dead_filters"].reference(maps), vk.dead_filters(fashion, images, "relu3"))


def test_knn_means_vk_nearest():
    for features, query, k in IMPLEMENTS["knn"].cases().values():
        indices, _ = vk.nearest(features.numpy(), query, k, metric="cosine")
        assert IMPLEMENTS["knn"].reference(features, query, k).tolist() == indices.tolist()


def test_pca_means_scikit_learns_pca_up_to_sign():
    for X, k in IMPLEMENTS["pca"].cases().values():
        ours = IMPLEMENTS["pca"].reference(X, k).numpy()
        theirs = PCA(n_components=k).fit_transform(X.numpy())
        for column in range(k):
            sign = np.sign(np.dot(ours[:, column], theirs[:, column]))
            np.testing.assert_allclose(ours[:, column] * sign, theirs[:, column], rtol=1e-4, atol=1e-4)


def test_receptive_field_means_vk_receptive_field(fashion):
    (layers,) = IMPLEMENTS["receptive_field"].cases()["fashion-cnn to conv3"]
    rf = vk.receptive_field(fashion, "conv3")
    assert IMPLEMENTS["receptive_field"].reference(layers).tolist() == [rf.size[0], rf.stride[0], rf.start[0]]


def test_max_unpool_puts_each_value_at_its_switch():
    for values, switches, size in IMPLEMENTS["max_unpool"].cases().values():
        expected = torch.zeros(values.shape[0], size[0] * size[1])
        for c in range(values.shape[0]):  # a loop over every pooled value
            for v, i in zip(values[c].flatten().tolist(), switches[c].flatten().tolist()):
                expected[c, i] = v
        assert torch.equal(IMPLEMENTS["max_unpool"].reference(values, switches, size), expected.view(-1, *size))
    values, switches, size = IMPLEMENTS["max_unpool"].cases()["2x2 pools of 6x8"]
    assert torch.equal(IMPLEMENTS["max_unpool"].reference(values, switches, size),
                       F.max_unpool2d(values[None], switches[None], 2, output_size=size)[0])


def test_occlusion_saliency_and_fgsm_mean_vizkits():
    model, x, target, window, stride, fill = IMPLEMENTS["occlusion"].cases()["window 5, stride 3, fill 0.5"]
    net = net_of(model, 1)
    torch.testing.assert_close(IMPLEMENTS["occlusion"].reference(model, x, target, window, stride, fill),
                               vk.occlusion(net, x, target, window, stride, fill, progress=False), atol=1e-5, rtol=0)
    model, x, target = IMPLEMENTS["saliency"].cases()["3 x 10 x 10, class 1"]
    net = net_of(model, 3)
    torch.testing.assert_close(IMPLEMENTS["saliency"].reference(model, x, target), vk.saliency(net, x, target))
    model, x, labels, eps = IMPLEMENTS["fgsm"].cases()["3 images, eps 0.1"]
    net = net_of(model, 1)
    torch.testing.assert_close(IMPLEMENTS["fgsm"].reference(model, x, labels, eps), vk.fgsm(net, x, labels, eps))
    for (features,) in IMPLEMENTS["gram"].cases().values():
        torch.testing.assert_close(IMPLEMENTS["gram"].reference(features), vk.gram(features))


# --------------------------------------------------------------------------- the student's own errors

def raises(*args):
    raise ValueError("boom")


def not_done(*args):
    raise NotImplementedError


def in_place(maps):
    maps.clamp_(max=0.0)
    return maps.amax(dim=(0, 2, 3)) <= 0


def leaves_training_on(model, x, target):
    model.train()
    return IMPLEMENTS["saliency"].reference(model, x, target)


@pytest.mark.parametrize("name, answer, message", [
    ("dead_filters", raises, "your function raised ValueError: boom"),
    ("dead_filters", not_done, re.escape(NOT_DONE)),
    ("dead_filters", lambda maps: maps.amax(dim=(0, 2, 3))[:, None] <= 0, r"shape \(8, 1\); expected \(8,\)"),
    ("dead_filters", lambda maps: (maps.amax(dim=(0, 2, 3)) <= 0).float(), "dtype is torch.float32; expected a bool"),
    ("gram", lambda f: torch.full((f.shape[0], f.shape[1], f.shape[1]), float("nan")), "NaN"),
    ("gram", lambda f: [[1.0]], "shape"),
    ("dead_filters", in_place, "changed its input"),
    ("saliency", leaves_training_on, "left the model changed"),
    ("knn", lambda f, q, k: "nearest", "you returned a str"),
])
def test_the_students_own_errors_are_assertion_errors_that_say_what_went_wrong(name, answer, message):
    with pytest.raises(AssertionError, match=message):
        check(name, answer, show=False)


def test_check_refuses_an_unknown_exercise_and_a_non_function():
    with pytest.raises(KeyError, match="'saliency'"):
        check("salency", lambda *a: None)
    with pytest.raises(AssertionError, match="your function"):
        check("gram", "not a function")


def test_ipython_shows_a_failed_check_as_its_message_not_vizkits_lines():
    """The student's traceback is the report, not the frames of vizkit that raised it (a real IPython shell)."""
    import subprocess
    import sys

    code = "from vizkit.exercises import check; check('gram', lambda f: f)"
    out = subprocess.run([sys.executable, "-m", "IPython", "--colors=NoColor", "--quick", "-c", code],
                         capture_output=True, text=True, timeout=120).stdout
    assert "CheckFailed: gram: not yet (0 of 2 cases)" in out and "expected (1, 4, 4)" in out, out
    assert "Traceback" not in out and "vizkit/exercises" not in out and "Report(" not in out, out


def test_a_tuple_answer_is_read_as_a_tensor():
    assert check("receptive_field", lambda layers: tuple(IMPLEMENTS["receptive_field"].reference(layers).tolist()),
                 show=False).passed


def test_the_report_shows_a_picture_row_for_images():
    with pytest.raises(AssertionError):
        check("saliency", IMPLEMENTS["saliency"].mistakes[0].wrong, show=False)
    report = check("saliency", IMPLEMENTS["saliency"].reference, show=False)
    png = report.png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and "<img" in report._repr_html_()
    assert check("knn", IMPLEMENTS["knn"].reference, show=False).png() is None   # indices: no picture


def test_a_case_model_keeps_its_state_through_the_reference():
    model = tiny_model()
    before = [p.clone() for p in model.parameters()]
    IMPLEMENTS["saliency"].reference(model, torch.rand(1, 3, 8, 8), 0)
    assert not model.training and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


# --------------------------------------------------------------------------- predict, then check; find it with a panel

@pytest.mark.parametrize("name, truth", [("rf_conv3", 20), ("more_dead", "relu2")])
def test_a_prediction_is_checked_against_vizkits_measurement(name, truth, fashion):
    assert EXERCISES[name].value() == truth
    assert check(name, truth, show=False).passed
    wrong = 12 if isinstance(truth, int) else "relu1"
    with pytest.raises(AssertionError, match=f"you said {wrong!r}|you said {wrong}; vizkit measures"):
        check(name, wrong, show=False)
    with pytest.raises(AssertionError, match="not done yet"):
        check(name, ..., show=False)


def test_a_prediction_must_be_a_number_or_one_of_the_choices():
    with pytest.raises(AssertionError, match="write a number"):
        check("rf_conv3", "twenty", show=False)
    with pytest.raises(AssertionError, match=r"choose one of \['relu1', 'relu2'\]"):
        check("more_dead", "relu3", show=False)


def test_a_numeric_prediction_passes_within_its_tolerance(monkeypatch):
    exercise = EXERCISES["pixel_neighbours"]
    monkeypatch.setattr(exercise, "_value", 0.72)
    assert check("pixel_neighbours", 0.8, show=False).passed
    with pytest.raises(AssertionError, match="you said 0.5; vizkit measures 0.72"):
        check("pixel_neighbours", 0.5, show=False)


def test_find_it_with_a_panel_reads_the_panels_state(fashion, fashion_test):
    from vizkit.ui import OcclusionPanel, PatchesPanel

    boot = {"boot": fashion_test[0][0], "trouser": fashion_test[2][0]}
    panel = OcclusionPanel(fashion, boot, window=7, stride=2, fill=0.0)
    assert check("occlusion_sandal", panel, show=False).passed          # notebook 08: black squares do it
    panel.image.value = "trouser"
    with pytest.raises(AssertionError, match="pick an image the network calls 'Ankle boot'"):
        check("occlusion_sandal", panel, show=False)
    with pytest.raises(AssertionError, match="give check the OcclusionPanel"):
        check("occlusion_sandal", "my panel", show=False)
    patches = PatchesPanel(fashion, fashion_test.subset(300), ["conv3"], k=3)
    results = []
    for channel in range(8):
        patches.channel.value = channel
        try:
            results.append(check("one_class_channel", patches, show=False).passed)
        except AssertionError as e:
            assert "classes" in str(e)
            results.append(False)
    top = patches.result("conv3")
    expected = [len({int(fashion_test.labels[i]) for i in top.indices[c].tolist()}) == 1 for c in range(8)]
    assert results == expected and any(expected)


@pytest.mark.parametrize("name", list(IMPLEMENTS))
def test_the_hidden_cases_pass_the_reference_and_catch_the_mistakes(name):
    exercise = IMPLEMENTS[name]
    assert check(name, exercise.reference, show=False, hidden=True).passed
    caught = 0
    for mistake in exercise.mistakes:
        try:
            check(name, mistake.wrong, show=False, hidden=True)
        except AssertionError:
            caught += 1
    assert caught >= 1, "the hidden cases catch none of the written mistakes"


def test_a_prediction_may_be_a_function_and_a_find_may_come_with_its_setting(fashion, fashion_test):
    from vizkit.ui import OcclusionPanel

    assert check("rf_conv3", lambda: 20, show=False).passed
    with pytest.raises(AssertionError, match="not done yet"):
        check("rf_conv3", not_done, show=False)
    panel = OcclusionPanel(fashion, {"trouser": fashion_test[2][0], "boot": fashion_test[0][0]}, window=7, stride=2,
                           fill=0.0)

    def setting(p):
        p.image.value = "boot"
    report = check("occlusion_sandal", panel, setting, show=False)
    assert report.passed and "read from the setting you wrote down" in report.text()
    panel.image.value = "trouser"
    with pytest.raises(AssertionError, match="write the setting down"):
        check("occlusion_sandal", panel, not_done, show=False)
    with pytest.raises(AssertionError, match="your setting raised ValueError: boom"):
        check("occlusion_sandal", panel, raises, show=False)
