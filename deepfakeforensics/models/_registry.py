"""Model registry: ``@register_model`` on a factory, ``create_model(name, ...)`` and ``list_models(pattern)``."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Any

from deepfakeforensics.models._base import Detector

_MODELS: dict[str, Callable[..., Detector]] = {}


def register_model(fn: Callable[..., Detector]) -> Callable[..., Detector]:
    """Register a factory ``fn(pretrained=False, **kwargs) -> Detector`` under its function name."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style `pattern`, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def get_factory(name: str) -> Callable[..., Detector]:
    try:
        return _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; registered: {', '.join(list_models())}"
        raise ValueError(f"unknown model {name!r}{hint}") from None


def create_model(name: str, weights: str | None = None, pretrained: bool | str = False, **kwargs: Any) -> Detector:
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
    factory = get_factory(name)
    model = factory(pretrained=pretrained, **kwargs)
    model.name = name
    model.init_kwargs = dict(kwargs)
    if weights is not None:
        from deepfakeforensics.models._weights import load_weights

        load_weights(model, weights)
    return model
