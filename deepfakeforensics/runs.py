"""How to use a trained detector: one object, `RunInfo`, for a run folder, a checkpoint, a released file or several.

`RunInfo.load(weights)` answers every question a caller has about a detector before scoring with it, in one place
(``dff predict``, ``dff serve``, ``dff evaluate``, the HTML report and the notebooks all call it):

- the model (eval mode): rebuilt from a project checkpoint, imported from the MesoNet authors' Keras file, a
  released detector recognised from its file's layout (`models.released`), a detector package (``dff export``: a
  folder with config.json and model.safetensors, or ``hf://owner/name[@revision]``), or the mean of several files;
- the crops it expects (`CropSettings`: a released detector's crop profile, or the alignment the run trained on);
- a temporal model's windows (the run's ``config.json``, overridden field by field);
- the decision threshold and where it came from, in one order: given, a ``dff evaluate`` metrics table, the run's
  validation threshold (``thresholds.json``, or the one a package recorded), else 0.5;
- the file-level aggregation rule (given, the metrics table's, the released detector's video rule, else ``mean``).

Example:
    >>> info = RunInfo.load("checkpoints/meso")  # doctest: +SKIP
    >>> info.threshold.value, info.threshold.source  # doctest: +SKIP
    (0.47, "chosen on validation (split 'val', epoch 3 = best.pt) by rule 'eer' ...")
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from deepfakeforensics._package import (
    WEIGHTS_FILE,
    download_package,
    is_hub_uri,
    is_package_dir,
    is_package_weights,
    load_package_model,
    parse_hub_uri,
    read_package,
)
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.faces import ExtractionConfig
from deepfakeforensics.models import Detector, create_model, load_model
from deepfakeforensics.models._weights import WeightsError, is_project_checkpoint
from deepfakeforensics.models.ensemble import EnsembleDetector
from deepfakeforensics.models.released import ReleasedSpec, get_released, is_released, load_released
from deepfakeforensics.run_records import (
    CropSettings,
    crops_of_checkpoint,
    package_crops,
    prediction_sampling,
    profile_crops,
    run_sampling,
    run_window_config,
)
from deepfakeforensics.scoring.aggregation import AGGREGATIONS
from deepfakeforensics.scoring.thresholds import recorded_threshold

log = logging.getLogger(__name__)

#: How the source of a threshold begins when no validation threshold was recorded (0.5 is used).
NO_THRESHOLD = "0.5 (no validation threshold recorded"
KERAS_SUFFIXES = frozenset({".h5", ".hdf5", ".keras"})
RunKind = Literal["run", "checkpoint", "keras", "released", "package", "ensemble"]


@dataclass
class RunSpec:
    """One run to evaluate: its name (table rows, legends), checkpoint and run folder."""

    name: str
    checkpoint: Path
    run_dir: Path


def checkpoint_path(weights: str | os.PathLike) -> Path:
    """A run folder's ``best.pt``, a package folder's ``model.safetensors`` (``hf://owner/name[@revision]``:
    downloaded, or from the local cache offline), a released model's Hugging Face folder's ``model.safetensors``
    (GenD's releases: ``config.json`` beside it is theirs), or the file itself.

    Raises:
        FileNotFoundError: neither a folder with best.pt or model.safetensors, a package nor a file (the message
            names the path).
        PackageError: an ``hf://`` package that can neither be downloaded nor found in the cache (saying what to fetch).
    """
    if is_hub_uri(weights):
        parse_hub_uri(str(weights))  # a malformed name is refused before anything is fetched
        return download_package(str(weights)) / WEIGHTS_FILE
    path = Path(weights)
    if path.is_dir() and is_package_dir(path):
        return path / WEIGHTS_FILE
    if path.is_dir():
        if (path / "best.pt").is_file():
            return path / "best.pt"
        if (path / WEIGHTS_FILE).is_file():  # a Hugging Face model folder (e.g. a GenD release): its weights file
            return path / WEIGHTS_FILE
        raise FileNotFoundError(
            f"{weights}: a folder without best.pt (a run), a package's config.json or {WEIGHTS_FILE} (a released "
            "model's folder)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{weights}: no such run folder or weights file")
    return path


def run_name(checkpoint: Path) -> str:
    """The name a checkpoint's run goes by in tables: its folder for a best.pt or a package (``owner/name`` for one
    downloaded from the hub), else ``folder/stem``."""
    if checkpoint.name == "best.pt":
        return checkpoint.parent.name
    if is_package_weights(checkpoint):
        snapshots = checkpoint.parent.parent
        if snapshots.name == "snapshots" and snapshots.parent.name.startswith("models--"):  # the hub's cache layout
            return snapshots.parent.name.removeprefix("models--").replace("--", "/", 1)
        return checkpoint.parent.name
    return f"{checkpoint.parent.name}/{checkpoint.stem}"


def resolve_runs(runs: Sequence[str | os.PathLike]) -> list[RunSpec]:
    """Run folders (``checkpoints/RUN`` holding ``best.pt``) or weights files -> unique names and paths."""
    specs: list[RunSpec] = []
    seen: dict[str, int] = {}
    for r in runs:
        ckpt = checkpoint_path(r)
        name = run_name(ckpt)
        if name in seen:  # two runs with one folder name (e.g. in different parents): number them
            seen[name] += 1
            name = f"{name}#{seen[name]}"
        else:
            seen[name] = 1
        specs.append(RunSpec(name, ckpt, ckpt.parent))
    return specs


@dataclass(frozen=True)
class Threshold:
    """The decision threshold, where it came from, and the file-score rule it is for."""

    value: float
    source: str
    aggregation: str


def _checked_threshold(value: float, where: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{where}: threshold {value!r} is not a probability in [0, 1]")
    return value


def metrics_row(metrics_csv: str | os.PathLike, name: str) -> pd.Series:
    """The file-level row of run `name` in an evaluation's ``metrics.csv``.

    Raises:
        ValueError: not a metrics table of ``dff evaluate`` or no file-level row for `name` (naming the file).
    """
    table = pd.read_csv(metrics_csv)
    missing = {"run", "level", "threshold"} - set(table.columns)
    if missing:
        raise ValueError(f"{metrics_csv}: not a metrics.csv of dff evaluate (no column {sorted(missing)})")
    rows = table[(table["run"].astype(str) == name) & (table["level"] == "file")]
    if rows.empty:
        raise ValueError(f"{metrics_csv}: no file-level row for run {name!r} (runs: {sorted(set(table['run']))})")
    return rows.iloc[0]


def resolve_threshold(
    name: str,
    checkpoint: Path | None,
    threshold: float | None = None,
    aggregation: str | None = None,
    metrics_csv: str | os.PathLike | None = None,
    default_aggregation: str = "mean",
) -> Threshold:
    """The one threshold resolver: `threshold` given; else the file-level row of `metrics_csv` (``dff evaluate``);
    else the validation threshold training recorded for the run's best.pt (``thresholds.json``, for the
    aggregation) or a package's ``model.safetensors`` (its config.json); else 0.5, said so.

    Raises:
        ValueError: a threshold outside [0, 1], a metrics table without the run, or one chosen for another
            aggregation than `aggregation`.
    """
    agg = aggregation or default_aggregation
    if threshold is not None:
        return Threshold(_checked_threshold(threshold, "--threshold"), "given (--threshold)", agg)
    if metrics_csv is not None:
        row = metrics_row(metrics_csv, name)
        rule, chosen_for = str(row.get("threshold_rule", "?")), str(row.get("aggregation", agg))
        if aggregation is not None and aggregation != chosen_for:
            raise ValueError(f"{metrics_csv}: the threshold was chosen for aggregation {chosen_for!r}, not {agg!r}")
        on = row.get("threshold_on")
        where = f" of {on}" if isinstance(on, str) and on else ""
        source = (
            f"chosen on validation{where} by rule {rule!r} (file level, aggregation {chosen_for!r}) in {metrics_csv}"
        )
        temperature = row.get("temperature")
        if temperature is not None and not pd.isna(temperature) and not math.isclose(float(temperature), 1.0):
            source += f"; evaluation calibrated scores with temperature {float(temperature):.3g}, this does not"
        return Threshold(_checked_threshold(row["threshold"], str(metrics_csv)), source, chosen_for)
    recorded = None
    if checkpoint is not None:
        recorded = read_package(checkpoint.parent).threshold_for(agg) if is_package_weights(checkpoint) else None
        recorded = recorded or recorded_threshold(checkpoint, agg)
    if recorded is not None:
        return Threshold(recorded[0], recorded[1], agg)
    return Threshold(0.5, f"{NO_THRESHOLD} for aggregation {agg!r})", agg)


@dataclass
class RunInfo:
    """A detector and everything needed to use it as it was meant to be used (see the module docstring).

    Attributes:
        model: the detector, in eval mode.
        name: the name its scores go by (the run folder's name, ``folder/stem`` of another checkpoint, a released
            file's stem).
        kind: ``run`` (a training run's best.pt), ``checkpoint``, ``keras``, ``released``, ``package`` (``dff
            export``'s folder) or ``ensemble``.
        weights: the file(s) it was loaded from.
        crops: how its faces are cut.
        windows: a temporal model's windows (defaults for a frame model).
        threshold: the decision threshold, its source and aggregation.
        released: the released detector's description, when it is one.
        sampling: the clips of consecutive frames the run trained on (`run_records.run_sampling`), on which its
            videos are scored unless asked otherwise (`prediction_sampling`); None for frames sampled another way.
    """

    model: Detector
    name: str
    kind: RunKind
    weights: tuple[Path, ...]
    crops: CropSettings
    windows: WindowConfig
    threshold: Threshold
    released: ReleasedSpec | None = None
    sampling: SamplingConfig | None = None

    @property
    def aggregation(self) -> str:
        return self.threshold.aggregation

    @property
    def checkpoint(self) -> Path:
        """The (first) weights file."""
        return self.weights[0]

    @classmethod
    def load(
        cls,
        weights: str | os.PathLike | Sequence[str | os.PathLike],
        model: str | None = None,
        *,
        threshold: float | None = None,
        aggregation: str | None = None,
        metrics_csv: str | os.PathLike | None = None,
        windows: dict[str, Any] | None = None,
    ) -> RunInfo:
        """Load a detector and how to use it.

        Args:
            weights: a run folder, a checkpoint of this project, the MesoNet authors' ``.h5`` (with `model`), a
                released detector's file (recognised from its layout, or named by `model`), a package folder (``dff
                export``) or ``hf://owner/name[@revision]``, or several of these (the mean of their probabilities).
            model: a registered name; needed for a Keras file, optional otherwise (checked against the file).
            threshold, aggregation, metrics_csv: see `resolve_threshold`.
            windows: `WindowConfig` fields overriding the run's (None values are ignored).

        Raises:
            FileNotFoundError: a path that is neither a file, a run folder nor a package.
            WeightsError: a file that cannot be loaded (naming it and why).
            PackageError: a package whose config this toolkit cannot honour (naming the file and the field).
            ValueError: bad threshold or aggregation, or ensemble members that need different crops.
        """
        if aggregation is not None and aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        paths = [weights] if isinstance(weights, str | os.PathLike) else list(weights)
        if not paths:
            raise ValueError("no weights given")
        checkpoints = tuple(checkpoint_path(p) for p in paths)  # (an hf:// package is fetched once)
        loaded = [_load_one(c, model) for c in checkpoints]
        if len(loaded) == 1:
            detector, kind, spec, crops = loaded[0]
        else:
            detector, kind, spec, crops = _ensemble(loaded, paths)
        name = _display_name(checkpoints[0], kind, detector)
        window = _windows(detector, checkpoints[0], kind, windows)
        default_agg = spec.aggregation if spec is not None and spec.aggregation in AGGREGATIONS else "mean"
        if kind == "package":
            default_agg = read_package(checkpoints[0].parent).aggregation
        recorded_for = checkpoints[0] if kind in ("run", "checkpoint", "package") else None
        chosen = resolve_threshold(name, recorded_for, threshold, aggregation, metrics_csv, default_agg)
        sampling = run_sampling(checkpoints[0]) if kind in ("run", "checkpoint") else None
        if kind == "package":
            sampling = read_package(checkpoints[0].parent).sampling
        return cls(detector.eval(), name, kind, checkpoints, crops, window, chosen, spec, sampling)

    def extraction_config(self, base: ExtractionConfig | None = None) -> ExtractionConfig:
        """`base` (default `ExtractionConfig()`) cutting faces as this detector expects them."""
        return self.crops.apply(base or ExtractionConfig())

    def prediction_sampling(self, **asked: int | None) -> tuple[SamplingConfig, str]:
        """The frames a video is scored on and why: `asked` (``frames``, ``every_k``, ``clips``, ``clip_length``,
        ``clip_stride``; None values ignored), else the clips the run trained on, else 32 frames uniformly."""
        return prediction_sampling(self.sampling, **asked)

    def describe(self) -> dict[str, Any]:
        """The facts a user should see beside its scores (``GET /model``, the report, ``dff predict``'s header)."""
        cfg = self.model.default_cfg
        out = {
            "name": self.model.name or type(self.model).__name__,
            "run": self.name,
            "kind": self.kind,
            "weights": [p.name for p in self.weights],
            "temporal": bool(cfg.temporal),
            "input_size": list(cfg.input_size),
            "crop_profile": self.crops.profile,
            "aligned_crops": self.crops.align,
            "crops_source": self.crops.source,
            "threshold": self.threshold.value,
            "threshold_source": self.threshold.source,
            "aggregation": self.threshold.aggregation,
            "sampling": self.prediction_sampling()[1],
        }
        if self.kind == "ensemble":
            out["ensemble"] = f"mean of the probabilities of {len(self.weights)} models"
        if self.released is not None:
            out["released"] = {"title": self.released.title, "repo": self.released.repo}
        if self.kind == "package":
            package = read_package(self.checkpoint.parent)
            out["package"] = {"from": package.name, "kind": package.kind, "written_by": package.written_by}
        return out


def _load_one(path: Path, model: str | None) -> tuple[Detector, RunKind, ReleasedSpec | None, CropSettings]:
    """One weights file -> (detector, kind, released spec, crops)."""
    if is_package_weights(path):
        package = read_package(path.parent)
        detector = load_package_model(package)
        if model is not None and detector.name != model:
            raise WeightsError(f"{path.parent}: package of model {detector.name!r}, not --model {model!r}")
        spec = get_released(detector.name) if is_released(detector.name) else None
        return detector, "package", spec, package_crops(package)
    if path.suffix.lower() in KERAS_SUFFIXES:
        if model is None:
            raise WeightsError(f"{path}: a Keras .h5 file does not say its architecture; pass --model (e.g. mesonet4)")
        return create_model(model, weights=path), "keras", None, CropSettings()
    if is_project_checkpoint(path):
        detector = load_model(path)  # the checkpoint records its architecture and kwargs
        if model is not None and detector.name != model:
            raise WeightsError(f"{path}: checkpoint is of model {detector.name!r}, not --model {model!r}")
        kind: RunKind = "run" if path.name == "best.pt" and (path.parent / "config.json").is_file() else "checkpoint"
        spec = get_released(detector.name) if is_released(detector.name) else None
        return detector, kind, spec, crops_of_checkpoint(path, spec)
    if model is not None and not is_released(model):
        raise WeightsError(f"{path}: not a checkpoint of this project, and {model!r} is not a released detector")
    detector = load_released(path, model)
    spec = get_released(detector.name)
    log.info("%s: released detector %s (%s)", path, spec.name, spec.title)
    return detector, "released", spec, profile_crops(spec)


def _ensemble(
    loaded: list[tuple[Detector, RunKind, ReleasedSpec | None, CropSettings]], paths: Sequence[Any]
) -> tuple[Detector, RunKind, ReleasedSpec | None, CropSettings]:
    crops = {c for _, _, _, c in loaded}
    profiles = {(c.profile, c.align) for c in crops}
    if len(profiles) > 1:
        described = "; ".join(
            f"{p}: {c.profile}{' aligned' if c.align else ''}" for p, (_, _, _, c) in zip(paths, loaded, strict=True)
        )
        raise ValueError(f"ensemble members need different crops ({described}): score them separately")
    specs = {s.name if s else None for _, _, s, _ in loaded}
    spec = loaded[0][2] if len(specs) == 1 else None
    return EnsembleDetector([m for m, _, _, _ in loaded]), "ensemble", spec, loaded[0][3]


def _display_name(checkpoint: Path, kind: RunKind, model: Detector) -> str:
    if kind in ("run", "checkpoint", "package"):
        return run_name(checkpoint)
    if kind == "ensemble":
        return f"{model.name} ({checkpoint.stem}...)"
    return checkpoint.stem


def _windows(model: Detector, checkpoint: Path, kind: RunKind, given: dict[str, Any] | None) -> WindowConfig:
    from_run = model.default_cfg.temporal and kind in ("run", "checkpoint", "package")
    recorded = run_window_config(checkpoint.parent) if from_run else WindowConfig()
    given = {k: v for k, v in (given or {}).items() if v is not None}
    return dataclasses.replace(recorded, **given)
