"""random-multiscale: the offline texture network, one layer of random filters at five sizes.

No ImageNet weights can be downloaded offline, and a randomly initialised VGG gives colour blotches
and speckle as a texture model. Ustyuzhaninov et al. (ICLR 2017, "What does it take to generate
natural textures?") showed that a single layer of random filters of several sizes, rectified, already
describes textures well through its Gram matrices. vizkit's version (notebook 14 compares it with a
randomly initialised VGG16, on measures that belong to neither network):

* filters of sizes 3, 5, 7, 11 and 15, `per_size` of each, drawn from a seeded normal distribution
  and scaled to unit L2 norm each. Their mean is *not* subtracted: zero-mean filters cannot see the
  overall brightness, and the textures came out grey and washed out;
* circular padding, so every pixel of the synthesised image is seen by as many windows as any other
  (no speckle along the borders) and the result tiles;
* a ReLU after each size; one Gram matrix per size. No pooling, no training: the weights are made
  from the seed each time, so nothing needs downloading.

Layers are named by filter size: conv_3x3 / relu_3x3 … conv_15x15 / relu_15x15.
"""

from __future__ import annotations

from typing import Literal, cast

import torch
from torch import nn

SIZES = (3, 5, 7, 11, 15)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, so photos are scaled as usual


class MultiScaleTexture(nn.Module):
    """(N, 3, H, W) normalised images -> (N, len(sizes) * per_size) mean rectified responses; the maps of
    each filter size are in its branch (relu_KxK)."""

    def __init__(self, sizes=SIZES, per_size: int = 128, seed: int = 0, padding_mode: str = "circular"):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        branches = []
        for k in sizes:
            # nn.Conv2d checks the mode itself (a ValueError naming the valid ones); its annotation takes the literals
            mode = cast(Literal["zeros", "reflect", "replicate", "circular"], padding_mode)
            conv = nn.Conv2d(3, per_size, k, padding=k // 2, padding_mode=mode, bias=False)
            w = torch.randn((per_size, 3, k, k), generator=gen)
            with torch.no_grad():
                conv.weight.copy_(w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
            branches.append(nn.Sequential(conv, nn.ReLU()))
        self.branches = nn.ModuleList(branches)
        self.sizes = tuple(sizes)

    def forward(self, x):
        return torch.cat([b(x).mean((2, 3)) for b in self.branches], 1)


def aliases(model: MultiScaleTexture) -> dict[str, str]:
    """conv_KxK / relu_KxK -> the module paths of each branch."""
    out = {}
    for i, k in enumerate(model.sizes):
        out[f"conv_{k}x{k}"] = f"branches.{i}.0"
        out[f"relu_{k}x{k}"] = f"branches.{i}.1"
    return out
