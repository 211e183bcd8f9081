"""DeeperForensics-1.0: its fakes, official lists, and the FaceForensics++ c23 target videos as the real class."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from deepfakeforensics.indexing._common import SPLITS, IndexResult, LayoutError, SplitLeakError
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS

_FAKE = re.compile(r"^(\d{3})_([A-Za-z]\w*)$")  # 000_M101: FF++ target 000, actor M101


def read_split_lists(folder: Path) -> dict[str, str]:
    """Fake name (stem, e.g. ``000_M101``) -> split from ``{train,val,test}.txt``; lines may carry an extension or a
    leading folder.

    Raises:
        SplitLeakError: a name is listed in two splits.
    """
    out: dict[str, str] = {}
    for split in SPLITS:
        path = folder / f"{split}.txt"
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            name = Path(line.strip().replace("\\", "/")).name
            if not name:
                continue
            stem = name.rsplit(".", 1)[0] if "." in name else name
            if out.setdefault(stem, split) != split:
                raise SplitLeakError(f"{folder}: {stem!r} is listed in both {out[stem]} and {split}")
    return out


def _variant_folders(draft: IndexDraft, variants: list[str] | None) -> list[Path]:
    """The folders under ``manipulated_videos/`` to index (`variants`; None = all); requested ones absent are failures."""
    manip = draft.root / "manipulated_videos"
    folders = sorted(d for d in manip.iterdir() if d.is_dir() and (variants is None or d.name in variants))
    draft.fail_requested(variants, (d.name for d in folders), "variant", manip)
    if not folders:
        draft.fail(manip, "empty folder: no variant folders")
    return folders


def _add_fakes(draft: IndexDraft, variant_dir: Path, link_actors: bool) -> set[str]:
    """Add the fakes of one variant, grouped by target (and actor with `link_actors`); returns the targets seen."""
    targets = set()
    for f in draft.list_videos(variant_dir):
        m = _FAKE.match(f.stem)
        keys = []
        if m is not None:
            targets.add(m.group(1))
            keys = [f"t{m.group(1)}"] + ([f"actor{m.group(2)}"] if link_actors else [])
        draft.add(f, f"{variant_dir.name}/{f.stem}", 1, variant_dir.name, keys=keys)
    return targets


def _add_reals(draft: IndexDraft, ffpp_root: str | os.PathLike | None, compression: str, targets: set[str]) -> None:
    """Add the FaceForensics++ original of each target as a real in the target's group; absent ones are failures.

    Raises:
        LayoutError: `ffpp_root` has no ``original_sequences/youtube/<compression>/videos`` folder.
    """
    if ffpp_root is None:
        draft.fail(draft.root, "no FaceForensics++ root given (ffpp_root): the real class is missing")
        return
    real_dir = Path(ffpp_root) / "original_sequences" / "youtube" / compression / "videos"
    if not real_dir.is_dir():
        raise LayoutError(f"{ffpp_root}: expected FaceForensics++ originals in {real_dir}")
    for t in sorted(targets):
        f = real_dir / f"{t}.mp4"
        if not f.is_file():
            draft.fail(f, "FaceForensics++ original of a DeeperForensics target is absent")
            continue
        draft.add(f, f"original/{t}", 0, "original", compression=compression, keys=[f"t{t}"])


def _official_splits(draft: IndexDraft, folder: Path, required: bool) -> dict[str, str]:
    """video_id -> split of each fake the lists in `folder` name (one name covers all variants).

    Raises:
        FileNotFoundError: `required` and the folder lists no fake.
    """
    listed = read_split_lists(folder) if folder.is_dir() else {}
    if required and not listed:
        raise FileNotFoundError(f"{folder}: no train.txt, val.txt or test.txt with fake names")
    stems = {row["video_id"]: Path(row["path"]).stem for row in draft.rows if row["label"] == 1}
    return {vid: listed[stem] for vid, stem in stems.items() if stem in listed}


def index_deeperforensics(
    root: str | os.PathLike,
    ffpp_root: str | os.PathLike | None,
    variants: list[str] | None = None,
    ffpp_compression: str = "c23",
    lists_dir: str | os.PathLike | None = None,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
    link_actors: bool = False,
) -> IndexResult:
    """Index DeeperForensics-1.0 fakes with their real counterparts from FaceForensics++.

    Fakes: ``manipulated_videos/<variant>/<NNN>_<actor>.mp4``; ``method`` = the variant (``end_to_end``,
    ``end_to_end_level_3``, ``reenact_postprocess``, ...); ``video_id`` = ``<variant>/<stem>``. Reals: for each target
    ``NNN`` used by an indexed fake, ``FFPP_ROOT/original_sequences/youtube/<ffpp_compression>/videos/NNN.mp4`` with
    ``method`` ``original`` and ``video_id`` ``original/NNN``. Their ``path`` is relative to ROOT too (it starts with
    ``..`` when the FF++ folder lies outside it). A target whose FF++ video is absent is reported.

    Groups: the target ``NNN`` (``"t000"``): a real and every fake of its clip share it, in every variant. The
    driving actor is deliberately not linked by default: about 100 actors drive all 1,000 clips, so linking them
    merges most of the dataset into a few groups, and the official lists do not separate actors either. With
    ``link_actors=True`` they are linked (then the official lists are likely to raise a `SplitLeakError`).

    Splits: ``lists/splits/{train,val,test}.txt`` (or `lists_dir`) name fakes (``000_M101.mp4`` or ``000_M101``;
    one name covers all variants); a real takes its fakes' split; a group the lists place in two splits raises
    `SplitLeakError` naming it. Groups not listed get a seeded group split with `ratios`.

    Args:
        root: the DeeperForensics-1.0 root (holding ``manipulated_videos/``).
        ffpp_root: the FaceForensics++ root; None indexes the fakes only and notes a failure.
        variants: variant folders to index; None = all found.
        ffpp_compression: which FF++ originals serve as reals (c23 is what DeeperForensics used).
        lists_dir: folder of the official lists (default ``ROOT/lists/splits``).
        ratios: shares of the seeded split for groups the lists do not cover.
        seed: its seed.
        link_actors: put fakes sharing an actor in one group.
    """
    root = Path(root)
    if not (root / "manipulated_videos").is_dir():
        raise LayoutError(f"{root}: not a DeeperForensics-1.0 root (expected a manipulated_videos/ folder)")
    draft = IndexDraft(root, "deeperforensics")
    targets: set[str] = set()
    for variant_dir in _variant_folders(draft, variants):
        targets |= _add_fakes(draft, variant_dir, link_actors)
    _add_reals(draft, ffpp_root, ffpp_compression, targets)
    groups = assign_groups(draft)
    folder = Path(lists_dir) if lists_dir is not None else root / "lists" / "splits"
    official = _official_splits(draft, folder, required=lists_dir is not None)
    return finalise_index(draft, groups, official, ratios=ratios, seed=seed, source=f"official lists in {folder}")
