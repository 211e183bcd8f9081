"""Building models: `create_model` (a registered name, optional weights) and `load_model` (from a checkpoint).

Import direction: ``_base`` <- ``_registry`` <- architecture modules; this module uses the registry and the weight
loader, and only ``temporal`` (whose builders build a backbone by name) imports it among the architectures.
Folders written above ``models`` (``dff export`` packages: ``deepfakeforensics._package``) are read through a reader
that module registers (`register_folder_reader`), so that ``models`` imports nothing above it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD, Detector
from deepfakeforensics.models._registry import get_factory, is_model, list_models, model_options
from deepfakeforensics.models._weights import WeightsError, load_checkpoint, load_state_dict_strict, load_weights

FolderReader = Callable[[Path], "Detector | None"]
"""A folder -> the model it holds, loaded (None: not a folder of this reader's format)."""
_FOLDER_READERS: list[FolderReader] = []


def register_folder_reader(reader: FolderReader) -> FolderReader:
    """Let `create_model(weights=DIR)` and `load_model(DIR)` read folders of another format (exported packages)."""
    if reader not in _FOLDER_READERS:
        _FOLDER_READERS.append(reader)
    return reader


def _read_folder(path: str | os.PathLike) -> Detector | None:
    """The model in folder `path` by the first registered reader that knows its format; None if none does."""
    path = Path(path)
    if not path.is_dir():
        return None
    for reader in _FOLDER_READERS:
        model = reader(path)
        if model is not None:
            return model
    return None


def create_model(
    name: str, weights: str | os.PathLike | None = None, pretrained: bool | str | os.PathLike = False, **kwargs: Any
) -> Detector:
    """Build a registered model.

    Args:
        name: a name from `list_models()`, e.g. ``"mesonet4"`` or ``"efficientnet_b0_lstm"``.
        weights: a checkpoint of this project (``.pt``) or, for MesoNet models, the authors' Keras ``.h5`` file.
            Loaded strictly: a file that does not fit raises, naming the file and what did not match.
        pretrained: backbone initialisation: ``True`` for the published ImageNet weights (needs the internet),
            or a path to a local copy of them.
        **kwargs: the model's own parameters (e.g. ``hidden_size`` of an LSTM variant) and the registered model
            options that wrap any model (``srm=True``, ``frequency="fft"``, ``peft="lora"``, ``temporal="lstm"``...:
            see ``models.list_options()``); all are saved in checkpoints, so `load_model` rebuilds the same model.

    Example:
        >>> model = create_model("mesonet4")
        >>> model.default_cfg.input_size
        (3, 256, 256)
    """
    factory = get_factory(name)
    packaged = None if weights is None else _read_folder(weights)
    if packaged is not None:
        return _as_named(packaged, name, kwargs, weights)
    options, own = _split_options(factory, kwargs)
    model = factory(pretrained=pretrained, **own)
    model.name, model.init_kwargs = name, dict(own)  # the frame model inside any option's wrapper
    for option in model_options():
        if options.get(option.name) not in (None, False):
            extras = {k: v for k, v in options.items() if k in option.extras}
            model = option.apply(model, options[option.name], **extras)
    model.name = name
    model.init_kwargs = dict(kwargs)
    if weights is not None:
        load_weights(model, weights)
    return model


def _as_named(model: Detector, name: str, kwargs: dict[str, Any], path: str | os.PathLike) -> Detector:
    """A packaged model given to ``create_model(name, weights=DIR, **kwargs)``: it must be `name` with `kwargs`."""
    if model.name != name:
        raise WeightsError(f"{path}: a package of model {model.name!r}, not {name!r}")
    if kwargs and dict(kwargs) != dict(model.init_kwargs):
        raise WeightsError(
            f"{path}: the package's {name} was built with {model.init_kwargs!r}, not {dict(kwargs)!r} "
            "(load_model(DIR) rebuilds it as written)"
        )
    return model


def _split_options(factory: Any, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split `kwargs` into registered model options (with their extras) and the builder's own keywords.

    A builder that forwards options (a temporal variant, which passes them on to its frame model) takes them all.
    """
    if getattr(factory, "forwards_options", False):
        return {}, dict(kwargs)
    options, own = {}, dict(kwargs)
    for option in model_options():
        if option.name in own:
            given = own.pop(option.name)
            options[option.name] = given
            if given not in (None, False):
                options.update({k: own.pop(k) for k in option.extras if k in own})
    return options, own


def load_model(path: str | os.PathLike, **overrides: Any) -> Detector:
    """Rebuild the model a checkpoint (or an exported package folder) was saved from, with its weights.

    Args:
        path: a checkpoint written by `save_checkpoint` (e.g. ``checkpoints/<run>/best.pt``), or a folder written by
            ``dff export`` (read by its registered reader: config and checksum validated).
        **overrides: model parameters replacing those saved in the file (e.g. ``channels_last=False``); a package
            is rebuilt as written, so it takes none.

    Raises:
        WeightsError: the file is truncated, not a checkpoint of this project, of an unregistered model, or does not
            fit; overrides given for a package; the message names the file.
    """
    packaged = _read_folder(path)
    if packaged is not None:
        if overrides:
            raise WeightsError(f"{path}: a package is rebuilt as written; overrides {sorted(overrides)} not applied")
        return packaged
    ckpt = load_checkpoint(path)
    name = ckpt.get("model")
    if not isinstance(name, str) or not is_model(name):
        raise WeightsError(
            f"{path}: checkpoint of model {name!r}, which is not registered (import the module that registers it)"
        )
    model = create_model(name, **{**ckpt.get("model_kwargs", {}), **overrides})
    load_state_dict_strict(model, ckpt["state_dict"], path)
    return model


def describe_models(pattern: str = "*") -> list[dict[str, object]]:
    """One row per registered model matching `pattern`: name, params, input_size, temporal, normalisation."""
    rows = []
    for name in list_models(pattern):
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            model = create_model(name)
        cfg = model.default_cfg
        rows.append(
            {
                "name": name,
                "params": sum(p.numel() for p in model.parameters()),
                "input_size": cfg.input_size,
                "temporal": cfg.temporal,
                "normalisation": _normalisation(cfg.mean, cfg.std),
            }
        )
    return rows


def _normalisation(mean: tuple[float, ...], std: tuple[float, ...]) -> str:
    """A short name of an input normalisation, for model listings."""
    known = {
        (IMAGENET_MEAN, IMAGENET_STD): "imagenet",
        ((0.0,) * 3, (1.0,) * 3): "[0, 1]",
        ((0.5,) * 3, (0.5,) * 3): "[-1, 1]",
    }
    return known.get((tuple(mean), tuple(std)), "mean " + ",".join(f"{v:.3f}" for v in mean))
