"""What a run minimises besides plain BCE: focal loss, supervised contrastive + BCE, a method head's cross-entropy.

The fake logit stays the score: every extra term is added to its loss during training only. Validation loss is the
fake logit's base loss (BCE or focal), comparable across runs.

- ``loss="focal"``: focal loss (Lin et al. 2017) on the fake logit, ``(1 - p_t) ** focal_gamma`` times BCE.
- ``supcon_weight > 0``: supervised contrastive loss (Khosla et al. 2020) on a projection of the pre-logits features,
  real against fake; the projection head (`TrainNet.projection`) exists only in training and is saved in ``last.pt``
  (for resuming), never in the model's checkpoints.
- ``method_column``: the manifest column of the manipulation method; the model carries a method head
  (``create_model(..., methods=[...])``) whose cross-entropy is added with ``method_weight``.
- ``boundary_weight > 0``: the model carries a boundary head (``create_model(..., boundary=True)``) and the training
  set gives blending-boundary targets (``boundary=`` of the datasets); `boundary_loss`, a BCE per map cell masked by
  each item's ``has_boundary`` (Face X-ray style), is added with ``boundary_weight``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepfakeforensics.training.config import TrainConfig
from deepfakeforensics.training.optim import bce_loss

REAL_METHOD = "real"  # the method class of real items (the column is empty or names the original there)


def focal_loss(
    gamma: float = 2.0, label_smoothing: float = 0.0
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Focal loss on fake logits (``gamma=0`` is BCE); targets smoothed like `bce_loss`."""

    def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = labels.float() * (1 - label_smoothing) + 0.5 * label_smoothing
        logits = logits.float()
        bce = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p = torch.sigmoid(logits)
        p_t = p * target + (1 - p) * (1 - target)
        return ((1 - p_t) ** gamma * bce).mean()

    return loss_fn


def supcon_loss(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss of L2-normalised `embeddings` (B, d): same-label items attract, others repel.

    Items without another item of their label in the batch are left out; 0 when no item has one.
    """
    z = nn.functional.normalize(embeddings.float(), dim=1)
    sim = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    counts = positives.sum(dim=1)
    keep = counts > 0
    if not keep.any():
        return z.sum() * 0.0
    mean_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)[keep] / counts[keep]
    return -mean_log_prob.mean()


def boundary_loss(logits: torch.Tensor, target: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Mean BCE of boundary-map logits (B, h, w) against targets (B, g, g) in [0, 1], over the items where `known`.

    The targets are area-averaged to the logits' grid (``adaptive_avg_pool2d``); each item's mean over its cells is
    weighted by ``known`` (B,) (0 for fakes whose boundary is unknown). 0 (with a gradient path) when none is known.
    """
    logits = logits.float()
    target = nn.functional.adaptive_avg_pool2d(target.float()[:, None], logits.shape[-2:])[:, 0]
    per_item = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=(1, 2))
    known = known.float().to(per_item.device)
    return (per_item * known).sum() / known.sum().clamp_min(1.0)


def method_classes(meta: pd.DataFrame, column: str) -> list[str]:
    """The method classes of a training table: ``"real"`` for real items, then the fakes' methods, sorted."""
    if column not in meta.columns:
        raise ValueError(f"method_column {column!r} is not a column of the faces manifest ({', '.join(meta.columns)})")
    fakes = meta.loc[meta["label"] == 1, column].dropna().astype(str)
    return [REAL_METHOD, *sorted(set(fakes) - {REAL_METHOD})]


def method_targets(meta: pd.DataFrame, column: str, classes: Sequence[str]) -> torch.Tensor:
    """Per item of `meta`, the index of its method in `classes` (real items: ``"real"``; unknown: -1, ignored)."""
    index = {c: i for i, c in enumerate(classes)}
    names = np.where(meta["label"].to_numpy() == 1, meta[column].astype(str).to_numpy(), REAL_METHOD)
    return torch.tensor([index.get(n, -1) for n in names], dtype=torch.long)


class TrainNet(nn.Module):
    """The module a run optimises when extra terms need more than the logit: the detector and training-only heads.

    ``forward(x)`` returns ``{"logit": (B,), "projection": (B, d), "method": (B, M), "boundary": (B, h, w)}`` (the
    last three when used), all computed inside one forward so that DistributedDataParallel sees every parameter.
    """

    def __init__(self, detector: nn.Module, projection_dim: int = 0, boundary: bool = False) -> None:
        super().__init__()
        self.detector = detector
        self.boundary = boundary
        width = detector.num_features
        self.projection = (
            nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, projection_dim))
            if projection_dim
            else None
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        det = self.detector
        features = det.forward_features(x)
        out = {"logit": det.forward_head(features).reshape(-1)}
        if self.projection is not None:
            out["projection"] = self.projection(det.forward_head(features, pre_logits=True))
        if hasattr(det, "method_logits"):
            out["method"] = det.method_logits(features)
        if self.boundary:
            out["boundary"] = det.boundary_logits(features)
        return out


class Objective:
    """The run's loss on a batch: the fake logit's base loss plus the weighted extra terms.

    Called as ``objective(outputs, labels, ids)`` where `outputs` is the model's logits (evaluation: base loss only)
    or `TrainNet`'s dict (training), and `ids` the batch's item ids (``"index"``: rows of the training table).
    """

    takes_outputs = True

    def __init__(self, config: TrainConfig, method_targets: torch.Tensor | None = None) -> None:
        if config.loss not in ("bce", "focal"):
            raise ValueError(f"loss must be bce or focal, not {config.loss!r}")
        focal = config.loss == "focal"
        self.base = (
            focal_loss(config.focal_gamma, config.label_smoothing) if focal else bce_loss(config.label_smoothing)
        )
        self.config = config
        self.method_targets = method_targets

    def __call__(self, outputs: Any, labels: torch.Tensor, ids: dict[str, Any] | None = None) -> torch.Tensor:
        if not isinstance(outputs, dict):
            return self.base(outputs, labels)
        loss = self.base(outputs["logit"], labels)
        if "projection" in outputs:
            loss = loss + self.config.supcon_weight * supcon_loss(
                outputs["projection"], labels, self.config.supcon_temperature
            )
        if "method" in outputs and self.method_targets is not None and ids is not None:
            targets = self.method_targets[ids["index"].cpu()].to(labels.device)
            term = nn.functional.cross_entropy(outputs["method"].float(), targets, ignore_index=-1)
            loss = loss + self.config.method_weight * torch.nan_to_num(term)  # nan: no item of a known method
        if "boundary" in outputs and ids is not None and "boundary" in ids:
            term = boundary_loss(outputs["boundary"], ids["boundary"].to(labels.device), ids["has_boundary"])
            loss = loss + self.config.boundary_weight * term
        return loss


def needs_train_net(config: TrainConfig, model: nn.Module) -> bool:
    """Whether the run's loss needs more than the logit (a projection, a method head or a boundary head)."""
    return (
        config.supcon_weight > 0
        or (bool(config.method_column) and hasattr(model, "method_logits"))
        or (config.boundary_weight > 0 and hasattr(model, "boundary_logits"))
    )
