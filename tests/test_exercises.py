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
from vizkit.exercises.implement import tiny_model

NAMES = ["dead_filters", "knn", "pca", "receptive_field", "max_unpool", "occlusion", "saliency", "gram", "fgsm"]


def test_the_contract_names_are_all_there():
    assert set(NAMES) <= set(EXERCISES)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_reference_passes(name):
    report = check(name, EXERCISES[name].reference, show=False)
    assert report.passed and "passed" in report.text()


MISTAKES = [(name, i) for name, e in EXERCISES.items() for i in range(len(e.mistakes))]


@pytest.mark.parametrize("name, index", MISTAKES, ids=[f"{n}-{i}" for n, i in MISTAKES])
def test_every_written_mistake_is_caught_and_named(name, index):
    mistake = EXERCISES[name].mistakes[index]
    with pytest.raises(AssertionError) as caught:
        check(name, mistake.wrong, show=False)
    assert f"hint: {mistake.hint}" in str(caught.value)


def test_every_exercise_names_at_least_two_mistakes():
    assert all(len(e.mistakes) >= 2 for e in EXERCISES.values())


# --------------------------------------------------------------------------- same meaning as vizkit's technique

def net_of(model, channels):
    return vk.wrap(model, mean=[0.0] * channels, std=[1.0] * channels, input_size=(12, 12))


def test_dead_filters_means_vk_dead_filters(fashion, fashion_batch):
    images = fashion_batch[0][:32]
    maps = vk.activations(fashion, images, "relu3")["relu3"]
    assert torch.equal(EXERCISES["dead_filters"].reference(maps), vk.dead_filters(fashion, images, "relu3"))


def test_knn_means_vk_nearest():
    for features, query, k in EXERCISES["knn"].cases().values():
        indices, _ = vk.nearest(features.numpy(), query, k, metric="cosine")
        assert EXERCISES["knn"].reference(features, query, k).tolist() == indices.tolist()


def test_pca_means_scikit_learns_pca_up_to_sign():
    for X, k in EXERCISES["pca"].cases().values():
        ours = EXERCISES["pca"].reference(X, k).numpy()
        theirs = PCA(n_components=k).fit_transform(X.numpy())
        for column in range(k):
            sign = np.sign(np.dot(ours[:, column], theirs[:, column]))
            np.testing.assert_allclose(ours[:, column] * sign, theirs[:, column], rtol=1e-4, atol=1e-4)


def test_receptive_field_means_vk_receptive_field(fashion):
    (layers,) = EXERCISES["receptive_field"].cases()["fashion-cnn to conv3"]
    rf = vk.receptive_field(fashion, "conv3")
    assert EXERCISES["receptive_field"].reference(layers).tolist() == [rf.size[0], rf.stride[0], rf.start[0]]


def test_max_unpool_puts_each_value_at_its_switch():
    for values, switches, size in EXERCISES["max_unpool"].cases().values():
        expected = torch.zeros(values.shape[0], size[0] * size[1])
        for c in range(values.shape[0]):  # a loop over every pooled value
            for v, i in zip(values[c].flatten().tolist(), switches[c].flatten().tolist()):
                expected[c, i] = v
        assert torch.equal(EXERCISES["max_unpool"].reference(values, switches, size), expected.view(-1, *size))
    values, switches, size = EXERCISES["max_unpool"].cases()["2x2 pools of 6x8"]
    assert torch.equal(EXERCISES["max_unpool"].reference(values, switches, size),
                       F.max_unpool2d(values[None], switches[None], 2, output_size=size)[0])


def test_occlusion_saliency_and_fgsm_mean_vizkits():
    model, x, target, window, stride, fill = EXERCISES["occlusion"].cases()["window 5, stride 3, fill 0.5"]
    net = net_of(model, 1)
    torch.testing.assert_close(EXERCISES["occlusion"].reference(model, x, target, window, stride, fill),
                               vk.occlusion(net, x, target, window, stride, fill, progress=False), atol=1e-5, rtol=0)
    model, x, target = EXERCISES["saliency"].cases()["3 x 10 x 10, class 1"]
    net = net_of(model, 3)
    torch.testing.assert_close(EXERCISES["saliency"].reference(model, x, target), vk.saliency(net, x, target))
    model, x, labels, eps = EXERCISES["fgsm"].cases()["3 images, eps 0.1"]
    net = net_of(model, 1)
    torch.testing.assert_close(EXERCISES["fgsm"].reference(model, x, labels, eps), vk.fgsm(net, x, labels, eps))
    for (features,) in EXERCISES["gram"].cases().values():
        torch.testing.assert_close(EXERCISES["gram"].reference(features), vk.gram(features))


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
    return EXERCISES["saliency"].reference(model, x, target)


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


def test_a_tuple_answer_is_read_as_a_tensor():
    assert check("receptive_field", lambda layers: tuple(EXERCISES["receptive_field"].reference(layers).tolist()),
                 show=False).passed


def test_the_report_shows_a_picture_row_for_images():
    with pytest.raises(AssertionError):
        check("saliency", EXERCISES["saliency"].mistakes[0].wrong, show=False)
    report = check("saliency", EXERCISES["saliency"].reference, show=False)
    png = report.png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and "<img" in report._repr_html_()
    assert check("knn", EXERCISES["knn"].reference, show=False).png() is None   # indices: no picture


def test_a_case_model_keeps_its_state_through_the_reference():
    model = tiny_model()
    before = [p.clone() for p in model.parameters()]
    EXERCISES["saliency"].reference(model, torch.rand(1, 3, 8, 8), 0)
    assert not model.training and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
