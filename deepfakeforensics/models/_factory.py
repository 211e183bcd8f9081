"""Building models: `create_model` (a registered name, optional weights) and `load_model` (from a checkpoint).

Import direction: ``_base`` <- ``_registry`` <- architecture modules; this module uses the registry and the weight
loader, and only ``temporal`` (whose builders build a backbone by name) imports it among the architectures.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD, Detector
from deepfakeforensics.models._registry import get_factory, is_model, list_models, model_options
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
        **kwargs: the model's own parameters (e.g. ``hidden_size`` of an LSTM variant) and the registered model
            options that wrap any model (``srm=True``, ``frequency="fft"``, ``peft="lora"``, ``temporal="lstm"``...:
            see ``models.list_options()``); all are saved in checkpoints, so `load_model` rebuilds the same model.

    Example:
        >>> model = create_model("mesonet4")
        >>> model.default_cfg.input_size
        (3, 256, 256)
    """
    factory = get_factory(name)
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
