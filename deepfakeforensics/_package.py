"""The package format: a folder with ``config.json`` and ``model.safetensors`` (and a ``README.md`` model card).

This module reads and validates a package and rebuilds its model; ``runs`` loads packages through it and
``packages`` writes them (``packages`` exports a run through ``runs.RunInfo``, so the reader lives below both).

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

``windows`` is a `WindowConfig` (temporal models) or null; ``threshold`` is null when the run recorded none (0.5 is
then used, said so); ``released`` is ``{"name", "title", "repo"}`` for a released detector.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from deepfakeforensics._version import __version__ as TOOLKIT_VERSION
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.errors import DFFError
from deepfakeforensics.faces.profiles import PROFILES
from deepfakeforensics.models import Detector, create_model, is_model
from deepfakeforensics.models._factory import register_folder_reader
from deepfakeforensics.models._weights import WeightsError, load_state_dict_strict
from deepfakeforensics.scoring.aggregation import AGGREGATIONS
from deepfakeforensics.scoring.thresholds import THRESHOLD_RULES

log = logging.getLogger(__name__)

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
}
_KINDS = ("run", "checkpoint", "keras", "released", "package")


class PackageError(DFFError, ValueError):
    """A package this toolkit cannot honour; the message names the file and the field."""


def versions() -> dict[str, str]:
    """The versions of the toolkit, torch and timm here (what a package records as ``written_by``)."""
    return {"deepfakeforensics": TOOLKIT_VERSION, "torch": torch.__version__, "timm": timm.__version__}


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


@dataclass(frozen=True)
class PackageConfig:
    """A validated package ``config.json`` (see the module docstring)."""

    folder: Path
    name: str
    kind: str
    written_by: dict[str, str]
    model: str
    model_kwargs: dict[str, Any]
    temporal: bool
    weights_sha256: str
    input_size: tuple[int, int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_profile: str
    aligned: bool
    crops_source: str
    windows: WindowConfig | None
    threshold: PackageThreshold | None
    aggregation: str
    released: dict[str, str] | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def config_file(self) -> Path:
        return self.folder / CONFIG_FILE

    @property
    def weights_file(self) -> Path:
        return self.folder / WEIGHTS_FILE

    def threshold_for(self, aggregation: str) -> tuple[float, str] | None:
        """The validation threshold recorded for file scores aggregated by `aggregation`, with where it came from."""
        t = self.threshold
        if t is None or aggregation not in t.by_aggregation:
            return None
        source = (
            f"chosen on validation (split {t.split!r}, epoch {t.epoch}) by rule {t.rule!r} (file level, aggregation "
            f"{aggregation!r}) in run {self.name}, recorded in package {self.folder.name}/{CONFIG_FILE}"
        )
        return t.by_aggregation[aggregation], source


def is_package_dir(path: str | os.PathLike) -> bool:
    """Whether `path` is a package folder: a ``config.json`` whose ``format`` is a package's.

    A damaged ``config.json`` that still names the format counts (reading it then says what is wrong).
    """
    config = Path(path) / CONFIG_FILE
    if not config.is_file():
        return False
    data = config.read_bytes()
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return PACKAGE_FORMAT.encode() in data
    return isinstance(parsed, dict) and parsed.get("format") == PACKAGE_FORMAT


def is_package_weights(path: str | os.PathLike) -> bool:
    """Whether `path` is the ``model.safetensors`` of a package folder."""
    path = Path(path)
    return path.name == WEIGHTS_FILE and is_package_dir(path.parent)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def read_package(folder: str | os.PathLike) -> PackageConfig:
    """Read and validate a package's ``config.json`` (the model is not built: see `load_package_model`).

    Every field is checked as user input; unknown fields are refused (a newer format may need them honoured).

    Raises:
        FileNotFoundError: no ``config.json`` or ``model.safetensors`` in `folder`.
        PackageError: not UTF-8 JSON, another format, a newer format version, an unregistered model, an unknown crop
            profile, aggregation or threshold rule, a threshold that is not a probability, a field of the wrong type
            (the message names the file and the field).
    """
    folder = Path(folder)
    file = folder / CONFIG_FILE
    raw = _read_json(file, folder)
    c = _Checker(file)
    _check_format(raw, c)
    top = c.section(raw, "", _TOP, _TOP - {"released"})
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
    return PackageConfig(
        folder=folder,
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
        raw=raw,
        **pre,
    )


def _read_json(file: Path, folder: Path) -> Any:
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


def load_package_model(config: PackageConfig) -> Detector:
    """Build the package's model and load its weights strictly, after checking that this toolkit honours its config.

    Raises:
        FileNotFoundError: no ``model.safetensors``.
        PackageError: weights that are not the ones the config describes (checksum), model arguments this version
            does not take, or an input size, normalisation or temporal flag other than the model's own here (naming
            the field).
        WeightsError: weights that do not fit the model (naming the file and the versions that wrote it).
    """
    file, weights = config.config_file, config.weights_file
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: no such file (the package's weights)")
    if file_sha256(weights) != config.weights_sha256:
        raise PackageError(
            f"{file}: field 'weights.sha256' does not match {weights.name} (the weights were changed or damaged)"
        )
    try:
        model = create_model(config.model, **config.model_kwargs)
    except (TypeError, ValueError) as e:
        raise PackageError(f"{file}: field 'model.kwargs' is {config.model_kwargs!r}; {config.model}: {e}") from e
    cfg = model.default_cfg
    here = {
        "preprocessing.input_size": (tuple(cfg.input_size), config.input_size),
        "preprocessing.mean": (tuple(float(v) for v in cfg.mean), config.mean),
        "preprocessing.std": (tuple(float(v) for v in cfg.std), config.std),
        "model.temporal": (bool(cfg.temporal), config.temporal),
    }
    for name, (own, recorded) in here.items():
        if own != recorded and not (isinstance(own, tuple) and all(map(math.isclose, own, recorded))):
            raise PackageError(
                f"{file}: field {name!r} is {list(recorded) if isinstance(recorded, tuple) else recorded!r}, but "
                f"model {config.model} here takes {list(own) if isinstance(own, tuple) else own!r}: this toolkit "
                f"cannot honour it (written by {_written(config)})"
            )
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise PackageError(f"{weights}: not a readable safetensors file ({e})") from e
    try:
        load_state_dict_strict(model, state, weights)
    except WeightsError as e:
        raise WeightsError(f"{e} (package written by {_written(config)}; here {_written_here()})") from e
    return model.eval()


@register_folder_reader
def load_package_dir(folder: Path) -> Detector | None:
    """The model of package folder `folder`, validated and loaded (`read_package`, `load_package_model`); None for a
    folder that is not a package. Registered with ``models``: ``load_model(DIR)``, ``create_model(name, weights=DIR)``.
    """
    return load_package_model(read_package(folder)) if is_package_dir(folder) else None


def _written(config: PackageConfig) -> str:
    return ", ".join(f"{k} {v}" for k, v in config.written_by.items())


def _written_here() -> str:
    return ", ".join(f"{k} {v}" for k, v in versions().items())


HUB_PREFIX = "hf://"
_REPO_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def is_hub_uri(weights: str | os.PathLike) -> bool:
    return isinstance(weights, str) and weights.startswith(HUB_PREFIX)


def parse_hub_uri(uri: str) -> tuple[str, str | None]:
    """``hf://owner/name[@revision]`` -> ``("owner/name", revision or None)``.

    Raises:
        PackageError: not of that form (naming it).
    """
    body = uri[len(HUB_PREFIX) :] if uri.startswith(HUB_PREFIX) else uri
    repo_id, sep, revision = body.partition("@")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(p and set(p) <= _REPO_CHARS for p in parts) or (sep and not revision):
        raise PackageError(f"{uri}: expected hf://owner/name or hf://owner/name@revision (a Hugging Face model repo)")
    return repo_id, revision or None


def download_package(uri: str) -> Path:
    """The local folder of the package ``hf://owner/name[@revision]``: downloaded (``snapshot_download``, only the
    package's files), or, when the hub cannot be reached, the copy in the local Hugging Face cache.

    Raises:
        PackageError: huggingface_hub is not installed, or the package can neither be downloaded nor found in the
            cache (the message says why, what to fetch and how).
    """
    repo_id, revision = parse_hub_uri(uri)
    try:
        import huggingface_hub
    except ImportError as e:
        raise PackageError(f"{uri}: loading from the Hugging Face hub needs huggingface_hub (pip install it)") from e
    patterns = [CONFIG_FILE, WEIGHTS_FILE, CARD_FILE]
    try:
        return Path(huggingface_hub.snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except Exception as online:  # offline, no such repository or revision, no access: say so, try the cache
        try:
            path = huggingface_hub.snapshot_download(
                repo_id, revision=revision, allow_patterns=patterns, local_files_only=True
            )
        except Exception:
            at = f" --revision {revision}" if revision else ""
            cache = getattr(getattr(huggingface_hub, "constants", None), "HF_HUB_CACHE", "the Hugging Face cache")
            raise PackageError(
                f"{uri}: cannot download {repo_id}{f' at {revision}' if revision else ''} "
                f"({type(online).__name__}: {online}) and it is not in the local cache ({cache}). Where there is a "
                f"connection, fetch it into the cache with `hf download {repo_id}{at}`, or download the folder "
                "(config.json, model.safetensors) and pass that folder as --weights"
            ) from online
        log.warning("%s: the hub cannot be reached (%s); using the cached copy %s", uri, online, path)
        return Path(path)
