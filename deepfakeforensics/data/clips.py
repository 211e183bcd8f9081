"""Clips of consecutive frames as a dataset: `ClipDataset`, windows of (T, C, H, W) that never leave one clip.

A faces manifest extracted with the clips sampling strategy (``dff extract --strategy clips --clip-length 16 --clips 4
[--clip-stride k]``) has a ``clip`` column: each row is one face in one frame of one clip, and each clip was tracked on
its own, so a track never spans two clips. `ClipDataset` cuts windows of `window` frames from each run of one track
inside one clip, and starts a new run wherever the frame numbers jump by more than the clip's stride (a crop missing
or skipped as unreadable): a window never crosses a clip boundary, a track break or a gap. It reads the crops
extraction wrote (no copy on disk) and draws one augmentation for all frames of a window, as `WindowDataset` does.

Example:
    >>> ds = ClipDataset("labels/ffpp_clips_faces.csv", "train", model.default_cfg, window=16)  # doctest: +SKIP
    >>> x, y = ds[0]  # x: (16, 3, H, W); a DataLoader gives (B, 16, 3, H, W)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepfakeforensics.data.window_dataset import WindowDataset

#: The manifest column that says which clip of its video a row belongs to.
CLIP_COLUMN = "clip"


def has_clips(faces: str | os.PathLike | pd.DataFrame) -> bool:
    """Whether a faces manifest (a path or a table) was extracted as clips: it has a ``clip`` column."""
    if isinstance(faces, pd.DataFrame):
        return CLIP_COLUMN in faces.columns
    try:
        return CLIP_COLUMN in pd.read_csv(faces, nrows=0).columns
    except (OSError, ValueError):
        return False  # unreadable: the dataset that reads it reports why


def recorded_clip_stride(faces: pd.DataFrame) -> int | None:
    """The clip stride recorded in a manifest's extraction settings (``attrs["extraction"]``), when it was clips."""
    sampling = (faces.attrs.get("extraction") or {}).get("sampling") or {}
    if sampling.get("strategy") != "clips" or sampling.get("clip_stride") is None:
        return None
    return int(sampling["clip_stride"])


def split_at_gaps(frames: np.ndarray, stride: int) -> list[np.ndarray]:
    """Positions of `frames` (sorted) cut into runs whose consecutive frames are at most `stride` apart.

    Example:
        >>> [r.tolist() for r in split_at_gaps(np.array([0, 2, 4, 8, 10]), 2)]
        [[0, 1, 2], [3, 4]]
    """
    if len(frames) == 0:
        return []
    cuts = np.flatnonzero(np.diff(frames) > stride) + 1
    return np.split(np.arange(len(frames)), cuts)


class ClipDataset(WindowDataset):
    """One item per window of consecutive frames of one face track inside one clip: ``(tensor (T, C, H, W), label)``.

    A `WindowDataset` whose runs of frames are (video_id, clip, track), cut again wherever the frame numbers jump by
    more than the clip stride. Window options mean what they mean for `WindowDataset`: ``window`` frames per item
    (``window=16`` with 16-frame clips: one item per clip and face), ``stride`` between window starts, and a run
    shorter than a window (a video shorter than a clip, a face that left the picture) is padded (``short="pad"``,
    repeating its last frame or looping) or dropped (``"drop"``). `meta` has WindowDataset's columns plus ``clip``.

    Args:
        clip_stride: decoded frames between two frames of a clip; default: the extraction's recorded
            ``--clip-stride``, else, per video and clip, the smallest step between its frames.
        **kwargs: as `WindowDataset` (window, stride, short, pad_mode, train, augment, missing, seed, return_meta,
            verify, pseudo_fakes, vary_pseudo_fakes, boundary).

    Attributes:
        n_gaps: runs cut at a jump in frame numbers larger than the clip stride.
    """

    def __init__(
        self,
        faces: str | os.PathLike | pd.DataFrame,
        split: str | Sequence[str] | None,
        model_cfg: Any,
        window: Any = 8,
        clip_stride: int | None = None,
        **kwargs: Any,
    ) -> None:
        if clip_stride is not None and int(clip_stride) < 1:
            raise ValueError(f"clip_stride must be >= 1, not {clip_stride!r}")
        self._clip_stride = clip_stride
        self.n_gaps = 0
        super().__init__(faces, split, model_cfg, window=window, **kwargs)

    def _arrange(self, df: pd.DataFrame) -> pd.DataFrame:
        source = df.attrs.get("source", "faces table")
        if CLIP_COLUMN not in df.columns:
            raise ValueError(
                f"{source}: no 'clip' column: not a manifest of clips (extract with --strategy clips), or use "
                "WindowDataset for windows of whole tracks"
            )
        clip = pd.to_numeric(df[CLIP_COLUMN], errors="coerce")
        bad = clip.isna() | (clip % 1 != 0) | (clip < 0)
        if bad.any():
            videos = sorted(df.loc[bad, "video_id"].astype(str).unique())[:5]
            raise ValueError(
                f"{source}: {int(bad.sum())} row(s) without a clip number (integer >= 0), e.g. in videos {videos}: "
                "were some videos extracted with another sampling strategy into the same manifest?"
            )
        out = df.assign(**{CLIP_COLUMN: clip.astype("int64")})
        out = out.sort_values(["video_id", CLIP_COLUMN, "track", "frame"], kind="stable").reset_index(drop=True)
        out.attrs = dict(df.attrs)
        return out

    def _segments(self) -> list[np.ndarray]:
        """Runs of (video_id, clip, track), in frame order, cut where frames jump by more than the clip stride."""
        keys = ["video_id", CLIP_COLUMN, "track"]
        frames = self.faces["frame"].to_numpy()
        strides = self._strides()
        runs: list[np.ndarray] = []
        self.n_gaps = 0
        for (video, clip, _), rows in self.faces.groupby(keys, sort=False).indices.items():
            pieces = split_at_gaps(frames[rows], strides[(video, clip)])
            self.n_gaps += len(pieces) - 1
            runs.extend(np.asarray(rows)[p] for p in pieces)
        return runs

    def _strides(self) -> dict[tuple, int]:
        """The stride of each (video_id, clip): `clip_stride`, else the recorded one, else the smallest step between
        consecutive frames of one of its tracks (1 when no track has two frames)."""
        faces, keys = self.faces, ["video_id", CLIP_COLUMN, "track"]
        step = faces["frame"].diff()
        same = (faces[keys] == faces[keys].shift()).all(axis=1)  # rows are sorted by video, clip, track, frame
        step = step.where(same & (step > 0))
        smallest = step.groupby([faces["video_id"], faces[CLIP_COLUMN]], sort=False).min()
        fixed = self._clip_stride or recorded_clip_stride(faces)
        if fixed:
            return dict.fromkeys(smallest.index, int(fixed))
        return {key: int(value) if np.isfinite(value) else 1 for key, value in smallest.items()}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "clip_stride": self._clip_stride, "n_gaps": self.n_gaps}
