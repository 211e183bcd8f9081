"""Compare trained runs on one split of one or several datasets: `evaluate`, the library behind ``dff evaluate`` and
the evaluation notebook (its options are the fields of `EvaluateConfig`).

Per run and manifest it scores (`run_scores.score_run`: the checkpoint, the run's datasets, the evaluated and the
validation split, cached scores reused), measures (`tables.run_metrics`: temperature and thresholds fitted on
validation, metrics at item and file level, per method), then writes the tables and plots of every run together.
Nothing is chosen on the evaluated split. With several manifests (cross-dataset), each run is scored on each one's
split and its thresholds come from the validation split of the manifest it was trained on (its config.json).

It writes into its output folder: ``metrics.csv``, ``per_method.csv``, ``paired.csv``, ``failures.csv``,
``errors_<run>.csv`` (`errors.worst_errors`: the worst false positives and negatives at video level,
``config.errors`` per class), ``scores/[<dataset>/]<run>_<split>_<level>.csv``, ``cross_dataset.csv`` (several
manifests), ``robustness.csv`` and ``video_robustness.csv`` (when asked), the plots (``roc_file.png``,
``roc_<item level>.png``, ``score_distributions.png``, ``training_curves.png``, ``metrics_bars.png``, ``auc_ci.png``,
``per_method_auc.png``, ``cross_dataset_auc.png``, ``robustness.png``, ``gradcam_<run>.png``, ``errors_<run>.png``:
key face crop, score timeline, track scores), and for released detectors ``published.csv``: their AUC with its
interval beside their authors' figure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from deepfakeforensics._io import save_table, write_csv_atomic
from deepfakeforensics.devices import resolve_device
from deepfakeforensics.evaluation import plots as P
from deepfakeforensics.evaluation.baselines import beside_published, load_baselines, matching_baselines
from deepfakeforensics.evaluation.config import EvaluateConfig
from deepfakeforensics.evaluation.crossdataset import FacesInput, load_datasets, training_validation
from deepfakeforensics.evaluation.errors import plot_errors, worst_errors
from deepfakeforensics.evaluation.gradcam import plot_scored_gradcam
from deepfakeforensics.evaluation.protocols import apply_protocol, get_protocol
from deepfakeforensics.evaluation.robustness import RobustnessConfig, robustness_sweep
from deepfakeforensics.evaluation.run_scores import (
    RUN_FAILURE_COLUMNS,
    ScoredRun,
    ValidationSource,
    file_stem,
    score_run,
)
from deepfakeforensics.evaluation.tables import EvaluationResult, RunMetrics, calibrated, run_metrics, write_tables
from deepfakeforensics.evaluation.video_robustness import VideoRobustnessConfig, video_robustness
from deepfakeforensics.faces.config import ExtractionConfig
from deepfakeforensics.runs import RunInfo, RunSpec, resolve_runs

log = logging.getLogger(__name__)


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
        calibrate=(lambda s: calibrated(s, t)) if t != 1.0 else None,
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
        save_table(
            m.scores["file"], scores_dir / f"{file_stem(spec.name)}_{config.split}_file.csv", root=run.dataset.root
        )
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
    The files written into `out_dir` are listed in this module's docstring.

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
    runs_done = _evaluate_runs(resolve_runs(runs), datasets, out, config, sweep, progress)
    result = write_tables(runs_done.done, runs_done.robust, runs_done.failures, out, config)
    result.errors = runs_done.errors
    result.published = beside_published(result.metrics, runs_done.released)
    if runs_done.released:
        write_csv_atomic(result.published, out / "published.csv")
    if config.perturb_index is not None:
        result.video_robustness = _video_sweep(runs_done.done, out, config)
    if config.plots:
        result.plots = {**_write_plots(result, runs_done.done), **runs_done.figures}
    return result


@dataclass
class _RunsDone:
    """What the runs left for the tables: metrics per run and dataset, and the extras of each run's first dataset."""

    done: list[tuple[RunSpec, RunMetrics]] = field(default_factory=list)
    robust: list[pd.DataFrame] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    errors: dict[str, pd.DataFrame] = field(default_factory=dict)
    released: dict[str, str] = field(default_factory=dict)


def _evaluate_runs(
    specs: Iterable[RunSpec],
    datasets: dict[str, pd.DataFrame],
    out: Path,
    config: EvaluateConfig,
    sweep: RobustnessConfig | None,
    progress: bool,
) -> _RunsDone:
    """Every run on every dataset; ``failures.csv`` rewritten as they come; the robustness sweep, Grad-CAM grid and
    error analysis on each run's first dataset."""
    acc = _RunsDone()
    for spec in specs:
        for k, (_, run, m) in enumerate(_evaluate_run(spec, datasets, out, config, progress)):
            if run.released is not None:
                acc.released[spec.name] = run.released
            acc.failures += run.failures
            write_csv_atomic(pd.DataFrame(acc.failures, columns=RUN_FAILURE_COLUMNS), out / "failures.csv")
            if k == 0 and sweep is not None:
                acc.robust.append(_sweep(run, m, sweep, config, progress).assign(protocol=config.protocol))
            if k == 0 and config.plots:
                acc.figures.update(_gradcam(run, m, out, config))
            if k == 0 and config.errors > 0:
                acc.errors[spec.name] = _error_analysis(run, m, out, config, acc.figures)
            acc.done.append((spec, m))
    return acc


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
    path = out / f"gradcam_{file_stem(run.spec.name)}.png"
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
    name = file_stem(run.spec.name)
    write_csv_atomic(table.assign(run=run.spec.name, dataset=m.dataset), out / f"errors_{name}.csv")
    if config.plots:
        title = f"{run.spec.name}: worst videos of {config.split} (file level, {config.aggregation})"
        figures[f"errors_{run.spec.name}"] = plot_errors(
            table, items, run.dataset.root, out / f"errors_{name}.png", title
        )
    return table


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
