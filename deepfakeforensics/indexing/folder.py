"""A plain folder of the user's own videos: ``real/`` and ``fake/`` folders at any depth, or a CSV of ``path,label``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from deepfakeforensics.indexing._common import IndexResult, LayoutError, iter_videos, relpath
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS

#: Folder names (case-insensitive) that give a label, and label values a CSV may use.
FOLDER_LABELS = {"real": 0, "fake": 1}
CSV_LABELS = {"0": 0, "1": 1, "real": 0, "fake": 1}


def _label_from_parts(parts: tuple[str, ...]) -> tuple[int, str] | None:
    """(label, method) from the deepest folder named real/fake; method = the folder right below ``fake/`` if any."""
    for i in range(len(parts) - 2, -1, -1):  # folders only, deepest first
        label = FOLDER_LABELS.get(parts[i].lower())
        if label is not None:
            if label == 0:
                return 0, "original"
            below = parts[i + 1 : -1]
            return 1, below[0] if below else "fake"
    return None


def _add_listed_videos(draft: IndexDraft, labels_csv: str | os.PathLike) -> dict[str, str]:
    """Add the videos a CSV of ``path,label[,group,method,split]`` lists; absent files and unknown labels are failures.

    Returns:
        video_id -> split from the ``split`` column (empty cells: none).

    Raises:
        ValueError: the CSV lacks ``path`` or ``label`` (naming the file).
    """
    table = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise ValueError(f"{labels_csv}: missing columns {sorted(missing)} (expected path,label)")
    name = Path(labels_csv).name
    official = {}
    for rec in table.to_dict("records"):
        f = Path(rec["path"]) if Path(rec["path"]).is_absolute() else draft.root / rec["path"]
        label = CSV_LABELS.get(rec["label"].strip().lower())
        if label is None:
            draft.fail(f, f"unknown label {rec['label']!r} in {name}")
            continue
        if not f.is_file():
            draft.fail(f, f"listed in {name} but absent")
            continue
        rel = relpath(f, draft.root)
        vid = rel.rsplit(".", 1)[0] if "." in Path(rel).name else rel
        method = rec.get("method") or ("fake" if label else "original")
        draft.add(f, vid, label, method, keys=[rec.get("group") or vid])
        if rec.get("split"):
            official[vid] = rec["split"]
    return official


def _add_labelled_folders(draft: IndexDraft) -> None:
    """Add every video below a folder named real or fake; other videos and empty real/fake folders are failures.

    Raises:
        LayoutError: the root is not a folder, or has no folder named real or fake.
    """
    root = draft.root
    if not root.is_dir():
        raise LayoutError(f"{root}: not a folder")
    label_dirs = [Path(d) / n for d, dirs, _ in os.walk(root) for n in dirs if n.lower() in FOLDER_LABELS]
    if not label_dirs:
        raise LayoutError(f"{root}: expected real/ and fake/ folders (at any depth) or a CSV of path,label")
    for d in sorted(label_dirs):
        draft.list_videos(d)  # records the empty ones
    for f in iter_videos(root):
        rel = relpath(f, root)
        found = _label_from_parts(Path(rel).parts)
        if found is None:
            draft.fail(f, "not under a folder named real or fake: skipped")
            continue
        draft.add(f, rel.rsplit(".", 1)[0], label=found[0], method=found[1])


def index_folder(
    root: str | os.PathLike,
    labels_csv: str | os.PathLike | None = None,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
) -> IndexResult:
    """Index a folder of labelled videos.

    Folder mode: every video below a folder named ``real`` or ``fake`` (case-insensitive, at any depth; the deepest
    such folder wins) is labelled by it; ``fake/<method>/x.mp4`` sets ``method`` to ``<method>`` (else ``fake``;
    reals get ``original``). Videos under neither are reported and skipped; so are empty real/fake folders.

    CSV mode (`labels_csv`, or ROOT itself being a ``.csv`` file, then ROOT becomes its folder): columns ``path``
    (relative to ROOT, or absolute) and ``label`` (``0``/``1``/``real``/``fake``), and optionally ``group``,
    ``method`` and ``split`` (``train``/``val``/``test``, then checked: a group in two splits raises).

    ``video_id`` is the path relative to ROOT without its extension. Each video is its own group unless the CSV has a
    ``group`` column. Splits without a ``split`` column: seeded group split with `ratios`.

    Raises:
        LayoutError: no folder named real or fake under ROOT (folder mode).
        ValueError: the CSV lacks ``path`` or ``label`` (naming the file).
    """
    root = Path(root)
    if labels_csv is None and root.suffix.lower() == ".csv" and root.is_file():
        root, labels_csv = root.parent, root
    draft = IndexDraft(root, "folder")
    official: dict[str, str] = {}
    if labels_csv is not None:
        official = _add_listed_videos(draft, labels_csv)
    else:
        _add_labelled_folders(draft)
    groups = assign_groups(draft)
    return finalise_index(draft, groups, official, ratios=ratios, seed=seed, source=f"split column of {labels_csv}")
