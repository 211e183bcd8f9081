"""Temporal variants ``<frame model>_lstm``: a frame backbone's per-frame features, an LSTM, one logit per window.

The per-frame feature is the backbone's pre-logits vector (``forward_head(..., pre_logits=True)``): MesoNet's 16-d
hidden layer (everything of the frame model but its last Dense layer, so a trained frame checkpoint carries over
whole) and EfficientNet's pooled feature vector (1280 ... 2560-d).
The window's logit comes from the LSTM's final state (forward direction at the last frame, plus the backward
direction at the first frame when bidirectional), so any window length T >= 1 works.

A temporal model can start from a trained frame model: ``init_backbone(model, "checkpoints/run/best.pt")``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from deepfakeforensics.models import efficientnet, mesonet
from deepfakeforensics.models._base import Detector
from deepfakeforensics.models._factory import create_model
from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models._weights import WeightsError, load_weights

FRAME_MODELS = mesonet.MODEL_NAMES + efficientnet.MODEL_NAMES


class TemporalDetector(Detector):
    """Backbone per frame -> LSTM over the window -> linear head on the final state.

    Args:
        backbone: a frame Detector exposing ``forward_head(features, pre_logits=True)`` and ``num_features``.
        hidden_size: LSTM hidden units per direction.
        num_layers: stacked LSTM layers.
        bidirectional: run the LSTM in both directions and concatenate their final states.
        dropout: dropout between LSTM layers and before the head.

    Input (B, T, C, H, W) for any T >= 1; output (B,) fake logits.
    """

    def __init__(
        self,
        backbone: Detector,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.default_cfg = replace(backbone.default_cfg, temporal=True)
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.lstm = nn.LSTM(
            input_size=backbone.num_features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.num_features = hidden_size * (2 if bidirectional else 1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(self.num_features, 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """LSTM outputs (B, T, hidden * directions) for a batch of windows (B, T, C, H, W)."""
        if x.ndim != 5:
            raise ValueError(f"{self.name or type(self).__name__} takes windows (B, T, C, H, W), got {tuple(x.shape)}")
        b, t = x.shape[:2]
        frames = x.flatten(0, 1)
        per_frame = self.backbone.forward_head(self.backbone.forward_features(frames), pre_logits=True)
        out, _ = self.lstm(per_frame.reshape(b, t, -1))
        return out

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.bidirectional:
            h = self.hidden_size
            final = torch.cat([features[:, -1, :h], features[:, 0, h:]], dim=1)
        else:
            final = features[:, -1]
        return final if pre_logits else self.head(self.drop(final))

    def gradcam_layer(self) -> nn.Module:
        """The backbone's Grad-CAM layer (activations of every frame of the window)."""
        return self.backbone.gradcam_layer()


def init_backbone(model: Detector, path: str | os.PathLike) -> Detector:
    """Load a trained frame model's weights into a temporal model's backbone; the LSTM and head stay as they are.

    Args:
        model: a temporal model, e.g. ``create_model("mesonet4_lstm")``.
        path: a project checkpoint of the matching frame model (e.g. ``checkpoints/meso/best.pt`` of ``mesonet4``)
            or, for MesoNet backbones, the authors' Keras ``.h5``.

    Raises:
        WeightsError: the file is of another model or does not fit (naming the file); the model is then untouched.
    """
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, Detector):
        raise WeightsError(f"{path}: init_backbone needs a temporal model, got {model.name or type(model).__name__}")
    load_weights(backbone, path)
    return model


def _register_lstm(frame_name: str) -> None:
    def factory(
        pretrained: bool | str | os.PathLike = False,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        **backbone_kwargs: Any,
    ) -> TemporalDetector:
        backbone = create_model(frame_name, pretrained=pretrained, **backbone_kwargs)
        return TemporalDetector(backbone, hidden_size, num_layers, bidirectional, dropout)

    factory.__name__ = factory.__qualname__ = f"{frame_name}_lstm"
    factory.__doc__ = (
        f"{frame_name} features per frame -> LSTM -> one logit per window. `pretrained` initialises the backbone as "
        f"for {frame_name}; other keyword arguments (e.g. drop_rate, channels_last) go to the backbone."
    )
    register_model(factory)


for _name in FRAME_MODELS:
    _register_lstm(_name)
