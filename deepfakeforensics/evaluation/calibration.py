"""Decision thresholds and temperature scaling, fitted on validation scores and applied to test scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn import metrics as skm

# How a decision threshold is chosen on validation scores (the one list; config types come from this Literal).
ThresholdRule = Literal["eer", "f1", "fpr", "fixed"]
THRESHOLD_RULES: tuple[str, ...] = get_args(ThresholdRule)


def sigmoid(x: np.ndarray | Sequence[float]) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def logit(p: np.ndarray | Sequence[float], eps: float = 1e-7) -> np.ndarray:
    """Inverse sigmoid of probabilities clipped to [eps, 1 - eps]."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def _finite(thresholds: np.ndarray, scores: np.ndarray) -> np.ndarray:
    # roc_curve's first threshold is +inf ("flag nothing"): replace it by a value just above the highest score.
    return np.where(np.isinf(thresholds), np.nextafter(scores.max(), np.inf), thresholds)


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


def fit_temperature(logits: Sequence[float] | np.ndarray, labels: Sequence[float] | np.ndarray) -> float:
    """The scalar temperature T minimising the negative log-likelihood of ``sigmoid(logits / T)`` (Guo et al. 2017).

    Fitted on validation logits; T > 1 softens over-confident scores. Ranking metrics are unchanged by T, log loss
    and file-level means of probabilities are not.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(z) == 0:
        raise ValueError("fit_temperature needs at least one logit")

    def nll(log_t: float) -> float:
        zt = z / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, zt) - y * zt))

    res = minimize_scalar(nll, bounds=(np.log(1e-2), np.log(1e2)), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(res.x))


def apply_temperature(logits: Sequence[float] | np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated P(fake) = ``sigmoid(logits / temperature)``."""
    return sigmoid(np.asarray(logits, dtype=np.float64) / temperature)
