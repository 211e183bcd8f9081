"""The package format: the fields of a package's ``config.json``, each checked as user input (`config_fields`).

A package is a folder with ``config.json`` and ``model.safetensors`` (and a ``README.md`` model card); ``_package``
reads one and rebuilds its model, ``packages`` writes one.

``config.json`` (format version 1; every field is checked on reading, naming the file and the field)::

    {"format": "deepfakeforensics-package", "format_version": 1, "name": "meso_ffpp", "kind": "run",
     "written_by": {"deepfakeforensics": "0.1.0", "torch": "2.14.1", "timm": "1.0.31"},
     "model": {"name": "mesonet4", "kwargs": {}, "temporal": false, "parameters": 27977},
     "weights": {"file": "model.safetensors", "sha256": "..."},
     "preprocessing": {"input_size": [3, 256, 256], "mean": [0, 0, 0], "std": [1, 1, 1],
                       "crop_profile": "default", "aligned": false, "crops_source": "..."},
     "windows": null,
     "threshold": {"value": 0.47, "rule": "eer", "split": "val", "epoch": 3, "level": "file",
                   "aggregation": "mean", "by_aggregation": {"mean": 0.47, "median": 0.45}, "source": "..."},
     "aggregation": "mean",
     "released": null}

``windows`` is a `WindowConfig` (temporal models) or null; ``sampling``, written only for a run trained on clips, is
``{"strategy": "clips", "clip_length": 16, "clips": 4, "clip_stride": 1}``: its videos are scored on such clips; ``threshold`` is null when the run recorded none (0.5 is
then used, said so); ``released`` is ``{"name", "title", "repo"}`` for a released detector.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfakeforensics._version import __version__ as TOOLKIT_VERSION
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.errors import DFFError
from deepfakeforensics.faces.profiles import PROFILES
from deepfakeforensics.models import is_model
from deepfakeforensics.scoring.aggregation import AGGREGATIONS
from deepfakeforensics.scoring.thresholds import THRESHOLD_RULES

PACKAGE_FORMAT = "deepfakeforensics-package"
PACKAGE_VERSION = 1  # the newest format this toolkit reads (and the one it writes)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"

_TOP = {
    "format",
    "format_version",
    "name",
    "kind",
    "written_by",
    "model",
    "weights",
    "preprocessing",
    "windows",
    "threshold",
    "aggregation",
    "released",
    "sampling",
}
_OPTIONAL = {"released", "sampling"}
_CLIP_FIELDS = ("clip_length", "clips", "clip_stride")
_KINDS = ("run", "checkpoint", "keras", "released", "package")


class PackageError(DFFError, ValueError):
    """A package this toolkit cannot honour; the message names the file and the field."""


@dataclass(frozen=True)
class PackageThreshold:
    """The decision threshold a package records: chosen on validation, by which rule, for which aggregations."""

    value: float
    rule: str
    split: str
    epoch: int | None
    aggregation: str
    by_aggregation: dict[str, float]
    source: str


class _Checker:
    """Field checks that raise `PackageError` naming the file and the (dotted) field."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, name: str, value: Any, expected: str) -> None:
        raise PackageError(f"{self.file}: field {name!r} is {value!r}; expected {expected}")

    def section(self, obj: dict[str, Any], name: str, keys: set[str], required: set[str]) -> dict[str, Any]:
        value = obj.get(name) if name else obj
        if not isinstance(value, dict):
            self.fail(name or "(top level)", value, "an object")
        prefix = f"{name}." if name else ""
        unknown = sorted(set(value) - keys)
        if unknown:
            raise PackageError(
                f"{self.file}: field {prefix + unknown[0]!r} is not one package format {PACKAGE_VERSION} knows "
                f"(written by a newer toolkit? this is deepfakeforensics {TOOLKIT_VERSION})"
            )
        missing = sorted(required - set(value))
        if missing:
            raise PackageError(f"{self.file}: field {prefix + missing[0]!r} is missing")
        return value

    def string(self, value: Any, name: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(name, value, "a non-empty string")
        return value

    def boolean(self, value: Any, name: str) -> bool:
        if not isinstance(value, bool):
            self.fail(name, value, "true or false")
        return value

    def integer(self, value: Any, name: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(name, value, f"an integer >= {minimum}")
        return value

    def probability(self, value: Any, name: str) -> float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and 0.0 <= value <= 1.0):
            self.fail(name, value, "a finite number in [0, 1]")
        return float(value)

    def floats(self, value: Any, name: str, n: int) -> tuple[float, ...]:
        ok = isinstance(value, list) and len(value) == n
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        if not ok:
            self.fail(name, value, f"a list of {n} finite numbers")
        return tuple(float(v) for v in value)

    def choice(self, value: Any, name: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            self.fail(name, value, f"one of {', '.join(choices)}")
        return value


def config_fields(raw: Any, file: Path) -> dict[str, Any]:
    """The `PackageConfig` fields of a parsed ``config.json`` (`file`, named in errors), every field checked.

    Unknown fields are refused (a newer format may need them honoured).

    Raises:
        PackageError: another format, a newer format version, an unregistered model, an unknown crop profile,
            aggregation or threshold rule, a threshold that is not a probability, a field of the wrong type (the
            message names the file and the field).
    """
    c = _Checker(file)
    _check_format(raw, c)
    top = c.section(raw, "", _TOP, _TOP - _OPTIONAL)
    written = c.section(top, "written_by", {"deepfakeforensics", "torch", "timm"}, {"deepfakeforensics", "torch"})
    written = {k: c.string(v, f"written_by.{k}") for k, v in written.items()}
    model = c.section(top, "model", {"name", "kwargs", "temporal", "parameters"}, {"name", "kwargs", "temporal"})
    name, kwargs = _model_name_kwargs(model, c, written)
    sha = _weights_sha256(top, c)
    pre = _preprocessing(top, c)
    windows = _windows(top, c)
    aggregation = c.choice(top["aggregation"], "aggregation", tuple(AGGREGATIONS))
    threshold = _threshold(top, c)
    released = _released(top, c)
    return dict(
        name=c.string(top["name"], "name"),
        kind=c.choice(top["kind"], "kind", _KINDS),
        written_by=written,
        model=name,
        model_kwargs=dict(kwargs),
        temporal=c.boolean(model["temporal"], "model.temporal"),
        weights_sha256=sha,
        windows=windows,
        threshold=threshold,
        aggregation=aggregation,
        released=released,
        sampling=_sampling(top, c),
        **pre,
    )


def read_config_json(file: Path, folder: Path) -> Any:
    """The parsed ``config.json``; a missing, non-UTF-8 or invalid file raises naming it."""
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file (is {folder} a detector package?)")
    try:
        return json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PackageError(f"{file}: not UTF-8 text (byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise PackageError(f"{file}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); truncated?") from e


def _check_format(raw: Any, c: _Checker) -> None:
    """An object of the package format, of a version this toolkit reads."""
    if not isinstance(raw, dict):
        c.fail("(top level)", type(raw).__name__, "an object")
    if raw.get("format") != PACKAGE_FORMAT:
        c.fail("format", raw.get("format"), repr(PACKAGE_FORMAT))
    version = c.integer(raw.get("format_version"), "format_version", 1)
    if version > PACKAGE_VERSION:
        raise PackageError(
            f"{c.file}: field 'format_version' is {version}; this toolkit (deepfakeforensics {TOOLKIT_VERSION}) "
            f"reads package formats up to {PACKAGE_VERSION}: upgrade deepfakeforensics"
        )


def _model_name_kwargs(model: dict, c: _Checker, written: dict[str, str]) -> tuple[str, dict]:
    """``model.name`` (registered here) and ``model.kwargs`` (an object); ``model.parameters`` checked if given."""
    name = c.string(model["name"], "model.name")
    if not is_model(name):
        raise PackageError(
            f"{c.file}: field 'model.name' is {name!r}, a model this toolkit does not register (written by "
            f"deepfakeforensics {written['deepfakeforensics']}; this is {TOOLKIT_VERSION})"
        )
    kwargs = model["kwargs"]
    if not isinstance(kwargs, dict):
        c.fail("model.kwargs", kwargs, "an object")
    if "parameters" in model:
        c.integer(model["parameters"], "model.parameters")
    return name, kwargs


def _weights_sha256(top: dict, c: _Checker) -> str:
    weights = c.section(top, "weights", {"file", "sha256"}, {"file", "sha256"})
    if weights["file"] != WEIGHTS_FILE:
        c.fail("weights.file", weights["file"], repr(WEIGHTS_FILE))
    sha = weights["sha256"]
    if not (isinstance(sha, str) and len(sha) == 64 and all(ch in "0123456789abcdef" for ch in sha)):
        c.fail("weights.sha256", sha, "64 lower-case hex digits")
    return sha


def _preprocessing(top: dict, c: _Checker) -> dict[str, Any]:
    """The `PackageConfig` fields of ``preprocessing``: input size, mean, std, crop profile, aligned, source."""
    pre_keys = {"input_size", "mean", "std", "crop_profile", "aligned", "crops_source"}
    pre = c.section(top, "preprocessing", pre_keys, pre_keys - {"crops_source"})
    size = pre["input_size"]
    if not (
        isinstance(size, list)
        and len(size) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        c.fail("preprocessing.input_size", size, "[channels, height, width], positive integers")
    profile = c.choice(pre["crop_profile"], "preprocessing.crop_profile", PROFILES)
    return {
        "input_size": (size[0], size[1], size[2]),
        "mean": c.floats(pre["mean"], "preprocessing.mean", 3),
        "std": c.floats(pre["std"], "preprocessing.std", 3),
        "crop_profile": profile,
        "aligned": c.boolean(pre["aligned"], "preprocessing.aligned"),
        "crops_source": str(pre.get("crops_source", "")),
    }


def _windows(top: dict, c: _Checker) -> WindowConfig | None:
    if top["windows"] is None:
        return None
    w = c.section(top, "windows", {"window", "stride", "short", "pad_mode"}, {"window"})
    c.integer(w["window"], "windows.window", 1)
    if w.get("stride") is not None:
        c.integer(w["stride"], "windows.stride", 1)
    if "short" in w:
        c.choice(w["short"], "windows.short", ("pad", "drop"))
    if "pad_mode" in w:
        c.choice(w["pad_mode"], "windows.pad_mode", ("repeat", "loop"))
    return WindowConfig.from_dict(w)


def _threshold(top: dict, c: _Checker) -> PackageThreshold | None:
    if top["threshold"] is None:
        return None
    keys = {"value", "rule", "split", "epoch", "level", "aggregation", "by_aggregation", "source"}
    t = c.section(top, "threshold", keys, {"value", "rule", "split", "aggregation"})
    by = t.get("by_aggregation") or {}
    if not isinstance(by, dict):
        c.fail("threshold.by_aggregation", by, "an object")
    for agg, value in by.items():
        c.choice(agg, "threshold.by_aggregation", tuple(AGGREGATIONS))
        c.probability(value, f"threshold.by_aggregation.{agg}")
    chosen_for = c.choice(t["aggregation"], "threshold.aggregation", tuple(AGGREGATIONS))
    value = c.probability(t["value"], "threshold.value")
    epoch = t.get("epoch")
    threshold = PackageThreshold(
        value=value,
        rule=c.choice(t["rule"], "threshold.rule", THRESHOLD_RULES),
        split=c.string(t["split"], "threshold.split"),
        epoch=None if epoch is None else c.integer(epoch, "threshold.epoch"),
        aggregation=chosen_for,
        by_aggregation={**{k: float(v) for k, v in by.items()}, chosen_for: value},
        source=str(t.get("source", "")),
    )
    if t.get("level", "file") != "file":
        c.fail("threshold.level", t.get("level"), "'file'")
    return threshold


def _released(top: dict, c: _Checker) -> dict[str, str] | None:
    if top.get("released") is None:
        return None
    released = c.section(top, "released", {"name", "title", "repo"}, {"name", "repo"})
    return {k: c.string(v, f"released.{k}") for k, v in released.items()}


def _sampling(top: dict, c: _Checker) -> SamplingConfig | None:
    """``sampling``: the clips a run trained on (absent or null for other runs)."""
    if top.get("sampling") is None:
        return None
    sampling = c.section(top, "sampling", {"strategy", *_CLIP_FIELDS}, {"strategy", *_CLIP_FIELDS})
    c.choice(sampling["strategy"], "sampling.strategy", ("clips",))
    clips = {k: c.integer(sampling[k], f"sampling.{k}", 1) for k in _CLIP_FIELDS}
    return SamplingConfig("clips", **clips)


def sampling_record(sampling: SamplingConfig | None) -> dict[str, Any]:
    """The ``sampling`` entry a package of a run with these clips writes (none when the run did not train on clips)."""
    if sampling is None:
        return {}
    return {"sampling": {"strategy": "clips", **{k: getattr(sampling, k) for k in _CLIP_FIELDS}}}
