"""FFIW-10K (Face Forensics in the Wild): ``source`` reals and ``target`` fakes per split folder, masks skipped.

Sources of the rules below:

- Layout: the dataset's README (github.com/tfzhou/FFIW, "Dataset Structure"): ``FFIW10K/{source,target,target_mask}/
  {train,val}``; ``source`` holds the real videos, ``target`` their manipulated versions, ``target_mask`` the
  manipulation masks (videos, not samples). The test videos came later as a separate archive
  (``FFIW10K-v1-release-test``, the name found in public evaluation code), with the same folders and a ``test`` split.
- Two variants circulate: videos directly in ``source/val/`` (the release; e.g. public loaders glob
  ``source/val/*.mp4``) and SBI's ``data/datasets.md`` layout ``source/val/videos/*.mp4``. Both are read (videos are
  found at any depth below a split folder) and ``videos.attrs["layout"]`` says which one the tree matched.
- SBI and the papers that copy its table report FFIW on the ``val`` split (250 real + 250 fake): evaluate the index's
  ``val`` rows for that number.
- Groups: a target is made from the source video of its split; where a target and a source share a file name they
  share a group. The README does not document the names, so a target whose name matches no source is its own group.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from deepfakeforensics.indexing._common import SPLITS, IndexResult, LayoutError, iter_videos
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS

#: Top folders holding videos, with their label and ``method`` (FFIW does not say which swap made a fake).
FOLDERS = {"source": (0, "original"), "target": (1, "fake")}

#: Top folders that hold no samples (``target_mask``: the manipulated regions, as videos).
SKIPPED = {"target_mask"}

_LAYOUTS = {"flat": "videos directly in each split folder", "videos/": "a videos/ folder in each split folder (SBI)"}


def _split_folders(draft: IndexDraft, top: Path) -> list[Path]:
    """The split folders under ``source/`` or ``target/``; any other folder is a failure."""
    out = []
    for d in sorted(p for p in top.iterdir() if p.is_dir()):
        if d.name in SPLITS:
            out.append(d)
        else:
            draft.fail(d, f"unknown split folder (expected {', '.join(SPLITS)}): skipped")
    if not out:
        draft.fail(top, "no train/val/test folder")
    return out


def _add_split(draft: IndexDraft, top: str, split_dir: Path, layouts: Counter) -> dict[str, str]:
    """Add the videos of one split folder; returns video_id -> split."""
    label, method = FOLDERS[top]
    official = {}
    for f in draft.list_videos(split_dir):
        rel = f.relative_to(split_dir)
        layouts["videos/" if rel.parts[0] == "videos" and len(rel.parts) > 1 else "flat"] += 1
        name = rel.with_suffix("").as_posix().removeprefix("videos/")
        vid = f"{top}/{split_dir.name}/{name}"
        draft.add(f, vid, label, method, keys=[f"{split_dir.name}/{name}"])
        official[vid] = split_dir.name
    return official


def index_ffiw(
    root: str | os.PathLike,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
) -> IndexResult:
    """Index FFIW-10K: ``source/<split>/`` reals and ``target/<split>/`` fakes, split as the folders say.

    ``video_id`` is ``<source|target>/<split>/<name>`` (the name without extension, below any ``videos/`` folder);
    ``method`` is ``original`` for sources and ``fake`` for targets; ``target_mask/`` is skipped. A source and a
    target with the same split and name share a group (``val/00001``); every other video is its own group.

    Splits: the folder's (``train``, ``val``, ``test``). A root holding the main release and the test archive side by
    side is two roots: index each and concatenate. `ratios` and `seed` only matter for videos outside a split folder,
    which are reported and skipped, so they are accepted for a uniform command line but have no effect today.

    Args:
        root: the folder holding ``source/`` and ``target/`` (``FFIW10K-v1-release/`` or ``FFIW10K-v1-release-test/``).
        ratios: unused (see above).
        seed: unused.

    Returns:
        IndexResult; ``videos.attrs["layout"]`` names the layout variant matched. Failures name empty or unknown
        folders and videos outside a split folder.

    Raises:
        LayoutError: the root has neither ``source/`` nor ``target/``.
    """
    root = Path(root)
    present = [t for t in FOLDERS if (root / t).is_dir()]
    if not root.is_dir() or not present:
        raise LayoutError(f"{root}: not an FFIW-10K root (expected source/ and target/ folders with train/ and val/)")
    draft = IndexDraft(root, "ffiw")
    layouts: Counter = Counter()
    official: dict[str, str] = {}
    for top in FOLDERS:
        if top not in present:
            draft.fail(
                root / top, "folder not found: no " + ("real" if top == "source" else "fake") + " videos indexed"
            )
            continue
        for f in (f for f in iter_videos(root / top) if f.parent == root / top):
            draft.fail(f, "outside a train/val/test folder: skipped")
        for split_dir in _split_folders(draft, root / top):
            official.update(_add_split(draft, top, split_dir, layouts))
    groups = assign_groups(draft)
    result = finalise_index(draft, groups, official, ratios=ratios, seed=seed, source="FFIW split folders")
    result.videos.attrs["layout"] = " + ".join(_LAYOUTS[k] for k in sorted(layouts)) or "no video found"
    return result
