"""Shared machinery of the indexers: the index table's columns, the result type, union-find, file listing.

Which files are videos is `deepfakeforensics.data.video.VIDEO_EXTENSIONS` (the one list).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from deepfakeforensics.data.video import VIDEO_EXTENSIONS
from deepfakeforensics.errors import DFFError

#: Columns of every video index, in order. ``label`` is 1 for fake, 0 for real; ``path`` is relative to the root.
COLUMNS = ["video_id", "path", "label", "dataset", "method", "compression", "group", "split"]

#: The split names, in the order summaries print them.
SPLITS = ("train", "val", "test")

Failure = tuple[str, str]


class LayoutError(DFFError, ValueError):
    """The root does not look like the dataset asked for (the message names the root and what was expected)."""


class SplitLeakError(DFFError, ValueError):
    """A group spans two splits (the message names the group and the splits)."""


@dataclass
class IndexResult:
    """What an indexer returns.

    Attributes:
        videos: one row per video, columns `COLUMNS`; ``videos.attrs["root"]`` is the root its paths are relative to.
        failures: ``(path, reason)`` for everything listed or found that is not in `videos` (a file listed in metadata
            but absent, an empty folder, an unknown layout, a video dropped because its group leaks into test, ...).
    """

    videos: pd.DataFrame
    failures: list[Failure] = field(default_factory=list)


class UnionFind:
    """Disjoint sets of string keys; a set's name is its smallest key, so group names do not depend on input order."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def add(self, key: str) -> None:
        self._parent.setdefault(key, key)

    def find(self, key: str) -> str:
        self.add(key)
        root = key
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[key] != root:  # path compression
            self._parent[key], key = root, self._parent[key]
        return root

    def union(self, *keys: str) -> None:
        roots = sorted({self.find(k) for k in keys})
        for other in roots[1:]:
            self._parent[other] = roots[0]


def iter_videos(folder: Path) -> Iterator[Path]:
    """Video files under `folder` (recursively), sorted; hidden files and folders are skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                found.append(Path(dirpath) / name)
    return iter(sorted(found))


def relpath(path: Path, root: Path) -> str:
    """`path` relative to `root` in POSIX form (with ``..`` when outside it; absolute across Windows drives)."""
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:
        return path.as_posix()


def check_unique_ids(video_ids: Iterable[str], root: Path) -> None:
    """Raise ValueError naming (up to five of) the video_ids that occur more than once in the index of `root`."""
    dupes = sorted(v for v, n in Counter(video_ids).items() if n > 1)
    if dupes:
        raise ValueError(f"video_id not unique in the index of {root}: {dupes[:5]}")


def make_table(rows: Iterable[dict], root: Path) -> pd.DataFrame:
    """Build the index DataFrame from row dicts: columns in `COLUMNS` order, sorted by video_id, ids unique."""
    df = pd.DataFrame(list(rows), columns=COLUMNS)
    check_unique_ids(df["video_id"], root)
    df["label"] = df["label"].astype(int)
    df = df.sort_values("video_id", kind="stable").reset_index(drop=True)
    df.attrs["root"] = str(Path(root).resolve())
    return df
