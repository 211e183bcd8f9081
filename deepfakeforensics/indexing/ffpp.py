"""FaceForensics++ (with DeepFakeDetection and FaceShifter): every method and compression found, identity groups."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping
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

#: ``method`` of the two kinds of real videos: YouTube originals and the DeepFakeDetection actors.
REAL_METHODS = {"youtube": "original", "actors": "actors"}

#: Sub-folders of a method that are not compressions (segmentation masks ship beside the videos).
_NOT_COMPRESSIONS = {"masks"}

_YT_REAL = re.compile(r"^(\d{3})$")
_YT_FAKE = re.compile(r"^(\d{3})_(\d{3})$")
_DFD_REAL = re.compile(r"^(\d+)__")
_DFD_FAKE = re.compile(r"^(\d+)_(\d+)__")


def _identities(method: str, stem: str) -> list[str]:
    """Identities a video shows: YouTube ids (``"519"``) or actor ids (``"actor01"``); [] if the name is unknown."""
    if method == "actors":
        m = _DFD_REAL.match(stem)
        return [f"actor{m.group(1)}"] if m else []
    if method == "DeepFakeDetection":
        m = _DFD_FAKE.match(stem)
        return [f"actor{m.group(1)}", f"actor{m.group(2)}"] if m else []
    m = _YT_REAL.match(stem) if method == "original" else _YT_FAKE.match(stem)
    return list(m.groups()) if m else []


def find_split_files(root: Path, splits_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """The official ``{train,val,test}.json`` files: in `splits_dir` if given, else ``ROOT/splits/`` or ``ROOT/``."""
    if splits_dir is not None:
        folder = Path(splits_dir)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: splits folder not found (expected train.json, val.json, test.json)")
        found = {s: folder / f"{s}.json" for s in SPLITS if (folder / f"{s}.json").is_file()}
        if not found:
            raise FileNotFoundError(f"{folder}: none of train.json, val.json, test.json found")
        return found
    for folder in (root / "splits", root):
        found = {s: folder / f"{s}.json" for s in SPLITS if (folder / f"{s}.json").is_file()}
        if found:
            return found
    return {}


def read_official_splits(files: Mapping[str, Path]) -> dict[str, str]:
    """YouTube id -> split from the official json files (lists of ``["071", "054"]`` pairs).

    Raises:
        SplitLeakError: an id is listed in two splits.
        ValueError: a file is not a list of id pairs.
    """
    id_split: dict[str, str] = {}
    for split, path in files.items():
        try:
            pairs = json.loads(Path(path).read_text())
            ids = [str(i) for pair in pairs for i in pair]
        except (ValueError, TypeError) as e:
            raise ValueError(f'{path}: expected a JSON list of id pairs like [["071", "054"], ...] ({e})') from e
        for i in ids:
            if id_split.setdefault(i, split) != split:
                raise SplitLeakError(f"{path}: id {i!r} is listed in both {id_split[i]} and {split}")
    return id_split


def index_ffpp(
    root: str | os.PathLike,
    methods: Collection[str] | None = None,
    compressions: Collection[str] | None = None,
    splits_dir: str | os.PathLike | None = None,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
) -> IndexResult:
    """Index a FaceForensics++ folder: every method and compression present, or those asked for.

    Layout: ``original_sequences/{youtube,actors}/<comp>/videos/*.mp4`` and
    ``manipulated_sequences/<Method>/<comp>/videos/*.mp4`` (any method folder is taken, e.g. FaceShifter).

    ``video_id`` is ``<method>/<compression>/<file stem>``: ``original/c23/519``, ``actors/c23/01__exit_phone_room``,
    ``Deepfakes/c23/519_515``, so all methods and compressions coexist in one index. ``method`` is the manipulation
    folder's name for fakes, ``original`` for YouTube reals and ``actors`` for DeepFakeDetection reals.

    Groups are connected components of identities: a fake ``519_515`` (any method, any compression) links YouTube ids
    519 and 515, a DeepFakeDetection fake ``01_02__scene__X`` links actors 01 and 02; a real joins its identity's
    group. A group is named by its smallest identity (``"515"``, ``"actor01"``). A file whose name fits no pattern is
    its own group.

    Splits: the official ``train/val/test.json`` (under ``ROOT/splits/``, ``ROOT/`` or `splits_dir`) assign every
    video whose identities they list; a video or group they would place in two splits raises `SplitLeakError` naming
    it. Groups they do not cover (e.g. the actors) get a seeded group split with `ratios`; without official files all
    groups do.

    Args:
        root: the FaceForensics++ root (holding ``original_sequences`` and/or ``manipulated_sequences``).
        methods: manipulation methods to index (folder names, e.g. ``["Deepfakes", "FaceSwap"]``); None = all.
            YouTube reals are always indexed; actor reals only with DeepFakeDetection.
        compressions: e.g. ``["c23"]``; None = all found.
        splits_dir: folder with the official json files (default: looked up under the root).
        ratios: split shares of the seeded group split.
        seed: its seed.

    Returns:
        IndexResult; failures name empty folders, unknown sub-folders, requested methods/compressions not found and
        ids the official files list but no indexed video shows.

    Raises:
        LayoutError: the root holds neither ``original_sequences`` nor ``manipulated_sequences``.
        SplitLeakError: the official splits put one group in two splits.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: not a folder")
    orig, manip = root / "original_sequences", root / "manipulated_sequences"
    if not orig.is_dir() and not manip.is_dir():
        raise LayoutError(
            f"{root}: not a FaceForensics++ root (expected original_sequences/ and manipulated_sequences/ folders)"
        )
    failures: list[Failure] = []
    want_methods = set(methods) if methods is not None else None
    want_comps = set(compressions) if compressions is not None else None

    # (method, folder of <comp> folders)
    sources: list[tuple[str, Path]] = []
    if orig.is_dir():
        for d in sorted(p for p in orig.iterdir() if p.is_dir()):
            method = REAL_METHODS.get(d.name)
            if method is None:
                failures.append(
                    (str(d), f"unknown layout: expected one of {sorted(REAL_METHODS)} in original_sequences")
                )
            elif method == "original" or want_methods is None or "DeepFakeDetection" in want_methods:
                sources.append((method, d))
    if manip.is_dir():
        for d in sorted(p for p in manip.iterdir() if p.is_dir()):
            if want_methods is None or d.name in want_methods:
                sources.append((d.name, d))
    seen_methods = {m for m, _ in sources}
    seen_comps: set[str] = set()
    for m in sorted((want_methods or set()) - seen_methods):
        failures.append((str(manip / m), "requested method not found"))

    rows = []
    for method, method_dir in sources:
        for comp_dir in sorted(p for p in method_dir.iterdir() if p.is_dir() and p.name not in _NOT_COMPRESSIONS):
            comp = comp_dir.name
            if want_comps is not None and comp not in want_comps:
                continue
            seen_comps.add(comp)
            videos_dir = comp_dir / "videos"
            if not videos_dir.is_dir():
                failures.append((str(comp_dir), "unknown layout: expected a videos/ folder"))
                continue
            files = list(iter_videos(videos_dir))
            if not files:
                failures.append((str(videos_dir), "empty folder: no video files"))
            for f in files:
                rows.append(
                    {
                        "video_id": f"{method}/{comp}/{f.stem}",
                        "path": relpath(f, root),
                        "label": 0 if method in REAL_METHODS.values() else 1,
                        "dataset": "ffpp",
                        "method": method,
                        "compression": comp,
                    }
                )
    for c in sorted((want_comps or set()) - seen_comps):
        failures.append((str(root), f"requested compression {c!r} not found"))

    uf = UnionFind()
    ids_of = {}
    for r in rows:
        ids = _identities(r["method"], Path(r["path"]).stem) or [r["video_id"]]
        ids_of[r["video_id"]] = ids
        uf.union(*ids)
    for r in rows:
        r["group"] = uf.find(ids_of[r["video_id"]][0])
    videos = make_table(rows, root)

    official: dict[str, str] = {}
    files = find_split_files(root, splits_dir)
    if files:
        id_split = read_official_splits(files)
        source = f"official splits in {next(iter(files.values())).parent}"
        for vid, ids in ids_of.items():
            found = {id_split[i] for i in ids if i in id_split}
            if len(found) > 1:
                group = videos.loc[videos["video_id"] == vid, "group"].iloc[0]
                raise SplitLeakError(
                    f"{source}: video {vid!r} (group {group!r}) links identities {ids} listed in splits {sorted(found)}"
                )
            if found:
                official[vid] = found.pop()
        # Ids the official files list but no indexed video shows (a partial download, or filtered out).
        shown = {i for ids in ids_of.values() for i in ids}
        for i in sorted(set(id_split) - shown):
            failures.append(
                (
                    str(orig / "youtube" / "*" / "videos" / f"{i}.mp4"),
                    f"id listed in {id_split[i]}.json but no video shows it",
                )
            )
    else:
        source = "official split"
    videos, dropped = resolve_splits(videos, official, ratios=ratios, seed=seed, unlisted="inherit", source=source)
    return IndexResult(videos, failures + dropped)
