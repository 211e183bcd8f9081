"""PyTorch datasets over a faces manifest (``labels/NAME_faces.csv``): one face crop, one window of a face track, or
one window of a clip of consecutive frames (`ClipDataset`, `deepfakeforensics.data.clips`).

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

The datasets are composed from small parts: `deepfakeforensics.data.face_dataset` (the shared machinery),
`deepfakeforensics.data.crops` (reading and screening crops), `deepfakeforensics.data.collate` (unreadable items in a
batch), `deepfakeforensics.data.pseudo_fakes` (self-blended pseudo-fakes, boundary targets),
`deepfakeforensics.data.window_dataset` (`WindowDataset`) and `deepfakeforensics.data.clips` (`ClipDataset`).

`verify_crops` checks the crops of several datasets before a run starts and reports every problem at once.

Example:
    >>> model = create_model("mesonet4")  # doctest: +SKIP
    >>> train_ds = build_dataset("labels/ffpp_faces.csv", "train", model, train=True)  # doctest: +SKIP
    >>> x, y = train_ds[0]  # x: (3, 256, 256) for a frame model, (T, 3, 256, 256) for a temporal one
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from deepfakeforensics.data.clips import ClipDataset, has_clips
from deepfakeforensics.data.crops import check_crop_files
from deepfakeforensics.data.face_dataset import _FaceDataset
from deepfakeforensics.data.window_dataset import WindowDataset
from deepfakeforensics.models._base import Detector, ModelCfg

__all__ = ["ClipDataset", "FrameDataset", "WindowDataset", "build_dataset", "verify_crops"]

ID_COLUMNS = ["video_id", "track", "frame"]
REQUIRED_COLUMNS = ["video_id", "track", "frame", "path", "label"]


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


def build_dataset(
    faces: str | os.PathLike | pd.DataFrame,
    split: str | Sequence[str] | None,
    model: Detector,
    train: bool = False,
    clips: bool | None = None,
    **kwargs: Any,
) -> FrameDataset | WindowDataset:
    """The dataset a model trains on: `FrameDataset` for frame models; for temporal models `ClipDataset` over a
    manifest of clips (extracted with the clips sampling strategy: it has a ``clip`` column), else `WindowDataset`.

    Args:
        clips: temporal models only: None chooses from the manifest; True asks for `ClipDataset` (an error on a
            manifest without clips); False asks for `WindowDataset` (windows of whole tracks).
        kwargs: go to the dataset (window, which may be a `WindowConfig`, stride, short, pad_mode for windows and
            clips; augment, missing, seed, return_meta, verify, pseudo_fakes, vary_pseudo_fakes, boundary for all).
            Window options are ignored for frame models.
    """
    cfg = model.default_cfg
    if cfg.temporal:
        if clips is None:
            clips = has_clips(faces)
        return (ClipDataset if clips else WindowDataset)(faces, split, cfg, train=train, **kwargs)
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
        datasets: a `FrameDataset` / `WindowDataset` / `ClipDataset`, or several (e.g. the train and val splits).
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
    return check_crop_files((p for ds in datasets for p in ds._paths), progress, decode, raise_errors)
