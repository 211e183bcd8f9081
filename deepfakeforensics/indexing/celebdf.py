"""Celeb-DF (v1 and v2): official test list, train/val split by celebrity, explicit policy for groups touching test."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from deepfakeforensics.indexing._common import IndexResult, LayoutError
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS

#: Top-level folders of a Celeb-DF release and their label (1 = fake).
FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}

#: Name of the official test list in the root.
TEST_LIST = "List_of_testing_videos.txt"

_REAL = re.compile(r"^(id\d+)_(\d+)$")  # id0_0000: celebrity id0, clip 0000
_FAKE = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")  # id0_id16_0000: clip id0_0000 with the face of id16

GroupBy = Literal["celebrity", "identity", "video"]
Leak = Literal["drop", "test", "error"]


def read_test_list(path: Path) -> dict[str, int]:
    """``"<folder>/<file>"`` -> label (1 = fake) from ``List_of_testing_videos.txt``, whose first column is 1 for REAL.

    Raises:
        ValueError: a line is not ``<0|1> <folder>/<file>`` (naming the file and line).
    """
    out = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or parts[0] not in {"0", "1"}:
            raise ValueError(f"{path}:{n}: expected '<1=real|0=fake> <folder>/<file>.mp4', got {line!r}")
        out[parts[1].strip().replace("\\", "/")] = 1 - int(parts[0])
    return out


def _group_keys(folder: str, stem: str, group_by: GroupBy) -> list[str]:
    if folder == "YouTube-real":
        return [f"yt{stem}"]
    m = _FAKE.match(stem) if folder == "Celeb-synthesis" else _REAL.match(stem)
    if m is None:
        return [f"{folder}/{stem}"]
    if folder == "Celeb-real":
        return [f"{m.group(1)}_{m.group(2)}"] if group_by == "video" else [m.group(1)]
    target, source, clip = m.groups()
    if group_by == "video":
        return [f"{target}_{clip}"]
    return [target, source] if group_by == "identity" else [target]


def _folder_key(path: str) -> str:
    """A test-list or index path as Celeb-DF's list names it: ``<top folder>/<file name>`` (sub-folders dropped)."""
    return f"{path.split('/', 1)[0]}/{Path(path).name}"


def _test_split(
    draft: IndexDraft,
    list_path: Path,
    ratios: Mapping[str, float] | None,
    key: Callable[[str], str] = _folder_key,
    absent: str = "absent",
) -> tuple[dict[str, str], dict[str, float]]:
    """(video_id -> ``"test"`` for the videos the official list names, shares of the seeded split of the rest).

    Listed and indexed paths are matched through `key`. Listed videos that are absent (reason `absent`), and labels
    the list contradicts (the folder's label is kept), are failures; so is a missing list, and then the seeded split
    makes the test set too.
    """
    if not list_path.is_file():
        draft.fail(list_path, "official test list not found: seeded group split for test too")
        return {}, dict(ratios or DEFAULT_RATIOS)
    by_key = {key(r["path"]): r for r in draft.rows}
    official = {}
    for path, label in read_test_list(list_path).items():
        row = by_key.get(key(path))
        if row is None:
            draft.fail(draft.root / path, f"listed in {list_path.name} but {absent}")
            continue
        if row["label"] != label:
            said = "fake" if label else "real"
            draft.fail(
                draft.root / path, f"{list_path.name} says {said}, folder says otherwise: kept the folder's label"
            )
        official[row["video_id"]] = "test"
    shares = {k: v for k, v in (ratios or {"train": 0.85, "val": 0.15}).items() if k != "test"}
    return official, shares


def index_celebdf(
    root: str | os.PathLike,
    test_list: str | os.PathLike | None = None,
    ratios: Mapping[str, float] | None = None,
    seed: int = 0,
    group_by: GroupBy = "celebrity",
    leak: Leak = "drop",
) -> IndexResult:
    """Index Celeb-DF v1 or v2: ``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/`` (files directly inside or in
    any sub-folder such as ``videos/``) and ``List_of_testing_videos.txt``.

    ``video_id`` is ``<folder>/<stem>`` (``Celeb-synthesis/id0_id16_0000``); ``method`` is ``original`` for reals and
    ``celebdf`` for fakes; ``compression`` is empty.

    Test = the official list (its first column is 1 for REAL, 0 for fake; the label used is the folder's, and a
    disagreement is reported). Train/val = the rest, split by group with `ratios` (only its train and val shares).

    Groups (`group_by`): ``"celebrity"`` (default) = the celebrity of the source clip: ``id0`` for ``id0_0000`` and
    for the fake ``id0_id16_0000`` (made from clip ``id0_0000`` with the face of id16); ``"identity"`` also links the
    face's celebrity (the strictest rule, but swaps connect most celebrities into one giant group); ``"video"`` links
    a fake only to its source clip ``id0_0000``. Each YouTube-real video is its own group.

    The official test list shares groups with the remaining videos (the same celebrities appear in both). `leak` says
    what happens to a non-test video whose group has test videos: ``"drop"`` (default) removes it from the index and
    reports it as a failure, so train/val never see a test celebrity; ``"test"`` moves it into test (the test set
    grows beyond the official list); ``"error"`` raises naming the group.

    Args:
        root: the Celeb-DF root.
        test_list: the official list (default ``ROOT/List_of_testing_videos.txt``); when absent, a failure is noted
            and the test set is a seeded group split too (with the test share of `ratios`, default 0.15).
        ratios: split shares (default train 0.85 / val 0.15 with the official list; 0.7/0.15/0.15 without).
        seed: seed of the group split.
        group_by: see above.
        leak: see above.
    """
    root = Path(root)
    present = [f for f in FOLDERS if (root / f).is_dir()]
    if not root.is_dir() or not present:
        raise LayoutError(f"{root}: not a Celeb-DF root (expected folders {', '.join(FOLDERS)})")
    if group_by not in ("celebrity", "identity", "video"):
        raise ValueError(f"group_by must be 'celebrity', 'identity' or 'video', got {group_by!r}")
    if leak not in ("drop", "test", "error"):
        raise ValueError(f"leak must be 'drop', 'test' or 'error', got {leak!r}")
    draft = IndexDraft(root, "celebdf")
    for folder in present:
        label = FOLDERS[folder]
        for f in draft.list_videos(root / folder):
            keys = _group_keys(folder, f.stem, group_by)
            draft.add(f, f"{folder}/{f.stem}", label, "celebdf" if label else "original", keys=keys)
    groups = assign_groups(draft)
    list_path = Path(test_list) if test_list is not None else root / TEST_LIST
    official, shares = _test_split(draft, list_path, ratios)
    unlisted = {"drop": "drop", "test": "inherit", "error": "error"}[leak]
    source = f"official test list {list_path.name}"
    return finalise_index(draft, groups, official, ratios=shares, seed=seed, unlisted=unlisted, source=source)
