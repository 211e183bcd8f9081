"""FaceForensics++ (with DeepFakeDetection and FaceShifter): every method and compression found, identity groups."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from deepfakeforensics.indexing._common import SPLITS, IndexResult, LayoutError, SplitLeakError
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS

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


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def _check_root(root: Path) -> Path:
    """`root` itself; LayoutError if it holds neither ``original_sequences`` nor ``manipulated_sequences``."""
    if not root.is_dir():
        raise LayoutError(f"{root}: not a folder")
    if not (root / "original_sequences").is_dir() and not (root / "manipulated_sequences").is_dir():
        raise LayoutError(
            f"{root}: not a FaceForensics++ root (expected original_sequences/ and manipulated_sequences/ folders)"
        )
    return root


def _method_folders(draft: IndexDraft, methods: Collection[str] | None) -> list[tuple[str, Path]]:
    """(method, folder of its compression folders) for every method to index (`methods`; None = all).

    YouTube reals always come; actor reals only with DeepFakeDetection. An unknown folder of reals and a requested
    method that is not there are failures.
    """
    orig, manip = draft.root / "original_sequences", draft.root / "manipulated_sequences"
    want = set(methods) if methods is not None else None
    sources: list[tuple[str, Path]] = []
    if orig.is_dir():
        for d in _subfolders(orig):
            method = REAL_METHODS.get(d.name)
            if method is None:
                draft.fail(d, f"unknown layout: expected one of {sorted(REAL_METHODS)} in original_sequences")
            elif method == "original" or want is None or "DeepFakeDetection" in want:
                sources.append((method, d))
    if manip.is_dir():
        sources += [(d.name, d) for d in _subfolders(manip) if want is None or d.name in want]
    draft.fail_requested(want, (m for m, _ in sources), "method", manip)
    return sources


def _add_method(draft: IndexDraft, method: str, method_dir: Path, compressions: Collection[str] | None) -> set[str]:
    """Add the videos of each ``<comp>/videos/`` folder of one method (`compressions`; None = all).

    Returns:
        the compressions seen (a folder without ``videos/`` or without videos is a failure, but seen).
    """
    seen: set[str] = set()
    for comp, f in compression_videos(draft, method_dir, compressions, seen):
        label = 0 if method in REAL_METHODS.values() else 1
        draft.add(f, f"{method}/{comp}/{f.stem}", label, method, compression=comp, keys=_identities(method, f.stem))
    return seen


def compression_videos(
    draft: IndexDraft, folder: Path, compressions: Collection[str] | None, seen: set[str]
) -> Iterator[tuple[str, Path]]:
    """``(compression, video)`` of each ``<comp>/videos/`` folder under `folder` (FF++'s download layout, also
    DFD's), for the `compressions` asked (None: all; ``masks/`` is not one); each compression found is added to
    `seen`, and a compression folder without ``videos/`` is a failure of `draft`."""
    for comp_dir in _subfolders(folder):
        comp = comp_dir.name
        if comp in _NOT_COMPRESSIONS or (compressions is not None and comp not in compressions):
            continue
        seen.add(comp)
        videos_dir = comp_dir / "videos"
        if not videos_dir.is_dir():
            draft.fail(comp_dir, "unknown layout: expected a videos/ folder")
            continue
        yield from ((comp, f) for f in draft.list_videos(videos_dir))


def _official_splits(
    draft: IndexDraft, groups: Mapping[str, str], files: Mapping[str, Path]
) -> tuple[dict[str, str], str]:
    """(video_id -> split for each video whose identities the official `files` list, how errors name them).

    Ids the files list but no indexed video shows are failures (a partial download, or filtered out).

    Raises:
        SplitLeakError: a video links identities listed in two splits (naming the video and its group).
    """
    if not files:
        return {}, "official split"
    id_split = read_official_splits(files)
    source = f"official splits in {next(iter(files.values())).parent}"
    official: dict[str, str] = {}
    for vid, ids in draft.keys.items():
        found = {id_split[i] for i in ids if i in id_split}
        if len(found) > 1:
            raise SplitLeakError(
                f"{source}: video {vid!r} (group {groups[vid]!r}) links identities {ids} listed in splits {sorted(found)}"
            )
        if found:
            official[vid] = found.pop()
    shown = {i for ids in draft.keys.values() for i in ids}
    for i in sorted(set(id_split) - shown):
        path = draft.root / "original_sequences" / "youtube" / "*" / "videos" / f"{i}.mp4"
        draft.fail(path, f"id listed in {id_split[i]}.json but no video shows it")
    return official, source


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
    root = _check_root(Path(root))
    draft = IndexDraft(root, "ffpp")
    seen_compressions: set[str] = set()
    for method, method_dir in _method_folders(draft, methods):
        seen_compressions |= _add_method(draft, method, method_dir, compressions)
    for c in sorted(set(compressions or ()) - seen_compressions):
        draft.fail(root, f"requested compression {c!r} not found")
    groups = assign_groups(draft)
    official, source = _official_splits(draft, groups, find_split_files(root, splits_dir))
    return finalise_index(draft, groups, official, ratios=ratios, seed=seed, source=source)
