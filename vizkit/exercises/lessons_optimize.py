"""Exercises of notebooks 09-11 and 13-15: inversion, filter and class visualisation, DeepDream, texture, style
(beyond the contract's nine in implement.py and the first measured ones in measured.py)."""

from __future__ import annotations

from typing import Any

import torch

from .runner import Exercise, Find, Mistake, Predict


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sum_squares(t: torch.Tensor) -> torch.Tensor:
    """The sum of squares of each batch row: (B, ...) -> (B,)."""
    return t.reshape(t.shape[0], -1).pow(2).sum(1)


# --------------------------------------------------------------------------- feature loss (notebook 09)

def _feature_loss(phi: torch.Tensor, phi0: torch.Tensor) -> torch.Tensor:
    return (phi - phi0).pow(2).sum() / phi0.pow(2).sum()


def _feature_cases() -> dict[str, tuple]:
    phi0 = torch.relu(torch.randn(1, 8, 5, 5, generator=_gen(101)))
    phi = torch.relu(phi0 + 0.3 * torch.randn(1, 8, 5, 5, generator=_gen(102)))
    fc0 = torch.randn(1, 20, generator=_gen(103)) * 4
    fc = fc0 + torch.randn(1, 20, generator=_gen(104)) * 3
    return {"maps 1 x 8 x 5 x 5": (phi, phi0), "fully connected 1 x 20": (fc, fc0)}


def _feature_hidden() -> dict[str, tuple]:
    phi0 = torch.relu(torch.randn(1, 6, 3, 3, generator=_gen(105)))
    return {"a blank image's features (all zero)": (torch.zeros_like(phi0), phi0),
            "features of another size, far off": (torch.rand(32, 7, 7, generator=_gen(106)) * 10,
                                                  torch.rand(32, 7, 7, generator=_gen(107)))}


FEATURE_LOSS = Exercise(
    "feature_loss", "fn(phi, phi0): the features of the reconstruction and the original's (tensors of one shape, any "
    "shape) -> 0-d tensor ||phi - phi0||^2 / ||phi0||^2, the squared error summed over every entry divided by the sum "
    "of phi0's squares (the first term of Mahendran and Vedaldi's objective, without C)",
    _feature_cases, _feature_loss,
    [Mistake("your loss is not normalised: divide the squared error by ||phi0||^2, the sum of the original's squared "
             "features, so that every layer is on the same scale",
             lambda phi, phi0: (phi - phi0).pow(2).sum()),
     Mistake("divide by the ORIGINAL's squared norm ||phi0||^2, not by the reconstruction's ||phi||^2: the scale "
             "must not change as the reconstruction changes",
             lambda phi, phi0: (phi - phi0).pow(2).sum() / phi.pow(2).sum()),
     Mistake("that is the ratio of the norms ||phi - phi0|| / ||phi0||: the objective squares both (leave out the "
             "square root)",
             lambda phi, phi0: (phi - phi0).norm() / phi0.norm())],
    hidden=_feature_hidden)


# --------------------------------------------------------------------------- total variation (notebook 10)

def _tv(images: torch.Tensor) -> torch.Tensor:
    from ..measure import total_variation

    return total_variation(images).to(images.dtype)


def _tv_wrong(dx=True, dy=True, square=True, divide=True, inner=True):
    def fn(images):
        if inner:
            h = images[:, :, :-1, 1:] - images[:, :, :-1, :-1]
            v = images[:, :, 1:, :-1] - images[:, :, :-1, :-1]
        else:                                   # every neighbouring pair, the last row and column included
            h = images[:, :, :, 1:] - images[:, :, :, :-1]
            v = images[:, :, 1:, :] - images[:, :, :-1, :]
        f = (lambda d: d.pow(2)) if square else (lambda d: d.abs())
        total = torch.zeros(images.shape[0], dtype=images.dtype)
        if dx:
            total = total + f(h).flatten(1).sum(1)
        if dy:
            total = total + f(v).flatten(1).sum(1)
        return total / (images.shape[2] * images.shape[3]) if divide else total
    return fn


def _tv_cases() -> dict[str, tuple]:
    return {"2 grey images, 6 x 7": (torch.rand(2, 1, 6, 7, generator=_gen(111)),),
            "3 colour images, 5 x 5": (torch.rand(3, 3, 5, 5, generator=_gen(112)) * 0.6,)}


def _tv_hidden() -> dict[str, tuple]:
    stripes = torch.zeros(1, 1, 4, 6)
    stripes[..., ::2] = 1.0                                 # vertical stripes: horizontal differences only
    return {"flat and speckled": (torch.cat([torch.full((1, 2, 5, 4), 0.3),
                                             torch.rand(1, 2, 5, 4, generator=_gen(113))]),),
            "stripes, 4 x 6": (stripes,)}


TOTAL_VARIATION = Exercise(
    "total_variation", "fn(images): (N, C, H, W) images -> (N,): for each image, the sum over channels and over the "
    "pixels (i, j) that have both a right and a lower neighbour (i < H - 1, j < W - 1) of (x[i, j+1] - x[i, j])^2 + "
    "(x[i+1, j] - x[i, j])^2, divided by H W (as vk.measure.total_variation)",
    _tv_cases, _tv,
    [Mistake("you summed the horizontal differences x[i, j+1] - x[i, j] only: add the vertical ones x[i+1, j] - "
             "x[i, j]", _tv_wrong(dy=False)),
     Mistake("you summed the vertical differences x[i+1, j] - x[i, j] only: add the horizontal ones x[i, j+1] - "
             "x[i, j]", _tv_wrong(dx=False)),
     Mistake("divide each image's sum by its number of pixels H * W", _tv_wrong(divide=False)),
     Mistake("square the differences: the absolute differences give the other total variation (beta = 1), not "
             "this one (beta = 2)", _tv_wrong(square=False)),
     Mistake("take only the pixels that have both a right and a lower neighbour: x[:, :, :-1, 1:] - x[:, :, :-1, :-1] "
             "and x[:, :, 1:, :-1] - x[:, :, :-1, :-1] (yours includes the last row's horizontal and the last "
             "column's vertical differences)", _tv_wrong(inner=False))],
    hidden=_tv_hidden)


# --------------------------------------------------------------------------- class model objective (notebook 11)

def _center(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    return x - torch.as_tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)


def _class_objective(logits: torch.Tensor, target: int, x: torch.Tensor, mean: torch.Tensor,
                     decay: float) -> torch.Tensor:
    return logits[:, target] - decay * _center(x, mean).pow(2).flatten(1).mean(1)


def _class_cases() -> dict[str, tuple]:
    grey = torch.rand(3, 1, 6, 6, generator=_gen(121))
    colour = torch.rand(2, 3, 5, 4, generator=_gen(122))
    return {"3 grey images, class 2, decay 0.1": (torch.randn(3, 10, generator=_gen(123)) * 5, 2, grey,
                                                  torch.tensor([0.286]), 0.1),
            "2 colour images, class 0, decay 30": (torch.randn(2, 4, generator=_gen(124)) * 3, 0, colour,
                                                   torch.tensor([0.485, 0.456, 0.406]), 30.0)}


def _class_hidden() -> dict[str, tuple]:
    x = torch.rand(1, 1, 7, 7, generator=_gen(125))
    return {"decay 0: the logit alone": (torch.randn(1, 5, generator=_gen(126)), 4, x, torch.tensor([0.5]), 0.0),
            "the mean image: no penalty": (torch.randn(2, 3, generator=_gen(127)), 1,
                                           torch.full((2, 3, 4, 4), 0.25), torch.tensor([0.25, 0.25, 0.25]), 5.0)}


CLASS_OBJECTIVE = Exercise(
    "class_objective", "fn(logits, target, x, mean, decay): (N, K) class scores of the (N, C, H, W) pixel images x, "
    "a class index, the (C,) dataset mean colour, a weight -> (N,) Simonyan's class model objective to MAXIMISE: "
    "the target's logit minus decay times the mean over x's pixels (and channels) of (x - mean)^2, per image",
    _class_cases, _class_objective,
    [Mistake("that uses the softmax probability: Simonyan et al. maximise the class score, the logit before the "
             "softmax", lambda logits, t, x, mean, decay: torch.softmax(logits, 1)[:, t]
             - decay * _center(x, mean).pow(2).flatten(1).mean(1)),
     Mistake("the penalty is subtracted: the objective is maximised, and the penalty must pull the image back "
             "toward the mean, not reward it for straying", lambda logits, t, x, mean, decay: logits[:, t]
             + decay * _center(x, mean).pow(2).flatten(1).mean(1)),
     Mistake("take the mean of the squared differences over the pixels, not their sum (decay is weighed against "
             "a mean)", lambda logits, t, x, mean, decay: logits[:, t]
             - decay * _center(x, mean).pow(2).flatten(1).sum(1)),
     Mistake("the penalty is about the dataset's mean colour: (x - mean)^2, not x^2",
             lambda logits, t, x, mean, decay: logits[:, t] - decay * x.pow(2).flatten(1).mean(1))],
    hidden=_class_hidden)


# --------------------------------------------------------------------------- DeepDream's step (notebook 13)

def _per_image_mean_abs(grad: torch.Tensor) -> torch.Tensor:
    return grad.abs().flatten(1).mean(1).view(-1, *[1] * (grad.dim() - 1))


def _dream_step(image: torch.Tensor, grad: torch.Tensor, lr: float) -> torch.Tensor:
    return image + lr * grad / _per_image_mean_abs(grad).clamp_min(1e-20)


def _dream_cases() -> dict[str, tuple]:
    image = torch.rand(2, 1, 8, 8, generator=_gen(131))
    grad = torch.randn(2, 1, 8, 8, generator=_gen(132)) * torch.tensor([1e-3, 0.2]).view(2, 1, 1, 1)
    photo = torch.rand(1, 3, 6, 5, generator=_gen(133))
    return {"2 grey images, gradients of different sizes, lr 0.03": (image, grad, 0.03),
            "a colour image, lr 0.1": (photo, torch.randn(1, 3, 6, 5, generator=_gen(134)) * 5, 0.1)}


def _dream_hidden() -> dict[str, tuple]:
    image = torch.rand(2, 1, 5, 5, generator=_gen(135))
    grad = torch.randn(2, 1, 5, 5, generator=_gen(136))
    grad[1] = 0.0                                           # a layer that does not respond: no step, not NaN
    spike = torch.zeros(1, 1, 5, 5)
    spike[0, 0, 2, 2] = 50.0                                # one pixel: its step is 25 times lr
    return {"a zero gradient": (image, grad, 0.05), "one pixel's gradient": (image[:1], spike, 0.03)}


DREAM_STEP = Exercise(
    "dream_step", "fn(image, grad, lr): (N, C, H, W) images, the gradient of the dream objective for each (same "
    "shape), a step size -> (N, C, H, W) image + lr * grad / mean|grad|, the mean of |grad| taken over each image "
    "on its own (all its channels and pixels); an image whose gradient is all zero stays as it is. (vizkit clips "
    "to [0, 1] afterwards: leave that out.)",
    _dream_cases, _dream_step,
    [Mistake("your step is not normalised: divide the gradient by its mean absolute value, so that each step moves "
             "the pixels by about lr whatever the layer", lambda image, grad, lr: image + lr * grad),
     Mistake("divide by the MEAN absolute value of the gradient, not by its largest",
             lambda image, grad, lr: image + lr * grad / grad.abs().flatten(1).amax(1).view(-1, 1, 1, 1)),
     Mistake("you stepped against the gradient: DeepDream climbs it (image + ..., to make the layer respond more)",
             lambda image, grad, lr: image - lr * grad / _per_image_mean_abs(grad)),
     Mistake("take the mean |grad| of each image on its own, not of the whole batch",
             lambda image, grad, lr: image + lr * grad / grad.abs().mean())],
    picture=True, hidden=_dream_hidden)


# --------------------------------------------------------------------------- Gram loss (notebook 14)

def _gram_loss(G: torch.Tensor, G0: torch.Tensor) -> torch.Tensor:
    return _sum_squares(G - G0) / _sum_squares(G0)


def _grams(seed: int, b: int, c: int, positions: int) -> torch.Tensor:
    f = torch.relu(torch.randn(b, c, positions, generator=_gen(seed)))
    return f @ f.transpose(1, 2) / positions


def _gram_loss_cases() -> dict[str, tuple]:
    G0 = _grams(141, 1, 4, 30)
    G = G0 + 0.1 * _grams(142, 1, 4, 30)
    return {"one image, 4 channels": (G, G0),
            "2 images, 5 channels, targets of different sizes": (_grams(143, 2, 5, 20),
                                                                _grams(144, 2, 5, 20) * torch.tensor([1.0, 8.0])
                                                                .view(2, 1, 1))}


def _gram_loss_hidden() -> dict[str, tuple]:
    G0 = _grams(145, 3, 3, 12)
    return {"a match": (G0.clone(), G0), "blank features": (torch.zeros(1, 6, 6), _grams(146, 1, 6, 9))}


GRAM_LOSS = Exercise(
    "gram_loss", "fn(G, G0): (B, C, C) Gram matrices of B images and their (B, C, C) targets -> (B,) the Gram error "
    "||G - G0||^2 / ||G0||^2 of each image: the sum of its squared differences divided by the sum of its target's "
    "squares",
    _gram_loss_cases, _gram_loss,
    [Mistake("your Gram error is not normalised: divide by ||G0||^2, the sum of the target's squares, so that "
             "every layer counts on the same scale", lambda G, G0: _sum_squares(G - G0)),
     Mistake("that is the ratio of the norms ||G - G0|| / ||G0||: the objective squares both (leave out the square "
             "root)", lambda G, G0: _sum_squares(G - G0).sqrt() / _sum_squares(G0).sqrt()),
     Mistake("divide by the TARGET's ||G0||^2, not by ||G||^2 of the image being optimised",
             lambda G, G0: _sum_squares(G - G0) / _sum_squares(G)),
     Mistake("normalise each image by its own target's ||G0||^2, not by the whole batch's",
             lambda G, G0: _sum_squares(G - G0) / G0.pow(2).sum())],
    hidden=_gram_loss_hidden)


# --------------------------------------------------------------------------- style loss (notebook 15)

def _style_loss(grams: list, targets: list, weights: list) -> torch.Tensor:
    total = torch.zeros(())
    for G, T, w in zip(grams, targets, weights):
        total = total + w * (G - T).pow(2).sum() / T.pow(2).sum()
    return total


def _style_wrong(weighted=True, normalised=True, mean=False):
    def fn(grams, targets, weights):
        parts = [(w if weighted else 1.0) * (G - T).pow(2).sum() / (T.pow(2).sum() if normalised else 1.0)
                 for G, T, w in zip(grams, targets, weights)]
        total = torch.stack(parts).sum()
        return total / len(parts) if mean else total
    return fn


def _style_cases() -> dict[str, tuple]:
    sizes = (3, 5, 4)
    targets = [_grams(150 + i, 1, c, 25) * s for i, (c, s) in enumerate(zip(sizes, (1.0, 6.0, 0.2)))]
    grams = [T + 0.2 * _grams(160 + i, 1, T.shape[1], 25) for i, T in enumerate(targets)]
    two = [_grams(170, 1, 6, 16), _grams(171, 1, 2, 16)]
    return {"3 layers, weights 1, 0.5, 2": (grams, targets, [1.0, 0.5, 2.0]),
            "2 layers, weights 0.3 and 3": ([_grams(172, 1, 6, 16), _grams(173, 1, 2, 16)], two, [0.3, 3.0])}


def _style_hidden() -> dict[str, tuple]:
    one = [_grams(174, 1, 4, 9)]
    return {"one layer, weight 1": ([_grams(175, 1, 4, 9)], one, [1.0]),
            "a blank image's Gram matrices": ([torch.zeros(1, 3, 3), torch.zeros(1, 5, 5)],
                                              [_grams(176, 1, 3, 9), _grams(177, 1, 5, 9)], [2.0, 0.5])}


STYLE_LOSS = Exercise(
    "style_loss", "fn(grams, targets, weights): lists over the style layers of the image's (1, C_l, C_l) Gram "
    "matrices, the style image's (1, C_l, C_l) ones and one weight w_l per layer -> 0-d tensor sum over the layers "
    "of w_l ||G_l - T_l||^2 / ||T_l||^2 (each layer's Gram error normalised by its target, weighted, summed)",
    _style_cases, _style_loss,
    [Mistake("each layer's error is multiplied by its weight w_l: yours ignores the weights", _style_wrong(False)),
     Mistake("divide each layer's squared error by ||T_l||^2, its target's sum of squares: without it the layers' "
             "scales differ wildly", _style_wrong(normalised=False)),
     Mistake("sum the weighted errors over the layers; you took their mean", _style_wrong(mean=True))],
    hidden=_style_hidden)


# --------------------------------------------------------------------------- predict, then check

def _fashion():
    from ..nets import load

    return load("fashion-cnn", device="cpu")


def _test_set():
    from ..data import FashionMNIST

    return FashionMNIST(train=False)


# Notebook 09's settings: C and Adam's step per layer, the four test images it reconstructs
INVERSION_C = {"relu1": 1000, "pool1": 1000, "relu2": 1000, "pool2": 1000, "relu3": 300, "pool3": 100, "relu4": 100,
               "relu5": 100, "fc6": 100}
INVERSION_LR = {"pool2": 0.2}
INVERSION_IMAGES = (0, 1, 2, 18)
INVERSION_STEPS = 25  # the notebook's 200 (100 in SMOKE) give the same answer (tests/test_exercises_optimize.py)


def inversion_correlation(layer: str, steps: int = INVERSION_STEPS, net: Any = None, test: Any = None) -> float:
    """Notebook 09's measure: the mean over its four test images of the pixel correlation between the reconstruction
    from `layer` (its C and step size) and the original. net, test: fashion-cnn and its test set (loaded if None)."""
    import numpy as np

    from ..measure import pixel_correlation
    from ..optimize import invert

    net, test = net or _fashion(), test or _test_set()
    corr = []
    for i in INVERSION_IMAGES:
        image = test[i][0]
        r = invert(net, net.normalize(image[None]), layer, steps=steps, weight=INVERSION_C[layer],
                   lr=INVERSION_LR.get(layer, 0.05), progress=False)
        corr.append(pixel_correlation(r.image[0], image))
    return float(np.mean(corr))


def _first_loose_layer() -> str:
    net, test = _fashion(), _test_set()
    for layer in INVERSION_C:
        if inversion_correlation(layer, net=net, test=test) < 0.5:
            return layer
    return "none"


FILTER_STEPS = 64  # notebook 10's 256 give the same answer (tests/test_exercises_optimize.py)


def fine_detail_of_layer(layer: str, steps: int = FILTER_STEPS, channels: int = 4, net: Any = None) -> float:
    """The median fine detail (vk.measure.fine_detail) of the optimised images of the first `channels` of notebook
    10's eight evenly spaced channels of a layer, leaving out flat images (total variation under 0.01) as it does."""
    import numpy as np

    from ..inspect import activations
    from ..measure import fine_detail, total_variation
    from ..optimize import visualize_filter

    net = net or _fashion()
    n = activations(net, torch.zeros(1, net.channels, *net.input_size), layer)[layer].shape[0]
    images = [visualize_filter(net, layer, ch, steps=steps, progress=False).image
              for ch in range(0, n, n // 8)[:channels]]
    return float(np.median([fine_detail(x) for x in images if float(total_variation(x[0])) > 0.01]))


def _finer_layer() -> str:
    net = _fashion()
    return max(("conv1", "conv3"), key=lambda layer: fine_detail_of_layer(layer, net=net))


CLASS_STEPS = 128  # notebook 11's steps (48 in SMOKE give the same count)


def shifted_probabilities(steps: int = CLASS_STEPS) -> dict[str, float]:
    """Notebook 11's robustness test: class -> the probability of its class for the plain class model moved two
    pixels down and two to the right (torch.roll)."""
    from ..optimize import visualize_class

    net = _fashion()
    out = {}
    for c, name in enumerate(net.classes):
        image = visualize_class(net, name, steps=steps, regularized=False, progress=False).image
        moved = torch.roll(image, shifts=(2, 2), dims=(2, 3))
        out[name] = float(net.probs(net.normalize(moved))[0, c])
    return out


def _plain_shift() -> int:
    return sum(p < 0.5 for p in shifted_probabilities().values())


# Notebook 13's SMOKE settings: quick, and the answer of its full settings too
DREAM = {"size": 112, "octaves": 4, "steps": 6, "images": 4}


def dream_outside(layer: str, net: Any = None, test: Any = None) -> float:
    """Notebook 13's measure: the mean share of the dream's change |x_dream - x| that lies outside the garment
    (vk.measure.mass_share outside vk.measure.object_mask), over its first test images."""
    import numpy as np

    from ..measure import mass_share, object_mask
    from ..optimize import deepdream, image_pixels

    net, test = net or _fashion(), test or _test_set()
    shares = []
    for i in range(DREAM["images"]):
        original = image_pixels(net, test[i][0], DREAM["size"])
        dream = deepdream(net, test[i][0], layer, octaves=DREAM["octaves"], steps=DREAM["steps"], size=DREAM["size"],
                          progress=False)
        shares.append(mass_share((dream.image - original)[0, 0].abs(), ~object_mask(original[0])))
    return float(np.mean(shares))


def _outside_layer() -> str:
    net, test = _fashion(), _test_set()
    return max(("relu1", "relu3"), key=lambda layer: dream_outside(layer, net, test))


def _blank_content_error() -> float:
    from ..data import sample_image
    from ..measure import feature_error
    from ..nets import load
    from ..optimize import image_pixels

    net = load("random-multiscale", device="cpu")
    content = image_pixels(net, sample_image("china"), 64)
    return round(feature_error(net, torch.zeros_like(content), net.normalize(content), "relu_11x11"), 6)


FIRST_LOOSE_LAYER = Predict(
    "first_loose_layer", "Going deeper through fashion-cnn's layers, which is the first whose reconstructions "
    "(notebook 09's settings and four test images) correlate below 0.5 with the originals, on average?",
    _first_loose_layer, options=tuple(INVERSION_C))
FINER_LAYER = Predict(
    "finer_layer", "Whose optimised images (vk.visualize_filter) have more fine detail, the share of power above "
    "a quarter of a cycle per pixel: 'conv1' or 'conv3'?", _finer_layer, options=("conv1", "conv3"))
PLAIN_SHIFT = Predict(
    "plain_shift", "Of the ten plain class models (Simonyan's recipe, no priors, 128 steps), how many lose their "
    "class (probability below 0.5) when moved two pixels down and two to the right?", _plain_shift)
OUTSIDE_LAYER = Predict(
    "outside_layer", "Which layer's dream puts more of its change on the black background around the garment: "
    "'relu1' or 'relu3'?", _outside_layer, options=("relu1", "relu3"))
BLANK_CONTENT_ERROR = Predict(
    "blank_content_error", "The content error ||F(x) - F(content)||^2 / ||F(content)||^2 at relu_11x11 of a blank "
    "model input (all zeros) against the pagoda photo (within 1 %)", _blank_content_error, tolerance=0.01)


IMPLEMENTS: list[Exercise] = [FEATURE_LOSS, TOTAL_VARIATION, CLASS_OBJECTIVE, DREAM_STEP, GRAM_LOSS, STYLE_LOSS]
PREDICTIONS: list[Predict] = [FIRST_LOOSE_LAYER, FINER_LAYER, PLAIN_SHIFT, OUTSIDE_LAYER, BLANK_CONTENT_ERROR]
FINDS: list[Find] = []
