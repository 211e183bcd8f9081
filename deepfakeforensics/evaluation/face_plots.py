"""Figures of the extracted faces, to look at a dataset before training: a grid of real and fake crops
(`figure_face_samples`), self-blended pseudo-fakes beside their source (`figure_pseudo_fakes`), crops and tracks per
video (`figure_faces_per_video`). As in `plots`, each ``figure_*`` returns a bare ``Figure`` and its ``plot_*``
sibling writes it as a PNG atomically and returns the path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from deepfakeforensics.data.sbi import self_blend
from deepfakeforensics.evaluation.plots import save_figure
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, read_rgb


def figure_face_samples(faces: pd.DataFrame, per_class: int = 6, seed: int = 0) -> Figure:
    """A grid of extracted face crops, `per_class` real ones above `per_class` fake ones, from different videos.

    Args:
        faces: a faces manifest from ``load_table`` (``attrs["root"]`` locates the crops).
        per_class: crops per row.
        seed: which videos are drawn.
    """
    root = Path(faces.attrs.get("root", "."))
    rows = []
    for label in (0, 1):
        videos = faces[faces["label"] == label].groupby("video_id", sort=True).head(1)
        rows.append(videos.sample(min(per_class, len(videos)), random_state=seed) if len(videos) else videos)
    n = max(per_class, 1)
    fig = Figure(figsize=(1.9 * n, 4.4))
    axes = fig.subplots(2, n, squeeze=False)
    for r, chosen in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(chosen):
                row = chosen.iloc[c]
                ax.imshow(read_rgb(root / str(row["path"])))
                method = f"{row['method']}\n" if "method" in chosen.columns else ""
                ax.set_title(f"{method}{row['video_id']}", fontsize=7)
        axes[r, 0].text(
            -0.1,
            0.5,
            ["real", "fake"][r],
            transform=axes[r, 0].transAxes,
            rotation=90,
            va="center",
            ha="right",
            fontsize=10,
        )
    return fig


def plot_face_samples(faces: pd.DataFrame, path: str | os.PathLike, per_class: int = 6, seed: int = 0) -> Path:
    """Draw `figure_face_samples` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_face_samples(faces, per_class=per_class, seed=seed), path)


def figure_pseudo_fakes(
    faces: pd.DataFrame,
    n: int = 6,
    seed: int = 0,
    points: np.ndarray | None = None,
) -> Figure:
    """Self-blended pseudo-fakes (`deepfakeforensics.data.sbi`) of `n` real crops from different videos, as training sees
    them: the real crop with its landmarks, the blend mask, the pseudo-fake, and the blending boundary target.

    Args:
        faces: a faces manifest with landmark columns (``attrs["root"]`` locates the crops).
        n: crops (columns).
        seed: which videos are drawn and the blends' draws (``(seed, 0, column)``).
        points: landmarks per manifest row, (len(faces), K, 2) in crop pixels (e.g. dense 68-point ones); default:
            the manifest's five MTCNN points.

    Raises:
        ValueError: no real crop has landmarks.
    """
    root = Path(faces.attrs.get("root", "."))
    if points is None:
        if not set(LANDMARK_COLUMNS) <= set(faces.columns):
            raise ValueError("the faces manifest has no landmark columns (extracted before landmarks were recorded)")
        points = faces[LANDMARK_COLUMNS].to_numpy(np.float32).reshape(len(faces), -1, 2)
    usable = faces.assign(_row=np.arange(len(faces)))[(faces["label"] == 0) & ~np.isnan(points).any(axis=(1, 2))]
    if usable.empty:
        raise ValueError("no real crop with landmarks: nothing to self-blend")
    firsts = usable.groupby("video_id", sort=True).head(1)
    chosen = firsts.sample(min(n, len(firsts)), random_state=seed)
    titles = ("real + landmarks", "blend mask r*M", "pseudo-fake", "boundary 4M(1-M)")
    fig = Figure(figsize=(1.9 * len(chosen), 7.8))
    axes = fig.subplots(4, len(chosen), squeeze=False)
    for c, (_, row) in enumerate(chosen.iterrows()):
        crop, pts = read_rgb(root / str(row["path"])), points[int(row["_row"])]
        _, fake, mask, boundary = self_blend(crop, pts, seed=(seed, 0, c))
        for r, (image, cmap) in enumerate(((crop, None), (mask, "gray"), (fake, None), (boundary, "magma"))):
            axes[r, c].imshow(image, cmap=cmap, vmin=0 if cmap else None, vmax=1 if cmap else None)
            axes[r, c].axis("off")
        axes[0, c].scatter(pts[:, 0], pts[:, 1], s=4, c="lime")
        axes[0, c].set_title(str(row["video_id"]), fontsize=7)
    for r, title in enumerate(titles):
        axes[r, 0].text(-0.08, 0.5, title, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right")
    return fig


def plot_pseudo_fakes(
    faces: pd.DataFrame,
    path: str | os.PathLike,
    n: int = 6,
    seed: int = 0,
    points: np.ndarray | None = None,
) -> Path:
    """Draw `figure_pseudo_fakes` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_pseudo_fakes(faces, n=n, seed=seed, points=points), path)


def figure_faces_per_video(faces: pd.DataFrame) -> Figure:
    """Histogram of face crops per video and of face tracks per video, by class (how extraction went)."""
    per_video = faces.groupby("video_id").agg(
        crops=("frame", "size"), tracks=("track", "nunique"), label=("label", "first")
    )
    per_video["class"] = per_video["label"].map({0: "real", 1: "fake"})
    fig = Figure(figsize=(8, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    sns.histplot(data=per_video, x="crops", hue="class", multiple="dodge", discrete=True, ax=ax1)
    ax1.set_xlabel("face crops per video")
    sns.countplot(data=per_video, x="tracks", hue="class", ax=ax2)
    ax2.set_xlabel("face tracks per video")
    return fig


def plot_faces_per_video(faces: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Draw `figure_faces_per_video` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_faces_per_video(faces), path)
