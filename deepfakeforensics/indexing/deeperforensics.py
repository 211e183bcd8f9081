"""DeeperForensics-1.0: its fakes, official lists, and the FaceForensics++ c23 target videos as the real class."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from deepfakeforensics.indexing._common import (
    SPLITS,
    Failure,
    IndexResult,
    LayoutError,
    SplitLeakError,
    UnionFind,
    iter_videos,
    make_table,
    relpath,
)
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS, resolve_splits

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
    manip = root / "manipulated_videos"
    if not manip.is_dir():
        raise LayoutError(f"{root}: not a DeeperForensics-1.0 root (expected a manipulated_videos/ folder)")
    failures: list[Failure] = []
    variant_dirs = sorted(d for d in manip.iterdir() if d.is_dir() and (variants is None or d.name in variants))
    for v in sorted(set(variants or []) - {d.name for d in variant_dirs}):
        failures.append((str(manip / v), "requested variant not found"))
    if not variant_dirs:
        failures.append((str(manip), "empty folder: no variant folders"))

    rows, uf, keys_of, stem_of = [], UnionFind(), {}, {}
    targets: set[str] = set()
    for d in variant_dirs:
        files = list(iter_videos(d))
        if not files:
            failures.append((str(d), "empty folder: no video files"))
        for f in files:
            vid = f"{d.name}/{f.stem}"
            m = _FAKE.match(f.stem)
            if m is None:
                keys_of[vid] = [vid]
            else:
                targets.add(m.group(1))
                keys_of[vid] = [f"t{m.group(1)}"] + ([f"actor{m.group(2)}"] if link_actors else [])
            stem_of[vid] = f.stem
            rows.append(
                {
                    "video_id": vid,
                    "path": relpath(f, root),
                    "label": 1,
                    "dataset": "deeperforensics",
                    "method": d.name,
                    "compression": None,
                }
            )
    if ffpp_root is None:
        failures.append((str(root), "no FaceForensics++ root given (ffpp_root): the real class is missing"))
    else:
        real_dir = Path(ffpp_root) / "original_sequences" / "youtube" / ffpp_compression / "videos"
        if not real_dir.is_dir():
            raise LayoutError(f"{ffpp_root}: expected FaceForensics++ originals in {real_dir}")
        for t in sorted(targets):
            f = real_dir / f"{t}.mp4"
            if not f.is_file():
                failures.append((str(f), "FaceForensics++ original of a DeeperForensics target is absent"))
                continue
            vid = f"original/{t}"
            keys_of[vid] = [f"t{t}"]
            rows.append(
                {
                    "video_id": vid,
                    "path": relpath(f, root),
                    "label": 0,
                    "dataset": "deeperforensics",
                    "method": "original",
                    "compression": ffpp_compression,
                }
            )
    for keys in keys_of.values():
        uf.union(*keys)
    for r in rows:
        r["group"] = uf.find(keys_of[r["video_id"]][0])
    videos = make_table(rows, root)

    folder = Path(lists_dir) if lists_dir is not None else root / "lists" / "splits"
    listed = read_split_lists(folder) if folder.is_dir() else {}
    if lists_dir is not None and not listed:
        raise FileNotFoundError(f"{folder}: no train.txt, val.txt or test.txt with fake names")
    official = {vid: listed[stem] for vid, stem in stem_of.items() if stem in listed}
    videos, dropped = resolve_splits(
        videos, official, ratios=ratios, seed=seed, unlisted="inherit", source=f"official lists in {folder}"
    )
    return IndexResult(videos, failures + dropped)
