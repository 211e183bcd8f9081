"""Celeb-DF++: Celeb-DF v2's reals and 22 forgery methods in three scenarios, with method and scenario columns.

Sources of the rules below:

- Layout: the dataset's README (github.com/OUC-VAS/Celeb-DF-PP, "Dataset Structure"): ``Celeb-real/``,
  ``YouTube-real/``, ``Celeb-synthesis/<scenario>/<method>/`` with scenarios ``FaceSwap`` (Celeb-DF, BlendFace, GHOST,
  HifiFace, InSwapper, MobileFaceSwap, SimSwap, UniFace), ``FaceReenact`` (DaGAN, FSRT, HyperReenact, LIA,
  LivePortrait, MCNET, TPSMM) and ``TalkingFace`` (AniTalker, EchoMimic, EDTalk, FLOAT, IP_LAP, Real3DPortrait,
  SadTalker), and ``List_of_testing_videos.txt``.
- The README names Celeb-DF's own fakes folder ``FaceSwap/Celeb-DF``; the authors' DeepfakeBench fork
  (``DeepfakeBench/preprocessing/rearrange.py``, branch ``Celeb-DF-v3``) reads ``FaceSwap/Celeb-DF-v2``. Both names
  are accepted; ``method`` is the folder's name as found.
- Test list: the same format as Celeb-DF's (``<1=real|0=fake> <folder>/.../<file>.mp4``); the authors' fork takes a
  fake's method from the line's second-to-last path part (``Celeb-synthesis/FaceSwap/BlendFace/x.mp4``). README:
  178 real test videos (Celeb-DF's), 200 per face-swap and face-reenactment method, 300 per talking-face method.
- Names and groups: as Celeb-DF v2 (`deepfakeforensics.indexing.celebdf`): ``id0_0000`` is celebrity id0's clip,
  ``id0_id16_0000`` that clip with the face of id16; a fake named ``id0_0000`` (one identity) joins celebrity id0.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

from deepfakeforensics.indexing._common import IndexResult, LayoutError, iter_videos
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index
from deepfakeforensics.indexing.celebdf import TEST_LIST, GroupBy, Leak, _group_keys
from deepfakeforensics.indexing.celebdf import _test_split as celebdf_test_split

#: The three scenario folders under ``Celeb-synthesis/``.
SCENARIOS = ("FaceSwap", "FaceReenact", "TalkingFace")

#: Folders of real videos (Celeb-DF v2's).
REAL_FOLDERS = ("Celeb-real", "YouTube-real")

FAKE_FOLDER = "Celeb-synthesis"


def _fake_keys(stem: str, vid: str, group_by: GroupBy) -> list[str]:
    """Celeb-DF v2's keys for a fake name, or those of a one-identity name ``id0_0000``, else the video itself."""
    keys = _group_keys(FAKE_FOLDER, stem, group_by)
    if keys == [f"{FAKE_FOLDER}/{stem}"]:
        keys = _group_keys("Celeb-real", stem, group_by)
    return [vid] if keys == [f"Celeb-real/{stem}"] else keys


def _add_fakes(draft: IndexDraft, group_by: GroupBy, methods: Collection[str] | None) -> dict[str, str]:
    """Add ``Celeb-synthesis/<scenario>/<method>/**`` videos; returns video_id -> scenario."""
    synth = draft.root / FAKE_FOLDER
    scenario_of: dict[str, str] = {}
    if not synth.is_dir():
        draft.fail(synth, "folder not found: no fake videos indexed")
        return scenario_of
    flat = [f for f in iter_videos(synth) if f.parent == synth]
    if flat:
        draft.fail(synth, f"{len(flat)} videos directly in {FAKE_FOLDER}/: a Celeb-DF v2 layout (--dataset celebdf)")
    found = set()
    for d in sorted(p for p in synth.iterdir() if p.is_dir()):
        if d.name not in SCENARIOS:
            draft.fail(d, f"not a Celeb-DF++ scenario folder (expected {', '.join(SCENARIOS)}): skipped")
            continue
        for method_dir in sorted(p for p in d.iterdir() if p.is_dir()):
            found.add(method_dir.name)
            if methods is not None and method_dir.name not in methods:
                continue
            for f in draft.list_videos(method_dir):
                vid = f"{FAKE_FOLDER}/{d.name}/{method_dir.name}/{f.stem}"
                draft.add(f, vid, 1, method_dir.name, keys=_fake_keys(f.stem, vid, group_by))
                scenario_of[vid] = d.name
    draft.fail_requested(methods, found, "method", synth)
    return scenario_of


def _listed_key(path: str) -> str:
    """A test-list or index path without ``videos/`` folders or extension: ``Celeb-synthesis/FaceSwap/GHOST/x``."""
    parts = [p for p in Path(path.replace("\\", "/")).with_suffix("").parts if p != "videos"]
    return "/".join(parts)


def _test_split(
    draft: IndexDraft, list_path: Path, ratios: Mapping[str, float] | None
) -> tuple[dict[str, str], dict[str, float]]:
    """(video_id -> ``"test"`` for the listed videos, shares of the seeded split of the rest), as Celeb-DF's."""
    return celebdf_test_split(draft, list_path, ratios, _listed_key, "absent (or its method was not indexed)")


def index_celebdfpp(
    root: str | os.PathLike,
    test_list: str | os.PathLike | None = None,
    ratios: Mapping[str, float] | None = None,
    seed: int = 0,
    group_by: GroupBy = "celebrity",
    leak: Leak = "drop",
    methods: Collection[str] | None = None,
) -> IndexResult:
    """Index Celeb-DF++: Celeb-DF v2's real folders and ``Celeb-synthesis/<scenario>/<method>/`` fakes.

    ``video_id`` is ``<folder>/<stem>`` for reals (as Celeb-DF's) and ``Celeb-synthesis/<scenario>/<method>/<stem>``
    for fakes (the same name recurs across methods). ``method`` is ``original`` for reals and the method folder for
    fakes (``BlendFace``, ``LivePortrait``, ...), so per-method AUC tables come out of the usual tables; the extra
    ``scenario`` column (``FaceSwap``, ``FaceReenact``, ``TalkingFace``; empty for reals) groups them.

    Groups, splits and `leak` work as `deepfakeforensics.indexing.celebdf.index_celebdf`: test = the official list
    (its first column is 1 for REAL; the folder's label is kept and a disagreement reported), train/val = the rest by
    group (`group_by`: ``"celebrity"`` of the source clip, ``"identity"`` also the face's, ``"video"`` the clip);
    a non-test video whose group has test videos is dropped (default), moved to test, or raises.

    Args:
        root: the Celeb-DF++ root.
        test_list: the official list (default ``ROOT/List_of_testing_videos.txt``).
        ratios: split shares (default train 0.85 / val 0.15 beside the official list; 0.7/0.15/0.15 without it).
        seed: seed of the group split.
        group_by: see above.
        leak: see above.
        methods: method folders to index (e.g. ``["BlendFace", "SadTalker"]``); None = all.

    Returns:
        IndexResult (columns `COLUMNS` + ``scenario``); failures name unknown folders, empty method folders, listed
        videos that are absent and label disagreements.

    Raises:
        LayoutError: the root has none of ``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/``.
    """
    root = Path(root)
    present = [f for f in (*REAL_FOLDERS, FAKE_FOLDER) if (root / f).is_dir()]
    if not root.is_dir() or not present:
        raise LayoutError(f"{root}: not a Celeb-DF++ root (expected Celeb-real/, YouTube-real/, Celeb-synthesis/)")
    if group_by not in ("celebrity", "identity", "video"):
        raise ValueError(f"group_by must be 'celebrity', 'identity' or 'video', got {group_by!r}")
    if leak not in ("drop", "test", "error"):
        raise ValueError(f"leak must be 'drop', 'test' or 'error', got {leak!r}")
    draft = IndexDraft(root, "celebdfpp")
    for folder in REAL_FOLDERS:
        if folder in present:
            for f in draft.list_videos(root / folder):
                draft.add(f, f"{folder}/{f.stem}", 0, "original", keys=_group_keys(folder, f.stem, group_by))
    scenario_of = _add_fakes(draft, group_by, methods)
    groups = assign_groups(draft)
    list_path = Path(test_list) if test_list is not None else root / TEST_LIST
    official, shares = _test_split(draft, list_path, ratios)
    unlisted = {"drop": "drop", "test": "inherit", "error": "error"}[leak]
    source = f"official test list {list_path.name}"
    result = finalise_index(draft, groups, official, ratios=shares, seed=seed, unlisted=unlisted, source=source)
    result.videos["scenario"] = result.videos["video_id"].map(scenario_of)
    return result
