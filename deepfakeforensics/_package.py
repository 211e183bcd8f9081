"""A package folder: read its ``config.json`` (`read_package`), rebuild its model (`load_package_model`), fetch one
from the Hugging Face hub (`download_package`).

``runs`` loads packages through this module and ``packages`` writes them (``packages`` exports a run through
``runs.RunInfo``, so the reader lives below both). The fields of ``config.json`` and their checks are in
``_package_format``.
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

from deepfakeforensics._package_format import (
    CARD_FILE,
    CONFIG_FILE,
    PACKAGE_FORMAT,
    WEIGHTS_FILE,
    PackageError,
    PackageThreshold,
    config_fields,
    read_config_json,
)
from deepfakeforensics._version import __version__ as TOOLKIT_VERSION
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.models import Detector, create_model
from deepfakeforensics.models._factory import register_folder_reader
from deepfakeforensics.models._weights import WeightsError, load_state_dict_strict

log = logging.getLogger(__name__)


def versions() -> dict[str, str]:
    """The versions of the toolkit, torch and timm here (what a package records as ``written_by``)."""
    return {"deepfakeforensics": TOOLKIT_VERSION, "torch": torch.__version__, "timm": timm.__version__}


@dataclass(frozen=True)
class PackageConfig:
    """A validated package ``config.json`` (its fields: ``_package_format``)."""

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
    sampling: SamplingConfig | None = None  # the clips the run trained on (its videos are scored on such clips)
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


def read_package(folder: str | os.PathLike) -> PackageConfig:
    """Read and validate a package's ``config.json`` (the model is not built: see `load_package_model`).

    Every field is checked as user input (`_package_format.config_fields`); unknown fields are refused (a newer
    format may need them honoured).

    Raises:
        FileNotFoundError: no ``config.json`` or ``model.safetensors`` in `folder`.
        PackageError: not UTF-8 JSON, another format, a newer format version, an unregistered model, an unknown crop
            profile, aggregation or threshold rule, a threshold that is not a probability, a field of the wrong type
            (the message names the file and the field).
    """
    folder = Path(folder)
    file = folder / CONFIG_FILE
    raw = read_config_json(file, folder)
    return PackageConfig(folder=folder, raw=raw, **config_fields(raw, file))


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
