"""Compare trained runs on one split: scores at frame/window and file level, metrics, per-method table, plots.

`evaluate` is the library behind ``dff evaluate`` and the evaluation notebook; its options are the fields of
`EvaluateConfig` (the command line is generated from them). It works in three steps per run: `score_run` (load the
checkpoint, build the run's datasets, score the evaluated and validation splits, reusing cached scores), then
`run_metrics` (temperature and thresholds fitted on validation, metrics at item and file level, per method), and
finally the tables and plots of every run together. Nothing is chosen on the evaluated split.
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
from deepfakeforensics.datasets import build_dataset
from deepfakeforensics.evaluation import plots as P
from deepfakeforensics.evaluation.aggregate import AGGREGATIONS, Aggregation, aggregate
from deepfakeforensics.evaluation.calibration import (
    THRESHOLD_RULES,
    ThresholdRule,
    apply_temperature,
    choose_threshold,
    fit_temperature,
)
from deepfakeforensics.evaluation.gradcam import plot_scored_gradcam
from deepfakeforensics.evaluation.metrics import METRIC_COLUMNS, compute_metrics, metrics_by_group
from deepfakeforensics.evaluation.robustness import RobustnessConfig, robustness_sweep
from deepfakeforensics.evaluation.scores import failures_table, predict_scores
from deepfakeforensics.models import Detector, load_model
from deepfakeforensics.training.config import read_run_config
from deepfakeforensics.training.distributed import resolve_device
from deepfakeforensics.windows import WindowConfig

log = logging.getLogger(__name__)

FAILURE_COLUMNS = ["path", "reason", "run", "split"]
_METRICS_FIRST = ["run", "model", "level", "split", "aggregation", "threshold_rule", "temperature", "val_auc"]


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
        metadata={"help": "sweep JPEG quality, blur, downscale and noise on the split (one scoring pass per strength)"},
    )
    gradcam: int = field(default=4, metadata={"help": "crops per class in each frame model's Grad-CAM grid (0: none)"})
    batch_size: int = field(default=32, metadata={"help": "items (crops or windows) per forward pass"})
    num_workers: int = field(default=0, metadata={"help": "DataLoader workers decoding crops"})
    device: str = field(default="auto", metadata={"help": "torch device: auto (a GPU when there is one), cpu, cuda..."})
    plots: bool = field(default=True, metadata={"help": "write the comparison figures"})

    def __post_init__(self) -> None:
        if isinstance(self.val_split, str) and self.val_split.lower() == "none":
            object.__setattr__(self, "val_split", None)
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ValueError(f"unknown threshold rule {self.threshold_rule!r}; choose one of {THRESHOLD_RULES}")
        if self.gradcam < 0 or self.batch_size < 1 or self.num_workers < 0:
            raise ValueError("gradcam and num_workers must be >= 0 and batch_size >= 1")


@dataclass
class RunSpec:
    """One run to evaluate: its name (table rows, legends), checkpoint and run folder."""

    name: str
    checkpoint: Path
    run_dir: Path


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


@dataclass
class RunMetrics:
    """One run's metrics: rows of the metrics table, per-method tables, scores and thresholds per level."""

    rows: list[dict[str, Any]]
    per_method: list[pd.DataFrame]
    scores: dict[str, pd.DataFrame]
    thresholds: dict[str, float]
    temperature: float


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
    """

    metrics: pd.DataFrame
    per_method: pd.DataFrame
    scores: dict[tuple[str, str], pd.DataFrame]
    robustness: pd.DataFrame | None
    plots: dict[str, Path] = field(default_factory=dict)
    out_dir: Path = Path(".")
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS))


def resolve_runs(runs: Sequence[str | os.PathLike]) -> list[RunSpec]:
    """Run folders (``checkpoints/RUN`` holding ``best.pt``) or checkpoint files -> unique names and paths."""
    specs: list[RunSpec] = []
    seen: dict[str, int] = {}
    for r in runs:
        p = Path(r)
        if p.is_dir():
            ckpt = p / "best.pt"
            if not ckpt.is_file():
                raise FileNotFoundError(f"{p}: run folder without best.pt")
            run_dir, name = p, p.name
        elif p.is_file():
            run_dir, ckpt = p.parent, p
            name = p.parent.name if p.name == "best.pt" else f"{p.parent.name}/{p.stem}"
        else:
            raise FileNotFoundError(f"{p}: no such run folder or checkpoint")
        if name in seen:  # two runs with one folder name (e.g. in different parents): number them
            seen[name] += 1
            name = f"{name}#{seen[name]}"
        else:
            seen[name] = 1
        specs.append(RunSpec(name, ckpt, run_dir))
    return specs


def run_window_config(run_dir: str | os.PathLike) -> WindowConfig:
    """The windows a run was trained and validated on (`read_run_config`), or the defaults when it records none.

    A folder that is not a training run (no config.json, e.g. a checkpoint copied on its own) gets the defaults,
    with a warning: a temporal model scored on other windows than its own may score worse.
    """
    try:
        _, data = read_run_config(run_dir)
    except (FileNotFoundError, ValueError) as e:
        log.warning("%s; windows of %s", e, WindowConfig())
        return WindowConfig()
    return data.window or WindowConfig()


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
        except (OSError, ValueError, json.JSONDecodeError):
            pass
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


def score_run(
    spec: RunSpec, faces: pd.DataFrame, scores_dir: Path, config: EvaluateConfig, progress: bool = True
) -> ScoredRun:
    """Load a run's checkpoint and score the evaluated and validation splits with it (cached in `scores_dir`).

    Temporal runs are scored per window, cut as the run's validation windows (`run_window_config`).

    Raises:
        ValueError: the evaluated split has no item.
    """
    model = load_model(spec.checkpoint).eval()
    dataset, test, failures = _score_split(model, faces, config.split, spec, scores_dir, config, progress)
    if test is None:
        raise ValueError(f"{faces.attrs.get('source', 'faces table')}: no items in split {config.split!r}")
    val = None
    if config.val_split is not None:
        _, val, val_failures = _score_split(model, faces, config.val_split, spec, scores_dir, config, progress)
        failures += val_failures
    item_level = "window" if model.default_cfg.temporal else "frame"
    return ScoredRun(spec, model, dataset, item_level, test, val, failures)


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


def run_metrics(run: ScoredRun, config: EvaluateConfig) -> RunMetrics:
    """Metrics of one scored run at item level and file level, with temperature and thresholds from validation."""
    temperature, notes = _temperature(run.val, config)
    test, val = _calibrated(run.test, temperature), _calibrated(run.val, temperature)
    levels = {
        run.item_level: (test, val),
        "file": (aggregate(test, config.aggregation), None if val is None else aggregate(val, config.aggregation)),
    }
    out = RunMetrics([], [], {}, {}, temperature)
    for level, (test_t, val_t) in levels.items():
        threshold, note = _threshold(val_t, config)
        m = compute_metrics(test_t["label"], test_t["score"], threshold)
        m["note"] = "; ".join(x for x in [m["note"], note, *notes] if x)
        val_auc = compute_metrics(val_t["label"], val_t["score"])["auc"] if val_t is not None else float("nan")
        out.rows.append(
            {
                "run": run.spec.name,
                "model": run.model.name,
                "level": level,
                "split": config.split,
                "aggregation": config.aggregation,
                "threshold_rule": config.threshold_rule,
                "temperature": temperature,
                "val_auc": val_auc,
                **m,
            }
        )
        if "method" in test_t and test_t["method"].notna().any():
            out.per_method.append(metrics_by_group(test_t, "method", threshold).assign(run=run.spec.name, level=level))
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


def _load_faces(faces_csv: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    if isinstance(faces_csv, pd.DataFrame):
        return faces_csv
    faces = load_table(faces_csv)
    faces.attrs["source"] = str(faces_csv)
    return faces


def evaluate(
    runs: Sequence[str | os.PathLike],
    faces_csv: str | os.PathLike | pd.DataFrame,
    out_dir: str | os.PathLike = "evaluation",
    config: EvaluateConfig | None = None,
    *,
    robustness: RobustnessConfig | bool | None = None,
    progress: bool = True,
    **options: Any,
) -> EvaluationResult:
    """Evaluate and compare trained runs on one split of a faces manifest.

    For each run: `score_run` (``best.pt``, its evaluation dataset, scores of ``config.split`` and
    ``config.val_split``), then `run_metrics` (optional temperature, thresholds per level chosen on validation,
    metrics at item level, frame or window, and file level: `aggregation` over every face and frame of a
    ``video_id``). Crops that cannot be read are left out of the scores and listed in ``failures.csv``.

    Writes into `out_dir`: ``metrics.csv``, ``per_method.csv``, ``failures.csv``, ``scores/<run>_<split>_<level>.csv``,
    ``robustness.csv`` (when asked) and the plots (``roc_file.png``, ``roc_<item level>.png``,
    ``score_distributions.png``, ``training_curves.png``, ``metrics_bars.png``, ``per_method_auc.png``,
    ``robustness.png``, ``gradcam_<run>.png``).

    Args:
        runs: run folders (``checkpoints/RUN`` with best.pt, config.json, history.csv) or checkpoint files.
        faces_csv: the faces manifest (``labels/NAME_faces.csv``) or a DataFrame from ``load_table``.
        out_dir: output folder (created).
        config: the options (`EvaluateConfig`); default `EvaluateConfig()`.
        robustness: a `RobustnessConfig` to sweep (its strengths; its aggregation defaults to the evaluation's),
            or True/False to override ``config.robustness`` (the default sweep); None: as ``config.robustness``.
        progress: progress bars.
        **options: fields of `EvaluateConfig` overriding `config` (``split="val"``, ``aggregation="track_max"``...).

    Example:
        >>> res = evaluate(["checkpoints/meso", "checkpoints/effb0"], "labels/ffpp_faces.csv", "eval", split="test")
        >>> res.metrics.query("level == 'file'")[["run", "auc", "eer"]]  # doctest: +SKIP
    """
    config = replace(config or EvaluateConfig(), **options)
    config = replace(config, device=resolve_device(config.device))
    sweep = _robustness_config(robustness, config)
    out = Path(out_dir)
    (out / "scores").mkdir(parents=True, exist_ok=True)
    faces = _load_faces(faces_csv)
    done: list[tuple[RunSpec, RunMetrics]] = []
    robust, figures, failures = [], {}, []
    for spec in resolve_runs(runs):
        run = score_run(spec, faces, out / "scores", config, progress)
        failures += run.failures
        write_csv_atomic(pd.DataFrame(failures, columns=FAILURE_COLUMNS), out / "failures.csv")
        m = run_metrics(run, config)
        file_csv = out / "scores" / f"{_safe(spec.name)}_{config.split}_file.csv"
        save_table(m.scores["file"], file_csv, root=run.dataset.root)
        if sweep is not None:
            robust.append(_sweep(run, m, sweep, config, progress))
        if config.plots:
            figures.update(_gradcam(run, m, out, config))
        done.append((spec, m))
    result = _write_tables(done, robust, failures, out)
    if config.plots:
        result.plots = {**_write_plots(result, done), **figures}
    return result


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


def _write_tables(
    done: Sequence[tuple[RunSpec, RunMetrics]], robust: list[pd.DataFrame], failures: list, out: Path
) -> EvaluationResult:
    """Gather every run's metrics into the result tables; write ``metrics.csv``, ``per_method.csv``, robustness."""
    metrics = pd.DataFrame([row for _, m in done for row in m.rows])
    metrics = metrics[[c for c in [*_METRICS_FIRST, *METRIC_COLUMNS] if c in metrics]]
    method_tables = [t for _, m in done for t in m.per_method]
    per_method = pd.concat(method_tables, ignore_index=True) if method_tables else pd.DataFrame()
    if not per_method.empty:
        per_method = per_method[["run", "level", *[c for c in per_method if c not in ("run", "level")]]]
    robustness = pd.concat(robust, ignore_index=True) if robust else None
    write_csv_atomic(metrics, out / "metrics.csv")
    write_csv_atomic(per_method, out / "per_method.csv")
    if robustness is not None:
        write_csv_atomic(robustness, out / "robustness.csv")
    scores = {(spec.name, level): s for spec, m in done for level, s in m.scores.items()}
    failed = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    return EvaluationResult(metrics, per_method, scores, robustness, {}, out, failed)


def _write_plots(result: EvaluationResult, done: Sequence[tuple[RunSpec, RunMetrics]]) -> dict[str, Path]:
    """The comparison figures of every run (ROC per level, score distributions, curves, bars, per method...)."""
    out = result.out_dir
    paths: dict[str, Path] = {}
    for level in dict.fromkeys(level for _, level in result.scores):
        by_run = {run: s for (run, lv), s in result.scores.items() if lv == level}
        paths[f"roc_{level}"] = P.plot_roc_curves(by_run, out / f"roc_{level}.png", title=f"{level}-level ROC")
    file_scores = {run: s for (run, lv), s in result.scores.items() if lv == "file"}
    file_thr = {spec.name: m.thresholds["file"] for spec, m in done}
    paths["score_distributions"] = P.plot_score_distributions(file_scores, out / "score_distributions.png", file_thr)
    histories = {
        s.name: pd.read_csv(s.run_dir / "history.csv") for s, _ in done if (s.run_dir / "history.csv").is_file()
    }
    if histories:
        paths["training_curves"] = P.plot_training_curves(histories, out / "training_curves.png")
    paths["metrics_bars"] = P.plot_metric_bars(result.metrics, out / "metrics_bars.png", level="file")
    if not result.per_method.empty and result.per_method["auc"].notna().any():
        paths["per_method_auc"] = P.plot_method_heatmap(result.per_method, out / "per_method_auc.png", level="file")
    if result.robustness is not None:
        r = result.robustness[result.robustness["level"] == "file"]
        paths["robustness"] = P.plot_robustness(r, out / "robustness.png")
    return paths
