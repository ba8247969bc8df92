"""Random transforms applied to the image before the network sees it, a fresh draw every step.

An image that only works at one exact position and scale is an adversarial pattern, not a picture of
what the unit likes; asking it to work under small shifts, rescalings and rotations removes most of
the high-frequency noise (Mordvintsev et al. 2015, Olah et al. 2017). Each transform maps
(image (B, C, H, W), generator) -> image of the same size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def jitter(pixels: int):
    """Shift by up to `pixels` in each direction (reflecting at the border)."""
    def apply(x, gen):
        d = pixels
        dy, dx = (int(v) for v in torch.randint(-d, d + 1, (2,), generator=gen))
        padded = F.pad(x, (d, d, d, d), mode="reflect")
        h, w = x.shape[2:]
        return padded[:, :, d + dy:d + dy + h, d + dx:d + dx + w]
    return apply


def scale(factors=(0.95, 1.0, 1.05)):
    """Zoom by a factor picked from `factors` about the centre, keeping the size."""
    return _affine(lambda gen: (0.0, factors[int(torch.randint(len(factors), (1,), generator=gen))]))


def rotate(degrees=(-5, 0, 5)):
    """Rotate by an angle (degrees) picked from `degrees` about the centre."""
    return _affine(lambda gen: (degrees[int(torch.randint(len(degrees), (1,), generator=gen))], 1.0))


def blur(sigma: float = 0.5):
    """A Gaussian blur: the network sees a smoothed copy, so the gradient reaching the pixels is smooth."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()

    def apply(x, gen):
        c = x.shape[1]
        kx = k.to(x).view(1, 1, 1, -1).repeat(c, 1, 1, 1)
        y = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kx, groups=c)
        return F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), kx.transpose(2, 3), groups=c)
    return apply


def compose(*transforms):
    """Apply transforms in order."""
    def apply(x, gen):
        for t in transforms:
            x = t(x, gen)
        return x
    return apply


def _affine(draw):
    def apply(x, gen):
        angle, zoom = draw(gen)
        a = math.radians(angle)
        theta = torch.tensor([[math.cos(a) / zoom, -math.sin(a) / zoom, 0.0],
                              [math.sin(a) / zoom, math.cos(a) / zoom, 0.0]], dtype=x.dtype, device=x.device)
        grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return apply


def standard(size: int):
    """The usual robustness set for images of `size` pixels: jitter, a little zoom and rotation, jitter."""
    d = max(1, round(size / 28))  # 1 pixel on Fashion-MNIST, 8 on 224-pixel ImageNet inputs
    return compose(jitter(2 * d), scale((0.95, 0.975, 1.0, 1.025, 1.05)), rotate((-5, -2, 0, 2, 5)), jitter(d))
