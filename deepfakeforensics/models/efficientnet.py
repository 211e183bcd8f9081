"""EfficientNet-B0..B7 (efficientnet-pytorch backbones) with a one-logit head.

Each model takes its native input size (224 ... 600) with ImageNet normalisation. ``pretrained=True`` loads the
published ImageNet weights (downloaded once into the torch hub cache); ``pretrained="path/to/efficientnet-b0-....pth"``
loads a local copy of them. The classifier is always new: one fake logit.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from efficientnet_pytorch import EfficientNet
from efficientnet_pytorch.utils import efficientnet_params, url_map
from torch import nn

from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD, Detector, ModelCfg
from deepfakeforensics.models._hub import internet_reachable as _internet_reachable
from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models._weights import WeightsError, load_state_dict_strict

MODEL_NAMES = tuple(f"efficientnet_b{i}" for i in range(8))
# channels_last is at least as fast as NCHW for efficientnet-pytorch on this CPU (benchmarks/models.py).
_CHANNELS_LAST = True


def _native_size(variant: str) -> int:
    return efficientnet_params(f"efficientnet-{variant}")[2]


class EfficientNetDetector(Detector):
    """An efficientnet-pytorch EfficientNet whose classifier outputs one fake logit.

    Args:
        variant: ``"b0"`` ... ``"b7"``.
        drop_rate: dropout before the classifier (None: the variant's default, 0.2 ... 0.5).
        drop_path_rate: stochastic depth rate of the MBConv blocks (None: efficientnet-pytorch's default 0.2).
        channels_last: run convolutions in channels_last memory format.

    ``forward_features`` returns the final feature map (B, C, h, w); ``forward_head(f, pre_logits=True)`` the pooled
    C-vector (``num_features``: 1280 for B0 ... 2560 for B7), which temporal variants use per frame.
    """

    def __init__(
        self,
        variant: str = "b0",
        drop_rate: float | None = None,
        drop_path_rate: float | None = None,
        channels_last: bool = _CHANNELS_LAST,
    ) -> None:
        super().__init__()
        size = _native_size(variant)
        self.variant = variant
        self.default_cfg = ModelCfg(
            input_size=(3, size, size), mean=IMAGENET_MEAN, std=IMAGENET_STD, channels_last=channels_last
        )
        overrides = {"num_classes": 1}
        if drop_rate is not None:
            overrides["dropout_rate"] = drop_rate
        if drop_path_rate is not None:
            overrides["drop_connect_rate"] = drop_path_rate
        self.net = EfficientNet.from_name(f"efficientnet-{variant}", **overrides)
        self.num_features = self.net._fc.in_features
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.default_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net.extract_features(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.net._avg_pooling(features).flatten(1)
        return x if pre_logits else self.net._fc(self.net._dropout(x))

    def gradcam_layer(self) -> nn.Module:
        """The 1x1 head convolution producing the final feature map."""
        return self.net._conv_head

    def get_classifier(self) -> nn.Module:
        """The one-logit classifier (what parameter-efficient tuning trains besides its adapters)."""
        return self.net._fc

    def load_imagenet_weights(self, path: str | os.PathLike) -> None:
        """Load efficientnet-pytorch's ImageNet weights from a local file; the one-logit classifier stays as is.

        Raises:
            WeightsError: the file is unreadable or of another variant (the model is then untouched).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such weights file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise WeightsError(f"{path}: not a readable PyTorch weights file ({type(e).__name__}: {e})") from e
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise WeightsError(f"{path}: not a state dict of efficientnet-{self.variant} ImageNet weights")
        full = {f"net.{k}": v for k, v in state.items() if not k.startswith("_fc.")}
        full.update({k: v for k, v in self.state_dict().items() if k.startswith("net._fc.")})
        load_state_dict_strict(self, full, path)


def _download_imagenet_weights(variant: str) -> Path:
    """The torch-hub-cached ImageNet weights of `variant`, downloading them if needed (and possible)."""
    url = url_map[f"efficientnet-{variant}"]
    filename = Path(urlparse(url).path).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if cached.is_file():
        return cached
    hint = (
        f"cannot download the ImageNet weights of efficientnet-{variant} from {url} (no internet connection?). "
        f'Download that file on a connected machine and pass pretrained="path/to/{filename}", '
        f"or put it at {cached}"
    )
    if not _internet_reachable(url):
        raise ConnectionError(hint)
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(cached), progress=True)
    except Exception as e:
        raise ConnectionError(f"{hint} ({type(e).__name__}: {e})") from e
    return cached


def _build(variant: str, pretrained: bool | str | os.PathLike, **kwargs) -> EfficientNetDetector:
    model = EfficientNetDetector(variant, **kwargs)
    model.name = f"efficientnet_{variant}"
    if pretrained:
        path = _download_imagenet_weights(variant) if pretrained is True else Path(pretrained)
        model.load_imagenet_weights(path)
    return model


@register_model
def efficientnet_b0(pretrained: bool | str | os.PathLike = False, **kwargs) -> EfficientNetDetector:
    """EfficientNet-B0, 224x224."""
    return _build("b0", pretrained, **kwargs)


@register_model
def efficientnet_b1(pretrained: bool | str | os.PathLike = False, **kwargs) -> EfficientNetDetector:
    """EfficientNet-B1, 240x240."""
    return _build("b1", pretrained, **kwargs)


@register_model
def efficientnet_b2(pretrained: bool | str | os.PathLike = False, **kwargs) -> EfficientNetDetector:
    """EfficientNet-B2, 260x260."""
    return _build("b2", pretrained, **kwargs)


@register_model
def efficientnet_b3(pretrained: bool | str | os.PathLike = False, **kwargs) -> EfficientNetDetector:
    """EfficientNet-B3, 300x300."""
    return _build("b3", pretrained, **kwargs)


@register_model
def efficientnet_b4(pretrained: bool | str | os.PathLike = False, **kwargs) -> EfficientNetDetector:
    """EfficientNet-B4, 380x380."""
    return _build("b4", pretrained, **kwargs)


@register_model
def efficientnet_b5(pretrained: bool | str | os.PathLike = False, **kwargs) -> EfficientNetDetector:
    """EfficientNet-B5, 456x456."""
    return _build("b5", pretrained, **kwargs)


@register_model
def efficientnet_b6(pretrained: bool | str | os.PathLike = False, **kwargs) -> EfficientNetDetector:
    """EfficientNet-B6, 528x528."""
    return _build("b6", pretrained, **kwargs)


@register_model
def efficientnet_b7(pretrained: bool | str | os.PathLike = False, **kwargs) -> EfficientNetDetector:
    """EfficientNet-B7, 600x600."""
    return _build("b7", pretrained, **kwargs)
