"""nn.Modules only: MLPs, convolutional encoder/decoder, and the layout-aware table head.

Nothing here knows about losses or training; shapes are given in each docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvDecoder",
    "ConvEncoder",
    "Discriminator",
    "GaussianEncoder",
    "SpectralNorm",
    "TableHead",
    "conv_discriminator_body",
    "conv_plan",
    "mlp",
    "table_discriminator_body",
]


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """Linear-ReLU stack: (batch, in_dim) -> (batch, out_dim); no activation at the end."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def conv_plan(height: int, width: int, max_down: int = 3) -> int:
    """How many stride-2 halvings an image of this size takes (sides stay >= 3)."""
    n = 0
    while n < max_down and height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 3:
        height, width, n = height // 2, width // 2, n + 1
    return n


class ConvEncoder(nn.Module):
    """(batch, C, H, W) -> (batch, n_features): a 3x3 convolution, then stride-2
    convolutions doubling channels (32, 64, 128), flattened."""

    def __init__(self, shape: Sequence[int], channels: int = 32):
        super().__init__()
        c, h, w = shape
        n_down = conv_plan(h, w)
        layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU()]
        for _ in range(n_down):
            layers += [nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU()]
            channels, h, w = 2 * channels, h // 2, w // 2
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        self.n_features = channels * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ConvDecoder(nn.Module):
    """(batch, latent_dim) -> (batch, out_channels, H, W): the mirror of ConvEncoder."""

    def __init__(
        self,
        latent_dim: int,
        hidden: int,
        shape: Sequence[int],
        out_channels: int,
        channels: int = 32,
    ):
        super().__init__()
        _, h, w = shape
        n_down = conv_plan(h, w)
        top = channels * 2**n_down
        self.start = (top, h // 2**n_down, w // 2**n_down)
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, int(np.prod(self.start))),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(top, top // 2, 4, stride=2, padding=1), nn.ReLU()]
            top //= 2
        layers.append(nn.Conv2d(top, out_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.dense(z).view(-1, *self.start))


class GaussianEncoder(nn.Module):
    """A feature network followed by a linear map to the mean and log-variance of
    q(z | x): (batch, ...) -> two (batch, latent_dim) tensors."""

    def __init__(self, body: nn.Module, n_features: int, latent_dim: int):
        super().__init__()
        self.body = body
        self.out = nn.Linear(n_features, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.out(self.body(x)).chunk(2, dim=-1)
        return mean, logvar.clamp(-12.0, 8.0)


def _padded_index(groups: Sequence[Sequence[int]], pad: int) -> torch.Tensor:
    width = max((len(g) for g in groups), default=0)
    return torch.tensor(
        [list(g) + [pad] * (width - len(g)) for g in groups], dtype=torch.long
    ).view(len(groups), width)


class TableHead(nn.Module):
    """Turns the decoder's flat output into the parameters of every column's
    distribution, padded so that all columns of a kind are one tensor.

    ``spec`` (see :func:`hybridgen.vae.table_spec`) gives, per numeric column, its
    number of modes, whether it has a missing indicator, and, per categorical column,
    its number of categories. Output of ``forward(h)`` for h of shape (batch, n_outputs):

    - ``mode_logits`` (batch, n_numeric, max_modes), padding at -inf;
    - ``offsets`` (batch, n_numeric, max_modes): mean offset within each mode;
    - ``log_scales`` (n_numeric, max_modes): learned, shared by all rows;
    - ``missing_logits`` (batch, n_missing);
    - ``category_logits`` (batch, n_categorical, max_categories), padding at -inf.
    """

    mode_index: torch.Tensor
    offset_index: torch.Tensor
    missing_index: torch.Tensor
    category_index: torch.Tensor
    offset_cols: torch.Tensor
    mode_cols: torch.Tensor
    missing_of: torch.Tensor
    missing_cols: torch.Tensor
    category_cols: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor

    def __init__(self, spec: dict[str, Any]):
        super().__init__()
        modes, n_missing, categories = spec["modes"], spec["n_missing"], spec["categories"]
        counter = iter(range(10**9))
        mode_idx = [[next(counter) for _ in range(k)] for k in modes]
        offset_idx = [[next(counter) for _ in range(k)] for k in modes]
        missing_idx = [next(counter) for _ in range(n_missing)]
        category_idx = [[next(counter) for _ in range(c)] for c in categories]
        self.n_outputs = next(counter)
        pad = self.n_outputs  # index of an appended zero column
        self.register_buffer("mode_index", _padded_index(mode_idx, pad), persistent=False)
        self.register_buffer("offset_index", _padded_index(offset_idx, pad), persistent=False)
        self.register_buffer(
            "missing_index", torch.tensor(missing_idx, dtype=torch.long), persistent=False
        )
        self.register_buffer("category_index", _padded_index(category_idx, pad), persistent=False)
        self.log_scales = nn.Parameter(torch.full(self.mode_index.shape, -2.0))
        # where each column sits in an encoded row, and the modes' parameters, kept on
        # the module's device so reading targets needs no host work
        for name in ("offset_cols", "mode_cols", "missing_of", "missing_cols", "category_cols"):
            self.register_buffer(
                name, torch.as_tensor(spec[name], dtype=torch.long), persistent=False
            )
        for name in ("means", "stds"):
            self.register_buffer(
                name, torch.as_tensor(spec[name], dtype=torch.float32), persistent=False
            )

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        flat = torch.cat([h, torch.zeros_like(h[:, :1])], dim=1)
        pad = self.n_outputs

        def take(index: torch.Tensor, fill: float | None) -> torch.Tensor:
            out = flat[:, index]
            return out if fill is None else out.masked_fill(index == pad, fill)

        return {
            "mode_logits": take(self.mode_index, -torch.inf),
            "offsets": take(self.offset_index, None),
            "log_scales": self.log_scales.clamp(-6.0, 1.0),
            "missing_logits": flat[:, self.missing_index],
            "category_logits": take(self.category_index, -torch.inf),
        }


class SpectralNorm(nn.Module):
    """A linear or convolutional layer whose weight is divided by its largest singular
    value (Miyato et al. 2018), estimated by one power iteration per training forward.

    Written here rather than taken from ``torch.nn.utils.parametrizations`` because
    parametrized modules cannot be pickled, and estimators must be.
    """

    u: torch.Tensor

    def __init__(self, layer: nn.Linear | nn.Conv2d, eps: float = 1e-12):
        super().__init__()
        self.layer = layer
        self.eps = eps
        u = torch.randn(layer.weight.shape[0])
        self.register_buffer("u", u / u.norm().clamp_min(eps))

    def _sigma(self) -> torch.Tensor:
        matrix = self.layer.weight.flatten(1)
        with torch.no_grad():
            if self.training:
                v = F.normalize(matrix.T @ self.u, dim=0, eps=self.eps)
                self.u.copy_(F.normalize(matrix @ v, dim=0, eps=self.eps))
            u = self.u.clone()
            v = F.normalize(matrix.T @ u, dim=0, eps=self.eps)
        return u @ matrix @ v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (W / sigma) x + b, with the division applied to the (smaller) output
        layer = self.layer
        if isinstance(layer, nn.Conv2d):
            y = layer._conv_forward(x, layer.weight, None) / self._sigma()
            return y if layer.bias is None else y + layer.bias.view(1, -1, 1, 1)
        y = F.linear(x, layer.weight) / self._sigma()
        return y if layer.bias is None else y + layer.bias


def spectral_norm(layer: nn.Linear | nn.Conv2d) -> SpectralNorm:
    return SpectralNorm(layer)


def table_discriminator_body(in_dim: int, hidden: Sequence[int]) -> nn.Sequential:
    """(packs, in_dim) -> (packs, hidden[-1]): spectrally normalised Linear-LeakyReLU(0.2)
    layers, the feature extractor of a table discriminator."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [spectral_norm(nn.Linear(in_dim, width)), nn.LeakyReLU(0.2)]
        in_dim = width
    return nn.Sequential(*layers)


def conv_discriminator_body(shape: Sequence[int], channels: int = 32) -> tuple[nn.Sequential, int]:
    """DCGAN-style feature extractor: (batch, C, H, W) -> (batch, n_features), with
    spectrally normalised stride-2 convolutions doubling channels and LeakyReLU(0.2).
    Returns the body and n_features."""
    c, h, w = shape
    layers: list[nn.Module] = [
        spectral_norm(nn.Conv2d(c, channels, 3, padding=1)),
        nn.LeakyReLU(0.2),
    ]
    for _ in range(conv_plan(h, w)):
        conv = nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1)
        layers += [spectral_norm(conv), nn.LeakyReLU(0.2)]
        channels, h, w = 2 * channels, h // 2, w // 2
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), channels * h * w


class Discriminator(nn.Module):
    """A feature extractor and a spectrally normalised linear output.

    With ``pac > 1`` (PacGAN, Lin et al. 2018) the rows of a batch (batch, width) are
    judged in packs of ``pac`` consecutive rows, flattened into one input of width
    ``pac * width``; the batch must hold a multiple of ``pac`` rows.

    ``forward(x)`` returns the logits, shape (batch // pac,) (a positive logit says
    "real"), and the features they are computed from, shape (batch // pac, n_features).
    """

    def __init__(self, body: nn.Module, n_features: int, pac: int = 1):
        super().__init__()
        self.body = body
        self.pac = pac
        self.out = spectral_norm(nn.Linear(n_features, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pac > 1:
            x = x.reshape(len(x) // self.pac, -1)
        features = self.body(x)
        return self.out(features).squeeze(-1), features
