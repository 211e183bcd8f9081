"""The tables of an evaluation: one run's metrics (`run_metrics`: temperature and thresholds fitted on validation,
metrics at item and file level, per method), and every run's gathered into `EvaluationResult` and written as CSV
(`write_tables`: metrics, per method, paired tests, cross-dataset, robustness)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from deepfakeforensics._io import write_csv_atomic
from deepfakeforensics.evaluation.bootstrap import bootstrap_ci
from deepfakeforensics.evaluation.calibration import apply_temperature, fit_temperature
from deepfakeforensics.evaluation.config import EvaluateConfig
from deepfakeforensics.evaluation.crossdataset import cross_dataset_table, paired_tests
from deepfakeforensics.evaluation.metrics import METRIC_COLUMNS, compute_metrics, metrics_by_group
from deepfakeforensics.evaluation.run_scores import RUN_FAILURE_COLUMNS, ScoredRun
from deepfakeforensics.runs import RunSpec
from deepfakeforensics.scoring.aggregation import aggregate
from deepfakeforensics.scoring.thresholds import choose_threshold

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
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RUN_FAILURE_COLUMNS))
    paired: pd.DataFrame = field(default_factory=pd.DataFrame)
    cross_dataset: pd.DataFrame | None = None
    dataset_scores: dict[tuple[str, str, str], pd.DataFrame] = field(default_factory=dict)
    protocol: str = "own"
    video_robustness: pd.DataFrame | None = None
    errors: dict[str, pd.DataFrame] = field(default_factory=dict)
    published: pd.DataFrame = field(default_factory=pd.DataFrame)  # released detectors beside their authors' figures


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


def calibrated(scores: pd.DataFrame | None, temperature: float) -> pd.DataFrame | None:
    """Scores recomputed from the logits at a temperature (the same table when there is nothing to change)."""
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
    test, val = calibrated(run.test, temperature), calibrated(run.val, temperature)
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


def write_tables(
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
    failed = pd.DataFrame(failures, columns=RUN_FAILURE_COLUMNS).drop_duplicates(ignore_index=True)
    return EvaluationResult(
        metrics,
        per_method,
        scores,
        robustness,
        out_dir=out,
        failures=failed,
        paired=paired,
        cross_dataset=cross,
        dataset_scores=all_scores,
        protocol=config.protocol,
    )
