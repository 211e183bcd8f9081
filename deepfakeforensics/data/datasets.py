"""PyTorch datasets over a faces manifest (``labels/NAME_faces.csv``): one face crop, or one window of a face track.

Both read the JPEG crops listed in the manifest on the fly (nothing is duplicated on disk) and derive their transforms
from the model's ``default_cfg``. With ``train=True`` they augment; the random draw of an item is a function of
``(seed, epoch, index)`` (call `set_epoch` each epoch), so results do not depend on the number of loader workers
and an interrupted run resumes exactly.

The manifest is validated when loaded (`deepfakeforensics.data.manifest.read_manifest`) and every crop path is resolved
inside the manifest's root: a path leading outside it is refused, never opened. A crop that cannot be read is never
served under another item's name:

- ``missing="error"`` (default): construction raises `CropReadError` naming every crop listed but missing or empty
  (or escaping the root), and reading an unreadable crop raises naming it.
- ``missing="skip"``: such crops are dropped at construction (`skipped`, `n_missing`). A crop that fails to decode
  later, while reading, is replaced in training by another item carrying its own label and ids (bounded, seeded by
  ``(seed, epoch, index)``); in evaluation the item comes back as an `UnreadableItem`, which `collate_readable`
  drops from its batch and reports in the batch's ``failures``.

`verify_crops` checks the crops of several datasets before a run starts and reports every problem at once.

Example:
    >>> model = create_model("mesonet4")  # doctest: +SKIP
    >>> train_ds = build_dataset("labels/ffpp_faces.csv", "train", model, train=True)  # doctest: +SKIP
    >>> x, y = train_ds[0]  # x: (3, 256, 256) for a frame model, (T, 3, 256, 256) for a temporal one
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, default_collate
from tqdm.auto import tqdm

from deepfakeforensics.data.manifest import PathEscapeError, read_manifest, resolve_inside, validate_manifest
from deepfakeforensics.data.sbi import RECIPES, real_views, self_blend_frames
from deepfakeforensics.data.transforms import AugmentConfig, augment_frames, augment_frames_and_maps, to_tensor
from deepfakeforensics.data.windows import WindowConfig, make_windows
from deepfakeforensics.errors import DFFError
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, jpeg_header_problem, read_jpeg_strict
from deepfakeforensics.faces.dense import read_dense_landmarks
from deepfakeforensics.models._base import Detector, ModelCfg

log = logging.getLogger(__name__)

ID_COLUMNS = ["video_id", "track", "frame"]
REQUIRED_COLUMNS = ["video_id", "track", "frame", "path", "label"]
PROBLEM_COLUMNS = ["path", "reason"]
#: Items tried in place of an unreadable one in training before giving up (raising `CropReadError`).
MAX_REPLACEMENTS = 16
#: Files named in the message of a `CropReadError` that lists several (all are in its ``problems`` table).
SHOWN_PROBLEMS = 20

FrameMap = Callable[[list[np.ndarray], int], list[np.ndarray]]
PSEUDO_FAKES = RECIPES  # "sbi": the published recipe; "sbi-lite": this toolkit's first
#: `method` of a self-blended pseudo-fake item in `meta`
SBI_METHOD = "sbi"
#: The targets an item carries beside its ids with ``boundary > 0``
BOUNDARY_KEYS = ("boundary", "has_boundary")
#: Side of the blending-boundary grid `build_dataset` gives training items when asked (``boundary=True``)
BOUNDARY_GRID = 16


class CropReadError(DFFError, OSError):
    """Face crops listed in the manifest that are missing or cannot be decoded; the message names the files.

    Attributes:
        path: the (first) file, when known.
        reason: why it cannot be read, when known.
        problems: every bad file (columns path, reason), for an error about several (`verify_crops`).
    """

    def __init__(
        self, message: str, path: str | None = None, reason: str | None = None, problems: pd.DataFrame | None = None
    ) -> None:
        super().__init__(message)
        self.path, self.reason = path, reason
        self.problems = problems if problems is not None else pd.DataFrame(columns=PROBLEM_COLUMNS)

    def __reduce__(self) -> tuple:  # picklable across DataLoader workers, attributes included
        return type(self), (str(self), self.path, self.reason, self.problems)


def read_crop(path: str | os.PathLike) -> np.ndarray:
    """Decode a face crop to an RGB ``uint8`` array (H, W, 3); raises `CropReadError` naming the file.

    Corrupt JPEG data counts as unreadable, even where a lenient decoder would return broken pixels.
    """
    try:
        return read_jpeg_strict(path)
    except ValueError as e:
        reason = str(e).removeprefix(f"{path}: image ")
        raise CropReadError(f"face crop {e}", path=str(path), reason=reason) from None


def crop_problem(path: str | os.PathLike, decode: bool = False) -> str | None:
    """Why the crop at `path` cannot be read (missing, empty, bad header, truncated; corrupt data with `decode`).

    None when it looks sound. Without `decode` only the header is parsed (a few hundredths of a millisecond).
    """
    reason = jpeg_header_problem(path)
    if reason is not None or not decode:
        return reason
    try:
        read_crop(path)
    except CropReadError as e:
        return e.reason
    return None


@dataclass(frozen=True)
class UnreadableItem:
    """What an evaluation dataset (``train=False, missing="skip"``) returns for an item whose crop cannot be read.

    `collate_readable` drops it from the batch and reports ``(path, reason)``; `shape` is an item's tensor shape, so
    a batch of nothing but unreadable items still has a well-formed (empty) input tensor.
    """

    index: int
    path: str
    reason: str
    shape: tuple[int, ...]


class ReadableBatch(NamedTuple):
    """A batch from `collate_readable`: ``batch[0]`` and ``batch[1]`` are the inputs and labels as usual.

    Attributes:
        x: inputs of the readable items (first dimension 0 when none was readable).
        y: their labels.
        ids: their identities (``video_id``, ``track``, ``frame`` or ``start_frame``/``end_frame``, and ``index``,
            the item's row in the dataset's ``meta``) when the dataset returns them (``return_meta``), else None.
        failures: ``(path, reason)`` of every item of the batch that was dropped as unreadable.
    """

    x: torch.Tensor
    y: torch.Tensor
    ids: dict[str, Any] | None
    failures: list[tuple[str, str]]


def collate_readable(items: Sequence[tuple | UnreadableItem]) -> ReadableBatch:
    """DataLoader ``collate_fn`` that drops unreadable items and carries their failures with the batch.

    It runs where the batch is built (a worker process, with ``num_workers > 0``), so the failures reach the main
    process inside the batch, never through the dataset object.

    Example:
        >>> loader = DataLoader(ds, batch_size=32, collate_fn=collate_readable)  # doctest: +SKIP
        >>> for x, y, ids, failures in loader: ...  # doctest: +SKIP
    """
    good = [it for it in items if not isinstance(it, UnreadableItem)]
    failures = [(it.path, it.reason) for it in items if isinstance(it, UnreadableItem)]
    if not good:
        return ReadableBatch(torch.zeros((0, *items[0].shape)), torch.zeros(0), None, failures)
    fields = default_collate(good)
    return ReadableBatch(fields[0], fields[1], fields[2] if len(fields) > 2 else None, failures)


def _load_faces(faces: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The validated faces manifest (a path is read with `read_manifest`; a DataFrame needs its recorded root)."""
    if not isinstance(faces, pd.DataFrame):
        return read_manifest(faces, kind="faces")
    if "root" not in faces.attrs:
        raise ValueError(
            "a faces DataFrame needs df.attrs['root'] (load it with deepfakeforensics.data.manifest.read_manifest)"
        )
    return validate_manifest(faces, "faces")


class _Landmarks:
    """Each row's landmarks in crop pixels for self-blending: dlib's 68 points where the manifest's sidecar (``dff
    landmarks``) has them (masks from their hull), else MTCNN's five (a fitted ellipse); rows with neither get no
    pseudo-fake. A window uses the 68 points only when every frame has them, so its frames share one mask shape."""

    def __init__(self, df: pd.DataFrame, source: str | None = None) -> None:
        five = np.full((len(df), 5, 2), np.nan, np.float32)
        if set(LANDMARK_COLUMNS) <= set(df.columns):
            five = df[LANDMARK_COLUMNS].to_numpy(dtype=np.float32).reshape(-1, 5, 2)
        self.five, self.dense = five, read_dense_landmarks(df, source=source)
        self.known = np.isfinite(five).all(axis=(1, 2))
        if self.dense is not None:
            has_dense = np.isfinite(self.dense).all(axis=(1, 2))
            self.known |= has_dense
            if not has_dense.all():
                where = source or df.attrs.get("source", "faces")
                n = int((~has_dense).sum())
                log.warning(
                    "%s: %d of %d crops have no 68-point landmarks yet (dff landmarks not finished?): their pseudo-"
                    "fakes use the five-point ellipse",
                    where,
                    n,
                    len(df),
                )

    def of(self, rows: Sequence[int]) -> np.ndarray:
        """The points of these rows (one item's frames): (T, 68, 2) if they all have dense ones, else (T, 5, 2)."""
        if self.dense is not None and np.isfinite(self.dense[rows]).all():
            return self.dense[rows]
        return self.five[rows]


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


def _screen_crops(root: Path, rels: Sequence[str], decode: bool) -> tuple[list[str | None], list[tuple[str, str]]]:
    """Resolve every crop inside `root` and stat it (and, with `decode`, decode it).

    Returns:
        ``(paths, problems)``: the absolute path of each row (None for a bad one), and ``(path, reason)`` of the bad
        ones: escaping the root (named as listed, never opened), missing, empty, or (with `decode`) undecodable.
    """
    paths: list[str | None] = []
    problems = []
    for rel in rels:
        try:
            path = str(resolve_inside(root, rel))
        except PathEscapeError as e:
            paths.append(None)
            problems.append((str(rel), f"refused: {e}"))
            continue
        try:
            size = os.stat(path).st_size
            reason = "empty (0 bytes)" if size == 0 else (crop_problem(path, decode=True) if decode else None)
        except OSError:
            reason = "missing"
        paths.append(None if reason else path)
        if reason:
            problems.append((path, reason))
    return paths, problems


class _FaceDataset(Dataset):
    """Machinery shared by the frame and window datasets: manifest, split, unreadable files, augmentation, reading."""

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
        df = self._arrange(_select_split(_load_faces(faces), split))
        self.root = Path(df.attrs["root"])
        self.source = df.attrs.get("source")
        self.split, self.model_cfg, self.train, self.missing = split, model_cfg, train, missing
        self.augment = (augment or AugmentConfig()) if train else None
        self.seed, self.epoch, self.return_meta = int(seed), 0, return_meta
        self._frame_map: FrameMap | None = None
        paths, problems = _screen_crops(self.root, list(df["path"]), verify)
        self.skipped = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
        self.n_missing = len(problems)
        if problems:
            if missing == "error":
                shown = "; ".join(f"{p}: {r}" for p, r in problems[:3])
                raise CropReadError(
                    f"{len(problems)} face crop(s) listed in the manifest cannot be read, e.g. {shown}",
                    problems[0][0],
                    problems[0][1],
                    self.skipped,
                )
            log.warning("skipped %d unreadable face crop(s), e.g. %s: %s", len(problems), *problems[0])
            keep = np.array([p is not None for p in paths], dtype=bool)
            df = df[keep].reset_index(drop=True)
            paths = [p for p in paths if p is not None]
        self.faces = df
        self._paths: list[str] = paths
        self._points = _Landmarks(df, self.source)

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
        self._n_base = len(meta)
        self._blend_of = self._blendable(meta) if self.pseudo_fakes else np.zeros(0, dtype=np.int64)
        self._pair_of = np.full(self._n_base, -1, dtype=np.int64)  # each real item's pseudo-fake, -1 if none
        self._pair_of[self._blend_of] = np.arange(self._n_base, self._n_base + len(self._blend_of), dtype=np.int64)
        if len(self._blend_of):
            fakes = meta.iloc[self._blend_of].assign(label=1)
            if "method" in fakes.columns:
                fakes["method"] = SBI_METHOD
            meta = pd.concat([meta, fakes], ignore_index=True)
        elif self.pseudo_fakes:
            log.warning("%s: no real item with landmarks: no pseudo-fakes", self.source or "faces")
        self.meta = meta
        self._y = meta["label"].to_numpy(dtype=np.float32)
        self._ids = {c: meta[c].tolist() for c in id_columns}

    def _blendable(self, meta: pd.DataFrame) -> np.ndarray:
        """Items that get a pseudo-fake: real ones whose every frame has its landmarks."""
        known = self._points.known
        real = meta["label"].to_numpy() == 0
        return np.array([i for i in range(len(meta)) if real[i] and known[list(self._item_rows(i))].all()], np.int64)

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
        base = index if index < self._n_base else int(self._blend_of[index - self._n_base])
        rows = list(self._item_rows(base))
        frames = [read_crop(self._paths[r]) for r in rows]
        maps = None  # a pseudo-fake's blending boundary per frame, at crop size
        paired = self.pseudo_fakes == "sbi" and self._pair_of[base] >= 0  # the published recipe: a real and its fake
        if paired and draw == index:  # one blend and one augmentation draw for both items of the pair
            draw = base
        blend_seed = (self.seed, self.epoch if self.vary_pseudo_fakes else 0, base if paired else index, 2)
        if base != index:  # a pseudo-fake: one self-blending draw for all frames of the item
            blended = self_blend_frames(frames, self._points.of(rows), blend_seed, self.pseudo_fakes)
            frames = [pair.fake for pair in blended]
            maps = [pair.boundary for pair in blended] if self.boundary else None
        elif paired:  # the real of a pair: altered where the draw alters the target
            frames = real_views(frames, blend_seed, self.pseudo_fakes)
        if self.augment is not None:
            seed = (self.seed, self.epoch, draw)
            if maps is None:
                frames = augment_frames(frames, self.augment, seed)
            else:
                frames, maps = augment_frames_and_maps(frames, maps, self.augment, seed)
        if self._frame_map is not None:
            frames = self._frame_map(frames, index)
        x = to_tensor(frames, self.model_cfg)
        x = x if len(self.item_shape) == 4 else x[0]
        ids = self._item_ids(index)
        if self.boundary:
            ids.update(self._boundary_target(index, maps, len(frames)))
        return x, torch.tensor(self._y[index]), ids

    def _boundary_target(self, index: int, maps: list[np.ndarray] | None, n_frames: int) -> dict[str, torch.Tensor]:
        """``boundary``: the blending boundary on a `boundary` x `boundary` grid (area-averaged), (T, g, g) for a
        window, zeros for manifest items; ``has_boundary``: 1 where the target is known (reals, pseudo-fakes), 0 for
        the manifest's fakes (where and whether they blend is unknown)."""
        g = self.boundary
        if maps is None:
            grid = np.zeros((n_frames, g, g), dtype=np.float32)
        else:
            grid = np.stack([cv2.resize(m, (g, g), interpolation=cv2.INTER_AREA) for m in maps]).astype(np.float32)
        known = maps is not None or self._y[index] == 0
        target = torch.from_numpy(grid if len(self.item_shape) == 4 else grid[0])
        return {"boundary": target, "has_boundary": torch.tensor(float(known))}

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


class FrameDataset(_FaceDataset):
    """One item per face crop: ``(tensor (C, H, W), label)``, plus its ids if `return_meta`.

    Args:
        faces: path of a faces manifest written with ``write_manifest`` (or a DataFrame from ``read_manifest``).
        split: ``"train"``, ``"val"``, ``"test"``, a list of them, or None for every row.
        model_cfg: the model's ``default_cfg`` (input size, mean, std).
        train: augment with `augment` (default `AugmentConfig()`); otherwise only resize and normalise.
        augment: augmentation settings (used when `train`).
        missing: a crop listed but missing, empty, escaping the root or (with `verify`) undecodable: ``"error"``
            raises naming it; ``"skip"`` drops it, counted in `n_missing` and listed in `skipped` (path, reason).
            A crop that fails to decode later, while reading, raises in ``"error"`` mode; in ``"skip"`` mode it is
            replaced by another item with its own label and ids (training) or returned as an `UnreadableItem`
            (evaluation: load with ``collate_fn=collate_readable``).
        verify: decode every crop at construction (strictly: corrupt data counts) instead of only checking it exists.
        seed: seed of the augmentation draws (with the epoch and the item index).
        return_meta: also return ``{"video_id", "track", "frame", "index"}`` with each item (``index``: its row in
            `meta`).
        pseudo_fakes: ``"sbi"`` (the published recipe) or ``"sbi-lite"`` (this toolkit's first): after the
            manifest's items, one self-blended pseudo-fake (`deepfakeforensics.data.sbi`, label 1, method ``"sbi"`` in
            `meta`) per real item whose crops have landmarks (manifests from before landmarks have none: no
            pseudo-fakes). A real-only manifest thus gives half reals, half pseudo-fakes; fakes in the manifest stay
            and mix in. The blend is drawn after reading and before augmentation, one draw for all frames of a
            window. With ``"sbi"`` a real item and its pseudo-fake are a pair: one blend draw ``(seed, epoch, real
            index)`` (the real item is the pair's real view: altered in the draws that alter the target) and one
            augmentation draw (crop, flip, colour, compression); with ``"sbi-lite"`` the blend is drawn from the
            pseudo-fake's own index and each item gets its own augmentation draw, as before.
        vary_pseudo_fakes: draw new pseudo-fakes each epoch (default: when `train`); otherwise epoch 0's, so a
            validation set stays the same from epoch to epoch.
        boundary: side g of a blending-boundary grid (0: off). Items then carry, beside their ids (or as a third
            element when `return_meta` is off), ``"boundary"``: the pseudo-fake's boundary ``4M(1-M)``
            (`deepfakeforensics.data.sbi`) area-averaged to (g, g) ((T, g, g) for windows), following the augmentation's
            flips, zeros for manifest items; and ``"has_boundary"``: 1.0 for reals and pseudo-fakes, 0.0 for the
            manifest's fakes, whose boundary is unknown (a training objective masks them out: Face X-ray's target).

    Example:
        >>> ds = FrameDataset("labels/ffpp_faces.csv", "val", model.default_cfg)  # doctest: +SKIP
        >>> x, y = ds[0]
    """

    def __init__(
        self,
        faces: str | os.PathLike | pd.DataFrame,
        split: str | Sequence[str] | None,
        model_cfg: ModelCfg,
        train: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(faces, split, model_cfg, train=train, **kwargs)
        meta = self.faces.copy()
        meta.attrs = {}
        self._set_meta(meta, ID_COLUMNS)


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
        self.window_cfg = _window_config(window, stride, short, pad_mode)
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

    def _cut_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Row indices (n_windows, T) into `faces` of every window, and the number of real frames of each."""
        windows, n_real = [np.zeros((0, self.window), dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        self.n_padded = self.n_dropped = 0
        for rows in self.faces.groupby(["video_id", "track"], sort=False).indices.values():
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


def _window_config(
    window: int | WindowConfig, stride: int | None, short: str | None, pad_mode: str | None
) -> WindowConfig:
    """`window` if it is a `WindowConfig` (then the other three must be unset), else one built from the four."""
    if isinstance(window, WindowConfig):
        if stride is not None or short is not None or pad_mode is not None:
            raise ValueError("give either a WindowConfig or window/stride/short/pad_mode, not both")
        return window
    return WindowConfig(window=int(window), stride=stride, short=short or "pad", pad_mode=pad_mode or "repeat")


def build_dataset(
    faces: str | os.PathLike | pd.DataFrame,
    split: str | Sequence[str] | None,
    model: Detector,
    train: bool = False,
    **kwargs: Any,
) -> FrameDataset | WindowDataset:
    """The dataset a model trains on: `WindowDataset` for temporal models, `FrameDataset` otherwise.

    `kwargs` go to the dataset (window, which may be a `WindowConfig`, stride, short, pad_mode for windows; augment,
    missing, seed, return_meta, verify, pseudo_fakes, vary_pseudo_fakes, boundary for both). Window options are ignored
    for frame models.
    """
    cfg = model.default_cfg
    if cfg.temporal:
        return WindowDataset(faces, split, cfg, train=train, **kwargs)
    for key in ("window", "stride", "short", "pad_mode"):
        kwargs.pop(key, None)
    return FrameDataset(faces, split, cfg, train=train, **kwargs)


def verify_crops(
    datasets: _FaceDataset | Sequence[_FaceDataset],
    progress: bool = True,
    decode: bool = False,
    raise_errors: bool = True,
) -> pd.DataFrame:
    """Check, before a run starts, every crop the given datasets will read, and report all problems at once.

    Each distinct file is checked once: it exists, is not empty, its JPEG header parses and it ends with an
    end-of-image marker (about 0.05 ms a crop; with `decode`, a full strict decode, about 0.25 ms a 256x256 crop).

    Args:
        datasets: a `FrameDataset` / `WindowDataset`, or several (e.g. the train and val splits of a run).
        progress: show a progress bar.
        decode: decode every crop fully (finds garbage inside the compressed data too).
        raise_errors: raise when any crop is bad; False returns the problems table instead (e.g. with
            ``missing="skip"``, where bad crops are replaced or dropped while reading).

    Returns:
        The problems (columns path, reason), empty when every crop is sound.

    Raises:
        CropReadError: with `raise_errors`, naming the first `SHOWN_PROBLEMS` bad files and how many there are;
            its ``problems`` attribute holds them all.
    """
    datasets = [datasets] if isinstance(datasets, _FaceDataset) else list(datasets)
    paths = list(dict.fromkeys(p for ds in datasets for p in ds._paths))
    problems = []
    for path in tqdm(paths, desc="checking crops", unit="crop", disable=not progress, leave=False):
        reason = crop_problem(path, decode=decode)
        if reason is not None:
            problems.append((path, reason))
    table = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
    if problems and raise_errors:
        shown = "\n  ".join(f"{p}: {r}" for p, r in problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        raise CropReadError(
            f"{len(problems)} of {len(paths)} face crop(s) cannot be read:\n  {shown}{more}",
            problems[0][0],
            problems[0][1],
            table,
        )
    return table
