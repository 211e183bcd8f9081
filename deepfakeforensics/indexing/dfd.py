"""DFD (Google/Jigsaw's DeepFakeDetection, shipped inside FaceForensics++): actor reals and their swaps, a test set.

Sources of the rules below:

- Layout and names: the FaceForensics++ download script and dataset README (github.com/ondyari/FaceForensics,
  ``dataset/README.md``: ``-d DeepFakeDetection`` and ``-d DeepFakeDetection_original`` write
  ``manipulated_sequences/DeepFakeDetection/<comp>/videos/`` and ``original_sequences/actors/<comp>/videos/``, masks
  to ``manipulated_sequences/DeepFakeDetection/masks/videos/``). Real names ``<actor>__<scene>.mp4``
  (``01__exit_phone_room.mp4``), fakes ``<target>_<source>__<scene>__<id>.mp4`` (``01_02__exit_phone_room__YVGY8LOK.mp4``),
  as found in public code that reads the release.
- No official split: DeepfakeBench's ``preprocessing/rearrange.py`` puts every DFD video in its train, val *and* test
  lists (it is used as a test set as a whole), and SBI's evaluation reads all of it.
- Groups: the target actor is the person in the scene that was re-rendered (the fake's ``<target>__<scene>`` is the
  real clip it was made from), the source actor is the face put in; as the FaceForensics++ indexer does for
  ``<target>_<source>``, both identities join one group.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Literal

from deepfakeforensics.indexing._common import IndexResult, LayoutError
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index
from deepfakeforensics.indexing.ffpp import compression_videos

#: (folder under the root, ``method`` column, label) of the two halves of DFD.
SOURCES = (
    ("original_sequences/actors", "original", 0),
    ("manipulated_sequences/DeepFakeDetection", "DeepFakeDetection", 1),
)

#: Sub-folders of a DFD folder that are not compressions (the fakes' segmentation masks are videos too).

_REAL = re.compile(r"^(\d+)__(.+)$")  # 01__exit_phone_room
_FAKE = re.compile(r"^(\d+)_(\d+)__(.+)__([^_]+)$")  # 01_02__exit_phone_room__YVGY8LOK

GroupBy = Literal["identity", "video"]


def dfd_keys(stem: str, fake: bool, group_by: GroupBy = "identity") -> list[str]:
    """Identity keys of a DFD video: ``actor01`` (and ``actor02``), or ``actor01__<scene>`` (the real clip) with ``"video"``.

    Returns [] when the name fits neither pattern (the video is then its own group).
    """
    m = (_FAKE if fake else _REAL).match(stem)
    if m is None:
        return []
    target, scene = m.group(1), m.group(3 if fake else 2)
    if group_by == "video":
        return [f"actor{target}__{scene}"]
    return [f"actor{target}", f"actor{m.group(2)}"] if fake else [f"actor{target}"]


def _add_source(
    draft: IndexDraft, folder: Path, method: str, label: int, compressions: Collection[str] | None, group_by: GroupBy
) -> set[str]:
    """Add the videos of each ``<comp>/videos/`` under `folder`; returns the compressions seen."""
    seen: set[str] = set()
    if not folder.is_dir():
        draft.fail(folder, f"folder not found: no {'fake' if label else 'real'} DFD videos indexed")
        return seen
    prefix = "actors" if label == 0 else "DeepFakeDetection"
    for comp, f in compression_videos(draft, folder, compressions, seen):
        keys = dfd_keys(f.stem, bool(label), group_by)  # [] (a name fitting neither pattern): its own group
        draft.add(f, f"{prefix}/{comp}/{f.stem}", label, method, compression=comp, keys=keys)
    return seen


def index_dfd(
    root: str | os.PathLike,
    compressions: Collection[str] | None = None,
    ratios: Mapping[str, float] | None = None,
    seed: int = 0,
    group_by: GroupBy = "identity",
) -> IndexResult:
    """Index DFD (DeepFakeDetection) in a FaceForensics++ root: a test set as a whole unless `ratios` asks for a split.

    Reals: ``original_sequences/actors/<comp>/videos/<actor>__<scene>.mp4``, ``method`` ``original``. Fakes:
    ``manipulated_sequences/DeepFakeDetection/<comp>/videos/<target>_<source>__<scene>__<id>.mp4``, ``method``
    ``DeepFakeDetection``. The ``masks/`` folder is not a compression and is skipped. ``video_id`` is
    ``actors/<comp>/<stem>`` or ``DeepFakeDetection/<comp>/<stem>``, the ids the FaceForensics++ indexer gives the
    same files, so both indexes name a video alike.

    Groups (`group_by`): ``"identity"`` (default) joins every video showing an actor: a fake links its target and its
    source actor, so a fake shares a group with its target actor's real of the same scene and with the source
    actor's reals. The 28 actors are swapped among each other, so this usually leaves very few groups. ``"video"``
    joins a fake only to its target actor's real of the same scene (``actor01__exit_phone_room``); the source actor's
    face then also appears in other groups, so it is not identity-disjoint.

    Splits: DFD has no official split. Without `ratios` every video is ``test``; with `ratios` (e.g. train/val/test
    shares) whole groups go to one split (seeded).

    Args:
        root: the FaceForensics++ root (holding ``original_sequences/actors`` and/or
            ``manipulated_sequences/DeepFakeDetection``).
        compressions: e.g. ``["c23"]``; None = all found.
        ratios: shares of a seeded group split; None = everything in test.
        seed: its seed.
        group_by: ``"identity"`` or ``"video"`` (above).

    Returns:
        IndexResult; failures name absent halves, empty folders and requested compressions not found.

    Raises:
        LayoutError: the root holds neither DFD folder.
    """
    root = Path(root)
    if group_by not in ("identity", "video"):
        raise ValueError(f"group_by must be 'identity' or 'video', got {group_by!r}")
    if not root.is_dir() or not any((root / folder).is_dir() for folder, _, _ in SOURCES):
        raise LayoutError(
            f"{root}: not a DFD root (expected original_sequences/actors/ or manipulated_sequences/DeepFakeDetection/)"
        )
    draft = IndexDraft(root, "dfd")
    seen: set[str] = set()
    for folder, method, label in SOURCES:
        seen |= _add_source(draft, root / folder, method, label, compressions, group_by)
    for c in sorted(set(compressions or ()) - seen):
        draft.fail(root, f"requested compression {c!r} not found")
    groups = assign_groups(draft)
    return finalise_index(draft, groups, ratios=ratios or {"test": 1.0}, seed=seed)
