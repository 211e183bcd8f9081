"""Building models: `create_model` (a registered name, optional weights) and `load_model` (from a checkpoint).

Import direction: ``_base`` <- ``_registry`` <- architecture modules; this module uses the registry and the weight
loader, and only ``temporal`` (whose builders build a backbone by name) imports it among the architectures.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from deepfakeforensics.models._base import Detector
from deepfakeforensics.models._registry import get_factory, is_model, list_models
from deepfakeforensics.models._weights import WeightsError, load_checkpoint, load_state_dict_strict, load_weights


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
        **kwargs: the model's own parameters (e.g. ``hidden_size`` of an LSTM variant).

    Example:
        >>> model = create_model("mesonet4")
        >>> model.default_cfg.input_size
        (3, 256, 256)
    """
    model = get_factory(name)(pretrained=pretrained, **kwargs)
    model.name = name
    model.init_kwargs = dict(kwargs)
    if weights is not None:
        load_weights(model, weights)
    return model


def load_model(path: str | os.PathLike, **overrides: Any) -> Detector:
    """Rebuild the model a checkpoint was saved from (name and kwargs from the file) with its weights.

    Args:
        path: a checkpoint written by `save_checkpoint` (e.g. ``checkpoints/<run>/best.pt``).
        **overrides: model parameters replacing those saved in the file (e.g. ``channels_last=False``).

    Raises:
        WeightsError: the file is truncated, not a checkpoint of this project, of an unregistered model, or does not
            fit; the message names the file.
    """
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
                "normalisation": "imagenet" if cfg.std != (1.0, 1.0, 1.0) else "[0, 1]",
            }
        )
    return rows
