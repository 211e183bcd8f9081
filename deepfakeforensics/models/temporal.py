"""Temporal variants of every frame model: ``<frame>_lstm`` and ``<frame>_transformer``, one logit per window.

The per-frame feature is the backbone's pre-logits vector (``forward_head(..., pre_logits=True)``): MesoNet's 16-d
hidden layer (everything of the frame model but its last Dense layer, so a trained frame checkpoint carries over
whole), EfficientNet's and timm models' pooled feature vectors (1280 ... 2560-d), a fused model's MLP hidden layer.

- LSTM (`TemporalDetector`): the window's logit comes from the LSTM's final state (forward direction at the last
  frame, plus the backward direction at the first frame when bidirectional).
- Transformer (`TransformerTemporalDetector`): frame features projected to ``d_model``, sinusoidal positions, a
  class token, a small pre-norm transformer encoder; the logit comes from the class token.

Both take any window length T >= 1. Besides the registered names, any model gets either head by option:
``create_model("timm/resnet18", temporal="transformer", d_model=64)``. Model options such as ``frequency="fft"``
given to a temporal name go to its frame backbone. A temporal model can start from a trained frame model:
``init_backbone(model, "checkpoints/run/best.pt")``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from deepfakeforensics.models import efficientnet, mesonet, timm_models
from deepfakeforensics.models._base import Detector
from deepfakeforensics.models._factory import create_model
from deepfakeforensics.models._registry import forwards_options, register_model, register_option
from deepfakeforensics.models._weights import WeightsError, load_weights
from deepfakeforensics.models.heads import MultiTaskDetector

FRAME_MODELS = mesonet.MODEL_NAMES + efficientnet.MODEL_NAMES + timm_models.MODEL_NAMES
LSTM_ARGS = ("hidden_size", "num_layers", "bidirectional", "dropout")
TRANSFORMER_ARGS = ("d_model", "num_layers", "heads", "dropout")


def frame_features(backbone: Detector, x: torch.Tensor, owner: str) -> torch.Tensor:
    """The backbone's pre-logits vector of every frame of a batch of windows: (B, T, C, H, W) -> (B, T, D)."""
    if x.ndim != 5:
        raise ValueError(f"{owner} takes windows (B, T, C, H, W), got {tuple(x.shape)}")
    b, t = x.shape[:2]
    per_frame = backbone.forward_head(backbone.forward_features(x.flatten(0, 1)), pre_logits=True)
    return per_frame.reshape(b, t, -1)


def sinusoidal_positions(t: int, dim: int, device: torch.device) -> torch.Tensor:
    """(t, dim) sine/cosine position codes (Vaswani et al. 2017): any window length, nothing to learn."""
    pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-torch.log(torch.tensor(1e4)) / dim)
    )
    codes = torch.zeros(t, dim, device=device)
    codes[:, 0::2] = torch.sin(pos * freq)
    codes[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return codes


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
        out, _ = self.lstm(frame_features(self.backbone, x, self.name or type(self).__name__))
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

    def get_classifier(self) -> nn.Module:
        return self.head


class TransformerTemporalDetector(Detector):
    """Backbone per frame -> linear projection + positions + class token -> transformer encoder -> linear head.

    Args:
        backbone: a frame Detector exposing ``forward_head(features, pre_logits=True)`` and ``num_features``.
        d_model: width of the encoder.
        num_layers: encoder layers.
        heads: attention heads (must divide `d_model`).
        dropout: dropout inside the encoder and before the head.

    Input (B, T, C, H, W) for any T >= 1; output (B,) fake logits.
    """

    def __init__(
        self, backbone: Detector, d_model: int = 128, num_layers: int = 1, heads: int = 4, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.default_cfg = replace(backbone.default_cfg, temporal=True)
        self.proj = nn.Linear(backbone.num_features, d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, 1)
        self.num_features = d_model
        nn.init.normal_(self.cls_token, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder outputs (B, 1 + T, d_model) for windows (B, T, C, H, W); position 0 is the class token."""
        tokens = self.proj(frame_features(self.backbone, x, self.name or type(self).__name__))
        tokens = tokens + sinusoidal_positions(tokens.shape[1], tokens.shape[2], tokens.device).to(tokens.dtype)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype)
        return self.encoder(torch.cat([cls, tokens], dim=1))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        final = self.norm(features[:, 0])
        return final if pre_logits else self.head(self.drop(final))

    def gradcam_layer(self) -> nn.Module:
        """The backbone's Grad-CAM layer (activations of every frame of the window)."""
        return self.backbone.gradcam_layer()

    def get_classifier(self) -> nn.Module:
        return self.head


TEMPORAL_HEADS = {"lstm": (TemporalDetector, LSTM_ARGS), "transformer": (TransformerTemporalDetector, TRANSFORMER_ARGS)}


def make_temporal(backbone: Detector, head: str, **head_kwargs: Any) -> Detector:
    """Wrap a frame model in a temporal head: ``"lstm"`` or ``"transformer"`` (with that head's own arguments)."""
    if head not in TEMPORAL_HEADS:
        raise ValueError(f"temporal must be one of {', '.join(TEMPORAL_HEADS)}, not {head!r}")
    if backbone.default_cfg.temporal:
        raise ValueError(f"{backbone.name or type(backbone).__name__} is temporal already")
    cls, allowed = TEMPORAL_HEADS[head]
    unknown = sorted(set(head_kwargs) - set(allowed))
    if unknown:
        raise TypeError(f"temporal={head!r} takes {', '.join(allowed)}, not {', '.join(unknown)}")
    return cls(backbone, **head_kwargs)


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


def _register_temporal(frame_name: str, head: str) -> None:
    _, head_args = TEMPORAL_HEADS[head]

    def factory(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> Detector:
        head_kwargs = {k: kwargs.pop(k) for k in head_args if k in kwargs}
        methods = kwargs.pop("methods", None)  # a method head goes over the window, not each frame
        if kwargs.pop("boundary", False):
            raise ValueError(
                f"boundary=True needs a frame model; {frame_name}_{head} is temporal (one logit per window, no map)"
            )
        backbone = create_model(frame_name, pretrained=pretrained, **kwargs)
        model = make_temporal(backbone, head, **head_kwargs)
        return MultiTaskDetector(model, methods) if methods else model

    factory.__name__ = factory.__qualname__ = f"{frame_name}_{head}"
    factory.__doc__ = (
        f"{frame_name} features per frame -> {head} -> one logit per window ({', '.join(head_args)}). `pretrained` "
        f"initialises the backbone as for {frame_name}; other keyword arguments (e.g. drop_rate, frequency) go to it."
    )
    register_model(forwards_options(factory))


def _temporal_option(model: Detector, head: str, **head_kwargs: Any) -> Detector:
    return make_temporal(model, head, **head_kwargs)


for _name in FRAME_MODELS:
    _register_temporal(_name, "lstm")
    _register_temporal(_name, "transformer")
register_option("temporal", _temporal_option, extras=tuple(dict.fromkeys(LSTM_ARGS + TRANSFORMER_ARGS)), order=40)
