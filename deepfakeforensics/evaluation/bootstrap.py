"""Uncertainty of ranking metrics: bootstrap confidence intervals over videos, and paired tests between two runs.

Frames (or windows) of one video are not independent draws, so every resample here draws whole VIDEOS with
replacement and keeps all the rows of each drawn video (a cluster bootstrap). Draws are stratified by class (as many
real and fake videos as the test set has, like pROC's default), so every resample has both classes. A resample is
encoded as a weight per row (how many times its video was drawn): `roc_auc_score` and `roc_curve` with
``sample_weight`` give exactly the metric of the duplicated table, without building it.

The paired tests compare two runs on the same test videos: a paired bootstrap (the same video draws for both runs, at
any level) and DeLong's test for two correlated AUCs (DeLong, DeLong & Clarke-Pearson, Biometrics 1988; the fast
mid-rank algorithm of Sun & Xu, IEEE SPL 2014), for one score per video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

#: Metrics with an interval in every evaluation table.
CI_METRICS = ("auc", "eer")


def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> float:
    """ROC AUC with per-row weights (a row drawn k times weighs k)."""
    keep = weights > 0
    return float(skm.roc_auc_score(labels[keep], scores[keep], sample_weight=weights[keep]))


def weighted_eer(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> float:
    """Equal error rate with per-row weights (linear interpolation where FPR crosses FNR, as `equal_error_rate`)."""
    keep = weights > 0
    fpr, tpr, _ = skm.roc_curve(labels[keep], scores[keep], sample_weight=weights[keep])
    d = fpr - (1.0 - tpr)
    i = int(np.argmax(d >= 0))
    if d[i] == 0 or i == 0:
        return float(fpr[i])
    t = -d[i - 1] / (d[i] - d[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


METRIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "auc": weighted_auc,
    "eer": weighted_eer,
}


@dataclass(frozen=True)
class VideoDraws:
    """Stratified draws of videos with replacement: ``counts[b, v]`` = times video ``v`` is in resample ``b``.

    Attributes:
        videos: the video ids, in column order of `counts`.
        counts: ``(n_resamples, n_videos)`` integer counts.
        seed: the seed of the draws.
    """

    videos: np.ndarray
    counts: np.ndarray
    seed: int

    @property
    def n_resamples(self) -> int:
        return int(self.counts.shape[0])

    def row_weights(self, video_ids: pd.Series) -> np.ndarray:
        """``(n_resamples, n_rows)`` weights of a score table's rows (its videos must be among `videos`)."""
        position = pd.Index(self.videos).get_indexer(video_ids.astype(str))
        if (position < 0).any():
            raise ValueError(f"{int((position < 0).sum())} rows belong to videos outside the drawn set")
        return self.counts[:, position]


def draw_videos(video_labels: pd.Series, n_resamples: int = 1000, seed: int = 0) -> VideoDraws:
    """Draw videos with replacement, stratified by class (each resample keeps the numbers of real and fake videos).

    Args:
        video_labels: label (1 fake, 0 real) indexed by video id.
        n_resamples: number of resamples.
        seed: seed of `numpy.random.default_rng`.
    """
    rng = np.random.default_rng(seed)
    videos = video_labels.index.astype(str).to_numpy()
    labels = video_labels.to_numpy().astype(int)
    counts = np.zeros((n_resamples, len(videos)), dtype=np.int32)
    for cls in (0, 1):
        members = np.flatnonzero(labels == cls)
        if len(members) == 0:
            continue
        picks = rng.integers(0, len(members), size=(n_resamples, len(members)))
        for b in range(n_resamples):
            np.add.at(counts[b], members[picks[b]], 1)
    return VideoDraws(videos, counts, seed)


def video_labels(scores: pd.DataFrame) -> pd.Series:
    """One label per video of a frame, window or file score table (``video_id``, ``label``)."""
    return scores.groupby(scores["video_id"].astype(str), sort=True)["label"].first().astype(int)


def resampled_metric(scores: pd.DataFrame, metric: str, draws: VideoDraws) -> np.ndarray:
    """The metric on every resample of `draws` (NaN where undefined)."""
    fn = METRIC_FUNCTIONS[metric]
    y, s = scores["label"].to_numpy().astype(int), scores["score"].to_numpy(dtype=np.float64)
    weights = draws.row_weights(scores["video_id"])
    out = np.full(draws.n_resamples, np.nan)
    for b in range(draws.n_resamples):
        w = weights[b]
        if (w[y == 0] > 0).any() and (w[y == 1] > 0).any():
            out[b] = fn(y, s, w)
    return out


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The central `confidence` percentile interval of bootstrap values (NaN when none is finite)."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(v, alpha)), float(np.quantile(v, 1.0 - alpha))


def bootstrap_ci(
    scores: pd.DataFrame,
    metrics: tuple[str, ...] = CI_METRICS,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Percentile bootstrap intervals of ranking metrics, resampling videos (not frames).

    Args:
        scores: rows with ``video_id``, ``label``, ``score`` (frames, windows or one row per video).
        metrics: names in `METRIC_FUNCTIONS`.
        n_resamples: number of resamples (0: no interval, NaN bounds).
        seed: seed of the draws.
        confidence: coverage of the interval.

    Returns:
        ``{metric}_lo`` and ``{metric}_hi`` for each metric, plus ``n_boot`` and ``boot_seed``.

    Example:
        >>> t = pd.DataFrame({"video_id": list("abcd"), "label": [0, 0, 1, 1], "score": [0.1, 0.2, 0.8, 0.9]})
        >>> bootstrap_ci(t, n_resamples=50)["auc_lo"]
        1.0
    """
    out: dict[str, float] = {"n_boot": n_resamples, "boot_seed": seed}
    labels = video_labels(scores)
    if n_resamples == 0 or labels.nunique() < 2:
        return out | {f"{m}_{e}": float("nan") for m in metrics for e in ("lo", "hi")}
    draws = draw_videos(labels, n_resamples, seed)
    for m in metrics:
        out[f"{m}_lo"], out[f"{m}_hi"] = percentile_interval(resampled_metric(scores, m, draws), confidence)
    return out


def paired_bootstrap(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metric: str = "auc",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Paired bootstrap of ``metric(a) - metric(b)``: both runs are scored on the SAME video draws.

    The two tables may have different rows (frames of one run, windows of another) but must cover the same videos.
    The two-sided p-value is twice the smaller share of resampled differences on either side of zero (at least
    1 / n_resamples when the difference is not 0; 1.0 for two identical runs).

    Returns:
        ``metric_a``, ``metric_b``, ``diff``, ``diff_lo``, ``diff_hi``, ``p_bootstrap``, ``n_videos``, ``n_boot``,
        ``boot_seed``.
    """
    la, lb = video_labels(a), video_labels(b)
    if set(la.index) != set(lb.index):
        raise ValueError(f"paired test needs the same videos: {len(set(la.index) ^ set(lb.index))} differ")
    draws = draw_videos(la, n_resamples, seed)
    fn = METRIC_FUNCTIONS[metric]
    full = [fn(t["label"].to_numpy().astype(int), t["score"].to_numpy(float), np.ones(len(t))) for t in (a, b)]
    diffs = resampled_metric(a, metric, draws) - resampled_metric(b, metric, draws)
    diffs = diffs[np.isfinite(diffs)]
    lo, hi = percentile_interval(diffs, confidence)
    if np.all(diffs == 0):
        p = 1.0
    else:
        p = min(1.0, 2 * max(min((diffs <= 0).mean(), (diffs >= 0).mean()), 1.0 / len(diffs)))
    return {
        f"{metric}_a": full[0],
        f"{metric}_b": full[1],
        "diff": full[0] - full[1],
        "diff_lo": lo,
        "diff_hi": hi,
        "p_bootstrap": float(p),
        "n_videos": len(la),
        "n_boot": n_resamples,
        "boot_seed": seed,
    }


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of `x`, ties sharing their mean rank."""
    return stats.rankdata(x, method="average")


def delong_components(labels: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components V10 (one per fake) and V01 (one per real).

    ``V10[i]`` is the share of reals that fake ``i`` outscores (ties count 1/2), ``V01[j]`` the share of fakes that
    outscore real ``j``; the AUC is the mean of either. Computed with mid-ranks (Sun & Xu 2014) in O(n log n).
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs real and fake scores")
    r_all, r_pos, r_neg = _midranks(np.concatenate([pos, neg])), _midranks(pos), _midranks(neg)
    v10 = (r_all[:m] - r_pos) / n
    v01 = 1.0 - (r_all[m:] - r_neg) / m
    return float(v10.mean()), v10, v01


def delong_variance(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The AUC and DeLong's estimate of its variance: ``var(V10) / m + var(V01) / n`` (sample variances)."""
    auc, v10, v01 = delong_components(labels, scores)
    var = np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01) if min(len(v10), len(v01)) > 1 else np.nan
    return auc, float(var)


def delong_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> dict[str, float]:
    """DeLong's test of ``AUC(a) == AUC(b)`` for two runs scoring the same items (e.g. one score per video).

    Returns:
        ``auc_a``, ``auc_b``, ``diff``, ``se`` (standard error of the difference), ``z`` and the two-sided
        ``p_delong`` (1.0 when the two runs rank every pair alike: no evidence of a difference).
    """
    auc_a, a10, a01 = delong_components(labels, scores_a)
    auc_b, b10, b01 = delong_components(labels, scores_b)
    s10, s01 = np.cov(np.vstack([a10, b10])), np.cov(np.vstack([a01, b01]))
    contrast = np.array([1.0, -1.0])
    var = float(contrast @ s10 @ contrast / len(a10) + contrast @ s01 @ contrast / len(a01))
    diff = auc_a - auc_b
    if var <= 1e-15:
        z, p = 0.0 if diff == 0 else float(np.sign(diff) * np.inf), 1.0 if diff == 0 else 0.0
    else:
        z = diff / np.sqrt(var)
        p = float(2 * stats.norm.sf(abs(z)))
    return {"auc_a": auc_a, "auc_b": auc_b, "diff": diff, "se": float(np.sqrt(max(var, 0.0))), "z": z, "p_delong": p}


def paired_delong(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, float]:
    """DeLong's test between two file-level score tables (one row per ``video_id``), matched by video."""
    joined = a[["video_id", "label", "score"]].merge(b[["video_id", "score"]], on="video_id", suffixes=("_a", "_b"))
    if len(joined) != len(a) or len(joined) != len(b):
        raise ValueError("DeLong's test needs one score per video for the same videos in both runs")
    return delong_test(joined["label"].to_numpy(), joined["score_a"].to_numpy(), joined["score_b"].to_numpy())
