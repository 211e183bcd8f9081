"""Several detectors scored as one: the mean of their probabilities (as the DFDC winner averages its seven B7s).

The ensemble's logit is ``logit(mean_i sigmoid(logit_i))``, so ``sigmoid(ensemble(x))`` is exactly the mean P(fake)
of its members, and every caller (scoring, aggregation, thresholds) sees one detector.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepfakeforensics.models._base import Detector

_EPS = 1e-7  # keeps the logit finite when every member is certain


class EnsembleDetector(Detector):
    """The mean of the members' probabilities, as one logit.

    Args:
        members: detectors with the same input (`default_cfg`: size, mean, std, frame or temporal).

    Raises:
        ValueError: no member, or members that expect different inputs (they would need different crops).
    """

    def __init__(self, members: Sequence[Detector]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one detector")
        cfgs = {m.default_cfg for m in members}
        if len(cfgs) > 1:
            described = "; ".join(f"{m.name}: {m.default_cfg}" for m in members)
            raise ValueError(f"ensemble members expect different inputs ({described})")
        self.members = nn.ModuleList(members)
        self.default_cfg = members[0].default_cfg
        self.num_features = sum(getattr(m, "num_features", 0) for m in members)
        self.explanation = getattr(members[0], "explanation", "gradcam")
        self.name = (
            f"ensemble of {len(members)} x {members[0].name}"
            if len({m.name for m in members}) == 1
            else ("ensemble of " + " + ".join(m.name for m in members))
        )
        self.init_kwargs = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.stack([torch.sigmoid(m(x).float()) for m in self.members]).mean(0)
        return torch.logit(p.clamp(_EPS, 1 - _EPS))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.members[0].forward_features(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.members[0].forward_head(features, pre_logits=pre_logits)

    def gradcam_layer(self) -> nn.Module:
        """The first member's (a heatmap explains one member of the ensemble)."""
        return self.members[0].gradcam_layer()
