"""A plain folder of the user's own videos: ``real/`` and ``fake/`` folders at any depth, or a CSV of ``path,label``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from deepfakeforensics.indexing._common import Failure, IndexResult, LayoutError, iter_videos, make_table, relpath
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS, resolve_splits

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
    failures: list[Failure] = []
    rows = []
    official: dict[str, str] = {}
    if labels_csv is not None:
        table = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
        missing = {"path", "label"} - set(table.columns)
        if missing:
            raise ValueError(f"{labels_csv}: missing columns {sorted(missing)} (expected path,label)")
        for rec in table.to_dict("records"):
            f = Path(rec["path"]) if Path(rec["path"]).is_absolute() else root / rec["path"]
            label = CSV_LABELS.get(rec["label"].strip().lower())
            if label is None:
                failures.append((str(f), f"unknown label {rec['label']!r} in {Path(labels_csv).name}"))
                continue
            if not f.is_file():
                failures.append((str(f), f"listed in {Path(labels_csv).name} but absent"))
                continue
            rel = relpath(f, root)
            vid = rel.rsplit(".", 1)[0] if "." in Path(rel).name else rel
            rows.append(
                {
                    "video_id": vid,
                    "path": rel,
                    "label": label,
                    "dataset": "folder",
                    "method": rec.get("method") or ("fake" if label else "original"),
                    "compression": None,
                    "group": rec.get("group") or vid,
                }
            )
            if rec.get("split"):
                official[vid] = rec["split"]
    else:
        if not root.is_dir():
            raise LayoutError(f"{root}: not a folder")
        label_dirs = [Path(d) / n for d, dirs, _ in os.walk(root) for n in dirs if n.lower() in FOLDER_LABELS]
        if not label_dirs:
            raise LayoutError(f"{root}: expected real/ and fake/ folders (at any depth) or a CSV of path,label")
        for d in sorted(label_dirs):
            if next(iter_videos(d), None) is None:
                failures.append((str(d), "empty folder: no video files"))
        for f in iter_videos(root):
            rel = relpath(f, root)
            found = _label_from_parts(Path(rel).parts)
            if found is None:
                failures.append((str(f), "not under a folder named real or fake: skipped"))
                continue
            vid = rel.rsplit(".", 1)[0]
            rows.append(
                {
                    "video_id": vid,
                    "path": rel,
                    "label": found[0],
                    "dataset": "folder",
                    "method": found[1],
                    "compression": None,
                    "group": vid,
                }
            )
    videos = make_table(rows, root)
    videos, dropped = resolve_splits(videos, official, ratios=ratios, seed=seed, source=f"split column of {labels_csv}")
    return IndexResult(videos, failures + dropped)
