"""Model registry: names -> builders. ``@register_model`` on a builder, `list_models`, `is_model`, `get_factory`.

Besides single names it holds *families* (`register_family`: every name under a prefix, e.g. ``timm/<any timm
model>``) and *options* (`register_option`: a keyword of `create_model` that wraps any built model, e.g.
``frequency="fft"`` or ``peft="lora"``), applied in their registered order.

The registry only maps names; building a model and loading its weights live in ``_factory.py``, so architecture
modules (which register their builders here) never depend on the weight loader through the registry.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
from collections.abc import Callable
from dataclasses import dataclass

from deepfakeforensics.models._base import Detector

_MODELS: dict[str, Callable[..., Detector]] = {}


@dataclass(frozen=True)
class Family:
    """Names under `prefix`: ``build(rest, pretrained=..., **kwargs)`` builds ``prefix + rest`` if ``exists(rest)``."""

    prefix: str
    build: Callable[..., Detector]
    exists: Callable[[str], bool]


@dataclass(frozen=True)
class ModelOption:
    """A `create_model` keyword that wraps any model: ``apply(model, value, **extras)`` returns the new model.

    `extras` are further keywords the option consumes (only when the option itself is given); `forwarded` builders
    (temporal variants) receive the option instead, so that it wraps their frame backbone.
    """

    name: str
    apply: Callable[..., Detector]
    extras: tuple[str, ...] = ()
    order: int = 0


_FAMILIES: dict[str, Family] = {}
_OPTIONS: dict[str, ModelOption] = {}


def register_model(fn: Callable[..., Detector]) -> Callable[..., Detector]:
    """Register a builder ``fn(pretrained=False, **kwargs) -> Detector`` under its function name."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = fn
    return fn


def register_family(prefix: str, build: Callable[..., Detector], exists: Callable[[str], bool]) -> None:
    """Register every name ``prefix + rest`` for which ``exists(rest)``, built by ``build(rest, **kwargs)``."""
    if prefix in _FAMILIES:
        raise ValueError(f"model family {prefix!r} is registered twice")
    _FAMILIES[prefix] = Family(prefix, build, exists)


def register_option(name: str, apply: Callable[..., Detector], extras: tuple[str, ...] = (), order: int = 0) -> None:
    """Register a `create_model` keyword wrapping any model; options apply by increasing `order`.

    The order is: input stems (10), branches fused with the features (20), adapters (30), temporal heads (40),
    a method head (50), a boundary head (60).
    """
    if name in _OPTIONS:
        raise ValueError(f"model option {name!r} is registered twice")
    _OPTIONS[name] = ModelOption(name, apply, tuple(extras), order)


def model_options() -> list[ModelOption]:
    """The registered model options, in the order `create_model` applies them."""
    return sorted(_OPTIONS.values(), key=lambda o: o.order)


def list_options() -> list[str]:
    """Names of the registered model options (keywords of `create_model` that wrap any model), in applied order."""
    return [o.name for o in model_options()]


def forwards_options(fn: Callable[..., Detector]) -> Callable[..., Detector]:
    """Mark a builder that passes model options on to the frame model it builds (temporal variants)."""
    fn.forwards_options = True  # type: ignore[attr-defined]
    return fn


def _family_of(name: str) -> tuple[Family, str] | None:
    for prefix, family in _FAMILIES.items():
        if name.startswith(prefix) and family.exists(name[len(prefix) :]):
            return family, name[len(prefix) :]
    return None


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style `pattern`, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def is_model(name: str) -> bool:
    """Whether `name` is a registered model (or a name of a registered family, e.g. ``timm/resnet18``)."""
    return name in _MODELS or _family_of(name) is not None


def get_factory(name: str) -> Callable[..., Detector]:
    """The builder registered under `name`.

    Raises:
        ValueError: `name` is not registered; the message lists close matches (or every registered name).
    """
    if name in _MODELS:
        return _MODELS[name]
    found = _family_of(name)
    if found is not None:
        return functools.partial(found[0].build, found[1])
    prefix = next((p for p in _FAMILIES if name.startswith(p)), None)
    if prefix is not None:
        raise ValueError(f"unknown model {name!r}: {name[len(prefix) :]!r} is not a model of the {prefix} family")
    close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; registered: {', '.join(list_models())}"
    raise ValueError(f"unknown model {name!r}{hint}")
