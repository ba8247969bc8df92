"""Inverting a representation (Mahendran & Vedaldi 2015): which images does a layer see as this one?

Starting from noise, find x' minimising

    C ||Phi(x') - Phi(x)||^2 / ||Phi(x)||^2  +  lambda_alpha N_alpha(x')  +  lambda_TV TV_beta(x')

with their alpha = 6, beta = 2 and their normalisation: pixels taken about the dataset mean, the
alpha-norm divided by H W B^alpha and the total variation by H W V^beta, where B = 80 / 255 (a
typical pixel magnitude about the mean) and V = B / 6.5 (a typical step between neighbours), so
that lambda_alpha = lambda_TV = 1 weigh the priors against a loss of order one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .. import _check
from .._types import ImageLike
from ..hooks import frozen, record
from ..inspect._inputs import as_input
from ..settings import RunOptions, run_settings
from .objectives import alpha_norm, feature_match, total_variation
from .param import Pixels
from .render import OPTIMIZE_RUN, Result, optimize_with

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..nets import Net

ALPHA, BETA = 6.0, 2.0  # the exponents of the alpha-norm and of the total variation
B = 80 / 255    # typical |pixel - mean| in [0, 1] units (Mahendran & Vedaldi: 80 of 255)
V = B / 6.5     # typical difference between neighbouring pixels


def invert(net: Net, x: ImageLike, layer: str, steps: int = 200, lr: float = 0.05, weight: float = 100.0,
           lambda_alpha: float = 1.0, lambda_tv: float = 1.0, init: ImageLike | None = None,
           **run: Unpack[RunOptions]) -> Result:
    """Result: an image whose `layer` features match those of x, from noise, with the image priors above.

    weight is C, to choose per layer as Mahendran and Vedaldi did (larger for shallow layers): with C = 1 the
    priors win on fashion-cnn's small images; notebook 09 takes C = 1000 up to pool2, where the reconstruction
    is then a near copy, and 100 for the deep layers, whose features it still matches to within a few per cent
    while the priors shape what they leave open. lambda_alpha = 0 or lambda_tv = 0 drops a prior; the exponents are
    Mahendran and Vedaldi's, ALPHA = 6 and BETA = 2. run: seed (of the starting noise), every, callback, progress.
    Result.terms holds the per-step feature error and both priors.
    init: a (1, C, H, W) [0, 1] image to start from instead of noise.
    """
    inp = as_input(net, x)
    if inp.shape[0] != 1:
        raise ValueError(f"invert reconstructs one image; got a batch of {inp.shape[0]} (pass x[i:i + 1])")
    for name, v in (("weight", weight), ("lambda_alpha", lambda_alpha), ("lambda_tv", lambda_tv)):
        _check.number(v, name, 0)
    settings = run_settings(run, "invert", OPTIMIZE_RUN)
    with frozen(net), torch.no_grad(), record(net, layer, stop=True) as rec:
        rec.forward(inp)
    target = rec[layer]
    mean = torch.tensor(net.mean).view(1, -1, 1, 1)
    objective = weight * feature_match(layer, target)
    if lambda_alpha:
        objective = objective + lambda_alpha * alpha_norm(ALPHA, B, center=net.mean)
    if lambda_tv:
        objective = objective + lambda_tv * total_variation(BETA, V)
    if init is None:
        gen = torch.Generator().manual_seed(settings.seed)
        init = (mean + 0.1 * torch.randn(inp.shape, generator=gen)).clamp(0, 1)
    else:
        init = _check.pixels(torch.as_tensor(init).float(), "init")
        if tuple(init.shape) != tuple(inp.shape):
            raise ValueError(f"init must have the input's shape {tuple(inp.shape)}; got {tuple(init.shape)}")
    return optimize_with(net, objective, Pixels(init.to(inp.device)), steps, settings, lr=lr,
                         desc=f"inverting {layer}")
