"""DFDC: every part's ``metadata.json`` (a fake shares its original's group) and the test set's ``labels.csv``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from deepfakeforensics.indexing._common import (
    Failure,
    IndexResult,
    LayoutError,
    UnionFind,
    iter_videos,
    make_table,
    relpath,
)
from deepfakeforensics.indexing.splits import resolve_splits

#: Default shares of the seeded split of the training parts (the test set comes from ``labels.csv``).
DFDC_RATIOS: Mapping[str, float] = {"train": 0.85, "val": 0.15}

_LABELS = {"FAKE": 1, "REAL": 0, "1": 1, "0": 0}


def _row(vid: str, f: Path, root: Path, label: int) -> dict:
    return {
        "video_id": vid,
        "path": relpath(f, root),
        "label": label,
        "dataset": "dfdc",
        "method": "fake" if label else "original",
        "compression": None,
    }


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
    failures: list[Failure] = []
    rows: list[dict] = []
    uf = UnionFind()
    official: dict[str, str] = {}
    seen: set[str] = set()
    originals: set[str] = set()

    def add(vid: str, f: Path, label: int, source: Path) -> bool:
        if vid in seen:
            failures.append(
                (str(f), f"duplicate video name {vid!r} (listed again in {relpath(source, root)}): skipped")
            )
            return False
        seen.add(vid)
        rows.append(_row(vid, f, root, label))
        return True

    for meta_file in metas:
        part = meta_file.parent
        try:
            meta = json.loads(meta_file.read_text())
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            failures.append((str(meta_file), f"unreadable metadata.json: {e}"))
            continue
        present = {f.name for f in iter_videos(part) if f.parent == part}
        if not present:
            failures.append((str(part), "empty folder: no video files"))
        for name in sorted(set(present) - set(meta)):
            failures.append((str(part / name), "video not listed in metadata.json: skipped (label unknown)"))
        for name, info in sorted(meta.items()):
            f = part / name
            label = _LABELS.get(str((info or {}).get("label", "")).upper())
            if label is None:
                failures.append((str(f), f"unknown label {info!r} in metadata.json"))
                continue
            if name not in present:
                failures.append((str(f), "listed in metadata.json but absent"))
                continue
            vid = Path(name).stem
            if not add(vid, f, label, meta_file):
                continue
            original = info.get("original")
            if label and original:
                uf.union(vid, Path(original).stem)
                originals.add(Path(original).stem)
            else:
                uf.add(vid)
                if not label:
                    originals.add(vid)
            if info.get("split") == "test":
                official[vid] = "test"

    for csv_file in label_csvs:
        folder = csv_file.parent
        try:
            table = pd.read_csv(csv_file, dtype=str)
            pairs = list(zip(table["filename"], table["label"], strict=True))
        except (ValueError, KeyError) as e:
            failures.append((str(csv_file), f"unreadable labels.csv (expected columns filename,label): {e}"))
            continue
        files = {f.name: f for f in iter_videos(folder)}
        if not files:
            failures.append((str(folder), "empty folder: no video files"))
        for name, lab in pairs:
            f = files.get(Path(name).name, folder / name)
            label = _LABELS.get(str(lab).strip().upper())
            if label is None:
                failures.append((str(f), f"unknown label {lab!r} in labels.csv"))
                continue
            if not f.is_file():
                failures.append((str(f), "listed in labels.csv but absent"))
                continue
            vid = Path(name).stem
            if add(vid, f, label, csv_file):
                uf.add(vid)
                official[vid] = "test"

    # A group is named after its original (the real video its fakes were made from), else its smallest member.
    names: dict[str, str] = {}
    for o in sorted(originals):
        names.setdefault(uf.find(o), o)
    for r in rows:
        root_key = uf.find(r["video_id"])
        r["group"] = names.get(root_key, root_key)
    videos = make_table(rows, root)
    videos, dropped = resolve_splits(videos, official, ratios=ratios, seed=seed, unlisted="inherit", source="DFDC test")
    return IndexResult(videos, failures + dropped)
