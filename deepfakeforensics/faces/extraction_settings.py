"""The extraction settings recorded beside an output's finished videos, and the checks that keep one manifest to
one crop geometry: parts cut with different `CROP_FIELDS` (margin, crop size, alignment, crop profile) cannot share a
manifest (`settings_for_manifest` refuses the merge), and a run asked for other crop settings than the videos already
finished in its output refuses before working (`check_run_settings`). A record without a profile (written before
profiles existed) counts as the "default" profile.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pandas as pd

from deepfakeforensics.errors import DFFError
from deepfakeforensics.faces.config import ExtractionConfig
from deepfakeforensics.faces.parts import SETTINGS_SUFFIX, done_parts, settings_part_for

log = logging.getLogger(__name__)

#: Settings that fix the crops' geometry: parts cut with different values cannot share one manifest.
CROP_FIELDS = ("margin", "crop_size", "align", "profile")
#: A recorded setting missing from records written before it existed: the value those versions used.
CROP_FIELD_DEFAULTS = {"profile": "default"}
#: Settings that change how fast extraction runs, not what it finds: never compared between parts.
RUNTIME_FIELDS = ("batch_size", "buffer_mb", "prefetch", "device", "channels_last", "mtcnn_engine")


class MixedExtractionError(DFFError, ValueError):
    """The finished videos of one output were, or would be, cut with different crop settings (`CROP_FIELDS`).

    The message names each differing setting with its values and how many videos have each.
    """


def _json_value(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class PartSettings:
    """The extraction settings recorded beside an output's finished videos, grouped by value."""

    groups: dict[str, tuple[dict, list[str]]]  # settings as JSON -> (settings, keys of the videos cut with them)
    n_unknown: int  # finished videos with no record (their parts predate the records, or it is unreadable)


def read_part_settings(done: Iterable[Path]) -> PartSettings:
    """Group the finished videos (their part files `done`) by the extraction settings recorded beside them."""
    groups: dict[str, tuple[dict, list[str]]] = {}
    unknown = 0
    for part in done:
        record = settings_part_for(part)
        try:
            settings = json.loads(record.read_text())
        except FileNotFoundError:
            unknown += 1
            continue
        except (OSError, ValueError) as e:
            log.warning("%s: unreadable extraction settings (%s): this video's crops cannot be checked", record, e)
            unknown += 1
            continue
        key = unquote(part.name.removesuffix(".csv"))
        settings = {**CROP_FIELD_DEFAULTS, **settings} if isinstance(settings, dict) else settings
        groups.setdefault(_json_value(settings), (settings, []))[1].append(key)
    return PartSettings(groups, unknown)


def _flat(settings: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as ``{"sampling.n_frames": "5", ...}``, values as JSON (comparable, hashable)."""
    out: dict[str, str] = {}
    for name, value in settings.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = _json_value(value)
    return out


def _differences(groups: Iterable[tuple[dict, list[str]]]) -> dict[str, dict[str, list[str]]]:
    """The settings whose value differs between groups: setting -> {value as JSON: video keys}."""
    values: dict[str, dict[str, list[str]]] = {}
    for settings, keys in groups:
        for name, value in _flat(settings).items():
            values.setdefault(name, {}).setdefault(value, []).extend(keys)
    return {name: by_value for name, by_value in values.items() if len(by_value) > 1}


def _values(by_value: dict[str, list[str]]) -> str:
    """``1.3 (3 videos, e.g. synth/two) vs 1.5 (2 videos, e.g. synth/one)``, the most videos first."""

    def one(value: str, keys: list[str]) -> str:
        return f"{value} ({len(keys)} video{'s' if len(keys) != 1 else ''}, e.g. {keys[0]})"

    return " vs ".join(one(v, k) for v, k in sorted(by_value.items(), key=lambda item: -len(item[1])))


def _describe(differences: dict[str, dict[str, list[str]]]) -> str:
    """``margin 1.3 (3 videos, e.g. synth/two) vs 1.5 (2 videos, e.g. synth/one); crop_size ...``."""
    return "; ".join(f"{name} {_values(by_value)}" for name, by_value in differences.items())


def settings_for_manifest(
    found: PartSettings, parts_dir: Path, fallback: dict | None = None
) -> tuple[dict | None, dict[str, list]]:
    """The extraction settings a merged manifest records, from those recorded beside its finished videos.

    Returns:
        The settings most videos were cut with (`fallback` when no video has a record), and the settings other than
        `RUNTIME_FIELDS` that differ between videos (name -> values; logged), e.g. runs with another frame count.

    Raises:
        MixedExtractionError: videos were cut with different crop geometry (`CROP_FIELDS`); the message names them.
    """
    if found.n_unknown:
        log.warning(
            "%s: %d finished videos have no recorded extraction settings (extracted by an older version): "
            "assumed to match the others",
            parts_dir,
            found.n_unknown,
        )
    if not found.groups:
        return fallback, {}
    differences = _differences(found.groups.values())
    crop = {name: by_value for name, by_value in differences.items() if name in CROP_FIELDS}
    if crop:
        raise MixedExtractionError(
            f"{parts_dir}: the finished videos were cut with different crop settings: {_describe(crop)}. One manifest "
            "cannot mix crop geometries: keep one set, delete the other videos' part files (<video>.csv and "
            f"<video>{SETTINGS_SUFFIX}) and rerun `dff extract` with the kept settings, or extract into a fresh "
            "--out and --faces-out"
        )
    varies = {n: d for n, d in differences.items() if n.split(".")[0] not in RUNTIME_FIELDS}
    if varies:
        log.warning("%s: the finished videos were extracted with different settings: %s", parts_dir, _describe(varies))
    settings = max(found.groups.values(), key=lambda group: len(group[1]))[0]
    return settings, {name: [json.loads(v) for v in by_value] for name, by_value in varies.items()}


def check_run_settings(parts_dir: Path, config: ExtractionConfig) -> None:
    """Refuse to start a run whose crop settings differ from those of the videos already finished in its output.

    Raises:
        MixedExtractionError: naming each differing setting, the run's value and the finished videos' values.
    """
    mine = _flat(config.to_dict())
    groups = read_part_settings(done_parts(parts_dir)).groups.values()
    clashes = []
    for name in CROP_FIELDS:
        others: dict[str, list[str]] = {}
        for settings, keys in groups:
            value = _flat(settings).get(name)
            if value is not None and value != mine[name]:
                others.setdefault(value, []).extend(keys)
        if others:
            clashes.append(f"{name} {mine[name]} in this run vs {_values(others)}")
    if clashes:
        raise MixedExtractionError(
            f"{parts_dir}: this run's crop settings differ from those of the videos already finished there: "
            f"{'; '.join(clashes)}. Rerun with the finished videos' settings, or extract into a fresh --out and "
            "--faces-out"
        )


def crops_aligned(faces: pd.DataFrame) -> bool:
    """Whether a faces manifest's crops were cut aligned (`ExtractionConfig.align`).

    Read from the extraction settings its sidecar records (``attrs["extraction"]``), or, when those are absent (a
    manifest merged from parts that predate the settings records), from its ``aligned`` column, which only aligned extractions write (1 per
    aligned crop, 0 for a face without landmarks, which got the plain crop).
    """
    recorded = (faces.attrs.get("extraction") or {}).get("align")
    if recorded is not None:
        return bool(recorded)
    return "aligned" in faces.columns and bool((faces["aligned"] == 1).any())
