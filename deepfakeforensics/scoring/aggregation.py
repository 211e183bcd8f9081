"""File-level aggregation: from one score per frame (or window) of each face track to one score per video.

A file's score is computed by grouping on ``video_id`` (and ``track`` where a rule needs it), never by parsing paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import numpy as np
import pandas as pd

# The file-level rules: the one list (argparse choices and config types come from this Literal). The last three are the
# video rules of released detectors: SBI's (`frame_max`), the DFDC winner's (`confident`) and polimi's (`logit_mean`).
Aggregation = Literal["mean", "track_max", "median", "vote", "frame_max", "confident", "logit_mean"]
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)

# The DFDC winner's confident strategy (selimsef/dfdc_deepfake_challenge, kernel_utils.py): frames above this are
# confidently fake, below _CONFIDENT_REAL confidently real.
_CONFIDENT_FAKE, _CONFIDENT_REAL = 0.8, 0.2


def confident_strategy(scores: np.ndarray, t: float = _CONFIDENT_FAKE, real: float = _CONFIDENT_REAL) -> float:
    """A video's score by the DFDC winner's rule over all its face scores (all frames pooled).

    When more than ``n // 2.5`` of the ``n`` scores (and more than 11) exceed `t`, the mean of those; else, when
    more than 90 % are below `real`, the mean of those; else the mean of all. Confident faces decide, and a few
    uncertain ones do not pull a clear video towards 0.5 (log loss punishes hedging less than being wrong).

    Raises:
        ValueError: no scores.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = len(scores)
    if n == 0:
        raise ValueError("confident_strategy needs at least one score")
    high = scores[scores > t]
    if len(high) > n // 2.5 and len(high) > 11:
        return float(high.mean())
    low = scores[scores < real]
    if len(low) > 0.9 * n:
        return float(low.mean())
    return float(scores.mean())


def _logit_mean(g: pd.DataFrame) -> float:
    """polimi-ispl's video rule (icpr2020dfdc notebooks): the sigmoid of the mean of the frame logits (from the
    scores when the table has no logit column)."""
    if "logit" in g and g["logit"].notna().all():
        logits = g["logit"].to_numpy(np.float64)
    else:
        p = np.clip(g["score"].to_numpy(np.float64), 1e-12, 1 - 1e-12)
        logits = np.log(p) - np.log1p(-p)
    return float(1.0 / (1.0 + np.exp(-logits.mean())))


def _frame_max(g: pd.DataFrame) -> float:
    """SBI's video rule (src/inference/inference_video.py): the most fake-looking face of each frame, then the mean
    over frames."""
    if "frame" not in g:
        return float(g["score"].mean())
    return float(g.groupby("frame", sort=False)["score"].max().mean())


# Per-row columns that are not properties of the file (dropped when carrying file metadata over).
_ROW_COLUMNS = {"track", "frame", "start_frame", "end_frame", "score", "logit", "path", "x0", "y0", "x1", "y1", "prob"}


def _reduce(how: str, vote_threshold: float) -> Callable[[pd.DataFrame], float]:
    if how == "mean":
        return lambda g: float(g["score"].mean())
    if how == "median":
        return lambda g: float(g["score"].median())
    if how == "vote":
        return lambda g: float((g["score"] > vote_threshold).mean())
    if how == "frame_max":
        return _frame_max
    if how == "logit_mean":
        return _logit_mean
    if how == "confident":
        return lambda g: confident_strategy(g["score"].to_numpy())
    if how == "track_max":
        return lambda g: (
            float(g.groupby("track", sort=False)["score"].mean().max()) if "track" in g else float(g["score"].mean())
        )
    raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")


def aggregate(scores: pd.DataFrame, how: str = "mean", vote_threshold: float = 0.5) -> pd.DataFrame:
    """One row per file (``video_id``) from a table of frame or window scores.

    Args:
        scores: rows with ``video_id``, ``score`` (P(fake)), usually ``label`` and ``track``; other columns that are
            constant within a video (``method``, ``dataset``, ``split``...) are carried over.
        how: ``"mean"`` of all frame/window probabilities of the file (the published MesoNet/EfficientNet baselines);
            ``"track_max"``: mean per face track, then the maximum over tracks (one fake face makes the video fake);
            ``"median"``; ``"vote"``: the share of frames/windows with P(fake) > `vote_threshold` (a score in [0, 1]);
            ``"frame_max"``: the highest face score of each frame, then the mean over frames (SBI's video rule);
            ``"confident"``: the DFDC winner's `confident_strategy` over all face scores; ``"logit_mean"``: the sigmoid
            of the mean logit (polimi-ispl's video score).
        vote_threshold: the per-frame decision threshold used by ``"vote"``.

    Returns:
        Columns ``video_id, score, label`` (when present), ``n_rows`` (frames or windows used), ``n_tracks``, plus the
        carried-over file columns; in order of first appearance of each video.
    """
    if "video_id" not in scores or "score" not in scores:
        raise ValueError("aggregate needs 'video_id' and 'score' columns")
    reduce = _reduce(how, vote_threshold)
    rows = []
    carried = [c for c in scores.columns if c not in _ROW_COLUMNS and c not in {"video_id", "label"}]
    for video_id, g in scores.groupby("video_id", sort=False):
        row: dict[str, object] = {"video_id": video_id, "score": reduce(g)}
        if "label" in g:
            labels = g["label"].unique()
            if len(labels) > 1:
                raise ValueError(f"video {video_id!r} has rows with different labels: {sorted(labels)}")
            row["label"] = labels[0]
        row["n_rows"] = len(g)
        row["n_tracks"] = int(g["track"].nunique()) if "track" in g else 1
        for c in carried:
            values = g[c].dropna().unique()
            if len(values) == 1:
                row[c] = values[0]
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        out = pd.DataFrame(columns=["video_id", "score", "label", "n_rows", "n_tracks"])
    return out


def track_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean score per face track: columns ``video_id, track, score, n_rows``."""
    g = scores.groupby(["video_id", "track"], sort=False)["score"]
    return pd.DataFrame({"score": g.mean(), "n_rows": g.size()}).reset_index()
