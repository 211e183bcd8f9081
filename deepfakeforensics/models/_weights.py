"""Checkpoint format of this project and strict weight loading.

This module reads and writes weight files; it knows no concrete model. A model that imports a foreign format declares
its own converter in ``Detector.weight_converters`` (MesoNet's Keras import lives in ``_keras.py``).

A checkpoint is a dict of tensors and plain data (``torch.load(..., weights_only=True)`` reads it):
``{"format": "deepfakeforensics", "version": 1, "model": name, "model_kwargs": {...}, "state_dict": {...}, ...extra}``.
Training adds its own keys (optimiser, scheduler, epoch...) as ``extra``.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file as load_safetensors

from deepfakeforensics._io import atomic_path
from deepfakeforensics.errors import DFFError
from deepfakeforensics.models._base import Detector

FORMAT = "deepfakeforensics"
VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
_PICKLE_MAGIC = b"\x80"  # torch's legacy (pre-1.6) format starts with a pickle protocol byte


class WeightsError(DFFError, ValueError):
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
    """Read a checkpoint of this project with ``weights_only=True``.

    Raises:
        FileNotFoundError: `path` is not a file.
        WeightsError: the file is empty, truncated, not a PyTorch file, holds arbitrary objects, or is a PyTorch file
            but not a checkpoint of this project; the message names the file and which of these it is.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated (torch reports OSError: [Errno 22]), not a torch file, or arbitrary objects
        raise WeightsError(f"{path}: {_why_unreadable(path, e)}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "state_dict" not in ckpt:
        raise WeightsError(
            f"{path}: not a deepfakeforensics checkpoint (no 'format'/'state_dict' keys); ImageNet backbone weights "
            "go to create_model(..., pretrained=path)"
        )
    return ckpt


def _why_unreadable(path: Path, error: Exception) -> str:
    """Why ``torch.load`` failed on `path`, in words a person can act on (torch's own error rarely says)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    if size == 0:
        return "is empty (0 bytes), not a deepfakeforensics checkpoint: was its save or copy interrupted?"
    if head == _ZIP_MAGIC and not zipfile.is_zipfile(path):
        return (
            f"is truncated ({size:,} bytes, the end of its zip archive is missing): the save or copy was interrupted; "
            "copy or save it again"
        )
    if head != _ZIP_MAGIC and not head.startswith(_PICKLE_MAGIC):
        return "is not a deepfakeforensics checkpoint (not a PyTorch file at all)"
    if head == _ZIP_MAGIC and not _is_torch_zip(path):
        return "is not a deepfakeforensics checkpoint (a zip archive, but not one written by torch.save)"
    return f"is not a readable deepfakeforensics checkpoint ({type(error).__name__}: {error})"


def _is_torch_zip(path: Path) -> bool:
    """Whether the zip archive at `path` has the ``<name>/data.pkl`` member that torch.save writes."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/data.pkl") for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


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
    """Load weights into `model` strictly: a project checkpoint, or a foreign file the model converts itself.

    A file whose suffix is in ``model.weight_converters`` (MesoNet: the authors' Keras ``.h5``) is converted by that
    model's own converter; any other file must be a checkpoint of this project saved from the same model.

    Raises:
        FileNotFoundError: `path` is not a file.
        WeightsError: the file is unreadable, of another model, or does not fit (naming the file); the model is then
            untouched.
    """
    path = Path(path)
    convert = model.weight_converters.get(path.suffix.lower())
    if convert is not None:
        load_state_dict_strict(model, convert(model, path), path)
        return model
    released = getattr(type(model), "released_convert", None)
    if released is not None and not is_project_checkpoint(path):
        load_state_dict_strict(model, released(read_torch_file(path), path), path)
        return model
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, Detector) and path.suffix.lower() in backbone.weight_converters:
        raise WeightsError(
            f"{path}: {model.name or type(model).__name__} cannot read {path.suffix} weights, its backbone "
            f"{backbone.name} can: pass the file as pretrained= or use init_backbone"
        )
    ckpt = load_checkpoint(path)
    _check_checkpoint_model(ckpt, model, path)
    load_state_dict_strict(model, ckpt["state_dict"], path)
    return model


def read_torch_file(path: str | os.PathLike) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU of any PyTorch file (an authors' release, a state dict).

    Raises:
        FileNotFoundError: `path` is not a file.
        WeightsError: empty, truncated, not a PyTorch file, or holding objects ``weights_only`` refuses; the message
            names the file and which.
    """
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".safetensors":
        return read_safetensors_release(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        with torch.serialization.safe_globals(_numpy_scalars()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(
            f"{path}: {_why_unreadable(path, e).replace('deepfakeforensics checkpoint', 'weights file')}"
        ) from e


def read_safetensors_release(path: str | os.PathLike) -> dict[str, Any]:
    """A Hugging Face style release (a folder's ``model.safetensors``, or the file itself) with its ``config.json``.

    Returns:
        ``{"state_dict": the tensors, "config": config.json beside the file (a dict), or None when there is none}``.

    Raises:
        FileNotFoundError: no such file (or no ``model.safetensors`` in the folder).
        WeightsError: the file or its config.json is unreadable.
    """
    path = Path(path)
    file = path / "model.safetensors" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such weights file")
    try:
        state = load_safetensors(str(file), device="cpu")
    except Exception as e:
        raise WeightsError(f"{file}: not a readable safetensors file ({type(e).__name__}: {e})") from e
    config_path = file.with_name("config.json")
    try:
        config = json.loads(config_path.read_text()) if config_path.is_file() else None
    except (OSError, ValueError) as e:
        raise WeightsError(f"{config_path}: unreadable config.json ({type(e).__name__}: {e})") from e
    return {"state_dict": state, "config": config}


def _numpy_scalars() -> list[Any]:
    """What rebuilds a numpy scalar (the DFDC winner's files hold a numpy float ``bce_best``): data, never code.

    numpy 1 pickles the constructor as ``numpy.core.multiarray.scalar``, numpy 2 as ``numpy._core.multiarray.scalar``.
    """
    import numpy as np

    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    numeric = {type(np.dtype(c)) for c in "?bhilqBHILQefd"}  # bool, integer and float dtypes only
    return [(scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"), np.dtype, *numeric]


def is_project_checkpoint(path: str | os.PathLike) -> bool:
    """Whether `path` is a checkpoint of this project (False for unreadable files and any other layout)."""
    try:
        load_checkpoint(path)
    except (WeightsError, FileNotFoundError):
        return False
    return True


def _check_checkpoint_model(ckpt: dict[str, Any], model: Detector, path: Path) -> None:
    """Refuse a checkpoint saved from another model, pointing to init_backbone where that is what was meant."""
    if not ckpt.get("model") or not model.name or ckpt["model"] == model.name:
        return
    hint = ""
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, Detector) and ckpt["model"] == backbone.name:
        hint = " (to start a temporal model from a frame model's checkpoint, use init_backbone)"
    raise WeightsError(f"{path}: checkpoint is of model {ckpt['model']!r}, not {model.name!r}{hint}")


def unwrap(model: torch.nn.Module) -> Detector:
    """The model inside a DistributedDataParallel / DataParallel wrapper, or the model itself."""
    return getattr(model, "module", model)
