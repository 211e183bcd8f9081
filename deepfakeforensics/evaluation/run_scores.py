"""A run's scores on a faces manifest: load the run, build its dataset per split, score it, cache the scores.

`score_run` scores the evaluated split and the validation split of one run (`ScoredRun`); the item scores are cached
under ``scores/`` with a stamp of the checkpoint, so that a second evaluation of the same checkpoint reuses them and an
interrupted one resumes. Crops that cannot be read are left out of the scores and returned as failures.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from torch.utils.data import Dataset

from deepfakeforensics._io import load_table, save_table
from deepfakeforensics.data.datasets import build_dataset
from deepfakeforensics.evaluation.config import EvaluateConfig
from deepfakeforensics.evaluation.scores import failures_table, predict_scores
from deepfakeforensics.models import Detector
from deepfakeforensics.run_records import run_window_config
from deepfakeforensics.runs import RunInfo, RunSpec

log = logging.getLogger(__name__)

# one row per crop a run could not score: failures.csv
RUN_FAILURE_COLUMNS = ["path", "reason", "run", "split"]


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


def file_stem(name: str) -> str:
    """A run name as it appears in the file names of its scores and figures (anything but ``-_.`` and alphanumerics
    becomes ``_``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


_CACHED_COLUMNS = ("video_id", "label", "logit", "score")


def _checked_cache(cached: pd.DataFrame, n_items: int) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """A cached score table and its failures, after checking that they can be what `predict_scores` wrote.

    Raises:
        ValueError: a column is missing, a score is not a probability, or scored rows and failures do not add up to
            the dataset's items.
    """
    failures = [tuple(f) for f in cached.attrs.get("failures", [])]
    missing = [c for c in _CACHED_COLUMNS if c not in cached]
    if missing:
        raise ValueError(f"no column {', '.join(missing)}")
    scores = pd.to_numeric(cached["score"], errors="coerce")
    if not scores.between(0.0, 1.0).all():
        raise ValueError("a score is not a number in [0, 1]")
    if len(cached) + len(failures) != n_items:
        raise ValueError(f"{len(cached)} scores and {len(failures)} failures for {n_items} items")
    return cached, failures


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
                return _checked_cache(cached, stamp["n"])
            log.info("%s: cached scores were written for another checkpoint or dataset; scoring again", path)
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
        path = scores_dir / f"{file_stem(spec.name)}_{split}_{level}.csv"
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
