"""Auxiliary heads: a manipulation-method softmax head beside the fake logit (multi-task learning), by option.

``create_model("xception", methods=["real", "Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"])`` adds a linear
softmax head over the model's pre-logits features. The fake logit stays THE score (``forward`` is unchanged);
training adds the head's cross-entropy with a weight (``TrainConfig.method_column``/``method_weight``), and
`MultiTaskDetector.method_probabilities` reports P(method) per crop or window for prediction.
"""

from __future__ import annotations

import torch
from torch import nn

from deepfakeforensics.models._base import Detector
from deepfakeforensics.models._registry import register_option


class MultiTaskDetector(Detector):
    """`inner` with a method head on its pre-logits features; ``forward`` is `inner`'s fake logit.

    Args:
        inner: any detector (frame or temporal).
        methods: the class names of the method head, in output order.
    """

    def __init__(self, inner: Detector, methods: list[str]) -> None:
        super().__init__()
        if len(methods) < 2 or len(set(methods)) != len(methods):
            raise ValueError(f"methods must name at least 2 distinct classes, got {methods!r}")
        self.inner = inner
        self.methods = list(methods)
        self.method_head = nn.Linear(inner.num_features, len(methods))
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

    def gradcam_layer(self) -> nn.Module:
        return self.inner.gradcam_layer()

    def get_classifier(self) -> nn.Module:
        return self.inner.get_classifier()


def _methods_option(model: Detector, methods: list[str]) -> Detector:
    return MultiTaskDetector(model, list(methods))


register_option("methods", _methods_option, order=50)
