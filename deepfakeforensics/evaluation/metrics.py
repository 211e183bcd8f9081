"""Detection metrics (scikit-learn underneath) at frame, window or file level, robust to one-class subsets."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from deepfakeforensics.scoring.aggregation import AGGREGATIONS, aggregate

METRIC_COLUMNS = [
    "n",
    "n_real",
    "n_fake",
    "auc",
    "ap",
    "eer",
    "log_loss",
    "tpr_at_fpr_1",
    "tpr_at_fpr_5",
    "threshold",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "precision",
    "recall",
    "note",
]


def _arrays(
    labels: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in shape")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return y, s


def _two_classes(y: np.ndarray) -> bool:
    return bool((y == 0).any() and (y == 1).any())


def equal_error_rate(labels: Sequence[float], scores: Sequence[float]) -> float:
    """The error rate where the false positive rate equals the false negative rate (linear interpolation on the ROC).

    Returns NaN when `labels` hold one class only.
    """
    y, s = _arrays(labels, scores)
    if not _two_classes(y):
        return float("nan")
    fpr, tpr, _ = skm.roc_curve(y, s)
    fnr = 1.0 - tpr
    d = fpr - fnr  # non-decreasing along the curve, from -1 (nothing flagged) to +1 (everything flagged)
    i = int(np.argmax(d >= 0))
    if d[i] == 0 or i == 0:
        return float(fpr[i])
    t = -d[i - 1] / (d[i] - d[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def tpr_at_fpr(labels: Sequence[float], scores: Sequence[float], target_fpr: float) -> float:
    """True positive rate at a given false positive rate, interpolated linearly on the ROC curve (NaN if one class)."""
    y, s = _arrays(labels, scores)
    if not _two_classes(y):
        return float("nan")
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    # Where the curve is vertical (several points at one FPR), the best TPR at that FPR is reachable.
    last_of_run = np.append(fpr[1:] != fpr[:-1], True)
    return float(np.interp(target_fpr, fpr[last_of_run], tpr[last_of_run]))


def compute_metrics(
    labels: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float = 0.5
) -> dict[str, float | int | str]:
    """Every metric of one set of scores.

    Ranking metrics (AUC, AP, EER, TPR at FPR 1 % / 5 %) need both classes: with one class they are NaN and ``note``
    says so. Decision metrics (accuracy, balanced accuracy, F1, precision, recall) use ``score >= threshold`` as fake.
    Log loss clips probabilities to [1e-7, 1 - 1e-7].

    Args:
        labels: 1 = fake, 0 = real.
        scores: P(fake).
        threshold: decision threshold (choose it on validation with `choose_threshold`).
    """
    y, s = _arrays(labels, scores)
    out: dict[str, float | int | str] = {
        "n": int(len(y)),
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "threshold": float(threshold),
        "note": "",
    }
    if len(y) == 0:
        out.update({k: float("nan") for k in METRIC_COLUMNS if k not in out})
        out["note"] = "no rows"
        return out
    pred = (s >= threshold).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one-class subsets: sklearn warns about ill-defined balanced accuracy
        out["accuracy"] = float(skm.accuracy_score(y, pred))
        out["balanced_accuracy"] = float(skm.balanced_accuracy_score(y, pred))
        out["f1"] = float(skm.f1_score(y, pred, zero_division=0))
        out["precision"] = float(skm.precision_score(y, pred, zero_division=0))
        out["recall"] = float(skm.recall_score(y, pred, zero_division=0))
        out["log_loss"] = float(skm.log_loss(y, np.clip(s, 1e-7, 1 - 1e-7), labels=[0, 1]))
    if _two_classes(y):
        out["auc"] = float(skm.roc_auc_score(y, s))
        out["ap"] = float(skm.average_precision_score(y, s))
        out["eer"] = equal_error_rate(y, s)
        out["tpr_at_fpr_1"] = tpr_at_fpr(y, s, 0.01)
        out["tpr_at_fpr_5"] = tpr_at_fpr(y, s, 0.05)
    else:
        for k in ("auc", "ap", "eer", "tpr_at_fpr_1", "tpr_at_fpr_5"):
            out[k] = float("nan")
        out["note"] = f"one class only ({'fake' if y[0] == 1 else 'real'}): ranking metrics undefined"
    return {k: out[k] for k in METRIC_COLUMNS}


def metrics_by_group(
    scores: pd.DataFrame, by: str = "method", threshold: float = 0.5, real_value: str | None = None
) -> pd.DataFrame:
    """Metrics per value of `by` (e.g. per manipulation method of FF++).

    A method's fakes alone have one class, so each fake method is scored against all real rows (the usual per-method
    AUC of FF++ papers). Real rows are those with label 0 (or ``by == real_value`` when given).

    Returns:
        One row per fake group: ``by`` and the `compute_metrics` columns.
    """
    if by not in scores:
        return pd.DataFrame(columns=[by, *METRIC_COLUMNS])
    real = scores[scores["label"] == 0] if real_value is None else scores[scores[by] == real_value]
    rows = []
    fakes = scores[scores["label"] == 1]
    for value, g in fakes.groupby(by, sort=True, dropna=False):
        both = pd.concat([real, g], ignore_index=True)
        rows.append({by: value, **compute_metrics(both["label"], both["score"], threshold)})
    return pd.DataFrame(rows, columns=[by, *METRIC_COLUMNS])


def metrics_by_aggregation(
    scores: pd.DataFrame, hows: Sequence[str] = AGGREGATIONS, threshold: float = 0.5
) -> pd.DataFrame:
    """File-level metrics of one frame (or window) score table under each aggregation rule, one row per rule.

    The same threshold applies to every rule (``vote`` scores are shares of fake-looking frames, also in [0, 1]).
    """
    rows = []
    for how in hows:
        files = aggregate(scores, how=how)
        rows.append({"aggregation": how, **compute_metrics(files["label"], files["score"], threshold=threshold)})
    return pd.DataFrame(rows)
