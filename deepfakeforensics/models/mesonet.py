"""MesoNet (Afchar et al., "MesoNet: a Compact Facial Video Forgery Detection Network", WIFS 2018).

`mesonet4` and `mesoinception4` follow the authors' Keras code layer for layer (ReLU before BatchNorm, Keras'
BatchNorm epsilon 1e-3, 'same' padding), so their published ``.h5`` weights import exactly (see ``_keras.py``).
Input: 256x256 RGB scaled to [0, 1]; the flatten before the classifier fixes that size.
"""

from __future__ import annotations

import os
from dataclasses import replace
from types import MappingProxyType

import torch
from torch import nn

from deepfakeforensics.models._base import Detector, ModelCfg
from deepfakeforensics.models._keras import keras_state_dict
from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models._weights import load_weights

MODEL_NAMES = ("mesonet4", "mesoinception4")
_CFG = ModelCfg(input_size=(3, 256, 256), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), temporal=False)
_BN_EPS = 1e-3  # Keras' BatchNormalization default (PyTorch's is 1e-5): needed for the authors' weights


def _conv(in_ch: int, out_ch: int, kernel: int, dilation: int = 1) -> nn.Conv2d:
    """A Keras 'same' convolution (odd kernel, stride 1)."""
    return nn.Conv2d(in_ch, out_ch, kernel, padding=dilation * (kernel // 2), dilation=dilation)


class ConvBlock(nn.Sequential):
    """Conv (ReLU) -> BatchNorm -> MaxPool, in the authors' order."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, pool: int) -> None:
        super().__init__()
        self.conv = _conv(in_ch, out_ch, kernel)
        self.act = nn.ReLU(inplace=True)
        self.bn = nn.BatchNorm2d(out_ch, eps=_BN_EPS)
        self.pool = nn.MaxPool2d(pool)


class InceptionLayer(nn.Module):
    """The authors' Inception module: 1x1 | 1x1->3x3 | 1x1->3x3 dilation 2 | 1x1->3x3 dilation 3, concatenated.

    Branches are defined in the order Keras creates their layers, which the ``.h5`` import relies on.
    """

    def __init__(self, in_ch: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(_conv(in_ch, a, 1), nn.ReLU(inplace=True))
        self.branch2 = nn.Sequential(_conv(in_ch, b, 1), nn.ReLU(inplace=True), _conv(b, b, 3), nn.ReLU(inplace=True))
        self.branch3 = nn.Sequential(
            _conv(in_ch, c, 1), nn.ReLU(inplace=True), _conv(c, c, 3, dilation=2), nn.ReLU(inplace=True)
        )
        self.branch4 = nn.Sequential(
            _conv(in_ch, d, 1), nn.ReLU(inplace=True), _conv(d, d, 3, dilation=3), nn.ReLU(inplace=True)
        )
        self.out_channels = a + b + c + d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionBlock(nn.Sequential):
    """Inception layer -> BatchNorm -> MaxPool."""

    def __init__(self, in_ch: int, a: int, b: int, c: int, d: int, pool: int) -> None:
        super().__init__()
        self.inception = InceptionLayer(in_ch, a, b, c, d)
        self.bn = nn.BatchNorm2d(self.inception.out_channels, eps=_BN_EPS)
        self.pool = nn.MaxPool2d(pool)


class MesoNet(Detector):
    """MesoNet: four blocks (256 -> 8 pixels, 16 channels), then Dropout, Dense 16, LeakyReLU(0.1), Dropout, Dense 1.

    Args:
        inception: build MesoInception4 (the first two convolutions become Inception blocks) instead of Meso4.
        drop_rate: dropout before each Dense layer (the authors' 0.5).
        channels_last: run convolutions in channels_last memory format (faster on this CPU, see benchmarks/models.py).

    ``forward_features`` returns the last block's map (B, 16, 8, 8); ``forward_head(f, pre_logits=True)`` the 16-d
    hidden layer after LeakyReLU, which temporal variants use as their per-frame feature.
    """

    num_features = 16  # width of the pre-logits feature (the hidden Dense layer)
    feature_shape = (16, 8, 8)  # (C, H, W) of forward_features at 256x256; Keras flattens it as (H, W, C)
    # the authors' Keras weights: `create_model(..., weights="Meso4_DF.h5")` converts them (see _keras.py)
    weight_converters = MappingProxyType({".h5": keras_state_dict, ".hdf5": keras_state_dict})

    def __init__(self, inception: bool = False, drop_rate: float = 0.5, channels_last: bool = True) -> None:
        super().__init__()
        self.default_cfg = replace(_CFG, channels_last=channels_last)
        if inception:
            self.block1: nn.Module = InceptionBlock(3, 1, 4, 4, 2, pool=2)
            self.block2: nn.Module = InceptionBlock(11, 2, 4, 4, 2, pool=2)
        else:
            self.block1 = ConvBlock(3, 8, 3, pool=2)
            self.block2 = ConvBlock(8, 8, 5, pool=2)
        self.block3 = ConvBlock(self.block2.bn.num_features, 16, 5, pool=2)
        self.block4 = ConvBlock(16, 16, 5, pool=4)
        self.drop1 = nn.Dropout(drop_rate)
        self.fc1 = nn.Linear(16 * 8 * 8, 16)
        self.act = nn.LeakyReLU(0.1)
        self.drop2 = nn.Dropout(drop_rate)
        self.fc2 = nn.Linear(16, 1)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.default_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.block4(self.block3(self.block2(self.block1(x))))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if tuple(features.shape[1:]) != self.feature_shape:
            raise ValueError(
                f"{self.name or 'MesoNet'} takes 256x256 input (features {self.feature_shape}), "
                f"got features {tuple(features.shape[1:])}: resize crops to the model's default_cfg.input_size"
            )
        # Flatten in PyTorch's (C, H, W) order; the Keras import permutes fc1's columns to match.
        x = self.act(self.fc1(self.drop1(features.flatten(1))))
        return x if pre_logits else self.fc2(self.drop2(x))

    def gradcam_layer(self) -> nn.Module:
        """The last convolution's activations (after its ReLU and BatchNorm, before the 4x4 pool): 16x32x32 maps."""
        return self.block4.bn

    def get_classifier(self) -> nn.Module:
        """The last Dense layer (the fake logit)."""
        return self.fc2


def _build(inception: bool, pretrained: bool | str | os.PathLike, name: str, **kwargs) -> MesoNet:
    model = MesoNet(inception=inception, **kwargs)
    model.name = name
    if pretrained is True:
        raise ValueError(
            f"{name} has no ImageNet weights to download; pass pretrained= or weights= a local file: the authors' "
            "Keras weights (e.g. Meso4_DF.h5 / MesoInception_DF.h5) or a checkpoint of this project"
        )
    if pretrained:
        load_weights(model, pretrained)
    return model


@register_model
def mesonet4(pretrained: bool | str | os.PathLike = False, **kwargs) -> MesoNet:
    """Meso4 (27,977 parameters). `pretrained` may be a local ``.h5`` of the authors or a project checkpoint."""
    return _build(False, pretrained, "mesonet4", **kwargs)


@register_model
def mesoinception4(pretrained: bool | str | os.PathLike = False, **kwargs) -> MesoNet:
    """MesoInception4. `pretrained` may be a local ``.h5`` of the authors or a project checkpoint."""
    return _build(True, pretrained, "mesoinception4", **kwargs)
