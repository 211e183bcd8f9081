"""The released detectors: what each author publishes, and loading their files as released.

A released detector is a registered model (``@register_model``: ``create_model("sbi_efficientnet_b4")``) plus a
`ReleasedSpec` (`register_released`): the repository, the files its authors publish, the licences, the crop profile
its authors' test code cuts faces by (``faces.profiles``), how its output is a P(fake), the figures it reproduces,
and `convert`: the authors' file (as ``torch.load`` returns it) -> this project's state dict of the model.

`load_released` reads a file once, converts it with one spec (given by name) or with every spec (`identify_released`:
the file's layout, i.e. key prefixes and shapes, must fit exactly one), and loads it strictly. A file that fits no
layout is refused naming the nearest one and its missing and unexpected keys; a file of one detector given as another
is refused naming both.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from deepfakeforensics.models._base import Detector
from deepfakeforensics.models._factory import create_model
from deepfakeforensics.models._weights import WeightsError, load_state_dict_strict
from deepfakeforensics.models.released._convert import layout_mismatch, read_raw

Converter = Callable[[Any, Path], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Published:
    """A figure the released file's authors (or a benchmark) report, with its protocol, level and source."""

    test_data: str  # e.g. "Celeb-DF v2"
    metric: str  # "auc"
    level: str  # "frame", "video"
    value: float
    training_data: str  # e.g. "FF++ raw"
    source: str  # where the figure is printed (README table, paper table)
    protocol: str = "authors"  # how it was measured: "authors" (their own test code), "deepfakebench"...


@dataclass(frozen=True)
class ReleasedSpec:
    """One released detector: provenance, licences, crop profile, output rule and the file converter."""

    name: str  # the registered model name
    title: str  # method, paper and backbone in words
    repo: str  # the authors' repository (URL)
    files: tuple[str, ...]  # the file names its authors publish
    code_licence: str
    weights_licence: str
    profile: str  # the crop profile (``faces.profiles``) its authors' test code cuts faces by
    output: str  # how the authors' output becomes P(fake), in words (e.g. "softmax[:, 1], folded to one logit")
    convert: Converter
    published: tuple[Published, ...] = ()
    aggregation: str = "mean"  # how the authors turn frame scores into a video score (the mean unless said)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_RELEASED: dict[str, ReleasedSpec] = {}


def register_released(spec: ReleasedSpec) -> ReleasedSpec:
    """Record `spec` (its `name` must be a registered model, registered before this call)."""
    if spec.name in _RELEASED:
        raise ValueError(f"released detector {spec.name!r} is registered twice")
    _RELEASED[spec.name] = spec
    return spec


def released_specs() -> list[ReleasedSpec]:
    """Every released detector, sorted by name."""
    return [_RELEASED[n] for n in sorted(_RELEASED)]


def is_released(name: str) -> bool:
    return name in _RELEASED


def get_released(name: str) -> ReleasedSpec:
    if name not in _RELEASED:
        raise ValueError(f"{name!r} is not a released detector; known: {', '.join(sorted(_RELEASED))}")
    return _RELEASED[name]


def describe_released() -> list[dict[str, Any]]:
    """One row per released detector (``dff models --released`` and the notebooks' table): name, title, repository,
    published files, licences, crop profile, input, output rule, video rule and the published figures (one string
    per level, training data, protocol and source)."""
    rows = []
    for spec in released_specs():
        with torch.device("meta"):
            cfg = create_model(spec.name).default_cfg
        by_source: dict[str, list[str]] = {}
        for p in spec.published:
            key = f"{p.level} {p.metric.upper()}, trained on {p.training_data}, {p.protocol} protocol; {p.source}"
            by_source.setdefault(key, []).append(f"{p.test_data} {p.value:g}")
        figures = [f"{', '.join(values)} ({key})" for key, values in by_source.items()]
        rows.append(
            {
                "name": spec.name,
                "title": spec.title,
                "repo": spec.repo,
                "files": ", ".join(spec.files),
                "code_licence": spec.code_licence,
                "weights_licence": spec.weights_licence,
                "profile": spec.profile,
                "input": f"{cfg.input_size[1]}x{cfg.input_size[2]}, mean {tuple(cfg.mean)}, std {tuple(cfg.std)}",
                "output": spec.output,
                "video_rule": spec.extra.get("video_rule", spec.aggregation),
                "published": figures,
            }
        )
    return rows


@functools.cache
def expected_layout(name: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the model `name`'s state dict (built on the meta device: no memory, no initialisation; cached:
    do not modify the returned dict)."""
    with torch.device("meta"):
        model = create_model(name)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class LayoutMatch:
    """How well a file fits one released layout: the converted state dict (None if the converter refused)."""

    name: str
    state: dict[str, torch.Tensor] | None
    problem: str | None  # why it does not fit; None when it fits exactly
    distance: int  # missing + unexpected + wrongly shaped keys (a refused container counts as very far)


def _match(spec: ReleasedSpec, raw: Any, path: Path) -> LayoutMatch:
    try:
        state = spec.convert(raw, path)
    except WeightsError as e:
        return LayoutMatch(spec.name, None, str(e).replace(f"{path}: ", ""), 10**9)
    diff = layout_mismatch(state, expected_layout(spec.name))
    distance = sum(len(v) for v in diff.values())
    if not distance:
        return LayoutMatch(spec.name, state, None, 0)
    parts = [f"{k.replace('_', ' ')} {len(v)} (e.g. {', '.join(v[:3])})" for k, v in diff.items() if v]
    return LayoutMatch(spec.name, state, "; ".join(parts), distance)


def identify_released(path: str | os.PathLike, raw: Any = None) -> list[LayoutMatch]:
    """Every released layout matched against the file, best first (``distance == 0`` fits exactly)."""
    path = Path(path)
    raw = read_raw(path) if raw is None else raw
    return sorted((_match(spec, raw, path) for spec in released_specs()), key=lambda m: (m.distance, m.name))


def load_released(path: str | os.PathLike, name: str | None = None) -> Detector:
    """The released detector in the authors' file `path`, loaded exactly.

    Args:
        path: the file as its authors publish it (e.g. SBI's ``FFraw.tar``).
        name: the released detector it is; None: recognised from the file's layout (it must fit exactly one).

    Raises:
        WeightsError: the file is unreadable, fits no layout (naming the nearest and its differences), fits several,
            or is the file of another detector than `name` (naming both).
    """
    path = Path(path)
    raw = read_raw(path)
    if name is not None:
        get_released(name)
        match = _match(get_released(name), raw, path)
        if match.problem is not None:
            others = [m.name for m in identify_released(path, raw) if m.distance == 0 and m.name != name]
            if others:
                raise WeightsError(f"{path}: this is a {others[0]} file, not {name} (its layout fits {others[0]})")
            raise WeightsError(f"{path}: does not fit the layout of {name}: {match.problem}")
        return _build(name, match.state, path)
    matches = identify_released(path, raw)
    exact = [m for m in matches if m.distance == 0]
    if len(exact) > 1:
        names = ", ".join(m.name for m in exact)
        raise WeightsError(f"{path}: the layout fits several released detectors ({names}): pass --model NAME")
    if not exact:
        near = matches[0]
        raise WeightsError(
            f"{path}: not a released detector this toolkit knows; nearest layout {near.name}: {near.problem}"
        )
    return _build(exact[0].name, exact[0].state, path)


def _build(name: str, state: dict[str, torch.Tensor], path: Path) -> Detector:
    model = create_model(name)
    load_state_dict_strict(model, state, path)
    model.eval()
    return model
