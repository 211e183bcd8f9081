"""Model registry: names -> builders. ``@register_model`` on a builder, `list_models`, `is_model`, `get_factory`.

The registry only maps names; building a model and loading its weights live in ``_factory.py``, so architecture
modules (which register their builders here) never depend on the weight loader through the registry.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable

from deepfakeforensics.models._base import Detector

_MODELS: dict[str, Callable[..., Detector]] = {}


def register_model(fn: Callable[..., Detector]) -> Callable[..., Detector]:
    """Register a builder ``fn(pretrained=False, **kwargs) -> Detector`` under its function name."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style `pattern`, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def is_model(name: str) -> bool:
    """Whether `name` is a registered model."""
    return name in _MODELS


def get_factory(name: str) -> Callable[..., Detector]:
    """The builder registered under `name`.

    Raises:
        ValueError: `name` is not registered; the message lists close matches (or every registered name).
    """
    try:
        return _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; registered: {', '.join(list_models())}"
        raise ValueError(f"unknown model {name!r}{hint}") from None
