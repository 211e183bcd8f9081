"""The model comparisons the demo and notebook 02 train: `ModelPlan` (one model, its run name and settings),
`DEFAULT_PLANS` (the demo's), `COMPARISON_PLANS` (notebook 02's), `VIDEO_PLANS` (video models, on clips of
consecutive frames where there are some: `plan_faces`) and `train_plan`, which trains one plan.

They live here, beside `train_model`, so that changing notebook 02's comparison does not mean editing the demo.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from deepfakeforensics.data.transforms import AugmentConfig
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.training.callbacks import Callback
from deepfakeforensics.training.config import DataConfig, TrainConfig
from deepfakeforensics.training.run import train_model


@dataclass(frozen=True)
class ModelPlan:
    """One model the demo (and notebook 02) trains, and how."""

    model: str = field(metadata={"help": "registered model name"})
    run: str = field(metadata={"help": "run name (folder under checkpoints/)"})
    epochs: int = field(metadata={"help": "training epochs"})
    init_from: str | None = field(
        default=None, metadata={"help": "run name of a frame model whose best.pt starts this temporal model's backbone"}
    )
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    frames_per_video: int | None = field(
        default=None, metadata={"help": "train on at most this many crops per track and video (None: all)"}
    )
    model_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "model parameters and options, e.g. {'frequency': 'fft'}"}
    )
    clips: bool = field(
        default=False,
        metadata={"help": "a video model: train on clips of consecutive frames where `train_plan` is given some"},
    )


#: The models the demo compares: a frame model, a temporal model started from it, and a slower ImageNet-style model.
DEFAULT_PLANS = (
    ModelPlan("mesonet4", "mesonet4", epochs=6),
    ModelPlan("mesonet4_lstm", "mesonet4_lstm", epochs=3, init_from="mesonet4"),
    ModelPlan("efficientnet_b0", "efficientnet_b0", epochs=2, lr=3e-4, frames_per_video=8),
)

#: What notebook 02 compares: the demo's models, timm's EfficientNet-B0 and MesoNet4 with a frequency (FFT) branch.
COMPARISON_PLANS = (
    *DEFAULT_PLANS,
    ModelPlan("tf_efficientnet_b0", "tf_efficientnet_b0", epochs=2, lr=3e-4, frames_per_video=8),
    ModelPlan("mesonet4", "mesonet4_fft", epochs=6, model_kwargs={"frequency": "fft", "frequency_dim": 32}),
)


#: A video model for the comparison: notebook 02 trains it (``VIDEO_MODELS``) on the clips of consecutive frames that
#: notebook 01 extracts; ``dff demo --video-model`` adds it to the demo's plans (on the demo's sampled frames).
VIDEO_PLANS = (ModelPlan("ftcn_lite", "ftcn_lite", epochs=3, clips=True),)


def select_plans(
    models: Sequence[str] | None = None, epochs: int | None = None, plans: Sequence[ModelPlan] = DEFAULT_PLANS
) -> tuple[ModelPlan, ...]:
    """The `plans` with the run names `models` (None: all, in their order), each plan's epochs set to `epochs`.

    Raises:
        ValueError: a name that no plan trains.
    """
    unknown = set(models or ()) - {p.run for p in plans}
    if unknown:
        raise ValueError(f"no demo plan for {sorted(unknown)}; choose from {[p.run for p in plans]}")
    chosen = tuple(p for p in plans if models is None or p.run in models)
    return chosen if epochs is None else tuple(replace(p, epochs=epochs) for p in chosen)


def subsample_frames(faces: pd.DataFrame, per_track: int | None) -> pd.DataFrame:
    """At most `per_track` crops of each (video_id, track), spread evenly over its frames (for slow models)."""
    if per_track is None:
        return faces
    keep = []
    for _, rows in faces.sort_values("frame").groupby(["video_id", "track"], sort=False):
        if len(rows) <= per_track:
            keep.append(rows)
        else:
            step = len(rows) / per_track
            keep.append(rows.iloc[[int(i * step) for i in range(per_track)]])
    out = pd.concat(keep).sort_index()
    out.attrs = dict(faces.attrs)
    return out


def plan_faces(plan: ModelPlan, faces: pd.DataFrame, clip_faces: pd.DataFrame | None = None) -> pd.DataFrame:
    """The crops `plan` trains on: those of `clip_faces` (clips of consecutive frames) for a video plan
    (``plan.clips``) when there is one, else of `faces` (for a video plan: windows of its sampled frames, which need
    not be consecutive); at most ``plan.frames_per_video`` of them per track (`subsample_frames`).
    """
    chosen = clip_faces if plan.clips and clip_faces is not None else faces
    return subsample_frames(chosen, plan.frames_per_video)


def train_plan(
    plan: ModelPlan,
    faces: pd.DataFrame,
    checkpoints: str | os.PathLike,
    *,
    clip_faces: pd.DataFrame | None = None,
    window: int = 8,
    batch_size: int = 32,
    num_workers: int = 2,
    seed: int = 0,
    callbacks: Sequence[Callback] | None = None,
) -> pd.DataFrame:
    """Train one planned model into ``checkpoints/<plan.run>/``; returns its history (one row per epoch).

    An interrupted run resumes from its ``last.pt``, a finished one is left as it is. A temporal plan's backbone
    starts from ``checkpoints/<plan.init_from>/best.pt``, so train the frame model first (`DEFAULT_PLANS`' order).

    Args:
        plan: the model, run name, epochs, learning rate and crops per track.
        faces: the faces manifest (``load_table`` of ``labels/NAME_faces.csv``).
        clip_faces: a manifest of clips of consecutive frames (extracted with the clips sampling strategy), which a
            video plan (``plan.clips``) trains on instead of `faces` (`plan_faces`).
        checkpoints: parent folder of the runs.
        window: temporal models: crops per window (windows do not overlap; on clips, never across two clips).
        batch_size, num_workers, seed: as `TrainConfig`'s.
        callbacks: training callbacks (default: console and progress bar).
    """
    checkpoints = Path(checkpoints)
    config = TrainConfig(
        run=plan.run,
        checkpoints_dir=str(checkpoints),
        epochs=plan.epochs,
        lr=plan.lr,
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        patience=0,
        init=str(checkpoints / plan.init_from / "best.pt") if plan.init_from else None,
        resume=(checkpoints / plan.run / "last.pt").is_file(),
    )
    frames = plan_faces(plan, faces, clip_faces)
    data = DataConfig(window=WindowConfig(window=window, stride=window), augment=AugmentConfig())
    _, history = train_model(
        plan.model, data, config, faces=frames, model_kwargs=dict(plan.model_kwargs), callbacks=callbacks
    )
    return history
