"""Windows of consecutive sampled frames of one face track as a dataset: `WindowDataset` (items (T, C, H, W)).

Windows are cut by the one window rule (`deepfakeforensics.data.windows.make_windows`), which prediction uses too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from deepfakeforensics.data.face_dataset import _FaceDataset
from deepfakeforensics.data.windows import WindowConfig, make_windows
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS
from deepfakeforensics.models._base import ModelCfg

log = logging.getLogger(__name__)


class WindowDataset(_FaceDataset):
    """One item per window of consecutive sampled frames of one face track: ``(tensor (T, C, H, W), label)``.

    Windows are cut from each (video_id, track), sorted by frame, by `deepfakeforensics.data.windows.make_windows` (the
    rule prediction uses too), so a window never mixes tracks or videos; `n_padded` and `n_dropped` count the tracks
    shorter than a window. The label of a window is its video's label. `meta` has one row per window: video_id,
    track, start_frame, end_frame, n_frames (real frames), label and the video-level columns of the manifest (split,
    group, method, ...).

    Args:
        window: a `WindowConfig`, or the frames per window (T), with `stride`, `short` and `pad_mode` beside it.
        stride: rows between the starts of two windows of a track (default: `window`, no overlap).
        short: ``"pad"`` or ``"drop"`` tracks shorter than `window` (default ``"pad"``).
        pad_mode: ``"repeat"`` the last frame, or ``"loop"`` over the track (default ``"repeat"``).
        **kwargs: as `FrameDataset` (train, augment, missing, seed, return_meta, verify). Augmentation parameters
            are drawn once per window and applied to all its frames. With `return_meta` the ids are ``video_id``,
            ``track``, ``start_frame``, ``end_frame`` and ``index``.

    Example:
        >>> ds = WindowDataset("labels/ffpp_faces.csv", "val", cfg, WindowConfig(window=8, stride=4))  # doctest: +SKIP
    """

    def __init__(
        self,
        faces: str | os.PathLike | pd.DataFrame,
        split: str | Sequence[str] | None,
        model_cfg: ModelCfg,
        window: int | WindowConfig = 8,
        stride: int | None = None,
        train: bool = False,
        short: Literal["pad", "drop"] | None = None,
        pad_mode: Literal["repeat", "loop"] | None = None,
        **kwargs: Any,
    ) -> None:
        self.window_cfg = window_config(window, stride, short, pad_mode)
        super().__init__(faces, split, model_cfg, train=train, **kwargs)
        cfg = self.window_cfg
        self.window, self.stride, self.short, self.pad_mode = cfg.window, cfg.step, cfg.short, cfg.pad_mode
        mixed = self.faces.groupby("video_id", sort=False)["label"].nunique()
        if (mixed > 1).any():
            raise ValueError(f"videos with more than one label in the manifest: {list(mixed[mixed > 1].index[:5])}")
        self.windows, n_real = self._cut_windows()
        self._set_meta(self._window_meta(n_real), ["video_id", "track", "start_frame", "end_frame"])
        if self.n_padded or self.n_dropped:
            log.info(
                "%s: %d windows of %d frames; %d track(s) shorter than the window %s",
                self.source or "faces",
                len(self.windows),
                self.window,
                self.n_padded or self.n_dropped,
                "padded" if cfg.short == "pad" else "dropped",
            )

    def _arrange(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.sort_values(["video_id", "track", "frame"], kind="stable").reset_index(drop=True)
        out.attrs = dict(df.attrs)
        return out

    def _segments(self) -> list[np.ndarray]:
        """Row indices of each run of frames windows may span, in frame order: here each (video_id, track)."""
        return list(self.faces.groupby(["video_id", "track"], sort=False).indices.values())

    def _cut_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Row indices (n_windows, T) into `faces` of every window, and the number of real frames of each."""
        windows, n_real = [np.zeros((0, self.window), dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        self.n_padded = self.n_dropped = 0
        for rows in self._segments():
            idx, real = make_windows(len(rows), self.window_cfg)  # rows are already sorted by frame
            if len(rows) < self.window:
                self.n_padded += int(len(idx) > 0)
                self.n_dropped += int(len(idx) == 0)
            windows.append(np.asarray(rows)[idx])
            n_real.append(real)
        return np.concatenate(windows), np.concatenate(n_real)

    def _window_meta(self, n_real: np.ndarray) -> pd.DataFrame:
        """One row per window: ids, frame span, real frames, and the video-level columns of the manifest."""
        faces = self.faces
        per_face = {"track", "frame", "path", "x0", "y0", "x1", "y1", "prob", "detected", "aligned", *LANDMARK_COLUMNS}
        video_cols = [c for c in faces.columns if c not in per_face]
        first = self.windows[:, 0]
        meta = faces.loc[first, video_cols].reset_index(drop=True)
        frames = faces["frame"].to_numpy()
        meta.insert(1, "track", faces["track"].to_numpy()[first])
        meta.insert(2, "start_frame", frames[first])
        # the last real frame (a padded window repeats frames; a looped one restarts from the track's beginning)
        last_real = self.windows[np.arange(len(self.windows)), np.maximum(n_real - 1, 0)]
        meta.insert(3, "end_frame", frames[last_real] if len(self.windows) else np.zeros(0, dtype=np.int64))
        meta.insert(4, "n_frames", n_real.astype(np.int64))
        return meta

    def _item_rows(self, index: int) -> Sequence[int]:
        return self.windows[index]

    @property
    def item_shape(self) -> tuple[int, ...]:
        return (self.window, *self.model_cfg.input_size)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "window": self.window,
            "stride": self.stride,
            "short": self.short,
            "pad_mode": self.pad_mode,
            "n_padded": self.n_padded,
            "n_dropped": self.n_dropped,
        }


def window_config(
    window: int | WindowConfig, stride: int | None, short: str | None, pad_mode: str | None
) -> WindowConfig:
    """`window` if it is a `WindowConfig` (then the other three must be unset), else one built from the four."""
    if isinstance(window, WindowConfig):
        if stride is not None or short is not None or pad_mode is not None:
            raise ValueError("give either a WindowConfig or window/stride/short/pad_mode, not both")
        return window
    return WindowConfig(window=int(window), stride=stride, short=short or "pad", pad_mode=pad_mode or "repeat")
