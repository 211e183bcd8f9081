"""Decision thresholds and temperature scaling, fitted on validation scores and applied to test scores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = [
    "apply_temperature",
    "fit_temperature",
    "logit",
    "sigmoid",
]


def sigmoid(x: np.ndarray | Sequence[float]) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def logit(p: np.ndarray | Sequence[float], eps: float = 1e-7) -> np.ndarray:
    """Inverse sigmoid of probabilities clipped to [eps, 1 - eps]."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


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
