"""Robustness to common degradations: score a dataset again with its face crops JPEG-compressed, blurred,
downscaled or noised, and report metrics against the strength of each perturbation.

Perturbations are applied to the decoded RGB crop before resizing and normalisation, with the same implementations
as the training augmentations (`deepfakeforensics.data.transforms.apply_augment`), one strength at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from deepfakeforensics.data.crops import read_crop
from deepfakeforensics.data.transforms import AugmentParams, apply_augment, to_tensor
from deepfakeforensics.data.window_dataset import WindowDataset
from deepfakeforensics.evaluation.metrics import compute_metrics
from deepfakeforensics.evaluation.scores import predict_scores
from deepfakeforensics.scoring.aggregation import Aggregation, aggregate

PERTURBATIONS = ("jpeg", "blur", "downscale", "noise")


def perturbation_params(kind: str, strength: float, seed: int = 0) -> AugmentParams:
    """The augmentation parameters of one perturbation at one strength.

    Args:
        kind: ``"jpeg"`` (strength = quality 1-100, lower is stronger), ``"blur"`` (Gaussian sigma in pixels),
            ``"downscale"`` (shrink factor in (0, 1], then enlarged back) or ``"noise"`` (Gaussian std, 0-255 units).
        strength: see `kind`.
        seed: seed of the noise pattern.
    """
    if kind == "jpeg":
        return AugmentParams(jpeg_quality=int(strength))
    if kind == "blur":
        return AugmentParams(blur_sigma=float(strength))
    if kind == "downscale":
        return AugmentParams(downscale=float(strength))
    if kind == "noise":
        return AugmentParams(noise=(float(strength), int(seed)))
    raise ValueError(f"unknown perturbation {kind!r}; choose one of {', '.join(PERTURBATIONS)}")


def perturb(img: np.ndarray, kind: str, strength: float, seed: int = 0) -> np.ndarray:
    """Apply one perturbation to an RGB ``uint8`` image."""
    return apply_augment(img, perturbation_params(kind, strength, seed))


class PerturbedDataset(Dataset):
    """A `FrameDataset` or `WindowDataset` whose crops are perturbed after decoding and before normalisation.

    Items, order and ``meta`` are those of `base` (which must be an evaluation dataset, ``train=False``).
    """

    def __init__(self, base: Dataset, kind: str, strength: float, seed: int = 0) -> None:
        perturbation_params(kind, strength)  # validate early
        self.base = base
        self.kind, self.strength, self.seed = kind, strength, seed
        self.meta = base.meta
        self._temporal = isinstance(base, WindowDataset)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.base._item_rows(index)
        # One noise pattern per item (shared by the frames of a window), reproducible.
        frames = [perturb(read_crop(self.base._paths[r]), self.kind, self.strength, self.seed + index) for r in rows]
        x = to_tensor(frames, self.base.model_cfg)
        if not self._temporal:
            x = x[0]
        return x, torch.tensor(float(self.meta.at[index, "label"]))


@dataclass(frozen=True)
class RobustnessConfig:
    """Which perturbations and strengths to sweep (each strength re-scores the whole dataset: keep lists short)."""

    strengths: Mapping[str, Sequence[float]] = field(
        default_factory=lambda: {
            "jpeg": (90, 70, 50, 30),  # JPEG quality
            "blur": (0.5, 1.0, 2.0, 3.0),  # Gaussian sigma, pixels of the crop
            "downscale": (0.75, 0.5, 0.35, 0.25),  # shrink factor, then enlarged back
            "noise": (2.0, 5.0, 10.0, 20.0),  # Gaussian std on 0-255 pixels
        }
    )
    aggregation: Aggregation | None = None  # file-level aggregation rule (None: mean, or the evaluation's)
    batch_size: int = 32  # items per forward pass
    num_workers: int = 0  # DataLoader workers
    seed: int = 0  # seed of the noise patterns


def robustness_sweep(
    model: nn.Module,
    dataset: Dataset,
    config: RobustnessConfig | None = None,
    threshold: float = 0.5,
    device: str | torch.device = "cpu",
    progress: bool = True,
    clean_scores: pd.DataFrame | None = None,
    calibrate: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Metrics at item and file level for every perturbation strength, plus the clean reference.

    Args:
        model: the detector.
        dataset: an evaluation `FrameDataset` / `WindowDataset` (``train=False``).
        config: perturbations, strengths and scoring options.
        threshold: the decision threshold (chosen on clean validation scores).
        device: where to run the model.
        progress: progress bars.
        clean_scores: already computed unperturbed scores of `dataset` (saves one pass).
        calibrate: maps a score table to calibrated scores (e.g. temperature scaling fitted on validation).

    Returns:
        One row per (perturbation, strength, level) with the `compute_metrics` columns; the clean reference has
        ``perturbation == "none"`` and strength 0.
    """
    config = config or RobustnessConfig()
    rows = []

    def score(ds: Dataset) -> pd.DataFrame:
        s = predict_scores(model, ds, config.batch_size, device, config.num_workers, progress=False)
        return calibrate(s) if calibrate is not None else s

    jobs = [("none", 0.0)] + [(k, float(v)) for k, vs in config.strengths.items() for v in vs]
    item_level = "window" if "start_frame" in dataset.meta else "frame"
    for kind, strength in tqdm(jobs, desc="robustness", disable=not progress):
        if kind == "none":
            s = clean_scores if clean_scores is not None else score(dataset)
        else:
            s = score(PerturbedDataset(dataset, kind, strength, config.seed))
        files = aggregate(s, config.aggregation or "mean")
        for level, table in ((item_level, s), ("file", files)):
            m = compute_metrics(table["label"], table["score"], threshold)
            rows.append({"perturbation": kind, "strength": strength, "level": level, **m})
    return pd.DataFrame(rows)
