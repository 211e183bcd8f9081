"""Decision thresholds chosen on validation scores, and the ``thresholds.json`` a training run records beside best.pt.

Part of ``scoring`` (not ``evaluation``) because training records the thresholds of its best epoch and must not
import the evaluation package (which reads training's run configs).

``thresholds.json`` (written atomically by `train` each time best.pt is written)::

    {"epoch": 3, "split": "val", "rule": "eer", "checkpoint": "best.pt",
     "levels": {"frame": {"threshold": 0.41, "aggregation": null, "n": 120, "n_real": 60, "n_fake": 60},
                "file": {"threshold": 0.47, "aggregation": "mean", "n": 8, "n_real": 4, "n_fake": 4}},
     "file_by_aggregation": {"mean": {...}, "track_max": {...}, "median": {...}, "vote": {...}}}

The first level is ``"frame"`` or ``"window"`` (temporal models); ``"file"`` is the default aggregation's (``mean``),
and ``file_by_aggregation`` holds the file-level threshold of every aggregation rule (`AGGREGATIONS`), so that
``dff predict --aggregation track_max`` or a server with another rule also decides at a validation threshold. A level
whose validation scores hold one class has ``"threshold": null`` and a ``"note"``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from deepfakeforensics._io import write_json_atomic
from deepfakeforensics.errors import DFFError
from deepfakeforensics.scoring.aggregation import AGGREGATIONS, aggregate

THRESHOLDS_FILE = "thresholds.json"

# How a decision threshold is chosen on validation scores (the one list; config types come from this Literal).
ThresholdRule = Literal["eer", "f1", "fpr", "fixed"]
THRESHOLD_RULES: tuple[str, ...] = get_args(ThresholdRule)


class ThresholdsError(DFFError, ValueError):
    """A ``thresholds.json`` that cannot be used (truncated, not UTF-8, a field of the wrong type or out of range)."""


def _finite(thresholds: np.ndarray, scores: np.ndarray) -> np.ndarray:
    # roc_curve's first threshold is +inf ("flag nothing"): replace it by a value just above the highest score, kept a
    # probability (at most 1: a threshold must stay in [0, 1], which thresholds.json readers check).
    above = min(float(np.nextafter(scores.max(), np.inf)), 1.0)
    return np.where(np.isinf(thresholds), above, thresholds)


def choose_threshold(
    labels: Sequence[float] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    rule: str = "eer",
    target_fpr: float = 0.01,
) -> float:
    """A decision threshold (``score >= t`` means fake) chosen on validation scores.

    Args:
        labels: 1 = fake, 0 = real; both classes must be present.
        scores: P(fake).
        rule: ``"eer"`` (where FPR = FNR), ``"f1"`` (best F1), ``"fpr"`` (highest TPR with FPR <= `target_fpr`),
            or ``"fixed"`` (0.5).
        target_fpr: the false positive rate for ``rule="fpr"``.

    Raises:
        ValueError: unknown rule, or labels with one class only.
    """
    if rule == "fixed":
        return 0.5
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; choose one of {', '.join(THRESHOLD_RULES)}")
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    if not ((y == 0).any() and (y == 1).any()):
        raise ValueError(f"choosing a threshold by {rule!r} needs real and fake scores; got one class only")
    from sklearn import metrics as skm  # here, not at the top: reading a package (import time) needs no sklearn

    if rule == "f1":
        precision, recall, thresholds = skm.precision_recall_curve(y, s)
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        return float(thresholds[int(np.argmax(f1))])
    fpr, tpr, thresholds = skm.roc_curve(y, s, drop_intermediate=False)
    thresholds = _finite(thresholds, s)
    if rule == "eer":
        return float(thresholds[int(np.argmin(np.abs(fpr - (1 - tpr))))])
    ok = np.flatnonzero(fpr <= target_fpr)  # never empty: the first point has FPR 0
    return float(thresholds[ok[np.argmax(tpr[ok])]])


def _level_record(labels: np.ndarray, scores: np.ndarray, rule: str, aggregation: str | None) -> dict[str, Any]:
    """One level's threshold by `rule` with its counts; ``None`` and a note when the scores hold one class."""
    y = np.asarray(labels).astype(int)
    record: dict[str, Any] = {"threshold": None, "aggregation": aggregation, "n": int(len(y))}
    record.update(n_real=int((y == 0).sum()), n_fake=int((y == 1).sum()))
    if record["n_real"] and record["n_fake"]:
        record["threshold"] = choose_threshold(y, scores, rule)
    else:
        record["note"] = "validation scores of one class only: no threshold"
    return record


def validation_thresholds(
    scores: np.ndarray,
    labels: np.ndarray,
    video_ids: Sequence[Any] | None,
    epoch: int,
    level: str = "frame",
    rule: str = "eer",
    tracks: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The ``thresholds.json`` record of one epoch's validation scores.

    Args:
        scores, labels: one P(fake) and label per validation item (frame or window).
        video_ids: each item's ``video_id``; ``None`` (a dataset without ids) records the item level only.
        epoch: the epoch the scores come from (best.pt's).
        level: ``"frame"`` or ``"window"``: what one item is.
        rule: a `THRESHOLD_RULES` rule (EER by default: no target to choose, symmetric errors).
        tracks: each item's face ``track`` (``track_max`` takes the most suspicious face); None: one face per video.

    Returns:
        The record: ``epoch, split, rule, checkpoint, levels`` (`level` and, with ids, ``"file"``: the ``mean`` of
        each video's item scores, the default aggregation of ``dff evaluate``, ``dff predict`` and ``dff serve``)
        and, with ids, ``file_by_aggregation``: the file-level record of every rule in `AGGREGATIONS`.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    record = {"epoch": int(epoch), "split": "val", "rule": rule, "checkpoint": "best.pt"}
    record["levels"] = {level: _level_record(labels, scores, rule, None)}
    if video_ids is not None:
        table = pd.DataFrame({"video_id": list(video_ids), "score": scores, "label": labels})
        if tracks is not None:
            table["track"] = list(tracks)
        by_rule = {}
        for how in AGGREGATIONS:
            files = aggregate(table, how=how)
            by_rule[how] = _level_record(files["label"].to_numpy(), files["score"].to_numpy(), rule, how)
        record["levels"]["file"] = by_rule["mean"]
        record["file_by_aggregation"] = by_rule
    return record


def write_thresholds(run_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write `record` to ``<run_dir>/thresholds.json`` atomically; returns the path."""
    path = Path(run_dir) / THRESHOLDS_FILE
    write_json_atomic(path, record)
    return path


def read_thresholds(checkpoint: str | os.PathLike) -> dict[str, Any] | None:
    """The ``thresholds.json`` recorded for `checkpoint` (a run folder or its best.pt), or ``None`` if there is none.

    Only a run's best.pt has recorded thresholds (they were chosen with its weights).

    Raises:
        ThresholdsError: the file is truncated, not UTF-8 JSON, or a field has the wrong type or value (a threshold
            that is not a finite number in [0, 1]); the message names the file and the field.
    """
    path = Path(checkpoint)
    if path.is_file():
        if path.name != "best.pt":
            return None
        path = path.parent
    file = path / THRESHOLDS_FILE
    if not file.is_file():
        return None
    try:
        record = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ThresholdsError(f"{file}: not UTF-8 text (byte {e.start}); delete it or retrain to rewrite it") from e
    except json.JSONDecodeError as e:
        raise ThresholdsError(
            f"{file}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); truncated? "
            "Delete it (0.5 is then used) or retrain to rewrite it"
        ) from e
    _check_record(record, file)
    return record


def _check_record(record: Any, file: Path) -> None:
    """Raise `ThresholdsError` naming `file` and the field unless `record` has the types `validation_thresholds` writes."""

    def fail(field: str, value: Any, expected: str) -> None:
        raise ThresholdsError(f"{file}: field {field!r} is {value!r}; expected {expected}")

    if not isinstance(record, dict):
        fail("(top level)", type(record).__name__, "an object")
    for key in ("split", "rule", "checkpoint"):
        if key in record and not isinstance(record[key], str):
            fail(key, record[key], "a string")
    if "epoch" in record and (isinstance(record["epoch"], bool) or not isinstance(record["epoch"], int)):
        fail("epoch", record["epoch"], "an integer")
    sections: list[tuple[str, Any]] = []
    for group in ("levels", "file_by_aggregation"):
        value = record.get(group, {})
        if not isinstance(value, dict):
            fail(group, value, "an object")
        sections += [(f"{group}.{name}", level) for name, level in value.items()]
    for name, level in sections:
        if not isinstance(level, dict):
            fail(name, level, "an object")
        t = level.get("threshold")
        if t is not None:
            number = isinstance(t, int | float) and not isinstance(t, bool)
            if not (number and math.isfinite(t) and 0.0 <= t <= 1.0):
                fail(f"{name}.threshold", t, "a finite number in [0, 1] or null")
        agg = level.get("aggregation")
        if agg is not None and not isinstance(agg, str):
            fail(f"{name}.aggregation", agg, "a string or null")


def recorded_threshold(checkpoint: str | os.PathLike, aggregation: str = "mean") -> tuple[float, str] | None:
    """The file-level validation threshold recorded for `checkpoint` and a sentence saying where it came from.

    ``None`` when there is none: no ``thresholds.json``, a one-class validation set, or another `aggregation` than
    the one the threshold was chosen for.
    """
    record = read_thresholds(checkpoint) or {}
    file = record.get("file_by_aggregation", {}).get(aggregation) or record.get("levels", {}).get("file")
    if not file or file.get("threshold") is None or file.get("aggregation") != aggregation:
        return None  # (a record from before file_by_aggregation holds the mean's only)
    path = Path(checkpoint)
    where = path.parent if path.is_file() else path
    source = (
        f"chosen on validation (split {record.get('split', '?')!r}, epoch {record.get('epoch', '?')} = best.pt) by "
        f"rule {record.get('rule', '?')!r} (file level, aggregation {aggregation!r}) in {where.name}/{THRESHOLDS_FILE}"
    )
    return float(file["threshold"]), source
