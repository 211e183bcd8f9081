"""The machinery the face datasets share, composed from small parts: a manifest split (`load_faces`,
`select_split`), crop screening and reading (`deepfakeforensics.data.crops`), unreadable items
(`deepfakeforensics.data.collate`), pseudo-fakes and boundary targets (`deepfakeforensics.data.pseudo_fakes`) and
augmentation (`deepfakeforensics.data.transforms`). Subclasses say which rows make an item (`_item_rows`) and what an
item's table is (`_set_meta`): `FrameDataset`, `WindowDataset`, `ClipDataset`."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from deepfakeforensics.data.collate import UnreadableItem
from deepfakeforensics.data.crops import PROBLEM_COLUMNS, CropReadError, read_crop, screen_crops
from deepfakeforensics.data.manifest import read_manifest, validate_manifest
from deepfakeforensics.data.pseudo_fakes import BOUNDARY_KEYS, PSEUDO_FAKES, Landmarks, PseudoFakes, boundary_target
from deepfakeforensics.data.transforms import AugmentConfig, augment_frames, augment_frames_and_maps, to_tensor
from deepfakeforensics.models._base import ModelCfg

log = logging.getLogger(__name__)

#: Items tried in place of an unreadable one in training before giving up (raising `CropReadError`).
MAX_REPLACEMENTS = 16

FrameMap = Callable[[list[np.ndarray], int], list[np.ndarray]]


def load_faces(faces: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The validated faces manifest (a path is read with `read_manifest`; a DataFrame needs its recorded root)."""
    if not isinstance(faces, pd.DataFrame):
        return read_manifest(faces, kind="faces")
    if "root" not in faces.attrs:
        raise ValueError(
            "a faces DataFrame needs df.attrs['root'] (load it with deepfakeforensics.data.manifest.read_manifest)"
        )
    return validate_manifest(faces, "faces")


def select_split(df: pd.DataFrame, split: str | Sequence[str] | None) -> pd.DataFrame:
    """The rows of `split` (a name or several; None: all), renumbered, attrs kept."""
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


class _FaceDataset(Dataset):
    """Machinery shared by the frame, window and clip datasets: manifest, split, unreadable files, augmentation,
    pseudo-fakes, reading (arguments: see `FrameDataset`)."""

    meta: pd.DataFrame

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
        pseudo_fakes: str | None = None,
        vary_pseudo_fakes: bool | None = None,
        boundary: int = 0,
    ) -> None:
        if missing not in ("error", "skip"):
            raise ValueError(f"missing must be 'error' or 'skip', not {missing!r}")
        if pseudo_fakes not in (None, "none", *PSEUDO_FAKES):
            raise ValueError(f"pseudo_fakes must be None or one of {PSEUDO_FAKES}, not {pseudo_fakes!r}")
        if int(boundary) < 0:
            raise ValueError(f"boundary must be the side of the boundary grid (> 0) or 0 (off), not {boundary!r}")
        self.pseudo_fakes = None if pseudo_fakes == "none" else pseudo_fakes
        self.boundary = int(boundary)
        self.vary_pseudo_fakes = train if vary_pseudo_fakes is None else vary_pseudo_fakes
        df = self._arrange(select_split(load_faces(faces), split))
        self.root = Path(df.attrs["root"])
        self.source = df.attrs.get("source")
        self.split, self.model_cfg, self.train, self.missing = split, model_cfg, train, missing
        self.augment = (augment or AugmentConfig()) if train else None
        self.seed, self.epoch, self.return_meta = int(seed), 0, return_meta
        self._frame_map: FrameMap | None = None
        self.faces, self._paths = self._screen(df, verify)
        self._points = Landmarks(self.faces, self.source)
        self._fakes = PseudoFakes(self.pseudo_fakes, self._points, self.seed, self.vary_pseudo_fakes)

    def _screen(self, df: pd.DataFrame, verify: bool) -> tuple[pd.DataFrame, list[str]]:
        """The rows whose crops can be read, and their absolute paths (``missing="error"``: raise on any other)."""
        paths, problems = screen_crops(self.root, list(df["path"]), verify)
        self.skipped = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
        self.n_missing = len(problems)
        if not problems:
            return df, paths
        if self.missing == "error":
            shown = "; ".join(f"{p}: {r}" for p, r in problems[:3])
            raise CropReadError(
                f"{len(problems)} face crop(s) listed in the manifest cannot be read, e.g. {shown}",
                problems[0][0],
                problems[0][1],
                self.skipped,
            )
        log.warning("skipped %d unreadable face crop(s), e.g. %s: %s", len(problems), *problems[0])
        keep = np.array([p is not None for p in paths], dtype=bool)
        out = df[keep].reset_index(drop=True)
        out.attrs = dict(df.attrs)
        return out, [p for p in paths if p is not None]

    def _arrange(self, df: pd.DataFrame) -> pd.DataFrame:
        """Row order of `faces` (the window dataset sorts by track and frame)."""
        return df

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation draws `__getitem__` returns (set before creating the loader iterator)."""
        self.epoch = int(epoch)

    def map_frames(self, fn: FrameMap) -> _FaceDataset:
        """A copy whose decoded frames pass through ``fn(frames, index)`` before normalisation (e.g. a perturbation).

        Unreadable crops are handled as in the original. `fn` must be picklable for spawned DataLoader workers.
        """
        out = copy.copy(self)
        out._frame_map = fn
        return out

    def _item_rows(self, index: int) -> Sequence[int]:
        return [index]

    def _set_meta(self, meta: pd.DataFrame, id_columns: Sequence[str]) -> None:
        """Set the per-item table, and the labels and ids `__getitem__` reads (plain lists: fast per item).

        With pseudo-fakes, one more item (label 1, method ``"sbi"``) follows for each real item that has landmarks.
        """
        self.meta = self._fakes.plan(meta, self._item_rows, self.source)
        self._y = self.meta["label"].to_numpy(dtype=np.float32)
        self._ids = {c: self.meta[c].tolist() for c in id_columns}

    @property
    def _n_base(self) -> int:
        return self._fakes.n_base

    @property
    def _blend_of(self) -> np.ndarray:
        return self._fakes.blend_of

    @property
    def _pair_of(self) -> np.ndarray:
        return self._fakes.pair_of

    def __len__(self) -> int:
        return len(self._y)

    @property
    def blended_from(self) -> np.ndarray:
        """(len,) int64: for a pseudo-fake, the index of the real item it is blended from; -1 for manifest items."""
        out = np.full(len(self), -1, dtype=np.int64)
        out[self._n_base :] = self._blend_of
        return out

    @property
    def pseudo_fake_index(self) -> np.ndarray:
        """(len,) int64: the index of each item's pseudo-fake; -1 where it has none (fakes, pseudo-fakes, no points)."""
        out = np.full(len(self), -1, dtype=np.int64)
        out[self._blend_of] = np.arange(self._n_base, len(self), dtype=np.int64)
        return out

    def _item_ids(self, index: int) -> dict[str, Any]:
        return {**{c: values[index] for c, values in self._ids.items()}, "index": index}

    @property
    def item_shape(self) -> tuple[int, ...]:
        """Shape of one item's input tensor."""
        return tuple(self.model_cfg.input_size)

    def _load(self, index: int, draw: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Item `index` as ``(x, y, ids)``, augmented with draw ``(seed, epoch, draw)``; raises `CropReadError`.

        With `boundary`, `ids` also holds the item's ``"boundary"`` and ``"has_boundary"`` targets.
        """
        base = self._fakes.base_of(index)
        rows = list(self._item_rows(base))
        frames = [read_crop(self._paths[r]) for r in rows]
        if self._fakes.paired(base) and draw == index:  # one blend and one augmentation draw for both of a pair
            draw = base
        frames, maps = self._fakes.blend(frames, rows, index, base, self.epoch, maps=bool(self.boundary))
        if self.augment is not None:
            seed = (self.seed, self.epoch, draw)
            if maps is None:
                frames = augment_frames(frames, self.augment, seed)
            else:
                frames, maps = augment_frames_and_maps(frames, maps, self.augment, seed)
        if self._frame_map is not None:
            frames = self._frame_map(frames, index)
        x = to_tensor(frames, self.model_cfg)
        windowed = len(self.item_shape) == 4
        x = x if windowed else x[0]
        ids = self._item_ids(index)
        if self.boundary:
            ids.update(boundary_target(maps, self.boundary, bool(self._y[index] == 0), len(frames), windowed))
        return x, torch.tensor(self._y[index]), ids

    def _replacement(self, index: int, error: CropReadError) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """A readable item other than `index` (training only), drawn from ``(seed, epoch, index)``; its own label."""
        rng = np.random.default_rng((self.seed, self.epoch, index, 1))
        candidates = rng.choice(len(self), size=min(len(self), MAX_REPLACEMENTS + 1), replace=False)
        errors = [error]
        for j in (int(c) for c in candidates if c != index):
            try:
                item = self._load(j, index)
            except CropReadError as e:
                errors.append(e)
                continue
            log.warning("%s; training on item %d in its place (with its own label)", error, j)
            return item
        names = "; ".join(f"{e.path}: {e.reason}" for e in errors)
        raise CropReadError(
            f"item {index} and {len(errors) - 1} replacement(s) cannot be read: {names}", error.path, error.reason
        )

    def __getitem__(self, index: int) -> tuple | UnreadableItem:
        index = int(index)
        try:
            x, y, ids = self._load(index, index)
        except CropReadError as e:
            if self.missing == "error":
                raise
            if not self.train:
                return UnreadableItem(index, str(e.path), str(e.reason), self.item_shape)
            x, y, ids = self._replacement(index, e)
        if self.return_meta:
            return x, y, ids
        return (x, y, {k: ids[k] for k in BOUNDARY_KEYS}) if self.boundary else (x, y)

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
            "pseudo_fakes": self.pseudo_fakes,
            "n_pseudo_fakes": len(self._blend_of),
            "boundary": self.boundary,
            "train": self.train,
            "augment": self.augment.to_dict() if self.augment is not None else None,
        }
