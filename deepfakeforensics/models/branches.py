"""Noise and frequency branches, composable with any frame model by option.

- ``srm=True`` (or ``"basic"``): the 3 fixed SRM high-pass kernels of Zhou et al. (CVPR 2018 two-stream) and Luo et
  al. (CVPR 2021), each summed over the RGB channels and truncated to [-3, 3], replace the RGB input of the backbone.
  ``srm="rich"``: the 30 basic high-pass kernels of the spatial rich model (Fridrich & Kodovsky 2012), truncated,
  then a learnt 1x1 convolution down to the 3 channels the backbone takes.
- ``frequency="fft"`` (or ``"dct"``, ``"fft+dct"``): the log-magnitude of the centred 2-D FFT (and/or of the 2-D
  DCT-II) of the crop's grey level, standardised per image, through a small CNN; its vector is concatenated with the
  backbone's pre-logits features and an MLP gives the fake logit (``frequency_dim``, ``fusion_hidden`` size them).

Both keep the backbone's input config (``default_cfg``), Grad-CAM layer and explanation, so data, evaluation and
temporal heads see an ordinary frame model: ``create_model("convnext_tiny", frequency="fft", srm=True)``. The
kernels are fixed buffers and the options are saved in checkpoints, which therefore restore exactly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from deepfakeforensics.models._base import Detector, WrappedDetector
from deepfakeforensics.models._registry import register_option

SRM_CHOICES = ("basic", "rich")
SPECTRA = ("fft", "dct")
_SQUARE3 = [[-1, 2, -1], [2, -4, 2], [-1, 2, -1]]
_SQUARE5 = [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]]
_DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]


def _line_kernel(coeffs: list[int], offsets: list[int], direction: tuple[int, int]) -> torch.Tensor:
    """A 5x5 kernel with `coeffs` placed along `direction` at `offsets` from the centre."""
    k = torch.zeros(5, 5)
    for c, o in zip(coeffs, offsets, strict=True):
        k[2 + o * direction[0], 2 + o * direction[1]] = c
    return k


def _embed(kernel: list[list[int]]) -> torch.Tensor:
    """A 3x3 or 5x5 kernel centred in a 5x5 one."""
    k = torch.tensor(kernel, dtype=torch.float32)
    pad = (5 - k.shape[0]) // 2
    return nn.functional.pad(k, (pad, pad, pad, pad))


def srm_kernels(which: str = "basic") -> torch.Tensor:
    """The SRM high-pass kernels as a (K, 5, 5) tensor, each divided by its quantisation step (K = 3 or 30).

    ``"basic"``: second-order 3x3 square (/4), 5x5 square (/12), horizontal second-order line (/2), as in Luo et al.
    ``"rich"``: the 30 of the spatial rich model: 8 first-order, 4 second-order, 8 third-order, SQUARE 3x3,
    4 EDGE 3x3, SQUARE 5x5, 4 EDGE 5x5.
    """
    if which == "basic":
        line = _line_kernel([1, -2, 1], [-1, 0, 1], (0, 1)) / 2
        return torch.stack([_embed(_SQUARE3) / 4, _embed(_SQUARE5) / 12, line])
    if which != "rich":
        raise ValueError(f"srm must be True, {' or '.join(SRM_CHOICES)}, not {which!r}")
    first = [_line_kernel([1, -1], [1, 0], d) for d in _DIRECTIONS]
    second = [_line_kernel([1, -2, 1], [-1, 0, 1], d) / 2 for d in _DIRECTIONS[:4]]
    third = [_line_kernel([1, -3, 3, -1], [-1, 0, 1, 2], d) / 3 for d in _DIRECTIONS]
    edge3 = [torch.rot90(_embed([_SQUARE3[0], _SQUARE3[1], [0, 0, 0]]), r) / 4 for r in range(4)]
    edge5 = [torch.rot90(_embed([*_SQUARE5[:3], [0] * 5, [0] * 5]), r) / 12 for r in range(4)]
    square = [_embed(_SQUARE3) / 4, _embed(_SQUARE5) / 12]
    return torch.stack(first + second + third + square[:1] + edge3 + square[1:] + edge5)


class SRMStem(WrappedDetector):
    """Fixed SRM filters (truncated to [-3, 3]) in front of `inner`; 30 rich-model maps go through a learnt 1x1 conv.

    Args:
        inner: the frame model that sees the noise residuals instead of the RGB crop.
        kernels: ``"basic"`` (3 kernels) or ``"rich"`` (30).
    """

    def __init__(self, inner: Detector, kernels: str = "basic") -> None:
        weight = srm_kernels(kernels)[:, None].repeat(1, 3, 1, 1)  # each kernel summed over R, G and B
        super().__init__(inner)
        self.register_buffer("srm_weight", weight)
        self.truncate = nn.Hardtanh(-3.0, 3.0)
        self.mix = nn.Conv2d(len(weight), 3, 1) if len(weight) != 3 else nn.Identity()

    def residuals(self, x: torch.Tensor) -> torch.Tensor:
        """The truncated SRM residuals of a batch (B, 3, H, W), mixed down to 3 channels."""
        maps = nn.functional.conv2d(x, self.srm_weight.to(x.dtype), padding=2)
        return self.mix(self.truncate(maps))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.forward_features(self.residuals(x))


def _dct_matrix(n: int, device: torch.device) -> torch.Tensor:
    """The orthonormal DCT-II matrix of size n (rows: frequencies)."""
    k = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(n, device=device, dtype=torch.float32)[None, :]
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m


def log_spectra(x: torch.Tensor, kinds: tuple[str, ...]) -> torch.Tensor:
    """Per-image standardised log-magnitude spectra of the grey level of `x` (B, 3, H, W): (B, len(kinds), H, W).

    ``"fft"``: centred 2-D FFT (low frequencies in the middle); ``"dct"``: 2-D DCT-II (low frequencies top-left).
    Computed in float32 whatever the autocast dtype.
    """
    with torch.autocast(x.device.type, enabled=False):
        grey = x.float().mean(dim=1)
        maps = []
        for kind in kinds:
            if kind == "fft":
                spec = torch.fft.fftshift(torch.fft.fft2(grey, norm="ortho"), dim=(-2, -1)).abs()
            else:
                h, w = grey.shape[-2:]
                spec = (_dct_matrix(h, grey.device) @ grey @ _dct_matrix(w, grey.device).T).abs()
            maps.append(torch.log1p(spec))
        out = torch.stack(maps, dim=1)
        mean = out.mean(dim=(2, 3), keepdim=True)
        std = out.std(dim=(2, 3), keepdim=True)
        return (out - mean) / (std + 1e-6)


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class FrequencyBranch(nn.Module):
    """Log spectra -> 4 strided conv blocks -> global average pool: a `dim`-vector per image."""

    def __init__(self, kinds: tuple[str, ...], dim: int = 128) -> None:
        super().__init__()
        self.kinds = kinds
        widths = [len(kinds), dim // 8, dim // 4, dim // 2, dim]
        self.cnn = nn.Sequential(*(_conv_bn(a, b) for a, b in zip(widths, widths[1:], strict=False)))
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(log_spectra(x, self.kinds).to(x.dtype)).mean(dim=(2, 3))


class FrequencyFusion(WrappedDetector):
    """`inner`'s pre-logits features and a frequency branch, concatenated, through an MLP to one fake logit.

    Args:
        inner: the RGB frame model.
        kinds: spectra of the branch, from ``("fft", "dct")``.
        frequency_dim: width of the branch's output vector.
        fusion_hidden: hidden units of the fusion MLP (``num_features``: what temporal heads take per frame).
        fusion_dropout: dropout before the last layer.
    """

    def __init__(
        self,
        inner: Detector,
        kinds: tuple[str, ...] = ("fft",),
        frequency_dim: int = 128,
        fusion_hidden: int = 256,
        fusion_dropout: float = 0.0,
    ) -> None:
        super().__init__(inner)
        self.branch = FrequencyBranch(kinds, frequency_dim)
        self.fuse = nn.Sequential(nn.Linear(inner.num_features + frequency_dim, fusion_hidden), nn.GELU())
        self.drop = nn.Dropout(fusion_dropout)
        self.head = nn.Linear(fusion_hidden, 1)
        self.num_features = fusion_hidden

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The concatenated (B, inner features + frequency_dim) vector."""
        rgb = self.inner.forward_head(self.inner.forward_features(x), pre_logits=True)
        return torch.cat([rgb, self.branch(x).to(rgb.dtype)], dim=1)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        hidden = self.fuse(features)
        return hidden if pre_logits else self.head(self.drop(hidden))

    def get_classifier(self) -> nn.Module:
        return self.head


def parse_spectra(value: str) -> tuple[str, ...]:
    """``"fft"``, ``"dct"`` or ``"fft+dct"`` -> the spectra it names (refusing others)."""
    kinds = tuple(part.strip() for part in str(value).split("+"))
    if not kinds or any(k not in SPECTRA for k in kinds) or len(set(kinds)) != len(kinds):
        raise ValueError(f"frequency must be fft, dct or fft+dct, not {value!r}")
    return kinds


def _srm_option(model: Detector, value: Any) -> Detector:
    return SRMStem(model, "basic" if value is True else str(value))


def _frequency_option(model: Detector, value: str, **kwargs: Any) -> Detector:
    return FrequencyFusion(model, parse_spectra(value), **kwargs)


register_option("srm", _srm_option, order=10)
register_option("frequency", _frequency_option, extras=("frequency_dim", "fusion_hidden", "fusion_dropout"), order=20)
