"""Train a registered model by name on a faces manifest: what ``dff train``, ``dff demo`` and the notebooks call."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
import torch

from deepfakeforensics.data import datasets
from deepfakeforensics.data.manifest import read_manifest
from deepfakeforensics.data.pseudo_fakes import BOUNDARY_GRID
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.faces import crops_aligned
from deepfakeforensics.models import Detector, create_model
from deepfakeforensics.training.callbacks import Callback
from deepfakeforensics.training.config import DataConfig, TrainConfig
from deepfakeforensics.training.loop import train
from deepfakeforensics.training.objectives import method_classes

log = logging.getLogger(__name__)


def build_datasets(
    faces: str | os.PathLike | pd.DataFrame,
    model: Detector,
    data: DataConfig,
    seed: int,
    item_ids: bool = False,
    boundary: int = 0,
) -> tuple[datasets.FrameDataset | datasets.WindowDataset, datasets.FrameDataset | datasets.WindowDataset]:
    """The training and validation datasets of `data` for `model` (windows for temporal models).

    `item_ids`: training items come with their ids (``return_meta``), which a method head's targets need.
    `boundary`: training items carry blending-boundary targets on a grid of this side (a boundary head's loss);
    validation items never do.
    """
    kwargs: dict[str, Any] = {"missing": data.missing, "seed": seed, "pseudo_fakes": data.pseudo_fakes}
    if data.window is not None:
        kwargs.update(data.window.to_dict())
    train_ds = datasets.build_dataset(
        faces,
        data.train_split,
        model,
        train=data.augment is not None,
        augment=data.augment,
        return_meta=item_ids,
        vary_pseudo_fakes=True,
        boundary=boundary,
        **kwargs,
    )
    val_ds = datasets.build_dataset(faces, data.val_split, model, train=False, **kwargs)
    return train_ds, val_ds


def manifest_records(faces: str | os.PathLike | pd.DataFrame) -> dict[str, Any]:
    """What a run records in ``config.json`` of the faces manifest it trained on, read from the extraction settings
    the manifest records: ``"crops"``, its crop profile and alignment (``"default"`` profile for manifests from
    before profiles), and ``"sampling"``, its frame sampling (`SamplingConfig` fields; None when not recorded), so
    that a run knows its crops, and a run trained on clips is scored on clips, even when it was trained on a DataFrame.
    """
    table = faces if isinstance(faces, pd.DataFrame) else read_manifest(faces, kind="faces")
    extraction = table.attrs.get("extraction") or {}
    sampling = extraction.get("sampling")
    return {
        "crops": {"profile": str(extraction.get("profile") or "default"), "aligned": crops_aligned(table)},
        "sampling": dict(sampling) if isinstance(sampling, dict) else None,
    }


def train_methods(faces: str | os.PathLike | pd.DataFrame, split: str, column: str) -> list[str]:
    """The method classes of a manifest's training split (``"real"``, then the fakes' methods, sorted)."""
    table = faces if isinstance(faces, pd.DataFrame) else read_manifest(faces, kind="faces")
    return method_classes(table[table["split"] == split], column)


def _head_kwargs(
    kwargs: dict[str, Any], source: str | os.PathLike | pd.DataFrame, data: DataConfig, config: TrainConfig
) -> dict[str, Any]:
    """`kwargs` with the heads `config` asks for: a method head over the training split's methods
    (``config.method_column``), a boundary head (``config.boundary_weight > 0``), unless given."""
    if config.method_column and "methods" not in kwargs:
        kwargs["methods"] = train_methods(source, data.train_split, config.method_column)
    if config.boundary_weight > 0 and "boundary" not in kwargs:
        kwargs["boundary"] = True
    return kwargs


def _say_training_advice(model: Detector, name: str, from_scratch: bool) -> None:
    """Log what the model says to change before training (``training_advice``, e.g. s3d from scratch)."""
    advice = getattr(model, "training_advice", None)
    said = advice(from_scratch) if advice is not None else None
    if said:
        log.warning("%s: %s", name, said)


def train_model(
    model_name: str,
    data: DataConfig,
    config: TrainConfig,
    *,
    faces: pd.DataFrame | None = None,
    model_kwargs: dict[str, Any] | None = None,
    weights: str | os.PathLike | None = None,
    pretrained: bool | str | os.PathLike = False,
    callbacks: Sequence[Callback] | None = None,
    extra_config: dict[str, Any] | None = None,
) -> tuple[Detector, pd.DataFrame]:
    """Create `model_name`, build its train and validation datasets as `data` says, and `train` it.

    Frame models train on face crops (`FrameDataset`), temporal models on windows of crops of one face track
    (`WindowDataset`, cut by ``data.window``, `WindowConfig()` when None), chosen from the model's ``default_cfg``.
    The test split is never read (`DataConfig` refuses to validate on it). `data` is saved in the run's config.json
    (``read_run_config`` gives it back).

    Args:
        model_name: a registered model, e.g. ``"mesonet4"`` or ``"mesonet4_lstm"``.
        data: the faces manifest, splits, windows, augmentations, pseudo-fakes (`DataConfig`).
        config: training settings; files go to ``config.checkpoints_dir/config.run``. ``config.init`` starts a
            temporal model's backbone from a trained frame model's checkpoint.
        faces: the manifest as a DataFrame (``load_table``), instead of reading ``data.faces``.
        model_kwargs: the model's own parameters and options (e.g. ``hidden_size``, ``frequency="fft"``,
            ``peft="lora"``); with ``config.method_column``, ``methods`` defaults to the training split's methods;
            with ``config.boundary_weight > 0``, a frame model gets ``boundary=True`` (a boundary head).
        weights: start from this checkpoint's weights (the whole model).
        pretrained: backbone ImageNet weights (``True`` downloads; or a local file).
        callbacks: training callbacks (default: console and progress bar).
        extra_config: plain data recorded in the run's ``config.json``.

    Returns:
        The trained model (weights of the last epoch; ``best.pt`` holds the best) and the history table.

    Example:
        >>> data = DataConfig(faces="labels/ffpp_faces.csv", augment=AugmentConfig())  # doctest: +SKIP
        >>> model, history = train_model("mesonet4", data, TrainConfig(run="meso", epochs=20))  # doctest: +SKIP
    """
    source = faces if faces is not None else data.faces
    if source is None:
        raise ValueError("no faces manifest: set DataConfig(faces=...) or pass faces=DataFrame")
    model_kwargs = _head_kwargs(dict(model_kwargs or {}), source, data, config)
    torch.manual_seed(config.seed)  # the model's initial weights
    model = create_model(model_name, weights=weights, pretrained=pretrained, **model_kwargs)
    _say_training_advice(model, model_name, from_scratch=not (pretrained or weights or config.init))
    data = replace(data, window=(data.window or WindowConfig()) if model.default_cfg.temporal else None)
    grid = BOUNDARY_GRID if config.boundary_weight > 0 else 0
    train_ds, val_ds = build_datasets(source, model, data, config.seed, bool(config.method_column), grid)
    extra = {
        "model_name": model_name,
        "model_kwargs": model_kwargs,
        **manifest_records(source),
        **(extra_config or {}),
    }
    history = train(model, train_ds, val_ds, config, callbacks=callbacks, extra_config=extra, data=data)
    return model, history
