"""What every detector shares: its config (input size, normalisation, temporal or not) and the three forwards."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Detector(nn.Module):
    """Base class of every registered model: one fake logit per image (or per window for temporal models).

    Subclasses implement `forward_features` and `forward_head`; `forward` chains them and returns shape (B,).
    ``create_model`` sets `name` and `init_kwargs`, from which a checkpoint rebuilds the model.
    """

    default_cfg: ModelCfg
    name: str = ""
    init_kwargs: dict[str, Any]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x)).reshape(-1)
