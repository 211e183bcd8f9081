"""Checkpoint format of this project and strict weight loading.

A checkpoint is a dict of tensors and plain data (``torch.load(..., weights_only=True)`` reads it):
``{"format": "deepfakeforensics", "version": 1, "model": name, "model_kwargs": {...}, "state_dict": {...}, ...extra}``.
Training adds its own keys (optimiser, scheduler, epoch...) as ``extra``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from deepfakeforensics._io import atomic_path
from deepfakeforensics.models._base import Detector

FORMAT = "deepfakeforensics"
VERSION = 1


class WeightsError(ValueError):
    """A weights file that cannot be loaded into a model; the message names the file and the mismatch."""


def save_checkpoint(path: str | os.PathLike, model: Detector, **extra: Any) -> None:
    """Write `model` (and any `extra` plain data or tensors) to `path` atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    m = unwrap(model)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": m.name,
        "model_kwargs": dict(getattr(m, "init_kwargs", {})),
        "state_dict": state,
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint of this project with ``weights_only=True``; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, or holding arbitrary objects
        raise WeightsError(f"{path}: not a readable deepfakeforensics checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "state_dict" not in ckpt:
        raise WeightsError(
            f"{path}: not a deepfakeforensics checkpoint (no 'format'/'state_dict' keys); ImageNet backbone weights "
            "go to create_model(..., pretrained=path)"
        )
    return ckpt


def load_state_dict_strict(model: Detector, state_dict: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    """Load `state_dict` into `model` only if every key and shape matches; otherwise leave `model` untouched."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches (e.g. {'; '.join(wrong[:3])})")
        raise WeightsError(
            f"{source}: weights do not fit model {model.name or type(model).__name__}: {'; '.join(parts)}"
        )
    model.load_state_dict(state_dict, strict=True)


def load_weights(model: Detector, path: str | os.PathLike) -> Detector:
    """Load a project checkpoint (or, for MesoNet models, the authors' Keras ``.h5``) into `model`, strictly."""
    path = Path(path)
    if path.suffix.lower() in {".h5", ".hdf5", ".keras"}:
        from deepfakeforensics.models._keras import load_keras_weights

        load_keras_weights(model, path)
        return model
    ckpt = load_checkpoint(path)
    if ckpt.get("model") and model.name and ckpt["model"] != model.name:
        hint = ""
        if getattr(model, "backbone", None) is not None and ckpt["model"] == model.backbone.name:
            hint = " (to start a temporal model from a frame model's checkpoint, use init_backbone)"
        raise WeightsError(f"{path}: checkpoint is of model {ckpt['model']!r}, not {model.name!r}{hint}")
    load_state_dict_strict(model, ckpt["state_dict"], path)
    return model


def load_model(path: str | os.PathLike, **overrides: Any) -> Detector:
    """Rebuild the model a checkpoint was saved from (name and kwargs from the file) with its weights."""
    from deepfakeforensics.models._registry import create_model

    ckpt = load_checkpoint(path)
    kwargs = {**ckpt.get("model_kwargs", {}), **overrides}
    model = create_model(ckpt["model"], **kwargs)
    load_state_dict_strict(model, ckpt["state_dict"], path)
    return model


def unwrap(model: torch.nn.Module) -> Detector:
    """The model inside a DistributedDataParallel / DataParallel wrapper, or the model itself."""
    return getattr(model, "module", model)
