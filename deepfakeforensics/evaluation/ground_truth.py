"""Ground truth for predictions over a folder of videos, and how well the predictions match it.

The true labels come from indexing the folder in a dataset layout (`deepfakeforensics.indexing`), never from the
predictions themselves, and are joined to the predictions on the file's path (relative to the folder, as both
`predict_folder` and the indexers write it).

Example:
    >>> predictions, _ = predict_folder("new_videos", model)  # doctest: +SKIP
    >>> predictions = join_ground_truth(predictions, "new_videos", "ffpp")  # doctest: +SKIP
    >>> ground_truth_metrics(predictions)["auc"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from deepfakeforensics.evaluation.metrics import compute_metrics
from deepfakeforensics.indexing import LayoutError, index_dataset


class NoGroundTruthError(ValueError):
    """The folder holds no labels in the layout asked for, or none for the predicted files."""


def read_ground_truth(folder: str | os.PathLike, dataset: str, **options: object) -> pd.DataFrame:
    """The true label of every video the `dataset` indexer finds in `folder`: columns ``path`` and ``truth`` (1 = fake).

    Args:
        folder: the folder of videos, laid out as `dataset` ships (e.g. FaceForensics++'s folders, or ``real/`` and
            ``fake/`` for ``"folder"``).
        dataset: an indexer name (a key of `deepfakeforensics.indexing.INDEXERS`).
        **options: passed on to the indexer.

    Raises:
        NoGroundTruthError: `folder` is not in `dataset`'s layout, or holds no labelled video.
    """
    try:
        videos = index_dataset(folder, dataset, **options).videos
    except LayoutError as error:
        raise NoGroundTruthError(f"no {dataset} ground truth in {folder}: {error}") from error
    if videos.empty:
        raise NoGroundTruthError(f"no {dataset} ground truth in {folder}: the indexer found no labelled video")
    return videos[["path", "label"]].rename(columns={"label": "truth"})


def join_ground_truth(
    predictions: pd.DataFrame, folder: str | os.PathLike, dataset: str, **options: object
) -> pd.DataFrame:
    """`predictions` (one row per file, a ``path`` column) with a ``truth`` column read from `folder`'s layout.

    A predicted file the index does not list gets a missing truth; `predictions` is not modified.

    Raises:
        NoGroundTruthError: as `read_ground_truth`, or when no predicted file is listed in the index (the folder is
            not the one predicted on, or paths are not relative to it).
    """
    truth = read_ground_truth(folder, dataset, **options)
    joined = predictions.drop(columns="truth", errors="ignore").merge(
        truth, on="path", how="left", validate="many_to_one"
    )
    if len(joined) and joined["truth"].isna().all():
        raise NoGroundTruthError(
            f"none of the {len(joined)} predicted files is listed in the {dataset} index of {folder} "
            f"(predicted e.g. {joined['path'].iloc[0]!r}, indexed e.g. {truth['path'].iloc[0]!r})"
        )
    return joined


def ground_truth_metrics(predictions: pd.DataFrame, threshold: float = 0.5) -> dict[str, Any]:
    """File-level metrics (`compute_metrics`) of the predictions that have both a score and a truth."""
    scored = predictions.dropna(subset=["score", "truth"])
    return compute_metrics(scored["truth"].astype(int), scored["score"], threshold=threshold)
