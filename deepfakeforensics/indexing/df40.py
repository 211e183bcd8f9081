"""DF40 (Yan et al., NeurIPS 2024 Datasets and Benchmarks): 40 forgery methods as frame folders, FF++ and Celeb-DF
identities, with groups shared with the FaceForensics++ and Celeb-DF indexes.

Sources of the layout rules:

- github.com/YZY-stack/DF40 README: the released data is preprocessed ("frame extraction and face cropping", the
  crops DeepfakeBench cuts), downloaded as testing and training parts holding *fakes only*; the reals of the methods
  built on FaceForensics++ and Celeb-DF come from those datasets (DeepfakeBench's preprocessed FF++ and Celeb-DF real
  frames), while the nine "unknown" methods ship their own reals.
- DF40's ``DeepfakeBench_DF40/preprocessing/rearrange.py``: per-method folders with an FF++ subset and a Celeb-DF
  subset (``<method>/ffpp/frames/<video>/``, ``<method>/cdfv2/frames/<video>/``); the reals of a per-method test set are
  the FF++ videos of the official ``test.json`` (``original_sequences/youtube/c23/frames/<id>/``) and the Celeb-DF
  reals of ``List_of_testing_videos.txt`` (``{Celeb-real,YouTube-real}/frames/<video>/``).
- Trees found in the wild (public evaluation scripts and notes that read the release): ``<method>/ff/frames/<video>/``
  and ``<method>/cdf/frames/<video>/`` for face swapping and reenactment; ``<method>/ff/<video>/`` and
  ``<method>/cdf/Fake_from_Celeb-real/<video>/`` for entire-face synthesis; ``test/<method>/...`` and
  ``train/<method>/...`` (or ``DF40_test``/``DF40_train``) for the two downloads, the training part sometimes without
  the subset level (``DF40_train/<method>/frames/<video>/``, the FF++ domain); a doubled method folder
  (``blendface/blendface/cdf/...``); unknown methods as ``<method>/{fake,real}/[frames/]<video>/``.

All of them are accepted: every folder of frames below a subset is a video (`find_frame_folders`). Video names follow
the source datasets: ``000_003`` (FF++ target_source), ``000`` (one FF++ id), ``id0_id16_0003`` (Celeb-DF: clip
``id0_0003`` with the face of id16), ``id0_0003``, ``00012`` (YouTube-real). Images flat in a folder (whole-image
methods of the unknown set) are not frame folders of one video each: they are reported, not indexed.

``videos.attrs["layout"]`` lists the variants the tree matched (`layout_of`), with their counts; ``dff index`` prints
it. Columns: ``video_id`` = ``<method>/<subset>/<path below the subset, without frames/>``; ``method`` = DF40's own
dataset name ``<method>_ff`` / ``<method>_cdf`` (as its JSON files name them, so per-method tables keep the two domains
apart), ``<method>`` for the unknown methods, ``original`` for reals.

Groups use the keys of the FaceForensics++ and Celeb-DF indexers (``ffpp.py``, ``celebdf.py`` with its default
celebrity grouping): a fake ``000_003`` links YouTube ids ``000`` and ``003`` (named ``"000"`` as in the FF++ index),
``id0_id16_0003`` joins celebrity ``id0``, YouTube-real ``00012`` is ``yt00012``. So concatenating this index with
an FF++ or Celeb-DF index and calling `check_group_splits` finds any identity in two splits.

Splits: FF++-domain videos (``ff`` subsets and FF++ reals) follow the official FF++ ``train/val/test.json`` by identity
when they are found (`splits_dir`, or ``FFPP_ROOT/splits``), exactly as the FF++ index does; without them, the part
they were downloaded in (``train``/``test`` folder) decides, and a seeded group split the rest. The Celeb-DF domain
(``cdf`` subsets, Celeb-DF reals) and the unknown methods are test sets in DF40 and go to test.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Collection, Mapping
from pathlib import Path

from deepfakeforensics.data.frame_folders import find_frame_folders, is_frame_file
from deepfakeforensics.indexing._common import IndexResult, LayoutError
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index
from deepfakeforensics.indexing.celebdf import TEST_LIST, read_test_list
from deepfakeforensics.indexing.ffpp import find_split_files, read_official_splits
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS

#: Subset folder names -> the subset (``ffpp``/``cdfv2`` in DF40's rearrange.py, ``ff``/``cdf`` in the release).
SUBSETS = {"ff": "ff", "ffpp": "ff", "cdf": "cdf", "cdfv2": "cdf"}

_PARTS = re.compile(r"^(?:df40[_-]?)?(train|test)$", re.IGNORECASE)
_FF_PAIR = re.compile(r"^(\d{3})_(\d{3})(?:$|_)")
_FF_ONE = re.compile(r"^(\d{3})$")
_CDF_SWAP = re.compile(r"^(id\d+)_id\d+_\d+$")
_CDF_REAL = re.compile(r"^(id\d+)_\d+$")
_CDF_YT = re.compile(r"^(\d{5})$")


def identity_keys(subset: str, name: str) -> list[str]:
    """The FF++ or Celeb-DF identity keys a video shows, from its folder name; [] when the name fits no pattern."""
    if subset == "ff":
        m = _FF_PAIR.match(name) or _FF_ONE.match(name)
        return list(m.groups()) if m else []
    for pattern, prefix in ((_CDF_SWAP, ""), (_CDF_REAL, ""), (_CDF_YT, "yt")):
        m = pattern.match(name)
        if m:
            return [prefix + m.group(1)]
    return []


def _parts(root: Path) -> list[tuple[str | None, Path]]:
    """(download part or None, folder of method folders): ``train``/``test`` folders if any, else the root."""
    parts = [(m.group(1).lower(), d) for d in sorted(root.iterdir()) if d.is_dir() and (m := _PARTS.match(d.name))]
    return parts or [(None, root)]


def _subset_folders(method_dir: Path) -> list[tuple[str, Path]]:
    """(subset, folder) of a method: its ff/cdf folders, ``frames/`` alone (the FF++ domain), or fake/real."""
    children = {d.name: d for d in sorted(method_dir.iterdir()) if d.is_dir()}
    if set(children) == {method_dir.name}:  # a doubled method folder
        return _subset_folders(children[method_dir.name])
    found = [(SUBSETS[n.lower()], d) for n, d in children.items() if n.lower() in SUBSETS]
    if found:
        return found
    if "frames" in children:
        return [("ff", children["frames"])]
    return [(n.lower(), d) for n, d in children.items() if n.lower() in ("fake", "real")]


def _add_subset(draft: IndexDraft, method: str, subset: str, folder: Path, part: str | None, hints: dict) -> None:
    label = 0 if subset == "real" else 1
    stray = [f for f in folder.iterdir() if f.is_file() and is_frame_file(f.name)]
    if stray:
        draft.fail(
            folder, f"{len(stray)} images directly in the folder (whole-image method): not frame folders, skipped"
        )
    for seq in find_frame_folders(folder):
        rel = [p for p in seq.relative_to(folder).parts if p != "frames"]
        if not rel:
            continue  # the stray images above
        own = subset in ("fake", "real")
        video_id = "/".join((*([part] if part else []), method, subset, *rel))
        name = f"{method}_{subset}" if not own else method
        keys = [] if own else identity_keys(subset, rel[-1])
        draft.add(seq, video_id, label, name if label else "original", keys=keys)
        hints[video_id] = "test" if own or subset == "cdf" else part


def _add_methods(
    draft: IndexDraft, folder: Path, part: str | None, methods: Collection[str] | None, hints: dict
) -> set[str]:
    """Add the videos of every method folder in `folder` (or of `methods`); return the method names seen."""
    seen = set()
    for method_dir in sorted(d for d in folder.iterdir() if d.is_dir()):
        if methods is not None and method_dir.name not in methods:
            continue
        seen.add(method_dir.name)
        subsets = _subset_folders(method_dir)
        if not subsets:
            draft.fail(method_dir, "unknown layout: expected ff/ and cdf/ (or frames/, or fake/ and real/) inside")
        for subset, sub in subsets:
            _add_subset(draft, method_dir.name, subset, sub, part, hints)
    return seen


def _add_reals(draft: IndexDraft, ffpp_root: Path | None, comp: str, celebdf_root: Path | None, hints: dict) -> None:
    """FF++ and Celeb-DF reals in DeepfakeBench's preprocessed layout (frame folders under ``frames/``)."""
    if ffpp_root is not None:
        frames = ffpp_root / "original_sequences" / "youtube" / comp / "frames"
        if not frames.is_dir():
            draft.fail(frames, "FF++ reals not found (DeepfakeBench layout: original_sequences/youtube/<comp>/frames)")
        for seq in find_frame_folders(frames) if frames.is_dir() else []:
            draft.add(seq, f"ffpp/{comp}/{seq.name}", 0, "original", keys=identity_keys("ff", seq.name))
            hints[f"ffpp/{comp}/{seq.name}"] = None
    if celebdf_root is not None:
        test_list = celebdf_root / TEST_LIST
        listed = {Path(k).stem for k in read_test_list(test_list)} if test_list.is_file() else None
        if listed is None:
            draft.fail(celebdf_root / TEST_LIST, "not found: every Celeb-DF real indexed, as test")
        for folder in ("Celeb-real", "YouTube-real"):
            for seq in find_frame_folders(celebdf_root / folder) if (celebdf_root / folder).is_dir() else []:
                if listed is not None and seq.name not in listed:
                    continue  # DF40 tests on the Celeb-DF test list's reals only
                vid = f"celebdf/{folder}/{seq.name}"
                draft.add(seq, vid, 0, "original", keys=identity_keys("cdf", seq.name))
                hints[vid] = "test"


def layout_of(path: str) -> str:
    """The shape of a DF40 video's path (``test/<method>/ff/frames/<video>``): which variant of the tree it is."""
    parts = path.split("/")
    head = [parts[0].lower()] if _PARTS.match(parts[0]) else []
    rest = parts[len(head) :]
    named = set(SUBSETS) | {"frames", "fake", "real"}
    middle = ["<method>" if p == rest[0] else p if p.lower() in named else "<dir>" for p in rest[1:-1]]
    return "/".join([*head, "<method>", *middle, "<video>"])


def _official(draft: IndexDraft, hints: Mapping[str, str | None], files: Mapping[str, Path]) -> dict[str, str]:
    """video_id -> split: FF++'s official splits by identity for the FF++ domain, else the hints (part, test)."""
    id_split = read_official_splits(files) if files else {}
    out = {}
    for vid, hint in hints.items():
        ff_domain = hint != "test" or "/ff/" in f"/{vid}/"
        found = {id_split[k] for k in draft.keys[vid] if k in id_split} if ff_domain else set()
        if len(found) == 1:
            out[vid] = found.pop()
        elif hint is not None:
            out[vid] = hint
    return out


def index_df40(
    root: str | os.PathLike,
    methods: Collection[str] | None = None,
    ffpp_root: str | os.PathLike | None = None,
    ffpp_compression: str = "c23",
    celebdf_root: str | os.PathLike | None = None,
    splits_dir: str | os.PathLike | None = None,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
) -> IndexResult:
    """Index a DF40 tree (see the module docstring for the layouts, columns, groups and splits).

    Args:
        root: a folder of method folders, or of ``train``/``test`` parts holding them.
        methods: method folder names to index (default all).
        ffpp_root: DeepfakeBench's preprocessed FaceForensics++ (its real frames are the FF++ domain's reals; its
            ``splits/`` or root ``train/val/test.json`` give the official splits).
        ffpp_compression: which FF++ reals (default c23, as DF40).
        celebdf_root: DeepfakeBench's preprocessed Celeb-DF v2 (the reals of its test list are the cdf domain's).
        splits_dir: folder of FF++'s official ``train/val/test.json`` (default: looked up under `ffpp_root`).
        ratios: shares of the seeded split of what nothing assigns.
        seed: its seed.

    Raises:
        LayoutError: `root` is not a folder or holds no method folder.
        SplitLeakError: one group would span two splits (e.g. an FF++ identity in a test-part video and in train).
    """
    root = Path(root)
    if not root.is_dir() or not any(d.is_dir() for d in root.iterdir()):
        raise LayoutError(f"{root}: not a DF40 root (expected method folders such as simswap/ff/frames/<video>/)")
    draft = IndexDraft(root, "df40")
    hints: dict[str, str | None] = {}
    seen: set[str] = set()
    for part, folder in _parts(root):
        seen |= _add_methods(draft, folder, part, methods, hints)
    draft.fail_requested(methods, seen, "method", root)
    ffpp = Path(ffpp_root) if ffpp_root is not None else None
    _add_reals(draft, ffpp, ffpp_compression, Path(celebdf_root) if celebdf_root is not None else None, hints)
    files = find_split_files(ffpp or root, splits_dir) if ffpp is not None or splits_dir is not None else {}
    groups = assign_groups(draft)
    official = _official(draft, hints, files)
    result = finalise_index(draft, groups, official, ratios=ratios, seed=seed, source="DF40 parts and FF++ splits")
    shapes = Counter(layout_of(p) for p in result.videos["path"] if not p.startswith(".."))
    result.videos.attrs["layout"] = "; ".join(f"{shape} ({n} videos)" for shape, n in sorted(shapes.items()))
    return result
