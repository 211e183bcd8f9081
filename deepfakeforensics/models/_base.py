"""What every detector shares: its config (input size, normalisation, temporal or not) and the three forwards."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelCfg:
    """The input a model expects; data transforms read it from ``model.default_cfg`` (one source of truth)."""

    input_size: tuple[int, int, int]  # (C, H, W) of one frame
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # subtracted after scaling pixels to [0, 1]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)  # divided by after the mean
    temporal: bool = False  # True: input (B, T, C, H, W), one logit per window
    channels_last: bool = True  # convert weights and inputs to channels_last (faster CPU convolution here)
    # how a crop of another size is resized to input_size (data.transforms.RESIZES): "area" (this toolkit's: area
    # shrinking, bilinear enlarging), "bicubic" (cv2.INTER_CUBIC both ways: DeepfakeBench's loader, e.g. Effort's
    # 256 px crops to 224)
    interpolation: str = "area"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


WeightConverter = Callable[["Detector", Path], dict[str, torch.Tensor]]
"""Maps a foreign weights file onto a model's parameter names, without changing the model."""


class Detector(nn.Module):
    """Base class of every registered model: one fake logit per image (or per window for temporal models).

    Subclasses implement `forward_features` and `forward_head`; `forward` chains them and returns shape (B,).
    ``create_model`` sets `name` and `init_kwargs`, from which a checkpoint rebuilds the model.

    A model that can import weights published in another format (MesoNet: the authors' Keras ``.h5``) declares a
    converter per file suffix in `weight_converters`; the generic loader (``_weights.load_weights``) consults it, so
    the loader never needs to know the concrete model classes.
    """

    default_cfg: ModelCfg
    name: str = ""
    init_kwargs: dict[str, Any]
    # file suffix (lower case, with the dot) -> fn(model, path) returning a state dict of `model`'s keys
    weight_converters: ClassVar[Mapping[str, WeightConverter]] = MappingProxyType({})

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x)).reshape(-1)


class WrappedDetector(Detector):
    """A detector around `inner` that adds something (a head, a stem): everything it does not override (features,
    fake logit, Grad-CAM layer, classifier, a temporal model's frame backbone, input config) is `inner`'s."""

    def __init__(self, inner: Detector) -> None:
        super().__init__()
        self.inner = inner
        self.default_cfg = inner.default_cfg
        self.num_features = inner.num_features
        self.explanation = getattr(inner, "explanation", "gradcam")

    @property
    def backbone(self) -> Detector | None:
        """A temporal inner model's frame backbone (what `init_backbone` loads a frame checkpoint into)."""
        return getattr(self.inner, "backbone", None)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.forward_features(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.inner.forward_head(features, pre_logits=pre_logits)

    def gradcam_layer(self) -> nn.Module:
        return self.inner.gradcam_layer()

    def get_classifier(self) -> nn.Module:
        return self.inner.get_classifier()
