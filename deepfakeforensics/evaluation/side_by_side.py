"""Runs scored on different frames of the same videos, in one table: frame models on frames sampled over each video
beside video models on clips of consecutive frames (notebook 03's comparison).

`frames_seen` says in words which frames a faces manifest holds (from its recorded sampling and its frame numbers);
`side_by_side` puts the metrics tables of several evaluations together, one row per run and level, with the level
named as papers name it (frame, window, clip, video) and the frames it was scored on.

Example:
    >>> sampled, clips = "labels/demo_faces.csv", "labels/demo_clips_faces.csv"
    >>> frame_runs = evaluate(["checkpoints/mesonet4"], sampled, "evaluation")  # doctest: +SKIP
    >>> video_runs = evaluate(["checkpoints/ftcn_lite"], clips, "evaluation/video")  # doctest: +SKIP
    >>> side_by_side([(frame_runs.metrics, sampled), (video_runs.metrics, clips)])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from deepfakeforensics.evaluation.crossdataset import FacesInput, load_datasets, load_faces
from deepfakeforensics.evaluation.protocols import apply_protocol

#: The library's level names (``metrics.csv``) -> the names papers use, for windows of sampled frames / of clips.
_LEVELS = {"frame": "frame", "window": "window", "file": "video"}


def is_clips(faces: pd.DataFrame) -> bool:
    """Whether a faces manifest holds clips of consecutive frames (extracted with the clips sampling strategy)."""
    return "clip" in faces.columns


def _median(values: pd.Series) -> str:
    return f"{float(values.median()):g}" if len(values) else "0"


def median_step(faces: pd.DataFrame) -> float | None:
    """The median gap, in decoded frames, between two successive crops of one face track (of one clip, for clips);
    None when no track has two crops."""
    keys = ["video_id", "track", *(["clip"] if is_clips(faces) else [])]
    steps = faces.sort_values("frame").groupby(keys, sort=False)["frame"].diff().dropna()
    return float(steps.median()) if len(steps) else None


def frames_seen(faces: FacesInput) -> str:
    """Which frames of each video a faces manifest holds, in a few words (short enough for a table cell), e.g.
    ``"16 frames spread over each video (step 3)"`` or ``"2 clips of 8 consecutive frames"``.

    Counts and steps are medians over the manifest's own rows (so they also describe a manifest cut down by an
    evaluation protocol); ``step`` is the median gap in decoded frames between two successive crops of a face track.
    The recorded extraction settings (``attrs["extraction"]["sampling"]``) say only how the frames were chosen.
    """
    table = load_faces(faces)
    sampling = (table.attrs.get("extraction") or {}).get("sampling") or {}
    step = median_step(table)
    if is_clips(table):
        clips = _median(table.groupby("video_id")["clip"].nunique())
        length = _median(table.groupby(["video_id", "clip"])["frame"].nunique())
        kind = "consecutive frames" if step in (None, 1.0) else f"frames {step:g} apart"
        return f"{clips} clips of {length} {kind}"
    n = _median(table.groupby("video_id")["frame"].nunique())
    gap = f" (step {step:g})" if step is not None else ""
    strategy = sampling.get("strategy")
    if strategy in ("every_k", "all") and step == float(sampling.get("every_k", 1) if strategy == "every_k" else 1):
        return f"every {sampling['every_k']}th frame ({n} per video)" if strategy == "every_k" else f"every frame ({n})"
    if strategy == "scene":
        return f"{n} frames over each video's scenes{gap}"
    if strategy == "uniform":
        return f"{n} frames spread over each video{gap}"
    return f"{n} frames per video{gap}"


def side_by_side(evaluations: Sequence[tuple[pd.DataFrame, FacesInput | Sequence[FacesInput]]]) -> pd.DataFrame:
    """The metrics tables of several evaluations as one table, each row saying which frames its run was scored on.

    Args:
        evaluations: ``(metrics, faces)`` pairs: an evaluation's ``metrics`` table (`evaluate`'s ``result.metrics``
            or its ``metrics.csv``) and the faces manifest(s) given to that `evaluate` call, in the same order (a
            row's ``dataset`` names its manifest as `evaluate` named it).

    Returns:
        The rows of every table, in order, with ``frames`` after ``dataset``: `frames_seen` of the manifest as the
        row's ``protocol`` cut it down (`apply_protocol`); and ``level`` named as papers name it: ``frame`` (one
        crop), ``window`` (consecutive crops of one face track among frames sampled over the video), ``clip`` (the
        same over a clips manifest: consecutive frames of one clip) and ``video`` (the file level: the video's
        score from its items' scores). The library's level name stays in ``item_level``.

    Raises:
        ValueError: a metrics table without ``run``, ``dataset``, ``level`` and ``protocol`` columns, a level this
            does not know, or a dataset that none of its manifests is named after.
    """
    parts = []
    for metrics, faces in evaluations:
        needed = {"run", "dataset", "level", "protocol"}
        if not needed <= set(metrics.columns):
            raise ValueError(f"not a metrics table: no {sorted(needed - set(metrics.columns))} column(s)")
        unknown = set(metrics["level"]) - set(_LEVELS)
        if unknown:
            raise ValueError(f"unknown level(s) {sorted(unknown)} in a metrics table; expected {sorted(_LEVELS)}")
        datasets = load_datasets(faces)
        missing = set(metrics["dataset"]) - set(datasets)
        if missing:
            raise ValueError(f"metrics of dataset(s) {sorted(missing)}, but the manifests given are {list(datasets)}")
        seen, clips = {}, {}
        for name, protocol in metrics[["dataset", "protocol"]].drop_duplicates().itertuples(index=False):
            scored, _ = apply_protocol(datasets[name], protocol)
            seen[name, protocol], clips[name] = frames_seen(scored), is_clips(scored)
        keys = list(zip(metrics["dataset"], metrics["protocol"], strict=True))
        levels = [
            "clip" if level == "window" and clips[name] else _LEVELS[level]
            for name, level in zip(metrics["dataset"], metrics["level"], strict=True)
        ]
        part = metrics.assign(item_level=metrics["level"], level=levels)
        part.insert(list(part.columns).index("dataset") + 1, "frames", [seen[k] for k in keys])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
