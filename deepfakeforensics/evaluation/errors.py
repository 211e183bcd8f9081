"""Error analysis: each run's worst false positives and false negatives at video level, as a table and a figure.

For a run, the real videos scored most fake and the fake videos scored least fake (`worst_errors`), each with its
file score against the threshold chosen on validation, its per-track scores and the face crop of its most
suspicious frame (a real video) or least suspicious one (a fake video); `plot_errors` draws, per video, that crop,
the score timeline over the video (one line per face track) and the per-track scores. A video on the right side of
the threshold is still listed when fewer than `k` are wrong (``error`` False: the hardest correct ones), so the
figure shows where the run is closest to failing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from deepfakeforensics._io import atomic_path
from deepfakeforensics.faces.crop import read_rgb

ERROR_COLUMNS = [
    "kind",
    "rank",
    "video_id",
    "label",
    "score",
    "threshold",
    "error",
    "n_rows",
    "track_scores",
    "track",
    "frame",
    "frame_score",
    "path",
]
_KINDS = {0: ("false_positive", "hardest_real"), 1: ("false_negative", "hardest_fake")}


def _frame_column(items: pd.DataFrame) -> str:
    return "frame" if "frame" in items else "start_frame"


def _key_frame(items: pd.DataFrame, label: int, faces: pd.DataFrame) -> dict[str, object]:
    """A video's most suspicious item (real video) or least suspicious one (fake video), with its crop's path.

    Window items take the crop of their first frame (``start_frame``) from the faces manifest.
    """
    col = _frame_column(items)
    row = items.loc[items["score"].idxmax() if label == 0 else items["score"].idxmin()]
    track, frame = int(row["track"]), int(row[col])
    match = faces[(faces["video_id"] == row["video_id"]) & (faces["track"] == track) & (faces["frame"] == frame)]
    path = str(match["path"].iat[0]) if len(match) else ""
    return {"track": track, "frame": frame, "frame_score": float(row["score"]), "path": path}


def worst_errors(
    items: pd.DataFrame, files: pd.DataFrame, threshold: float, faces: pd.DataFrame, k: int = 3
) -> pd.DataFrame:
    """The `k` real videos scored highest and the `k` fake videos scored lowest (`ERROR_COLUMNS`).

    Args:
        items: frame or window scores (``video_id, track, frame|start_frame, score``) of the evaluated split.
        files: the file-level scores (``video_id, score, label, n_rows``) aggregated from `items`.
        threshold: the file-level threshold (chosen on validation): ``score >= threshold`` is called fake.
        faces: the faces manifest (``video_id, track, frame, path``) the crops' paths come from.
        k: videos per class.

    Returns:
        One row per listed video: ``kind`` (``false_positive``/``false_negative``, or ``hardest_real``/
        ``hardest_fake`` when on the right side), its ``rank`` within the kind's class (1 = worst), file score,
        ``error``, ``track_scores`` (JSON ``{track: mean score}``) and its key frame (``track, frame,
        frame_score, path``).
    """
    rows = []
    for label, ascending in ((0, False), (1, True)):
        worst = files[files["label"] == label].sort_values("score", ascending=ascending).head(k)
        for rank, file in enumerate(worst.itertuples(index=False), start=1):
            video = items[items["video_id"] == file.video_id]
            wrong = (file.score >= threshold) == (label == 0)
            tracks = video.groupby("track", sort=True)["score"].mean()
            row = {"kind": _KINDS[label][0 if wrong else 1], "rank": rank, "video_id": file.video_id}
            row.update(label=label, score=float(file.score), threshold=float(threshold), error=bool(wrong))
            row.update(
                n_rows=len(video), track_scores=json.dumps({str(t): round(float(s), 6) for t, s in tracks.items()})
            )
            rows.append({**row, **_key_frame(video, label, faces)})
    return pd.DataFrame(rows, columns=ERROR_COLUMNS)


def plot_errors(
    errors: pd.DataFrame, items: pd.DataFrame, root: str | os.PathLike, path: str | os.PathLike, title: str = ""
) -> Path:
    """One row per listed video: its key face crop, its score timeline (a line per track), its per-track scores."""
    n = max(len(errors), 1)
    fig = Figure(figsize=(12, 2.6 * n))
    axes = np.asarray(fig.subplots(n, 3, gridspec_kw={"width_ratios": [1, 3, 1.4]})).reshape(n, 3)
    if errors.empty:
        axes[0, 1].text(0.5, 0.5, "no video of either class", ha="center", va="center")
    col = _frame_column(items)
    for (thumb, timeline, bars), e in zip(axes, errors.itertuples(index=False), strict=False):
        crop = Path(root) / e.path if e.path else None
        if crop is not None and crop.is_file():
            thumb.imshow(read_rgb(crop))
        thumb.set_title(f"{e.kind} #{e.rank}\nframe {e.frame}: {e.frame_score:.2f}", fontsize=8)
        thumb.axis("off")
        video = items[items["video_id"] == e.video_id].sort_values(col)
        for track, g in video.groupby("track", sort=True):
            timeline.plot(g[col], g["score"], marker=".", label=f"track {track}")
        timeline.axhline(e.threshold, ls="--", c="grey", lw=0.8, label=f"threshold {e.threshold:.2f}")
        timeline.set_ylim(-0.02, 1.02)
        timeline.set_xlabel(col)
        timeline.set_ylabel("P(fake)")
        timeline.set_title(f"{e.video_id} ({'fake' if e.label else 'real'}): file score {e.score:.3f}", fontsize=9)
        timeline.legend(fontsize=7, loc="best")
        tracks = json.loads(e.track_scores)
        bars.bar(list(tracks), list(tracks.values()), color="tab:red" if e.error else "tab:blue")
        bars.axhline(e.threshold, ls="--", c="grey", lw=0.8)
        bars.set_ylim(0, 1)
        bars.set_xlabel("track")
        bars.set_title("per-track mean score", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    return path
