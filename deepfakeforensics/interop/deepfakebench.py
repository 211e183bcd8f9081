"""DeepfakeBench's dataset JSON files: imported as a faces manifest (its frames are the crops), and written back.

DeepfakeBench (Yan et al., NeurIPS 2023 Datasets and Benchmarks; github.com/SCLBD/DeepfakeBench) lists each
dataset's preprocessed face frames in ``preprocessing/dataset_json/<NAME>.json``. Facts this module relies on, read in
its ``preprocessing/rearrange.py`` (which writes the files), ``training/dataset/abstract_dataset.py`` (which reads
them) and the ``label_dict`` of ``training/config/test_config.yaml``:

- structure ``{dataset: {label: {split: {video: record}}}}``, with a compression level ``{split: {comp: {video:
  record}}}`` for the FaceForensics++ family (FaceForensics++, FF-DF, FF-F2F, FF-FS, FF-NT, DeepFakeDetection,
  FaceShifter); a record is ``{"label": NAME, "frames": [paths], ["masks": [paths]]}``; splits are train, val, test;
- the loader maps ``record["label"]`` through ``label_dict`` (`KNOWN_LABELS`; an unknown name is an error there too),
  names a video ``label + "_" + video``, and sorts its frames by ``int(file stem)``;
- the same video is listed in several splits: DFD, UADFV and DeeperForensics reals in train, val and test, Celeb-DF's
  test videos in test and val (and every video in train), DFDCP's val is its test;
- frame paths are absolute paths of the machine that ran rearrange.py, or relative to its working directory (a path
  not starting with ``.`` gets ``./<rgb_dir>\\`` prepended, ``rgb_dir`` default ``./datasets/rgb``), with ``/`` or
  ``\\`` separators; its released JSON files point into its ``datasets/rgb/<dataset>/...`` tree;
- DFDC's ``val`` is written as one record instead of a dict of videos (``dataset_dict[...]['val'] = {'label': ...,
  'frames': ...}`` in rearrange.py): it is skipped with a note unless it is the split asked for.

Import rules (`import_deepfakebench`): a frame path is taken relative to the root given, after dropping the leading
components the root does not hold (so the same file works wherever the data now lives); frames are ordered by the
number in their file names and a frame is one row with track 0 and ``frame`` = that number; a listed frame absent
under the root is a failure; a video listed in several splits is kept in the split asked for (or, importing every
split, in the first of test, val, train) and its other listings are dropped and counted; groups join videos that show
the same FF++ ids, Celeb-DF celebrity or DFD actor (the indexers' keys), and a group in two splits keeps only its
rows of the first of test, val, train (the others are dropped and counted). ``masks`` lists are read but not imported.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from deepfakeforensics._io import write_json_atomic
from deepfakeforensics.data.frame_folders import FrameFolderError, frame_number, sort_frames
from deepfakeforensics.errors import DFFError
from deepfakeforensics.indexing._common import UnionFind
from deepfakeforensics.indexing.df40 import identity_keys

#: DeepfakeBench's ``label_dict`` (training/config/test_config.yaml and the detectors' configs): name -> 1 = fake.
KNOWN_LABELS: dict[str, int] = {
    **dict.fromkeys(["DFD_real", "FF-real", "CelebDFv1_real", "CelebDFv2_real", "DFDCP_Real", "DFDC_Real"], 0),
    **dict.fromkeys(["DF_real", "UADFV_Real", "roop_Real", "0_real", "real"], 0),
    **dict.fromkeys(["DFD_fake", "FF-SH", "FF-F2F", "FF-DF", "FF-FS", "FF-NT", "FF-FH", "CelebDFv1_fake"], 1),
    **dict.fromkeys(["CelebDFv2_fake", "DFDCP_FakeA", "DFDCP_FakeB", "DFDC_Fake", "DF_fake", "UADFV_Fake"], 1),
    **dict.fromkeys(["roop_Fake", "1_fake", "fake", "FaceShifter"], 1),
}
#: Last word of a label name (split on ``_``, ``-``) that says its class, for names outside `KNOWN_LABELS` (DF40's
#: per-method ``simswap_Real``, ``e4e_Fake``).
WORD_LABELS = {"real": 0, "original": 0, "fake": 1, "fakea": 1, "fakeb": 1}
#: Dataset names whose JSON has a compression level (abstract_dataset.py).
COMPRESSED_DATASETS = ("FF-DF", "FF-F2F", "FF-FS", "FF-NT", "FaceForensics++", "DeepFakeDetection", "FaceShifter")
SPLITS = ("train", "val", "test")
#: A video or group listed in several splits is kept in the first of these.
SPLIT_PRIORITY = ("test", "val", "train")


class DeepfakeBenchJSONError(DFFError, ValueError):
    """A dataset JSON that does not hold what DeepfakeBench writes; the message names the file and the entry."""


@dataclass(frozen=True)
class BenchVideo:
    """One video record of a dataset JSON, where it sits, and its frame paths as written."""

    dataset: str
    label_name: str  # the level above the split
    split: str
    compression: str | None
    name: str
    record_label: str  # record["label"], what DeepfakeBench maps to 0/1
    frames: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return self.dataset, self.record_label, self.name, self.compression


@dataclass
class ImportResult:
    """What `import_deepfakebench` returns: the faces manifest and what it left out, with why."""

    faces: pd.DataFrame
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dropped_listings: int = 0  # listings of a kept video in another split, dropped
    dropped_leaks: int = 0  # videos dropped because their group has videos in a split listed first


def _is_record(node: object) -> bool:
    return isinstance(node, dict) and ("frames" in node or isinstance(node.get("label"), str))


def _record(path: Path, where: str, node: dict, label_name: str) -> tuple[str, tuple[str, ...]]:
    frames = node.get("frames")
    if not isinstance(frames, list) or not frames or not all(isinstance(f, str) for f in frames):
        raise DeepfakeBenchJSONError(f"{path}: {where}: no 'frames' list of paths (got {type(frames).__name__})")
    label = node.get("label", label_name)
    if not isinstance(label, str):
        raise DeepfakeBenchJSONError(f"{path}: {where}: 'label' is not a name ({label!r})")
    return label, tuple(frames)


def _videos_of_split(path: Path, ds: str, label: str, split: str, node: dict) -> list[BenchVideo]:
    where = f"{ds}/{label}/{split}"
    out = []
    by_comp = not any(_is_record(v) for v in node.values()) and all(isinstance(v, dict) for v in node.values())
    levels = node.items() if by_comp else [(None, node)]
    for comp, videos in levels:
        for name, rec in videos.items():
            if not isinstance(rec, dict):
                raise DeepfakeBenchJSONError(f"{path}: {where}/{name}: expected a video record, got {rec!r:.60}")
            place = f"{where}/{comp + '/' if comp else ''}{name}"
            record_label, frames = _record(path, place, rec, label)
            out.append(BenchVideo(ds, label, split, comp, str(name), record_label, frames))
    return out


def read_bench_json(path: str | os.PathLike) -> tuple[list[BenchVideo], dict[tuple[str, str, str], str]]:
    """Every video record of a dataset JSON, and the ``(dataset, label, split)`` entries skipped with their reason.

    Raises:
        DeepfakeBenchJSONError: not JSON, not the nested dicts DeepfakeBench writes, an unknown split, or a video
            without frames (naming the file and the entry).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DeepfakeBenchJSONError(f"{path}: not a readable JSON file ({e})") from e
    shape = "{dataset: {label: {split: {[compression]: {video: {label, frames}}}}}}"
    if not isinstance(data, dict) or not data:
        raise DeepfakeBenchJSONError(f"{path}: expected DeepfakeBench's {shape}, got {type(data).__name__}")
    videos, skipped = [], {}
    for ds, labels in data.items():
        if not isinstance(labels, dict):
            raise DeepfakeBenchJSONError(f"{path}: {ds}: expected {{label: {{split: ...}}}}, got {labels!r:.60}")
        for label, splits in labels.items():
            if not isinstance(splits, dict) or not set(splits) <= set(SPLITS):
                raise DeepfakeBenchJSONError(
                    f"{path}: {ds}/{label}: expected splits {list(SPLITS)}, got {splits!r:.80}"
                )
            for split, node in splits.items():
                if _is_record(node):  # rearrange.py writes DFDC's val so
                    skipped[(ds, label, split)] = "one record instead of a dict of videos (rearrange.py's DFDC val)"
                elif not isinstance(node, dict):
                    raise DeepfakeBenchJSONError(f"{path}: {ds}/{label}/{split}: expected videos, got {node!r:.60}")
                else:
                    videos += _videos_of_split(path, ds, label, split, node)
    return videos, skipped


def label_value(name: str, extra: dict[str, int] | None = None) -> int | None:
    """0/1 of a DeepfakeBench label name: `extra`, `KNOWN_LABELS`, then its last word (`WORD_LABELS`); None if none."""
    for table in (extra or {}, KNOWN_LABELS):
        if name in table:
            return int(table[name])
    return WORD_LABELS.get(re.split(r"[_\-\s]+", name.strip())[-1].lower())


def bench_identity_keys(name: str) -> list[str]:
    """Identity keys of a video name: FF++ ids, Celeb-DF celebrity, DFD actors (as the indexers key them)."""
    m = re.match(r"^(\d+)_(\d+)__", name) or re.match(r"^(\d+)__", name)
    if m:
        return [f"actor{g}" for g in m.groups()]
    return identity_keys("ff", name) or identity_keys("cdf", name)


class _FrameResolver:
    """Frame paths as written -> paths relative to `root`, dropping the leading components the root does not hold."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefixes: list[int] = []  # numbers of leading components dropped so far, most recent first

    def __call__(self, written: str) -> str | None:
        parts = [p for p in written.replace("\\", "/").split("/") if p not in ("", ".")]
        for k in [*self.prefixes, *range(len(parts))]:
            rel = "/".join(parts[k:])
            if rel and (self.root / rel).is_file():
                if k not in self.prefixes[:1]:
                    self.prefixes = [k, *(p for p in self.prefixes if p != k)]
                return rel
        return None


def _select(videos: list[BenchVideo], split: str | None, compression: str | None, path: Path) -> list[BenchVideo]:
    """The videos of `split` (None: all) at one compression level (`compression`, else c23 or the only one)."""
    chosen = [v for v in videos if split is None or v.split == split]
    comps = sorted({v.compression for v in chosen if v.compression is not None})
    if compression is not None and compression not in comps:
        raise DeepfakeBenchJSONError(f"{path}: no compression {compression!r} here (found {comps or 'none'})")
    if compression is None and len(comps) > 1:
        if "c23" not in comps:
            raise DeepfakeBenchJSONError(f"{path}: several compressions {comps}: choose one (--compression)")
        compression = "c23"  # DeepfakeBench's default (test_config.yaml: compression: c23)
    elif compression is None and comps:
        compression = comps[0]
    return [v for v in chosen if v.compression in (None, compression)]


def _one_split_each(videos: list[BenchVideo], every: list[BenchVideo], split: str | None) -> tuple[list, int]:
    """One listing per video: the asked split's (or the first of `SPLIT_PRIORITY`); (kept, other listings dropped)."""
    listed = Counter(v.key for v in every)
    if split is not None:
        return videos, sum(listed[v.key] - 1 for v in videos)
    best: dict[tuple, BenchVideo] = {}
    for v in sorted(videos, key=lambda v: SPLIT_PRIORITY.index(v.split)):
        best.setdefault(v.key, v)
    return list(best.values()), len(videos) - len(best)


def _groups(videos: list[BenchVideo]) -> dict[tuple, str]:
    uf = UnionFind()
    keys = {v.key: bench_identity_keys(v.name) or [f"{v.record_label}/{v.name}"] for v in videos}
    for k in keys.values():
        uf.union(*k)
    return {key: uf.find(k[0]) for key, k in keys.items()}


def _rows(video: BenchVideo, value: int, group: str, resolve: _FrameResolver, failures: list, path: Path) -> list:
    try:
        frames = sort_frames(video.frames, f"{path}: {video.record_label}/{video.name}")
    except FrameFolderError as e:
        raise DeepfakeBenchJSONError(str(e)) from e
    rows = []
    for written in frames:
        rel = resolve(written)
        if rel is None:
            failures.append((written, f"frame of {video.record_label}/{video.name} not found under the root"))
            continue
        rows.append(
            {
                "video_id": f"{video.record_label}/{video.name}",
                "track": 0,
                "frame": frame_number(rel.rsplit("/", 1)[-1]),
                "path": rel,
                "label": value,
                "split": video.split,
                "group": group,
                "method": video.record_label if value else "original",
                "dataset": video.dataset,
                "compression": video.compression,
                "bench_label": video.record_label,
                "bench_video": video.name,
            }
        )
    return rows


def _drop_leaking_groups(faces: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep only the rows of each group's first split in `SPLIT_PRIORITY`; return them and the videos dropped."""
    faces = faces.sort_values(["video_id", "frame"], kind="stable").reset_index(drop=True)
    rank = faces["split"].map(SPLIT_PRIORITY.index)
    keep = rank == rank.groupby(faces["group"]).transform("min")
    return faces[keep].reset_index(drop=True), faces.loc[~keep, "video_id"].nunique()


def import_deepfakebench(
    json_path: str | os.PathLike,
    root: str | os.PathLike,
    split: str | None = "test",
    compression: str | None = None,
    labels: dict[str, int] | None = None,
) -> ImportResult:
    """A faces manifest of the frames a DeepfakeBench dataset JSON lists (see the module docstring for the rules).

    Args:
        json_path: the dataset JSON (``preprocessing/dataset_json/NAME.json``).
        root: the folder its frames now live under (e.g. DeepfakeBench's ``datasets/rgb``).
        split: ``train``, ``val`` or ``test`` (default), or None for every split.
        compression: the compression level of the FF++ family (default c23, or the only one listed).
        labels: label names -> 0/1 beyond `KNOWN_LABELS` and the real/fake last word.

    Returns:
        `ImportResult`; ``faces.attrs`` hold the root and the extraction DeepfakeBench's preprocessing did.

    Raises:
        DeepfakeBenchJSONError: see `read_bench_json`; an unknown split or compression; a label it cannot map (named);
            frames that cannot be ordered.
    """
    path, root = Path(json_path), Path(root).resolve()
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    every, skipped = read_bench_json(path)
    if split is not None and any(s == split for _, _, s in skipped):
        raise DeepfakeBenchJSONError(
            f"{path}: the {split} split of {sorted(k for k in skipped if k[2] == split)}: "
            f"{next(iter(skipped.values()))}"
        )
    videos, dropped = _one_split_each(_select(every, split, compression, path), every, split)
    values = {v.record_label: label_value(v.record_label, labels) for v in videos}
    unknown = sorted(name for name, value in values.items() if value is None)
    if unknown:
        raise DeepfakeBenchJSONError(
            f"{path}: label names {unknown} are neither DeepfakeBench's nor end in real/fake: map them with "
            f"--label {unknown[0]}=1 (fake) or --label {unknown[0]}=0 (real)"
        )
    groups, resolve, failures, rows = _groups(videos), _FrameResolver(root), [], []
    for v in videos:
        rows += _rows(v, values[v.record_label], groups[v.key], resolve, failures, path)
    if not videos:
        raise DeepfakeBenchJSONError(f"{path}: no video in {f'the {split} split' if split else 'any split'}")
    if not rows:
        raise DeepfakeBenchJSONError(
            f"{path}: none of the {len(videos)} videos' frames is under {root} (wrong --root?), e.g. {failures[0][0]}"
        )
    faces, leaks = _drop_leaking_groups(pd.DataFrame(rows))
    notes = [f"{'/'.join(k)}: skipped, {reason}" for k, reason in skipped.items()]
    faces.attrs = {"root": str(root), "imported_from": str(path), "extraction": DEEPFAKEBENCH_EXTRACTION}
    return ImportResult(faces, failures, notes, dropped, leaks)


#: What DeepfakeBench's preprocessing cut (preprocessing/config.yaml: 32 frames per video, fixed_num_frames; its
#: preprocess.py: dlib landmarks, aligned crop with scale 1.3, 256 px): recorded as a manifest's extraction settings.
DEEPFAKEBENCH_EXTRACTION = {
    "profile": "deepfakebench",
    "margin": 1.3,
    "crop_size": 256,
    "align": True,
    "sampling": {"strategy": "uniform", "n_frames": 32},
}


def _text(value: object) -> str | None:
    """A manifest cell as text, None when empty or missing (NaN)."""
    return value if isinstance(value, str) and value else None


def _bench_frames(rows: pd.DataFrame, root: Path, frames_dir: Path | None, name: str, prefix: str) -> list[str]:
    """A video's frame paths as DeepfakeBench reads them: ``./<prefix>/<path>``, numbered files (linked when needed)."""
    stems = [Path(p).stem for p in rows["path"]]
    if all(s.isdigit() for s in stems) and len(set(map(int, stems))) == len(stems):
        return [f"./{prefix}/{p}" for p in rows["path"]]
    if frames_dir is None:
        raise ValueError(
            f"crops such as {rows['path'].iloc[0]} are not named by a number (DeepfakeBench orders frames by "
            "int(file stem)): give frames_dir (--frames-dir) to write numbered links to them"
        )
    out = []
    for rel, frame in zip(rows["path"], rows["frame"], strict=True):
        target = frames_dir / name / f"{int(frame)}{Path(rel).suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                os.link(root / rel, target)
            except OSError:
                target.write_bytes((root / rel).read_bytes())
        out.append(f"./{prefix}/{target.relative_to(frames_dir.parent).as_posix()}")
    return out


def export_deepfakebench(
    faces: pd.DataFrame,
    out_json: str | os.PathLike,
    dataset: str,
    frames_dir: str | os.PathLike | None = None,
    prefix: str = "datasets/rgb",
) -> dict[str, int]:
    """Write a faces manifest's crops as a DeepfakeBench dataset JSON; return the label names used (name -> 0/1).

    One video entry per (video_id, track) with its crops ordered by frame, under its split (``test`` without a split
    column) and its label name: the imported one (``bench_label``, ``bench_video`` columns, so an import round-trips),
    else ``<dataset>_Real`` / ``<dataset>_Fake``; a compression level only for the FF++ family names
    (`COMPRESSED_DATASETS`, the row's compression or c23). Frame paths are ``./<prefix>/<path relative to the
    manifest's root>``: DeepfakeBench opens a path starting with ``.`` as it is, from its working directory, so place
    (or link) the root's content under its ``datasets/rgb``. Crops not named by a number (``dff extract`` names them
    ``<track>_<frame>.jpg``) are linked as ``<frames_dir>/<video>/<frame>.<ext>`` and listed under
    ``./<prefix>/<frames_dir name>/...``: put `frames_dir` itself under ``datasets/rgb``.
    """
    root = Path(faces.attrs.get("root", "."))
    frames_root = Path(frames_dir) if frames_dir is not None else None
    tracks = faces.groupby("video_id")["track"].nunique()
    data: dict[str, dict] = {}
    names: dict[str, int] = {}
    for (vid, track), rows in faces.sort_values("frame").groupby(["video_id", "track"], sort=True):
        first = rows.iloc[0]
        value = int(first["label"])
        label = _text(first.get("bench_label")) or f"{dataset}_{'Fake' if value else 'Real'}"
        name = _text(first.get("bench_video")) or str(vid)
        name = name if tracks[vid] == 1 else f"{name}_track{track}"
        split = _text(first.get("split")) or "test"
        node = data.setdefault(dataset, {}).setdefault(label, {s: {} for s in SPLITS})[split]
        if dataset in COMPRESSED_DATASETS:
            node = node.setdefault(_text(first.get("compression")) or "c23", {})
        frames = _bench_frames(rows, root, frames_root, name.replace("/", "_"), prefix)
        node[name] = {"label": label, "frames": frames}
        names[label] = value
    write_json_atomic(out_json, data)
    return names
