"""A compact Fourier neural operator (Li et al., "Fourier Neural Operator for Parametric PDEs", 2021).

    >>> net = FNO(in_channels=1, out_channels=20, modes=(16,), width=32, layers=4)
    >>> u0 = torch.zeros(8, 1, 64)                     # (batch, 1, 64)
    >>> net(u0).shape                                  # (batch, 20, 64)
    torch.Size([8, 20, 64])
    >>> v = torch.zeros(3, 2, 64, 64)                  # 2-D: (batch, 2, 64, 64)
    >>> FNO(2, 2, modes=(12, 12))(v).shape
    torch.Size([3, 2, 64, 64])

Layout is channels first, (batch, channel, *grid), like the field axis of symsim's
states. The network lifts the input (plus the grid coordinates in [0, 1], when
``coordinates``) to ``width`` channels, applies ``layers`` Fourier layers

    v <- GELU(K v + W v),   K v = irfft(R * rfft(v) on the lowest ``modes`` frequencies)

(W is a pointwise linear map; the last layer has no GELU) and projects back with a
two-layer pointwise MLP. The spectral convolution assumes periodic data; for walls,
``padding`` appends that many zero points per axis before the Fourier layers and
crops them after, as in the FNO paper for non-periodic problems. A network trained
on one grid accepts inputs on another of the same extent (the modes are grid-independent).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional


class SpectralConv1d(nn.Module):
    """Channel mixing of the lowest ``modes`` Fourier coefficients: (batch, in, n) -> (batch, out, n)."""

    def __init__(self, in_channels: int, out_channels: int, modes: int):
        super().__init__()
        self.modes = modes
        # real and imaginary parts in a trailing axis, so that .double()/.float() convert them
        scale = 1.0 / (in_channels * out_channels)
        self.weight = nn.Parameter(scale * torch.rand(in_channels, out_channels, modes, 2))

    def forward(self, x):
        coefficients = torch.fft.rfft(x)
        modes = min(self.modes, coefficients.shape[-1])
        out = torch.zeros(x.shape[0], self.weight.shape[1], coefficients.shape[-1],
                          dtype=coefficients.dtype, device=x.device)
        weight = torch.view_as_complex(self.weight[:, :, :modes])
        out[..., :modes] = torch.einsum("bim,iom->bom", coefficients[..., :modes], weight)
        return torch.fft.irfft(out, n=x.shape[-1])


class SpectralConv2d(nn.Module):
    """Channel mixing of the lowest ``modes`` = (m1, m2) Fourier coefficients of (batch, in, n1, n2).

    The real FFT keeps non-negative frequencies along the last axis only, so the first
    axis's low frequencies sit at both ends: one weight block for each.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, int]):
        super().__init__()
        self.modes = tuple(modes)
        scale = 1.0 / (in_channels * out_channels)
        self.weight_low = nn.Parameter(scale * torch.rand(in_channels, out_channels, *self.modes, 2))
        self.weight_high = nn.Parameter(scale * torch.rand(in_channels, out_channels, *self.modes, 2))

    def forward(self, x):
        coefficients = torch.fft.rfft2(x)
        n1, n2 = coefficients.shape[-2:]
        m1, m2 = min(self.modes[0], n1 // 2), min(self.modes[1], n2)
        out = torch.zeros(x.shape[0], self.weight_low.shape[1], n1, n2, dtype=coefficients.dtype, device=x.device)
        low = torch.view_as_complex(self.weight_low[:, :, :m1, :m2])
        high = torch.view_as_complex(self.weight_high[:, :, :m1, :m2])
        out[..., :m1, :m2] = torch.einsum("bixy,ioxy->boxy", coefficients[..., :m1, :m2], low)
        out[..., n1 - m1:, :m2] = torch.einsum("bixy,ioxy->boxy", coefficients[..., n1 - m1:, :m2], high)
        return torch.fft.irfft2(out, s=x.shape[-2:])


class FNO(nn.Module):
    """Fourier neural operator on 1-D or 2-D grids (the length of ``modes`` picks which)."""

    def __init__(self, in_channels: int, out_channels: int, modes=(16,), width: int = 32, layers: int = 4,
                 padding: int = 0, coordinates: bool = True, projection_width: int = 128):
        super().__init__()
        modes = (modes,) if isinstance(modes, int) else tuple(modes)
        if len(modes) not in (1, 2):
            raise ValueError(f"FNO: modes needs one entry per grid axis (1 or 2 axes), got {modes}")
        self.ndim = len(modes)
        self.padding = padding
        self.coordinates = coordinates
        spectral = SpectralConv1d if self.ndim == 1 else SpectralConv2d
        pointwise = nn.Conv1d if self.ndim == 1 else nn.Conv2d
        self.lift = pointwise(in_channels + (self.ndim if coordinates else 0), width, 1)
        self.spectral = nn.ModuleList(spectral(width, width, modes if self.ndim == 2 else modes[0])
                                      for _ in range(layers))
        self.pointwise = nn.ModuleList(pointwise(width, width, 1) for _ in range(layers))
        self.project = nn.Sequential(pointwise(width, projection_width, 1), nn.GELU(),
                                     pointwise(projection_width, out_channels, 1))

    def forward(self, x):
        if x.dim() != 2 + self.ndim:
            raise ValueError(f"FNO: expected input (batch, channel, {'n' if self.ndim == 1 else 'n1, n2'}), "
                             f"got shape {tuple(x.shape)}")
        if self.coordinates:
            x = torch.cat([x, self._grid(x)], dim=1)
        x = self.lift(x)
        if self.padding:
            x = functional.pad(x, (0, self.padding) * self.ndim)
        for k, (spectral, pointwise) in enumerate(zip(self.spectral, self.pointwise)):
            x = spectral(x) + pointwise(x)
            if k < len(self.spectral) - 1:
                x = functional.gelu(x)
        if self.padding:
            x = x[(...,) + (slice(0, -self.padding),) * self.ndim]
        return self.project(x)

    def _grid(self, x):
        """Coordinates in [0, 1] along each grid axis, one channel per axis."""
        shape = x.shape[2:]
        axes = [torch.linspace(0, 1, n, dtype=x.dtype, device=x.device) for n in shape]
        grids = torch.meshgrid(*axes, indexing="ij")
        return torch.stack(grids).unsqueeze(0).expand(x.shape[0], -1, *shape)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable real numbers."""
    return sum(math.prod(p.shape) for p in module.parameters() if p.requires_grad)
