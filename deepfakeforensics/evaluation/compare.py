"""Compare trained runs on one split of one or several datasets: scores at frame/window and file level, metrics with
bootstrap intervals, paired tests, per-method and cross-dataset tables, plots.

`evaluate` is the library behind ``dff evaluate`` and the evaluation notebook; its options are the fields of
`EvaluateConfig` (the command line is generated from them). It works in three steps per run: `score_run` (load the
checkpoint, build the run's datasets, score the evaluated and validation splits, reusing cached scores), then
`run_metrics` (temperature and thresholds fitted on validation, metrics at item and file level, per method), and
finally the tables and plots of every run together. Nothing is chosen on the evaluated split. With several
manifests (cross-dataset), each run is scored on each one's split and its thresholds come from the validation split of
the manifest it was trained on (recorded in its config.json).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from torch.utils.data import Dataset

from deepfakeforensics._io import load_table, save_table, write_csv_atomic
from deepfakeforensics.data.datasets import build_dataset
from deepfakeforensics.devices import resolve_device
from deepfakeforensics.evaluation import plots as P
from deepfakeforensics.evaluation.baselines import beside_published, load_baselines, matching_baselines
from deepfakeforensics.evaluation.bootstrap import bootstrap_ci
from deepfakeforensics.evaluation.calibration import apply_temperature, fit_temperature
from deepfakeforensics.evaluation.crossdataset import (
    FacesInput,
    cross_dataset_table,
    load_datasets,
    paired_tests,
    training_validation,
)
from deepfakeforensics.evaluation.errors import plot_errors, worst_errors
from deepfakeforensics.evaluation.gradcam import plot_scored_gradcam
from deepfakeforensics.evaluation.metrics import METRIC_COLUMNS, compute_metrics, metrics_by_group
from deepfakeforensics.evaluation.protocols import PROTOCOL_NAMES, ProtocolName, apply_protocol, get_protocol
from deepfakeforensics.evaluation.robustness import RobustnessConfig, robustness_sweep
from deepfakeforensics.evaluation.scores import failures_table, predict_scores
from deepfakeforensics.evaluation.video_robustness import VideoRobustnessConfig, video_robustness
from deepfakeforensics.faces.stream import ExtractionConfig
from deepfakeforensics.models import Detector
from deepfakeforensics.runs import RunInfo, RunSpec, resolve_runs, run_window_config
from deepfakeforensics.scoring.aggregation import AGGREGATIONS, Aggregation, aggregate
from deepfakeforensics.scoring.thresholds import THRESHOLD_RULES, ThresholdRule, choose_threshold

log = logging.getLogger(__name__)

FAILURE_COLUMNS = ["path", "reason", "run", "split"]
_METRICS_FIRST = [
    "run",
    "model",
    "dataset",
    "level",
    "split",
    "protocol",
    "aggregation",
    "threshold_rule",
    "threshold_on",
    "temperature",
    "val_auc",
]
# metric columns with the bootstrap interval beside each AUC and EER, and how it was drawn at the end
_METRICS_ORDER = [
    *(c for m in METRIC_COLUMNS for c in ([m, f"{m}_lo", f"{m}_hi"] if m in ("auc", "eer") else [m])),
    "n_boot",
    "boot_seed",
]


@dataclass(frozen=True)
class EvaluateConfig:
    """How `evaluate` scores and compares runs; ``dff evaluate`` exposes each field as an option.

    Example:
        >>> EvaluateConfig(aggregation="track_max", val_split="none").val_split is None
        True
    """

    split: str = field(default="test", metadata={"help": "split to report on"})
    val_split: str | None = field(
        default="val",
        metadata={"help": "split thresholds and the temperature are fitted on ('none': threshold 0.5, no calibration)"},
    )
    aggregation: Aggregation = field(
        default="mean",
        metadata={
            "help": "file-level rule: mean of frame/window probabilities, track_max (most fake-looking face "
            "track), median or vote"
        },
    )
    threshold_rule: ThresholdRule = field(
        default="eer", metadata={"help": "threshold chosen on validation: eer, f1, fpr (at --target-fpr) or fixed 0.5"}
    )
    target_fpr: float = field(default=0.01, metadata={"help": "false positive rate for --threshold-rule fpr"})
    calibrate: bool = field(default=False, metadata={"help": "temperature scaling fitted on validation logits"})
    robustness: bool = field(
        default=False,
        metadata={
            "help": "QUICK crop-level sweep: JPEG quality, blur, downscale and noise applied to the extracted crops "
            "(one scoring pass per strength)"
        },
    )
    perturb_index: str | None = field(
        default=None,
        metadata={
            "help": "video index CSV: its split's VIDEOS are perturbed (DeeperForensics-1.0, 7 distortions x 5 "
            "levels), faces re-extracted and scored (slow; video_robustness.csv)"
        },
    )
    perturb_mixes: int = field(default=0, metadata={"help": "random mixes of 2-4 distortions added to --perturb-index"})
    gradcam: int = field(default=4, metadata={"help": "crops per class in each frame model's Grad-CAM grid (0: none)"})
    errors: int = field(
        default=3,
        metadata={"help": "worst false positives and negatives per run in errors_<run>.csv and .png (0: none)"},
    )
    batch_size: int = field(default=32, metadata={"help": "items (crops or windows) per forward pass"})
    num_workers: int = field(default=0, metadata={"help": "DataLoader workers decoding crops"})
    device: str = field(default="auto", metadata={"help": "torch device: auto (a GPU when there is one), cpu, cuda..."})
    plots: bool = field(default=True, metadata={"help": "write the comparison figures"})
    bootstrap: int = field(
        default=1000,
        metadata={
            "help": "bootstrap resamples of videos (not frames) for the 95-percent intervals of AUC and EER and the "
            "paired tests (0: none)"
        },
    )
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap draws"})
    protocol: ProtocolName = field(
        default="own",
        metadata={
            "help": "own: every extracted face; deepfakebench: 32 frames per video, largest face, margin 1.3, "
            "video score = mean of frame scores (comparable with DeepfakeBench's tables)"
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.val_split, str) and self.val_split.lower() == "none":
            object.__setattr__(self, "val_split", None)
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ValueError(f"unknown threshold rule {self.threshold_rule!r}; choose one of {THRESHOLD_RULES}")
        if self.protocol not in PROTOCOL_NAMES:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOL_NAMES)}")
        if self.gradcam < 0 or self.batch_size < 1 or self.num_workers < 0 or self.bootstrap < 0:
            raise ValueError("gradcam, num_workers and bootstrap must be >= 0 and batch_size >= 1")


@dataclass
class ScoredRun:
    """One run's model and scores: what `score_run` computed.

    Attributes:
        spec: the run.
        model: its detector (eval mode).
        dataset: the dataset of the evaluated split (its ``root`` resolves the score tables' paths).
        item_level: ``frame`` or ``window``.
        test: item scores on the evaluated split (only items actually scored).
        val: item scores on the validation split, or None.
        failures: ``(path, reason, run, split)`` of every crop that could not be scored.
    """

    spec: RunSpec
    model: Detector
    dataset: Dataset
    item_level: str
    test: pd.DataFrame
    val: pd.DataFrame | None
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    released: str | None = None  # the released detector it is (its published figures go beside its metrics)


@dataclass
class RunMetrics:
    """One run's metrics: rows of the metrics table, per-method tables, scores and thresholds per level."""

    rows: list[dict[str, Any]]
    per_method: list[pd.DataFrame]
    scores: dict[str, pd.DataFrame]
    thresholds: dict[str, float]
    temperature: float
    dataset: str = "faces"


@dataclass
class EvaluationResult:
    """What `evaluate` computed and where it wrote it.

    Attributes:
        metrics: one row per run x level (``frame`` or ``window``, and ``file``): threshold, temperature and every
            `compute_metrics` column on the evaluated split.
        per_method: the same per manipulation method (each method's fakes against all reals), where the manifest has
            a ``method`` column.
        scores: ``(run, level) -> score table`` on the evaluated split (calibrated when asked).
        robustness: metrics against perturbation strength (``run, perturbation, strength, level, ...``), or None.
        plots: plot name -> PNG path.
        out_dir: the output folder.
        failures: ``path, reason, run, split`` of the crops that could not be scored (also in ``failures.csv``).
        paired: every pair of runs per dataset and level: paired bootstrap of the AUC difference and, at file level,
            DeLong's test (``paired.csv``).
        cross_dataset: runs x datasets x levels (``cross_dataset.csv``), when several manifests were evaluated.
        dataset_scores: ``(run, dataset, level) -> score table`` for every dataset (`scores` holds the first one's).
        protocol: the protocol every table was produced under (also their ``protocol`` column).
        video_robustness: the DeeperForensics-1.0 sweep on perturbed videos (``config.perturb_index``), or None.
        errors: run name -> its worst false positives and negatives at video level (`errors.worst_errors`, on the
            first dataset; ``errors_<run>.csv``).
    """

    metrics: pd.DataFrame
    per_method: pd.DataFrame
    scores: dict[tuple[str, str], pd.DataFrame]
    robustness: pd.DataFrame | None
    plots: dict[str, Path] = field(default_factory=dict)
    out_dir: Path = Path(".")
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS))
    paired: pd.DataFrame = field(default_factory=pd.DataFrame)
    cross_dataset: pd.DataFrame | None = None
    dataset_scores: dict[tuple[str, str, str], pd.DataFrame] = field(default_factory=dict)
    protocol: str = "own"
    video_robustness: pd.DataFrame | None = None
    errors: dict[str, pd.DataFrame] = field(default_factory=dict)
    published: pd.DataFrame = field(default_factory=pd.DataFrame)  # released detectors beside their authors' figures


def _check_crops(info: RunInfo, faces: pd.DataFrame) -> None:
    """Warn when a released detector is scored on crops cut by another profile than its own (it loses accuracy)."""
    recorded = (faces.attrs.get("extraction") or {}).get("profile", "default")
    if info.crops.profile != "default" and recorded != info.crops.profile:
        log.warning(
            "%s expects crops of profile %r but %s was extracted with profile %r: extract again with "
            "--profile %s to score it as its authors do",
            info.name,
            info.crops.profile,
            faces.attrs.get("source", "the faces manifest"),
            recorded,
            info.crops.profile,
        )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _cached_scores(
    model: Detector, dataset: Dataset, checkpoint: Path, path: Path, config: EvaluateConfig, progress: bool
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Scores of a dataset and its unreadable crops, reused from `path` when written for the same checkpoint.

    The stamp (checkpoint, its mtime, the number of items) decides reuse: the table may hold fewer rows than the
    dataset has items, the crops that could not be read being recorded beside it (resumable evaluation).
    """
    stamp = {"checkpoint": str(checkpoint.resolve()), "mtime": checkpoint.stat().st_mtime, "n": len(dataset)}
    if path.is_file():
        try:
            cached = load_table(path)
            if cached.attrs.get("stamp") == stamp:
                return cached, [tuple(f) for f in cached.attrs.get("failures", [])]
        except (OSError, ValueError, json.JSONDecodeError) as e:
            log.warning("%s: cached scores unreadable (%s); scoring again", path, e)
    scores = predict_scores(
        model,
        dataset,
        batch_size=config.batch_size,
        device=config.device,
        num_workers=config.num_workers,
        progress=progress,
    )
    failures = [(str(p), str(r)) for p, r in failures_table(scores)[["path", "reason"]].itertuples(index=False)]
    scores.attrs.pop("failures", None)
    save_table(scores, path, root=dataset.root, stamp=stamp, failures=failures)
    return scores, failures


def _score_split(
    model: Detector,
    faces: pd.DataFrame,
    split: str,
    spec: RunSpec,
    scores_dir: Path,
    config: EvaluateConfig,
    progress: bool,
) -> tuple[Dataset, pd.DataFrame | None, list[tuple[str, str, str, str]]]:
    """One split of one run: its dataset, its item scores (None when the split is empty) and its failures."""
    windows = {"window": run_window_config(spec.run_dir)} if model.default_cfg.temporal else {}
    dataset = build_dataset(faces, split, model, train=False, missing="skip", **windows)
    # crops listed in the manifest but absent or empty: left out of the dataset, reported
    failures = [(str(p), str(r)) for p, r in dataset.skipped[["path", "reason"]].itertuples(index=False)]
    scores = None
    if len(dataset):
        level = "window" if model.default_cfg.temporal else "frame"
        path = scores_dir / f"{_safe(spec.name)}_{split}_{level}.csv"
        scores, unreadable = _cached_scores(model, dataset, spec.checkpoint, path, config, progress)
        failures += unreadable
    if failures:
        log.warning("%s: %d face crops of split %r cannot be read (see failures.csv)", spec.name, len(failures), split)
    return dataset, scores, [(p, r, spec.name, split) for p, r in failures]


@dataclass(frozen=True)
class ValidationSource:
    """Where thresholds and the temperature are fitted: a manifest, its split, and the folder its scores are cached in."""

    faces: pd.DataFrame
    split: str
    scores_dir: Path
    name: str = ""


def score_run(
    spec: RunSpec,
    faces: pd.DataFrame,
    scores_dir: Path,
    config: EvaluateConfig,
    progress: bool = True,
    validation: ValidationSource | None = None,
) -> ScoredRun:
    """Load a run's checkpoint and score the evaluated and validation splits with it (cached in `scores_dir`).

    Temporal runs are scored per window, cut as the run's validation windows (`run_window_config`).

    Args:
        validation: where to score the validation split; default ``config.val_split`` of `faces` (None there: none).

    Raises:
        ValueError: the evaluated split has no item.
    """
    info = RunInfo.load(spec.checkpoint)
    _check_crops(info, faces)
    model = info.model
    dataset, test, failures = _score_split(model, faces, config.split, spec, scores_dir, config, progress)
    if test is None:
        raise ValueError(f"{faces.attrs.get('source', 'faces table')}: no items in split {config.split!r}")
    if validation is None and config.val_split is not None:
        validation = ValidationSource(faces, config.val_split, scores_dir)
    val = None
    if validation is not None:
        v = validation
        _, val, val_failures = _score_split(model, v.faces, v.split, spec, v.scores_dir, config, progress)
        failures += val_failures
    item_level = "window" if model.default_cfg.temporal else "frame"
    released = info.released.name if info.released is not None else None
    return ScoredRun(spec, model, dataset, item_level, test, val, failures, released)


def _threshold(val: pd.DataFrame | None, config: EvaluateConfig) -> tuple[float, str]:
    """The decision threshold chosen on validation scores, and a note when the rule could not be applied."""
    rule = config.threshold_rule
    if rule == "fixed":
        return 0.5, ""
    if val is None or val.empty:
        return 0.5, f"no validation scores: threshold 0.5 instead of {rule}"
    try:
        return choose_threshold(val["label"], val["score"], rule, config.target_fpr), ""
    except ValueError as e:
        return 0.5, f"threshold 0.5 ({e})"


def _temperature(val: pd.DataFrame | None, config: EvaluateConfig) -> tuple[float, list[str]]:
    """The temperature fitted on validation logits (1.0 when not asked or impossible) and notes on why not."""
    if not config.calibrate:
        return 1.0, []
    if val is None or val["label"].nunique() < 2:
        return 1.0, ["no two-class validation set: not calibrated"]
    return fit_temperature(val["logit"], val["label"]), []


def _calibrated(scores: pd.DataFrame | None, temperature: float) -> pd.DataFrame | None:
    if scores is None or temperature == 1.0:
        return scores
    return scores.assign(score=apply_temperature(scores["logit"], temperature))


def _level_row(
    run: ScoredRun, level: str, test_t: pd.DataFrame, val_t: pd.DataFrame | None, config: EvaluateConfig, notes: list
) -> tuple[dict[str, Any], float]:
    """One metrics row (threshold from validation, bootstrap intervals over videos) and its threshold."""
    threshold, note = _threshold(val_t, config)
    m = compute_metrics(test_t["label"], test_t["score"], threshold)
    m["note"] = "; ".join(x for x in [m["note"], note, *notes] if x)
    val_auc = compute_metrics(val_t["label"], val_t["score"])["auc"] if val_t is not None else float("nan")
    ci = bootstrap_ci(test_t, n_resamples=config.bootstrap, seed=config.seed)
    row = {
        "run": run.spec.name,
        "model": run.model.name,
        "level": level,
        "split": config.split,
        "protocol": config.protocol,
        "aggregation": config.aggregation,
        "threshold_rule": config.threshold_rule,
        "temperature": 1.0,
        "val_auc": val_auc,
        **m,
        **ci,
    }
    return row, threshold


def run_metrics(
    run: ScoredRun, config: EvaluateConfig, dataset: str = "faces", threshold_on: str | None = None
) -> RunMetrics:
    """Metrics of one scored run at item level and file level, with temperature and thresholds from validation.

    Args:
        run: the scored run.
        config: the options.
        dataset: the evaluated dataset's name (``dataset`` column).
        threshold_on: where the validation scores come from (``threshold_on`` column); default ``config.val_split``.
    """
    temperature, notes = _temperature(run.val, config)
    test, val = _calibrated(run.test, temperature), _calibrated(run.val, temperature)
    levels = {
        run.item_level: (test, val),
        "file": (aggregate(test, config.aggregation), None if val is None else aggregate(val, config.aggregation)),
    }
    out = RunMetrics([], [], {}, {}, temperature, dataset)
    on = threshold_on if threshold_on is not None else (config.val_split or "none (0.5)")
    for level, (test_t, val_t) in levels.items():
        row, threshold = _level_row(run, level, test_t, val_t, config, notes)
        out.rows.append({**row, "dataset": dataset, "threshold_on": on, "temperature": temperature})
        if "method" in test_t and test_t["method"].notna().any():
            per = metrics_by_group(test_t, "method", threshold)
            out.per_method.append(per.assign(run=run.spec.name, dataset=dataset, level=level, protocol=config.protocol))
        out.scores[level], out.thresholds[level] = test_t, threshold
    return out


def _robustness_config(robustness: RobustnessConfig | bool | None, config: EvaluateConfig) -> RobustnessConfig | None:
    """The sweep to run: the one given, the default one when `config.robustness` is set, or None."""
    if robustness is None:
        robustness = config.robustness
    if robustness is False:
        return None
    if robustness is True:
        robustness = RobustnessConfig(batch_size=config.batch_size, num_workers=config.num_workers)
    return robustness if robustness.aggregation is not None else replace(robustness, aggregation=config.aggregation)


def _sweep(run: ScoredRun, m: RunMetrics, robustness: RobustnessConfig, config: EvaluateConfig, progress: bool):
    """The run's metrics under each perturbation, with its file-level validation threshold and temperature."""
    t = m.temperature
    table = robustness_sweep(
        run.model,
        run.dataset,
        robustness,
        threshold=m.thresholds["file"],
        device=config.device,
        progress=progress,
        clean_scores=m.scores[run.item_level],
        calibrate=(lambda s: _calibrated(s, t)) if t != 1.0 else None,
    )
    return table.assign(run=run.spec.name)


def _validation(
    spec: RunSpec, datasets: dict[str, pd.DataFrame], scores_root: Path, config: EvaluateConfig
) -> tuple[ValidationSource | None, str]:
    """Where a run's thresholds come from, and how the ``threshold_on`` column names it.

    One manifest: ``config.val_split`` of it (as always). Several: the validation split of the run's own training
    manifest (`training_validation`), under the evaluation's protocol.
    """
    if config.val_split is None:
        return None, "none (0.5)"
    if len(datasets) == 1:
        return None, config.val_split
    name, faces, split = training_validation(spec.run_dir, datasets, config.val_split)
    faces, _ = apply_protocol(faces, config.protocol)
    return ValidationSource(faces, split, scores_root / name, name), f"{name}:{split}"


def _evaluate_run(
    spec: RunSpec, datasets: dict[str, pd.DataFrame], out: Path, config: EvaluateConfig, progress: bool
) -> list[tuple[str, ScoredRun, RunMetrics]]:
    """Score and measure one run on every dataset (scores under ``scores/`` or ``scores/<dataset>/``)."""
    validation, on = _validation(spec, datasets, out / "scores", config)
    done = []
    for name, faces in datasets.items():
        scores_dir = out / "scores" if len(datasets) == 1 else out / "scores" / name
        run = score_run(spec, faces, scores_dir, config, progress, validation)
        m = run_metrics(run, config, name, on)
        save_table(m.scores["file"], scores_dir / f"{_safe(spec.name)}_{config.split}_file.csv", root=run.dataset.root)
        done.append((name, run, m))
    return done


def _protocol_faces(datasets: dict[str, pd.DataFrame], protocol: str) -> dict[str, pd.DataFrame]:
    """Each manifest restricted to what the protocol scores; its notes logged (they also go into the tables)."""
    out = {}
    for name, faces in datasets.items():
        out[name], notes = apply_protocol(faces, protocol)
        for note in notes:
            log.warning("%s: %s", name, note)
    return out


def evaluate(
    runs: Sequence[str | os.PathLike],
    faces_csv: FacesInput | Sequence[FacesInput],
    out_dir: str | os.PathLike = "evaluation",
    config: EvaluateConfig | None = None,
    *,
    robustness: RobustnessConfig | bool | None = None,
    progress: bool = True,
    **options: Any,
) -> EvaluationResult:
    """Evaluate and compare trained runs on one split of one or several faces manifests.

    For each run and manifest: `score_run` (``best.pt``, its evaluation dataset, scores of ``config.split`` and of
    the validation split), then `run_metrics` (optional temperature, thresholds per level chosen on validation,
    metrics at item level, frame or window, and file level: `aggregation` over every face and frame of a
    ``video_id``; 95 % bootstrap intervals of AUC and EER resampling videos). With several manifests the validation
    split is the one of the manifest the run was trained on (cross-dataset protocol). Crops that cannot be read are
    left out of the scores and listed in ``failures.csv``. Every table carries the ``protocol`` it was produced under.

    Writes into `out_dir`: ``metrics.csv``, ``per_method.csv``, ``paired.csv``, ``failures.csv``, ``errors_<run>.csv``
    (`errors.worst_errors`: the worst false positives and negatives at video level, ``config.errors`` per class),
    ``scores/[<dataset>/]<run>_<split>_<level>.csv``, ``cross_dataset.csv`` (several manifests), ``robustness.csv``
    (when asked) and the plots (``roc_file.png``, ``roc_<item level>.png``, ``score_distributions.png``,
    ``training_curves.png``, ``metrics_bars.png``, ``auc_ci.png``, ``per_method_auc.png``, ``cross_dataset_auc.png``,
    ``robustness.png``, ``gradcam_<run>.png``, ``errors_<run>.png``: key face crop, score timeline, track scores),
    and for released detectors ``published.csv``: their AUC with its interval beside their authors' figure.

    Args:
        runs: run folders (``checkpoints/RUN`` with best.pt, config.json, history.csv) or checkpoint files.
        faces_csv: a faces manifest (``labels/NAME_faces.csv``) or a DataFrame from ``load_table``, or several
            (the first is taken as the training dataset where a run does not record its own).
        out_dir: output folder (created).
        config: the options (`EvaluateConfig`); default `EvaluateConfig()`.
        robustness: a `RobustnessConfig` to sweep (its strengths; its aggregation defaults to the evaluation's),
            or True/False to override ``config.robustness`` (the default sweep); None: as ``config.robustness``.
            The sweep runs on the first manifest.
        progress: progress bars.
        **options: fields of `EvaluateConfig` overriding `config` (``split="val"``, ``aggregation="track_max"``...).

    Example:
        >>> res = evaluate(["checkpoints/meso"], ["labels/ffpp_faces.csv", "labels/celebdf_faces.csv"], "eval")
        >>> res.cross_dataset.query("level == 'file'")[["run", "dataset", "auc", "auc_lo", "auc_hi"]]  # doctest: +SKIP
    """
    config = replace(config or EvaluateConfig(), **options)
    forced = get_protocol(config.protocol).aggregation
    config = replace(config, device=resolve_device(config.device), aggregation=forced or config.aggregation)
    sweep = _robustness_config(robustness, config)
    out = Path(out_dir)
    (out / "scores").mkdir(parents=True, exist_ok=True)
    datasets = _protocol_faces(load_datasets(faces_csv), config.protocol)
    done: list[tuple[RunSpec, RunMetrics]] = []
    robust, figures, failures, errors, released = [], {}, [], {}, {}
    for spec in resolve_runs(runs):
        for k, (_, run, m) in enumerate(_evaluate_run(spec, datasets, out, config, progress)):
            if run.released is not None:
                released[spec.name] = run.released
            failures += run.failures
            write_csv_atomic(pd.DataFrame(failures, columns=FAILURE_COLUMNS), out / "failures.csv")
            if k == 0 and sweep is not None:
                robust.append(_sweep(run, m, sweep, config, progress).assign(protocol=config.protocol))
            if k == 0 and config.plots:
                figures.update(_gradcam(run, m, out, config))
            if k == 0 and config.errors > 0:
                errors[spec.name] = _error_analysis(run, m, out, config, figures)
            done.append((spec, m))
    result = _write_tables(done, robust, failures, out, config)
    result.errors = errors
    result.published = beside_published(result.metrics, released)
    if released:
        write_csv_atomic(result.published, out / "published.csv")
    if config.perturb_index is not None:
        result.video_robustness = _video_sweep(done, out, config)
    if config.plots:
        result.plots = {**_write_plots(result, done), **figures}
    return result


def _video_sweep(done: Sequence[tuple[RunSpec, RunMetrics]], out: Path, config: EvaluateConfig) -> pd.DataFrame:
    """The DeeperForensics-1.0 sweep of every run on ``config.perturb_index`` (``video_robustness.csv``)."""
    models = {spec.name: RunInfo.load(spec.checkpoint).model for spec, _ in done}
    sweep = VideoRobustnessConfig(
        mixes=config.perturb_mixes,
        seed=config.seed,
        split=config.split,
        aggregation=config.aggregation,
        batch_size=config.batch_size,
    )
    extraction = ExtractionConfig(device=config.device)
    table = video_robustness(models, config.perturb_index, sweep, extraction, out_csv=out / "video_robustness.csv")
    return table.assign(protocol=config.protocol)


def _gradcam(run: ScoredRun, m: RunMetrics, out: Path, config: EvaluateConfig) -> dict[str, Path]:
    """The Grad-CAM grid of a frame run (none for temporal models, models without a Grad-CAM layer, or gradcam=0)."""
    if config.gradcam == 0 or run.model.default_cfg.temporal or not hasattr(run.model, "gradcam_layer"):
        return {}
    path = out / f"gradcam_{_safe(run.spec.name)}.png"
    return {
        f"gradcam_{run.spec.name}": plot_scored_gradcam(
            run.model, m.scores["frame"], run.dataset.root, path, per_class=config.gradcam
        )
    }


def _error_analysis(
    run: ScoredRun, m: RunMetrics, out: Path, config: EvaluateConfig, figures: dict[str, Path]
) -> pd.DataFrame:
    """``errors_<run>.csv`` (and with plots ``errors_<run>.png``, added to `figures`): the run's worst videos."""
    items = m.scores[run.item_level]
    table = worst_errors(items, m.scores["file"], m.thresholds["file"], run.dataset.faces, config.errors)
    name = _safe(run.spec.name)
    write_csv_atomic(table.assign(run=run.spec.name, dataset=m.dataset), out / f"errors_{name}.csv")
    if config.plots:
        title = f"{run.spec.name}: worst videos of {config.split} (file level, {config.aggregation})"
        figures[f"errors_{run.spec.name}"] = plot_errors(
            table, items, run.dataset.root, out / f"errors_{name}.png", title
        )
    return table


def _write_tables(
    done: Sequence[tuple[RunSpec, RunMetrics]],
    robust: list[pd.DataFrame],
    failures: list,
    out: Path,
    config: EvaluateConfig,
) -> EvaluationResult:
    """Gather every run's metrics into the result tables; write ``metrics.csv``, ``per_method.csv``, ``paired.csv``,
    ``cross_dataset.csv`` (several datasets) and ``robustness.csv`` (when swept)."""
    metrics = pd.DataFrame([row for _, m in done for row in m.rows])
    metrics = metrics[[c for c in [*_METRICS_FIRST, *_METRICS_ORDER] if c in metrics]]
    method_tables = [t for _, m in done for t in m.per_method]
    per_method = pd.concat(method_tables, ignore_index=True) if method_tables else pd.DataFrame()
    if not per_method.empty:
        first = ["run", "dataset", "level", "protocol"]
        per_method = per_method[[*first, *[c for c in per_method if c not in first]]]
    robustness = pd.concat(robust, ignore_index=True) if robust else None
    all_scores = {(spec.name, m.dataset, level): s for spec, m in done for level, s in m.scores.items()}
    paired = paired_tests(all_scores, config.bootstrap, config.seed, config.protocol)
    datasets = list(dict.fromkeys(m.dataset for _, m in done))
    cross = cross_dataset_table(metrics) if len(datasets) > 1 else None
    write_csv_atomic(metrics, out / "metrics.csv")
    write_csv_atomic(per_method, out / "per_method.csv")
    write_csv_atomic(paired, out / "paired.csv")
    if cross is not None:
        write_csv_atomic(cross, out / "cross_dataset.csv")
    if robustness is not None:
        write_csv_atomic(robustness, out / "robustness.csv")
    scores = {(run, level): s for (run, d, level), s in all_scores.items() if d == datasets[0]}
    failed = pd.DataFrame(failures, columns=FAILURE_COLUMNS).drop_duplicates(ignore_index=True)
    result = EvaluationResult(metrics, per_method, scores, robustness, {}, out, failed, paired, cross, all_scores)
    result.protocol = config.protocol
    return result


def _write_plots(result: EvaluationResult, done: Sequence[tuple[RunSpec, RunMetrics]]) -> dict[str, Path]:
    """The comparison figures of every run (ROC per level, score distributions, curves, bars, per method...) on the
    first dataset, and the runs x datasets heatmap when there are several."""
    out = result.out_dir
    first = next(iter(result.metrics["dataset"]))
    metrics = result.metrics[result.metrics["dataset"] == first]
    paths: dict[str, Path] = {}
    for level in dict.fromkeys(level for _, level in result.scores):
        by_run = {run: s for (run, lv), s in result.scores.items() if lv == level}
        paths[f"roc_{level}"] = P.plot_roc_curves(by_run, out / f"roc_{level}.png", title=f"{level}-level ROC")
    file_scores = {run: s for (run, lv), s in result.scores.items() if lv == "file"}
    file_thr = {spec.name: m.thresholds["file"] for spec, m in done if m.dataset == first}
    paths["score_distributions"] = P.plot_score_distributions(file_scores, out / "score_distributions.png", file_thr)
    histories = {
        s.name: pd.read_csv(s.run_dir / "history.csv") for s, _ in done if (s.run_dir / "history.csv").is_file()
    }
    if histories:
        paths["training_curves"] = P.plot_training_curves(histories, out / "training_curves.png")
    paths["metrics_bars"] = P.plot_metric_bars(metrics, out / "metrics_bars.png", level="file")
    published = matching_baselines(load_baselines(), result.protocol)
    paths["auc_ci"] = P.plot_auc_intervals(result.metrics, out / "auc_ci.png", baselines=published)
    per_method = result.per_method
    if not per_method.empty and per_method["auc"].notna().any():
        per_method = per_method[per_method["dataset"] == first]
        paths["per_method_auc"] = P.plot_method_heatmap(per_method, out / "per_method_auc.png", level="file")
    if result.cross_dataset is not None:
        paths["cross_dataset_auc"] = P.plot_cross_dataset_heatmap(result.cross_dataset, out / "cross_dataset_auc.png")
    if result.robustness is not None:
        r = result.robustness[result.robustness["level"] == "file"]
        paths["robustness"] = P.plot_robustness(r, out / "robustness.png")
    if result.video_robustness is not None and result.video_robustness["auc"].notna().any():
        paths["video_robustness"] = P.plot_video_robustness(result.video_robustness, out / "video_robustness.png")
    return paths
