"""DFDC: every part's ``metadata.json`` (a fake shares its original's group) and the test set's ``labels.csv``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from deepfakeforensics.indexing._common import IndexResult, LayoutError, iter_videos, relpath
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index

#: Default shares of the seeded split of the training parts (the test set comes from ``labels.csv``).
DFDC_RATIOS: Mapping[str, float] = {"train": 0.85, "val": 0.15}

_LABELS = {"FAKE": 1, "REAL": 0, "1": 1, "0": 0}


def _add_listed(
    draft: IndexDraft, f: Path, label: int, listing: Path, present: bool, keys: list[str] | None = None
) -> str | None:
    """Add a video that `listing` names, linked to `keys`; returns its video_id (the file stem).

    A file that is absent, or whose name was indexed before, is a failure, and None is returned.
    """
    if not present:
        draft.fail(f, f"listed in {listing.name} but absent")
        return None
    vid = f.stem
    if vid in draft.keys:
        draft.fail(f, f"duplicate video name {vid!r} (listed again in {relpath(listing, draft.root)}): skipped")
        return None
    draft.add(f, vid, label, "fake" if label else "original", keys=[vid, *(keys or [])])
    return vid


def _read_metadata(draft: IndexDraft, meta_file: Path) -> dict | None:
    """The JSON object in `meta_file`, or None (a failure) when it is unreadable or not an object."""
    try:
        meta = json.loads(meta_file.read_text())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        draft.fail(meta_file, f"unreadable metadata.json: {e}")
        return None
    return meta


def _add_part(draft: IndexDraft, meta_file: Path) -> dict[str, str]:
    """Add the videos a part's ``metadata.json`` lists (a fake joins its original's group).

    Videos present but not listed, listed but absent, or with an unknown label are failures.

    Returns:
        video_id -> ``"test"`` for the videos the metadata marks as test (the preview release does).
    """
    meta = _read_metadata(draft, meta_file)
    if meta is None:
        return {}
    part = meta_file.parent
    present = {f.name for f in iter_videos(part) if f.parent == part}
    if not present:
        draft.fail(part, "empty folder: no video files")
    for name in sorted(present - set(meta)):
        draft.fail(part / name, "video not listed in metadata.json: skipped (label unknown)")
    official = {}
    for name, info in sorted(meta.items()):
        label = _LABELS.get(str((info or {}).get("label", "")).upper())
        if label is None:
            draft.fail(part / name, f"unknown label {info!r} in metadata.json")
            continue
        original = Path(info["original"]).stem if label and info.get("original") else None
        vid = _add_listed(draft, part / name, label, meta_file, name in present, [original] if original else None)
        if vid is None:
            continue
        if original or not label:  # a group is named after the real video its fakes were made from
            draft.preferred_names.add(original or vid)
        if info.get("split") == "test":
            official[vid] = "test"
    return official


def _add_test_set(draft: IndexDraft, csv_file: Path) -> dict[str, str]:
    """Add the videos a test set's ``labels.csv`` lists (each its own group); returns video_id -> ``"test"``."""
    try:
        table = pd.read_csv(csv_file, dtype=str)
        pairs = list(zip(table["filename"], table["label"], strict=True))
    except (ValueError, KeyError) as e:
        draft.fail(csv_file, f"unreadable labels.csv (expected columns filename,label): {e}")
        return {}
    folder = csv_file.parent
    files = {f.name: f for f in draft.list_videos(folder)}
    official = {}
    for name, value in pairs:
        f = files.get(Path(name).name, folder / name)
        label = _LABELS.get(str(value).strip().upper())
        if label is None:
            draft.fail(f, f"unknown label {value!r} in labels.csv")
            continue
        vid = _add_listed(draft, f, label, csv_file, f.is_file())
        if vid is not None:
            official[vid] = "test"
    return official


def index_dfdc(
    root: str | os.PathLike,
    ratios: Mapping[str, float] = DFDC_RATIOS,
    seed: int = 0,
) -> IndexResult:
    """Index DFDC: every folder under ROOT holding a ``metadata.json`` (``dfdc_train_part_N/``, or ROOT itself), and
    every folder holding a ``labels.csv`` (``filename,label`` with 1 = fake: the test set).

    ``video_id`` is the file stem (DFDC names are unique; a repeated name is reported and skipped). ``method`` is
    ``original`` for reals and ``fake`` for fakes (DFDC does not say which method). Group: the original's stem for a
    fake, the own stem for a real (union-find, so the original and all its fakes share one group, across parts too);
    each test video is its own group.

    Splits: ``labels.csv`` videos and metadata entries whose ``split`` is ``"test"`` are test; the rest (``"train"``
    in every training part) get a seeded group split with `ratios` (train/val by default). Videos listed but absent,
    videos present but not listed, unknown labels and parts with no video are reported as failures.

    Args:
        root: the DFDC root.
        ratios: shares of the seeded split of the non-test videos.
        seed: its seed.

    Raises:
        LayoutError: no ``metadata.json`` nor ``labels.csv`` anywhere under the root.
    """
    root = Path(root)
    metas = sorted(root.rglob("metadata.json")) if root.is_dir() else []
    label_csvs = sorted(root.rglob("labels.csv")) if root.is_dir() else []
    if not metas and not label_csvs:
        raise LayoutError(
            f"{root}: not a DFDC root (expected dfdc_train_part_N/metadata.json folders or a test set labels.csv)"
        )
    draft = IndexDraft(root, "dfdc")
    official: dict[str, str] = {}
    for meta_file in metas:
        official.update(_add_part(draft, meta_file))
    for csv_file in label_csvs:
        official.update(_add_test_set(draft, csv_file))
    groups = assign_groups(draft)
    return finalise_index(draft, groups, official, ratios=ratios, seed=seed, source="DFDC test")
