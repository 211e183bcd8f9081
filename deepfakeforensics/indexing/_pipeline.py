"""The steps every indexer shares: discover -> rows -> groups -> splits.

A dataset module only knows its own layout and naming: it walks the root, adds one row per video to an `IndexDraft`
(with the identity keys that tie it to other videos) and records what it could not index. `assign_groups` then joins
videos that share a key (union-find), the module reads its official split files if the dataset ships them, and
`finalise_index` applies them (or a seeded group split), checks that no group spans two splits and builds the table.

Example:
    >>> draft = IndexDraft(Path("/data/mine"), "folder")
    >>> draft.add(Path("/data/mine/real/a.mp4"), "real/a", label=0, method="original", keys=["person1"])
    >>> draft.add(Path("/data/mine/fake/b.mp4"), "fake/b", label=1, method="fake", keys=["person1", "person2"])
    >>> groups = assign_groups(draft)
    >>> groups
    {'real/a': 'person1', 'fake/b': 'person1'}
    >>> result = finalise_index(draft, groups, ratios={"train": 1.0})
    >>> list(result.videos["split"])
    ['train', 'train']
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deepfakeforensics.indexing._common import (
    Failure,
    IndexResult,
    UnionFind,
    check_unique_ids,
    iter_videos,
    make_table,
    relpath,
)
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS, Unlisted, resolve_splits


@dataclass
class IndexDraft:
    """An index being built: the videos found so far, the keys that group them, and what could not be indexed.

    Attributes:
        root: the folder the rows' paths are relative to.
        dataset: the ``dataset`` column of every row.
        rows: one dict per video (every column of `COLUMNS` but ``group`` and ``split``).
        keys: video_id -> identity keys it shows (persons, source clips); videos sharing a key share a group.
        failures: ``(path, reason)`` for everything found or listed that is not indexed.
        preferred_names: keys that name their group in preference to its smallest key (DFDC: the originals).
    """

    root: Path
    dataset: str
    rows: list[dict] = field(default_factory=list)
    keys: dict[str, list[str]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    preferred_names: set[str] = field(default_factory=set)

    def add(
        self,
        path: Path,
        video_id: str,
        label: int,
        method: str,
        compression: str | None = None,
        keys: Sequence[str] = (),
    ) -> None:
        """Add one video (label 1 = fake); without `keys` it is its own group, named by its video_id."""
        self.rows.append(
            {
                "video_id": video_id,
                "path": relpath(path, self.root),
                "label": label,
                "dataset": self.dataset,
                "method": method,
                "compression": compression,
            }
        )
        self.keys[video_id] = list(keys) or [video_id]

    def fail(self, path: str | Path, reason: str) -> None:
        """Record that `path` is not indexed, and why."""
        self.failures.append((str(path), reason))

    def list_videos(self, folder: Path) -> list[Path]:
        """Video files under `folder` (sorted, recursive); an empty folder is recorded as a failure."""
        files = list(iter_videos(folder))
        if not files:
            self.fail(folder, "empty folder: no video files")
        return files

    def fail_requested(self, requested: Collection[str] | None, found: Iterable[str], kind: str, folder: Path) -> None:
        """Record each name in `requested` (None = everything) that is not `found`, as ``folder/name``."""
        for name in sorted(set(requested or ()) - set(found)):
            self.fail(folder / name, f"requested {kind} not found")


def assign_groups(draft: IndexDraft) -> dict[str, str]:
    """video_id -> group: connected components of the videos' keys (union-find).

    A group is named by its smallest preferred key (`IndexDraft.preferred_names`) if it has one, else by its smallest
    key, so names do not depend on the order in which videos were found.

    Raises:
        ValueError: two rows share a video_id (naming them).
    """
    check_unique_ids((r["video_id"] for r in draft.rows), draft.root)
    uf = UnionFind()
    for keys in draft.keys.values():
        uf.union(*keys)
    names: dict[str, str] = {}
    for key in sorted(draft.preferred_names):
        names.setdefault(uf.find(key), key)
    roots = {vid: uf.find(keys[0]) for vid, keys in draft.keys.items()}
    return {vid: names.get(r, r) for vid, r in roots.items()}


def finalise_index(
    draft: IndexDraft,
    groups: Mapping[str, str],
    official: Mapping[str, str] | None = None,
    *,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
    unlisted: Unlisted = "inherit",
    source: str = "official split",
) -> IndexResult:
    """Build the index table of `draft` and fill its ``split`` column (see `resolve_splits`).

    Args:
        draft: the rows and failures found.
        groups: video_id -> group (from `assign_groups`).
        official: video_id -> split from the dataset's official files (may cover only part of the videos).
        ratios: shares of the seeded split of the groups no official assignment touches.
        seed: its seed.
        unlisted: what happens to an unlisted video whose group has an official split (``"inherit"``, ``"drop"``,
            ``"error"``).
        source: how error messages name the official assignment.

    Raises:
        SplitLeakError: a group would span two splits (naming it).
    """
    rows = [{**row, "group": groups[row["video_id"]]} for row in draft.rows]
    videos = make_table(rows, draft.root)
    videos, dropped = resolve_splits(videos, official or {}, ratios=ratios, seed=seed, unlisted=unlisted, source=source)
    return IndexResult(videos, draft.failures + dropped)
