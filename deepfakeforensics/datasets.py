"""PyTorch datasets over a faces manifest (``labels/NAME_faces.csv``): one face crop, or one window of a face track.

Both read the JPEG crops listed in the manifest on the fly (nothing is duplicated on disk) and derive their transforms
from the model's ``default_cfg``. With ``train=True`` they augment; the random draw of an item is a function of
``(seed, epoch, index)`` (call `set_epoch` each epoch), so results do not depend on the number of loader workers
and an interrupted run resumes exactly.

Example:
    >>> model = create_model("mesonet4")  # doctest: +SKIP
    >>> train_ds = build_dataset("labels/ffpp_faces.csv", "train", model, train=True)  # doctest: +SKIP
    >>> x, y = train_ds[0]  # x: (3, 256, 256) for a frame model, (T, 3, 256, 256) for a temporal one
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from deepfakeforensics._io import load_table
from deepfakeforensics.faces.crop import read_rgb
from deepfakeforensics.models._base import Detector, ModelCfg
from deepfakeforensics.transforms import AugmentConfig, augment_frames, to_tensor

log = logging.getLogger(__name__)

ID_COLUMNS = ["video_id", "track", "frame"]
REQUIRED_COLUMNS = ["video_id", "track", "frame", "path", "label"]


class CropReadError(OSError):
    """A face crop listed in the manifest that is missing or cannot be decoded; the message names the file."""


def read_crop(path: str | os.PathLike) -> np.ndarray:
    """Decode a face crop to an RGB ``uint8`` array (H, W, 3); raises `CropReadError` naming the file."""
    try:
        return read_rgb(path)
    except ValueError as e:
        raise CropReadError(f"face crop {e}") from None


def _load_faces(faces: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    if isinstance(faces, pd.DataFrame):
        df = faces
        if "root" not in df.attrs:
            raise ValueError("a faces DataFrame needs df.attrs['root'] (load it with deepfakeforensics._io.load_table)")
    else:
        df = load_table(faces)
        df.attrs["source"] = str(faces)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{df.attrs.get('source', 'faces table')}: missing columns {missing}")
    return df


def _select_split(df: pd.DataFrame, split: str | Sequence[str] | None) -> pd.DataFrame:
    if split is None:
        out = df
    else:
        if "split" not in df.columns:
            raise ValueError(f"{df.attrs.get('source', 'faces table')}: no 'split' column to select {split!r} from")
        splits = [split] if isinstance(split, str) else list(split)
        out = df[df["split"].astype(str).isin(splits)]
    out = out.reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out


def _check_crops(root: Path, paths: pd.Series, verify: bool) -> list[tuple[str, str]]:
    """``(path, reason)`` of every crop that is missing or empty (or, with `verify`, does not decode)."""
    problems = []
    for rel in paths:
        path = root / rel
        try:
            size = path.stat().st_size
        except OSError:
            problems.append((str(path), "missing"))
            continue
        if size == 0:
            problems.append((str(path), "empty file"))
        elif verify and cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_8) is None:
            problems.append((str(path), "not a decodable image"))
    return problems


class _FaceDataset(Dataset):
    """Machinery shared by the frame and window datasets: manifest, split, missing files, augmentation, reading."""

    def __init__(
        self,
        faces: str | os.PathLike | pd.DataFrame,
        split: str | Sequence[str] | None,
        model_cfg: ModelCfg,
        train: bool = False,
        augment: AugmentConfig | None = None,
        missing: Literal["error", "skip"] = "error",
        seed: int = 0,
        return_meta: bool = False,
        verify: bool = False,
    ) -> None:
        if missing not in ("error", "skip"):
            raise ValueError(f"missing must be 'error' or 'skip', not {missing!r}")
        df = _select_split(_load_faces(faces), split)
        self.root = Path(df.attrs["root"])
        self.source = df.attrs.get("source")
        self.split = split
        self.model_cfg = model_cfg
        self.train = train
        self.augment = (augment or AugmentConfig()) if train else None
        self.missing = missing
        self.seed = int(seed)
        self.epoch = 0
        self.return_meta = return_meta
        # Crops that are listed but absent, empty (or undecodable, with `verify`): an error naming them, or dropped.
        problems = _check_crops(self.root, df["path"], verify)
        self.skipped = pd.DataFrame(problems, columns=["path", "reason"])
        self.n_missing = len(problems)
        if problems:
            if missing == "error":
                shown = "; ".join(f"{p}: {r}" for p, r in problems[:3])
                raise CropReadError(f"{len(problems)} face crop(s) listed in the manifest cannot be read, e.g. {shown}")
            log.warning("skipped %d unreadable face crop(s), e.g. %s: %s", len(problems), *problems[0])
            bad = {p for p, _ in problems}
            df = df[[str(self.root / p) not in bad for p in df["path"]]].reset_index(drop=True)
        self.faces = df
        self._paths = [str(self.root / p) for p in df["path"]]

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation draws `__getitem__` returns (set before creating the loader iterator)."""
        self.epoch = int(epoch)

    def _read_frames(self, rows: Sequence[int], index: int) -> torch.Tensor:
        try:
            frames = [read_crop(self._paths[r]) for r in rows]
        except CropReadError as e:
            if self.missing == "error":
                raise
            # A crop that went bad after construction: warn naming it and serve the next item instead.
            log.warning("%s; serving item %d instead", e, (index + 1) % len(self))
            return self._read_frames(self._item_rows((index + 1) % len(self)), (index + 1) % len(self))
        if self.augment is not None:
            frames = augment_frames(frames, self.augment, (self.seed, self.epoch, index))
        return to_tensor(frames, self.model_cfg)

    def _item_rows(self, index: int) -> Sequence[int]:
        return [index]

    @property
    def labels(self) -> np.ndarray:
        """Label of each item (1 = fake), in item order."""
        return self.meta["label"].to_numpy(dtype=np.int64)

    def describe(self) -> dict[str, Any]:
        """Plain-data summary (recorded in a run's config.json)."""
        labels = self.labels
        return {
            "class": type(self).__name__,
            "faces": self.source,
            "root": str(self.root),
            "split": self.split,
            "items": len(self),
            "fake": int((labels == 1).sum()),
            "real": int((labels == 0).sum()),
            "n_missing": self.n_missing,
            "train": self.train,
            "augment": self.augment.to_dict() if self.augment is not None else None,
        }

    meta: pd.DataFrame


class FrameDataset(_FaceDataset):
    """One item per face crop: ``(tensor (C, H, W), label)``, plus a dict (video_id, track, frame) if `return_meta`.

    Args:
        faces: path of a faces manifest written with ``save_table`` (or a DataFrame from ``load_table``).
        split: ``"train"``, ``"val"``, ``"test"``, a list of them, or None for every row.
        model_cfg: the model's ``default_cfg`` (input size, mean, std).
        train: augment with `augment` (default `AugmentConfig()`); otherwise only resize and normalise.
        augment: augmentation probabilities and ranges (used when `train`).
        missing: a crop listed but missing, empty or (with `verify`) undecodable: ``"error"`` raises naming it;
            ``"skip"`` drops it, counted in `n_missing` and listed in `skipped` (path, reason). A crop that fails
            to decode later, while reading, raises in ``"error"`` mode and is replaced by the next item (with a
            warning naming it) in ``"skip"`` mode.
        verify: decode every crop at construction (about 1 ms each) instead of only checking it exists.
        seed: seed of the augmentation draws (with the epoch and the item index).
        return_meta: also return ``{"video_id", "track", "frame"}`` with each item.

    Example:
        >>> ds = FrameDataset("labels/ffpp_faces.csv", "val", model.default_cfg)  # doctest: +SKIP
        >>> x, y = ds[0]
    """

    def __init__(self, faces: str | os.PathLike | pd.DataFrame, split: str | Sequence[str] | None,
                 model_cfg: ModelCfg, train: bool = False, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(faces, split, model_cfg, train=train, **kwargs)
        self.meta = self.faces.copy()
        self.meta.attrs = {}

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> tuple:
        x = self._read_frames([index], index)[0]
        y = torch.tensor(float(self.faces.at[index, "label"]))
        if not self.return_meta:
            return x, y
        row = self.faces.loc[index]
        return x, y, {"video_id": str(row["video_id"]), "track": int(row["track"]), "frame": int(row["frame"])}


class WindowDataset(_FaceDataset):
    """One item per window of `window` consecutive sampled frames of one face track: ``(tensor (T, C, H, W), label)``.

    Windows are index arrays into the manifest, built at construction: each (video_id, track) is sorted by frame and
    cut into windows of `window` rows every `stride` rows, so a window never mixes tracks or videos. A track shorter
    than `window` is padded (``short="pad"``: repeat its last frame, or ``pad_mode="loop"`` to cycle it) or dropped
    (``short="drop"``); `n_padded` and `n_dropped` count such tracks. The label of a window is its video's label.
    `meta` has one row per window: video_id, track, start_frame, end_frame, n_frames (real frames), label and the
    video-level columns of the manifest (split, group, method, ...).

    Args:
        window: frames per window (T).
        stride: rows between the starts of two windows of a track (default: `window`, no overlap).
        short: ``"pad"`` or ``"drop"`` tracks shorter than `window`.
        pad_mode: ``"repeat"`` the last frame, or ``"loop"`` over the track.
        **kwargs: as `FrameDataset` (train, augment, missing, seed, return_meta). Augmentation parameters are drawn
            once per window and applied to all its frames.
    """

    def __init__(
        self,
        faces: str | os.PathLike | pd.DataFrame,
        split: str | Sequence[str] | None,
        model_cfg: ModelCfg,
        window: int = 8,
        stride: int | None = None,
        train: bool = False,
        short: Literal["pad", "drop"] = "pad",
        pad_mode: Literal["repeat", "loop"] = "repeat",
        **kwargs: Any,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, not {window}")
        stride = window if stride is None else int(stride)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, not {stride}")
        if short not in ("pad", "drop") or pad_mode not in ("repeat", "loop"):
            raise ValueError(f"short must be 'pad'|'drop' and pad_mode 'repeat'|'loop', not {short!r}, {pad_mode!r}")
        super().__init__(faces, split, model_cfg, train=train, **kwargs)
        self.window, self.stride, self.short, self.pad_mode = int(window), stride, short, pad_mode
        faces_df = self.faces.sort_values(["video_id", "track", "frame"], kind="stable").reset_index(drop=True)
        self.faces = faces_df
        self._paths = [str(self.root / p) for p in faces_df["path"]]
        mixed = faces_df.groupby("video_id", sort=False)["label"].nunique()
        if (mixed > 1).any():
            raise ValueError(f"videos with more than one label in the manifest: {list(mixed[mixed > 1].index[:5])}")
        windows: list[np.ndarray] = []
        n_real: list[int] = []
        self.n_padded = self.n_dropped = 0
        video_cols = [
            c for c in faces_df.columns if c not in {"track", "frame", "path", "x0", "y0", "x1", "y1", "prob"}
        ]
        for _, rows in faces_df.groupby(["video_id", "track"], sort=False).indices.items():
            rows = np.asarray(rows)  # already sorted by frame
            n = len(rows)
            if n < self.window:
                if short == "drop":
                    self.n_dropped += 1
                    continue
                self.n_padded += 1
                if pad_mode == "repeat":
                    pad = np.concatenate([rows, np.repeat(rows[-1:], self.window - n)])
                else:
                    pad = np.resize(rows, self.window)
                windows.append(pad)
                n_real.append(n)
                continue
            for start in range(0, n - self.window + 1, self.stride):
                windows.append(rows[start : start + self.window])
                n_real.append(self.window)
        self.windows = np.stack(windows) if windows else np.zeros((0, self.window), dtype=np.int64)
        first = self.windows[:, 0] if len(windows) else np.zeros(0, dtype=np.int64)
        meta = faces_df.loc[first, video_cols].reset_index(drop=True)
        meta.insert(1, "track", faces_df["track"].to_numpy()[first])
        frames = faces_df["frame"].to_numpy()
        meta.insert(2, "start_frame", frames[first])
        # the last real frame (a padded window repeats frames; a looped one restarts from the track's beginning)
        last_real = [w[k - 1] for w, k in zip(self.windows, n_real, strict=True)]
        meta.insert(3, "end_frame", frames[np.asarray(last_real, dtype=np.int64)])
        meta.insert(4, "n_frames", np.asarray(n_real, dtype=np.int64))
        self.meta = meta
        if self.n_padded or self.n_dropped:
            log.info(
                "%s: %d windows of %d frames; %d track(s) shorter than the window %s",
                self.source or "faces",
                len(self.windows),
                self.window,
                self.n_padded or self.n_dropped,
                "padded" if short == "pad" else "dropped",
            )

    def __len__(self) -> int:
        return len(self.windows)

    def _item_rows(self, index: int) -> Sequence[int]:
        return self.windows[index]

    def __getitem__(self, index: int) -> tuple:
        rows = self.windows[index]
        x = self._read_frames(rows, index)
        y = torch.tensor(float(self.meta.at[index, "label"]))
        if not self.return_meta:
            return x, y
        m = self.meta.loc[index]
        return (
            x,
            y,
            {
                "video_id": str(m["video_id"]),
                "track": int(m["track"]),
                "start_frame": int(m["start_frame"]),
                "end_frame": int(m["end_frame"]),
            },
        )

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


def build_dataset(
    faces: str | os.PathLike | pd.DataFrame,
    split: str | Sequence[str] | None,
    model: Detector,
    train: bool = False,
    **kwargs: Any,
) -> FrameDataset | WindowDataset:
    """The dataset a model trains on: `WindowDataset` for temporal models, `FrameDataset` otherwise.

    `kwargs` go to the dataset (window, stride, short for windows; augment, missing, seed, return_meta for both).
    """
    cfg = model.default_cfg
    if cfg.temporal:
        return WindowDataset(faces, split, cfg, train=train, **kwargs)
    for key in ("window", "stride", "short", "pad_mode"):
        kwargs.pop(key, None)
    return FrameDataset(faces, split, cfg, train=train, **kwargs)
