"""Auxiliary heads beside the fake logit, by option: a manipulation-method softmax head, a blending-boundary map.

``create_model("xception", methods=["real", "Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"])`` adds a linear
softmax head over the model's pre-logits features. The fake logit stays THE score (``forward`` is unchanged);
training adds the head's cross-entropy with a weight (``TrainConfig.method_column``/``method_weight``), and
`MultiTaskDetector.method_probabilities` reports P(method) per crop or window for prediction.

``create_model("efficientnet_b4", boundary=True)`` adds a 1x1 convolution over the backbone's last spatial feature
map (``forward_features`` before pooling) predicting where the face was blended (Face X-ray's boundary, Li et al.
2020); training adds its masked BCE against the self-blended pseudo-fakes' boundaries
(``TrainConfig.boundary_weight``). Frame models with a (B, C, h, w) feature map only (MesoNet, EfficientNet, timm
CNNs, with or without an SRM stem); token models (ViT, CLIP), frequency-fused and temporal models are refused.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from deepfakeforensics.models._base import Detector, WrappedDetector
from deepfakeforensics.models._layout import CHANNELS_LAST, features_layout
from deepfakeforensics.models._registry import register_option

#: Attributes of the inner model that a method head passes on when the inner model has them: a video model's
#: ``frame_cams`` (its Grad-CAM map over time cut into one map per frame, what reports and dff serve show)
_FROM_INNER = frozenset({"frame_cams"})


class MultiTaskDetector(WrappedDetector):
    """`inner` with a method head on its pre-logits features; ``forward`` is `inner`'s fake logit.

    Args:
        inner: any detector (frame or temporal).
        methods: the class names of the method head, in output order.

    A video model inside keeps its per-frame Grad-CAM maps: its ``frame_cams`` is passed on (see `_FROM_INNER`).
    """

    def __init__(self, inner: Detector, methods: list[str]) -> None:
        if len(methods) < 2 or len(set(methods)) != len(methods):
            raise ValueError(f"methods must name at least 2 distinct classes, got {methods!r}")
        super().__init__(inner)
        self.methods = list(methods)
        self.method_head = nn.Linear(inner.num_features, len(methods))

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in _FROM_INNER:  # only when the inner model has it: a frame model stays without
                return getattr(self._modules["inner"], name)
            raise

    def method_logits(self, features: torch.Tensor) -> torch.Tensor:
        """(B, len(methods)) logits of the method head, from `forward_features`' output."""
        return self.method_head(self.inner.forward_head(features, pre_logits=True))

    @torch.no_grad()
    def method_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(B, len(methods)) softmax probabilities of the methods (columns in the order of `methods`)."""
        return self.logits_and_method_probabilities(x)[1]

    @torch.no_grad()
    def logits_and_method_probabilities(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The fake logits (B,) and the method probabilities (B, len(methods)) from one pass of the backbone."""
        features = self.forward_features(x)
        logits = self.forward_head(features).reshape(-1)
        return logits, self.method_logits(features).float().softmax(dim=-1)


def feature_map_channels(model: Detector) -> int:
    """Channels of `model`'s ``forward_features`` output, which must be a (B, C, h, w) map, or a (B, h, w, C) one
    where the model declares it (timm's Swin: `models._layout.features_layout`).

    Found by running it on a meta-device copy of the parameters (no memory, no compute, no change to the model).

    Raises:
        ValueError: a temporal model, or features that are not a spatial map (tokens, a fused vector), naming why.
    """
    cfg = model.default_cfg
    name = getattr(model, "name", "") or type(model).__name__
    if cfg.temporal:
        raise ValueError(f"boundary=True needs a frame model; {name} is temporal (one logit per window, no map)")
    wrapper = _FeatureProbe(model)
    state = {f"model.{k}": v.to("meta") for k, v in (*model.named_parameters(), *model.named_buffers())}
    try:
        shape = tuple(functional_call(wrapper, state, (torch.zeros((2, *cfg.input_size), device="meta"),)).shape)
    except Exception as e:  # noqa: BLE001  (any failure means: no spatial map we can rely on)
        raise ValueError(
            f"boundary=True needs a (B, C, h, w) feature map; running {name}'s forward_features on a meta-device copy "
            f"failed ({type(e).__name__}: {e}): frequency-fused models, for one, have no spatial map"
        ) from e
    if len(shape) != 4:
        raise ValueError(
            f"boundary=True needs a (B, C, h, w) feature map; {name}'s forward_features gives shape {shape} "
            "(token models such as ViT/CLIP and frequency-fused models have no spatial map)"
        )
    return shape[-1] if features_layout(model) == CHANNELS_LAST else shape[1]


class _FeatureProbe(nn.Module):
    """``forward`` is the wrapped model's ``forward_features`` (what `functional_call` needs to run it)."""

    def __init__(self, model: Detector) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


#: Attributes of a method head that a boundary head around it passes on (prediction and training look for them)
_PASSED_ON = frozenset({"methods", "method_logits", "method_probabilities", "logits_and_method_probabilities"})


class BoundaryDetector(WrappedDetector):
    """`inner` with a blending-boundary head: a 1x1 convolution over its last feature map; ``forward`` is unchanged.

    Args:
        inner: a frame detector whose ``forward_features`` is a (B, C, h, w) map, or a declared (B, h, w, C) one
            (timm's Swin), see `feature_map_channels`.

    A method head inside (``methods=``) stays reachable: its attributes are passed on.
    """

    def __init__(self, inner: Detector) -> None:
        channels = feature_map_channels(inner)
        super().__init__(inner)
        self.features_nhwc = features_layout(inner) == CHANNELS_LAST  # Swin: (B, h, w, C)
        self.boundary_head = nn.Conv2d(channels, 1, kernel_size=1)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in _PASSED_ON:
                return getattr(self._modules["inner"], name)
            raise

    def boundary_logits(self, features: torch.Tensor) -> torch.Tensor:
        """(B, h, w) logits of "this cell lies on a blending boundary", from `forward_features`' map."""
        return self.boundary_head(features.movedim(-1, 1) if self.features_nhwc else features)[:, 0]

    @torch.no_grad()
    def boundary_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, h, w) probabilities of the blending boundary of a batch of crops (an explanation of the score)."""
        return torch.sigmoid(self.boundary_logits(self.forward_features(x)).float())


def _methods_option(model: Detector, methods: list[str]) -> Detector:
    return MultiTaskDetector(model, list(methods))


def _boundary_option(model: Detector, value: Any) -> Detector:
    if value is not True:
        raise ValueError(f"boundary must be True or False, not {value!r}")
    return BoundaryDetector(model)


register_option("methods", _methods_option, order=50)
register_option("boundary", _boundary_option, order=60)
