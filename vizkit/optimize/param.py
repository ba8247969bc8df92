"""Parametrisations: what the optimiser changes, and how it becomes an image of [0, 1] pixels.

Pixels are the obvious choice and what inversion and Simonyan's class models use. For ImageNet
networks, optimising in a Fourier basis with high frequencies scaled down, and in decorrelated
colours, gives far less high-frequency noise (Olah et al. 2017, "Feature visualization").
"""

from __future__ import annotations

import torch

# The square root of the RGB covariance of the photos vizkit ships (scikit-learn's china and
# flower, matplotlib's grace_hopper), scaled so its largest column has norm 1: mixing three
# uncorrelated signals with it gives colours correlated as in photos (tests recompute it).
COLOR_SQRT = torch.tensor([[0.8622, 0.4194, 0.2840],
                           [0.4194, 0.5794, 0.4371],
                           [0.2840, 0.4371, 0.7211]])


class Pixels:
    """An image whose pixels are the parameters, kept in [0, 1] by clipping after every step."""

    def __init__(self, image: torch.Tensor):
        self.x = image.detach().clamp(0, 1).clone(memory_format=torch.contiguous_format).requires_grad_(True)

    def params(self) -> list[torch.Tensor]:
        """The tensors to optimise."""
        return [self.x]

    def __call__(self) -> torch.Tensor:
        """(1, C, H, W) image in [0, 1]."""
        return self.x

    @torch.no_grad()
    def project(self) -> None:
        """Back into [0, 1] after a step."""
        self.x.clamp_(0, 1)


class Sigmoid:
    """An image sigmoid(u) whose logits u are the parameters: always inside (0, 1), with nothing to clip.
    Clipping after each step breaks L-BFGS's memory of past steps (they no longer describe the function it
    steps on), so texture and style use this."""

    def __init__(self, image: torch.Tensor, margin: float = 0.01):
        x = image.detach().clamp(margin, 1 - margin)
        self.u = torch.logit(x).clone(memory_format=torch.contiguous_format).requires_grad_(True)  # L-BFGS views .grad

    def params(self) -> list[torch.Tensor]:
        """The tensors to optimise."""
        return [self.u]

    def __call__(self) -> torch.Tensor:
        """(1, C, H, W) image in (0, 1)."""
        return torch.sigmoid(self.u)

    def project(self) -> None:
        """Nothing to do: the sigmoid keeps pixels in range."""


class Fourier:
    """An image made from a Fourier spectrum scaled by 1 / frequency (so every frequency is as easy to
    change as in natural images), optionally in decorrelated colours, squashed into [0, 1] by a sigmoid."""

    def __init__(self, shape, decorrelate: bool = True, generator: torch.Generator | None = None,
                 std: float = 0.01, device=None):
        b, c, h, w = shape
        fy = torch.fft.fftfreq(h)[:, None]
        fx = torch.fft.rfftfreq(w)[None, :]
        self.scale = (1.0 / torch.sqrt(fx**2 + fy**2).clamp(min=1.0 / max(h, w))).to(device)
        self.size = (h, w)
        self.decorrelate = decorrelate and c == 3
        spectrum = torch.randn((b, c, h, w // 2 + 1, 2), generator=generator) * std
        self.spectrum = spectrum.to(device).requires_grad_(True)

    def params(self) -> list[torch.Tensor]:
        """The tensors to optimise."""
        return [self.spectrum]

    def __call__(self) -> torch.Tensor:
        """(B, C, H, W) image in [0, 1]."""
        coefficients = torch.view_as_complex(self.spectrum) * self.scale
        x = torch.fft.irfft2(coefficients, s=self.size, norm="ortho")
        if self.decorrelate:
            x = torch.einsum("ij,bjhw->bihw", COLOR_SQRT.to(x), x)
        return torch.sigmoid(4 * x)  # the factor makes a unit of spectrum move pixels visibly

    def project(self) -> None:
        """Nothing to do: the sigmoid keeps pixels in range."""
