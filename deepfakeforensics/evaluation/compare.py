"""Compare trained runs on one split: scores at frame/window and file level, metrics, per-method table, plots.

`evaluate` is the library behind ``dff evaluate`` and the evaluation notebook. Thresholds (and the optional
temperature) are fitted on the validation split and applied to the test split: nothing is chosen on test.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepfakeforensics._io import append_failures, load_table, save_table, write_csv_atomic
from deepfakeforensics.evaluation.aggregate import AGGREGATIONS, aggregate
from deepfakeforensics.evaluation.calibration import apply_temperature, choose_threshold, fit_temperature
from deepfakeforensics.evaluation.metrics import METRIC_COLUMNS, compute_metrics, metrics_by_group
from deepfakeforensics.evaluation.robustness import RobustnessConfig, robustness_sweep
from deepfakeforensics.evaluation.scores import predict_scores

log = logging.getLogger(__name__)

# Keys of a run's config.json that describe its window dataset (searched at any depth).
_WINDOW_KEYS = ("window", "stride", "short", "pad_mode")


@dataclass
class RunSpec:
    """One run to evaluate: its name (table rows, legends), checkpoint and run folder."""

    name: str
    checkpoint: Path
    run_dir: Path


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
    """

    metrics: pd.DataFrame
    per_method: pd.DataFrame
    scores: dict[tuple[str, str], pd.DataFrame]
    robustness: pd.DataFrame | None
    plots: dict[str, Path] = field(default_factory=dict)
    out_dir: Path = Path(".")


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


def _find_keys(obj: Any, keys: Sequence[str], found: dict[str, Any]) -> dict[str, Any]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in keys and k not in found and not isinstance(v, dict | list):
                found[k] = v
            else:
                _find_keys(v, keys, found)
    elif isinstance(obj, list):
        for v in obj:
            _find_keys(v, keys, found)
    return found


def window_options(run_dir: Path) -> dict[str, Any]:
    """Window size, stride, short-track policy recorded in the run's config.json (empty when absent)."""
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        return {}
    cfg = json.loads(cfg_path.read_text())
    # The validation dataset's options first (its stride is the evaluation one), then anywhere else in the file.
    found = _find_keys(cfg.get("val_data", {}) if isinstance(cfg, dict) else {}, _WINDOW_KEYS, {})
    found = _find_keys(cfg, _WINDOW_KEYS, found)
    return {k: v for k, v in found.items() if v is not None}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _cached_scores(
    model: torch.nn.Module, dataset: Any, spec: RunSpec, path: Path, batch_size: int, device: str, num_workers: int,
    progress: bool,
) -> pd.DataFrame:  # fmt: skip
    """Scores of a dataset, reused from `path` when it was written for the same checkpoint (resumable evaluation)."""
    stamp = {"checkpoint": str(spec.checkpoint.resolve()), "mtime": spec.checkpoint.stat().st_mtime, "n": len(dataset)}
    if path.is_file():
        try:
            cached = load_table(path)
            if cached.attrs.get("stamp") == stamp and len(cached) == len(dataset):
                return cached
        except (OSError, ValueError, json.JSONDecodeError):
            pass
    scores = predict_scores(model, dataset, batch_size=batch_size, device=device, num_workers=num_workers,
                            progress=progress)  # fmt: skip
    save_table(scores, path, root=dataset.root, stamp=stamp)
    return scores


def _threshold(val: pd.DataFrame | None, rule: str, target_fpr: float) -> tuple[float, str]:
    if rule == "fixed":
        return 0.5, ""
    if val is None or val.empty:
        return 0.5, f"no validation scores: threshold 0.5 instead of {rule}"
    try:
        return choose_threshold(val["label"], val["score"], rule, target_fpr), ""
    except ValueError as e:
        return 0.5, f"threshold 0.5 ({e})"


def evaluate(
    runs: Sequence[str | os.PathLike],
    faces_csv: str | os.PathLike | pd.DataFrame,
    split: str = "test",
    out_dir: str | os.PathLike = "evaluation",
    val_split: str | None = "val",
    aggregation: str = "mean",
    threshold_rule: str = "eer",
    target_fpr: float = 0.01,
    calibrate: bool = False,
    robustness: RobustnessConfig | None = None,
    gradcam: int = 0,
    batch_size: int = 32,
    device: str = "cpu",
    num_workers: int = 0,
    plots: bool = True,
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate and compare trained runs on one split of a faces manifest.

    For each run: load ``best.pt``, build its evaluation dataset (frames, or windows with the run's window size),
    score `val_split` and `split`, optionally fit a temperature on validation logits, choose a threshold per level on
    validation (`threshold_rule`), and compute metrics on `split` at item level (frame or window) and file level
    (`aggregation` over every face and frame of a ``video_id``).

    Writes into `out_dir`: ``metrics.csv``, ``per_method.csv``, ``scores/<run>_<split>_<level>.csv``,
    ``robustness.csv`` (when asked) and the plots (``roc_file.png``, ``roc_<item level>.png``,
    ``score_distributions.png``, ``training_curves.png``, ``metrics_bars.png``, ``per_method_auc.png``,
    ``robustness.png``, ``gradcam_<run>.png``).

    Args:
        runs: run folders (``checkpoints/RUN`` with best.pt, config.json, history.csv) or checkpoint files.
        faces_csv: the faces manifest (``labels/NAME_faces.csv``) or a DataFrame from ``load_table``.
        split: the split to report on.
        out_dir: output folder (created).
        val_split: the split thresholds and temperature are fitted on; None: threshold 0.5, no calibration.
        aggregation: file-level rule, one of ``mean``, ``track_max``, ``median``, ``vote``.
        threshold_rule: ``eer``, ``f1``, ``fpr`` (at `target_fpr`) or ``fixed`` (0.5).
        target_fpr: false positive rate for ``threshold_rule="fpr"``.
        calibrate: temperature-scale the logits (fitted on validation) before aggregating.
        robustness: sweep perturbations on `split` (costs one scoring pass per strength); None skips it.
        gradcam: number of crops per class in each frame model's Grad-CAM grid; 0 skips it.
        batch_size: items per forward pass.
        device: ``cpu``, ``cuda``...
        num_workers: DataLoader workers decoding crops.
        plots: write the figures.
        progress: progress bars.

    Example:
        >>> res = evaluate(["checkpoints/meso", "checkpoints/effb0"], "labels/ffpp_faces.csv", out_dir="eval")
        >>> res.metrics.query("level == 'file'")[["run", "auc", "eer"]]  # doctest: +SKIP
    """
    from deepfakeforensics.datasets import build_dataset
    from deepfakeforensics.models import load_model

    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
    out = Path(out_dir)
    (out / "scores").mkdir(parents=True, exist_ok=True)
    faces = faces_csv if isinstance(faces_csv, pd.DataFrame) else load_table(faces_csv)
    if not isinstance(faces_csv, pd.DataFrame):
        faces.attrs["source"] = str(faces_csv)
    specs = resolve_runs(runs)

    metric_rows, method_rows, robust_tables = [], [], []
    all_scores: dict[tuple[str, str], pd.DataFrame] = {}
    val_thresholds: dict[tuple[str, str], float] = {}
    gradcam_inputs = []
    for spec in specs:
        model = load_model(spec.checkpoint).eval()
        kw = window_options(spec.run_dir) if model.default_cfg.temporal else {}
        test_ds = build_dataset(faces, split, model, train=False, missing="skip", **kw)
        if len(test_ds) == 0:
            raise ValueError(f"{faces.attrs.get('source', 'faces table')}: no items in split {split!r}")
        if test_ds.n_missing:  # crops listed in the manifest but absent or empty: reported, not fatal
            log.warning(
                "%s: %d face crops of split %r cannot be read (see failures.csv)", spec.name, test_ds.n_missing, split
            )
            append_failures(
                out / "failures.csv", [(p, f"{spec.name}: {r}") for p, r in test_ds.skipped.itertuples(index=False)]
            )
        item_level = "window" if model.default_cfg.temporal else "frame"
        stem = out / "scores" / _safe(spec.name)
        test_scores = _cached_scores(model, test_ds, spec, Path(f"{stem}_{split}_{item_level}.csv"), batch_size,
                                     device, num_workers, progress)  # fmt: skip
        val_scores = None
        if val_split is not None:
            val_ds = build_dataset(faces, val_split, model, train=False, missing="skip", **kw)
            if len(val_ds):
                val_scores = _cached_scores(model, val_ds, spec, Path(f"{stem}_{val_split}_{item_level}.csv"),
                                            batch_size, device, num_workers, progress)  # fmt: skip
        temperature, notes = 1.0, []
        if calibrate:
            if val_scores is not None and val_scores["label"].nunique() == 2:
                temperature = fit_temperature(val_scores["logit"], val_scores["label"])
            else:
                notes.append("no two-class validation set: not calibrated")

        def calibrated(s: pd.DataFrame, t: float = temperature) -> pd.DataFrame:
            return s if t == 1.0 else s.assign(score=apply_temperature(s["logit"], t))

        test_scores = calibrated(test_scores)
        val_scores = calibrated(val_scores) if val_scores is not None else None
        levels = {
            item_level: (test_scores, val_scores),
            "file": (aggregate(test_scores, aggregation), aggregate(val_scores, aggregation) if val_scores is not None else None),
        }  # fmt: skip
        for level, (test_t, val_t) in levels.items():
            threshold, note = _threshold(val_t, threshold_rule, target_fpr)
            val_thresholds[(spec.name, level)] = threshold
            m = compute_metrics(test_t["label"], test_t["score"], threshold)
            m["note"] = "; ".join(x for x in [m["note"], note, *notes] if x)
            val_auc = compute_metrics(val_t["label"], val_t["score"])["auc"] if val_t is not None else float("nan")
            metric_rows.append({
                "run": spec.name, "model": model.name, "level": level, "split": split, "aggregation": aggregation,
                "threshold_rule": threshold_rule, "temperature": temperature, "val_auc": val_auc, **m,
            })  # fmt: skip
            if "method" in test_t and test_t["method"].notna().any():
                pm = metrics_by_group(test_t, "method", threshold)
                method_rows.append(pm.assign(run=spec.name, level=level))
            all_scores[(spec.name, level)] = test_t
            if level == "file":
                save_table(test_t, Path(f"{stem}_{split}_file.csv"), root=test_ds.root)
        if robustness is not None:
            cal = (lambda s, t=temperature: calibrated(s, t)) if temperature != 1.0 else None
            r = robustness_sweep(model, test_ds, robustness, threshold=val_thresholds[(spec.name, "file")],
                                 device=device, progress=progress, clean_scores=test_scores, calibrate=cal)  # fmt: skip
            robust_tables.append(r.assign(run=spec.name))
        if gradcam > 0 and not model.default_cfg.temporal and hasattr(model, "gradcam_layer"):
            gradcam_inputs.append((spec, model, test_ds, test_scores))

    metrics = pd.DataFrame(metric_rows)
    metrics = metrics[[c for c in ["run", "model", "level", "split", "aggregation", "threshold_rule", "temperature",
                                   "val_auc", *METRIC_COLUMNS] if c in metrics]]  # fmt: skip
    per_method = pd.concat(method_rows, ignore_index=True) if method_rows else pd.DataFrame()
    if not per_method.empty:
        per_method = per_method[["run", "level", *[c for c in per_method if c not in ("run", "level")]]]
    robust = pd.concat(robust_tables, ignore_index=True) if robust_tables else None
    write_csv_atomic(metrics, out / "metrics.csv")
    write_csv_atomic(per_method, out / "per_method.csv")
    if robust is not None:
        write_csv_atomic(robust, out / "robustness.csv")

    result = EvaluationResult(metrics, per_method, all_scores, robust, {}, out)
    if plots:
        result.plots = _write_plots(result, specs, val_thresholds, gradcam_inputs, gradcam)
    return result


def _write_plots(
    result: EvaluationResult,
    specs: Sequence[RunSpec],
    thresholds: dict[tuple[str, str], float],
    gradcam_inputs: list,
    gradcam: int,
) -> dict[str, Path]:
    from deepfakeforensics.evaluation import plots as P

    out = result.out_dir
    paths: dict[str, Path] = {}
    levels = list(dict.fromkeys(level for _, level in result.scores))
    for level in levels:
        by_run = {run: s for (run, lv), s in result.scores.items() if lv == level}
        paths[f"roc_{level}"] = P.plot_roc_curves(by_run, out / f"roc_{level}.png", title=f"{level}-level ROC")
    file_scores = {run: s for (run, lv), s in result.scores.items() if lv == "file"}
    file_thr = {run: t for (run, lv), t in thresholds.items() if lv == "file"}
    paths["score_distributions"] = P.plot_score_distributions(file_scores, out / "score_distributions.png", file_thr)
    histories = {}
    for spec in specs:
        h = spec.run_dir / "history.csv"
        if h.is_file():
            histories[spec.name] = pd.read_csv(h)
    if histories:
        paths["training_curves"] = P.plot_training_curves(histories, out / "training_curves.png")
    paths["metrics_bars"] = P.plot_metric_bars(result.metrics, out / "metrics_bars.png", level="file")
    if not result.per_method.empty and result.per_method["auc"].notna().any():
        paths["per_method_auc"] = P.plot_method_heatmap(result.per_method, out / "per_method_auc.png", level="file")
    if result.robustness is not None:
        r = result.robustness[result.robustness["level"] == "file"]
        paths["robustness"] = P.plot_robustness(r, out / "robustness.png")
    for spec, model, ds, scores in gradcam_inputs:
        paths[f"gradcam_{spec.name}"] = gradcam_for_dataset(
            model, ds, scores, out / f"gradcam_{_safe(spec.name)}.png", per_class=gradcam
        )
    return paths


def gradcam_for_dataset(
    model: torch.nn.Module, dataset: Any, scores: pd.DataFrame, path: Path, per_class: int = 4
) -> Path:
    """Grad-CAM grid of `per_class` real and fake crops of a `FrameDataset`, taken from different videos."""
    from deepfakeforensics.datasets import read_crop
    from deepfakeforensics.evaluation.gradcam import plot_gradcam_grid

    picks: list[int] = []
    for label in (0, 1):
        idx = np.flatnonzero(scores["label"].to_numpy() == label)
        firsts = pd.Series(idx).groupby(scores["video_id"].to_numpy()[idx], sort=False).first().to_numpy()
        chosen = firsts if len(firsts) >= per_class else idx
        picks += (
            list(chosen[np.linspace(0, len(chosen) - 1, min(per_class, len(chosen))).astype(int)])
            if len(chosen)
            else []
        )
    crops = [read_crop(dataset._paths[i]) for i in picks]
    labels = [int(scores["label"].iat[i]) for i in picks]
    titles = [str(scores["video_id"].iat[i]) for i in picks]
    return plot_gradcam_grid(model, crops, labels, path, titles=titles)
