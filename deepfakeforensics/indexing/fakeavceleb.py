"""FakeAVCeleb, video track: ``meta_data.csv`` categories A-D, fake video = C and D, identity groups.

The audio track (cloned voices: categories B and D's audio) is out of scope: this toolkit scores faces in frames.

Sources of the rules below:

- Layout ``<type>/<race>/<gender>/<id>/<file>.mp4`` with ``meta_data.csv`` beside the four type folders
  (``FakeAVCeleb_v1.2/``), and the categories: the FakeAVCeleb paper (Khalid et al., NeurIPS 2021 Datasets and
  Benchmarks) and its repository (github.com/DASH-Lab/FakeAVCeleb, whose released video models are
  ``Meso4_realA_fakeC.pt``: real A against fake C): A = ``RealVideo-RealAudio``, B = ``RealVideo-FakeAudio``,
  C = ``FakeVideo-RealAudio``, D = ``FakeVideo-FakeAudio``. For a visual detector C and D are fake; A is real; B's
  frames are A's real frames with a cloned voice (method ``rtvc``), so B is left out by default (counting it real
  would repeat A's frames; counting it fake is wrong for a video-only detector) and can be added as real.
- ``meta_data.csv`` columns ``source,target1,target2,method,category,type,race,gender,path`` as published code reads
  it: its header ends with a comma, and each row holds ten values, the file name under ``path`` and the folder
  (``FakeAVCeleb/RealVideo-RealAudio/African/men/id00076``) in the unnamed last column. Copies whose header names
  ``filename,path`` are read too; ``videos.attrs["layout"]`` says which header a file had. The folder's first part
  (``FakeAVCeleb``) is the archive's name and is dropped.
- Methods (``method`` column): ``real``, ``rtvc`` (B), ``faceswap``, ``fsgan``, ``wav2lip`` (C), ``faceswap-wav2lip``,
  ``fsgan-wav2lip``, ``wav2lip`` (D). Fake names such as ``00109_10_id00476_wavtolip.mp4`` (source id00076's clip
  00109 with target id00476) are kept as they are.
- No official split: a test set as a whole, or a seeded split by identity (``source`` and ``target1``) on request.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from deepfakeforensics.indexing._common import IndexResult, LayoutError, iter_videos
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index

#: Category -> (type folder, label of its video; None = left out by default).
CATEGORIES = {
    "A": ("RealVideo-RealAudio", 0),
    "B": ("RealVideo-FakeAudio", None),
    "C": ("FakeVideo-RealAudio", 1),
    "D": ("FakeVideo-FakeAudio", 1),
}
TYPES = {folder: cat for cat, (folder, _) in CATEGORIES.items()}

#: Name of the metadata file in the root.
METADATA = "meta_data.csv"

_ID = re.compile(r"^id\d+$")
_HEADERS = {
    "shifted": "header ends 'path,': file name under 'path', folder in the unnamed last column",
    "filename": "header names 'filename' and 'path'",
}


def read_metadata(path: Path) -> tuple[list[dict[str, str]], str]:
    """Rows of ``meta_data.csv`` as dicts with ``source``, ``target1``, ``method``, ``category``, ``type``,
    ``filename``, ``folder`` (and ``line``), and the header variant found.

    Raises:
        ValueError: a required column is missing or the header is neither known variant (naming the file).
    """
    with open(path, newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    if not table:
        raise ValueError(f"{path}: empty file (expected a header source,target1,target2,method,category,type,...)")
    header = [h.strip().lower() for h in table[0]]
    missing = [c for c in ("source", "target1", "method", "category", "type", "path") if c not in header]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} (header {table[0]})")
    if "filename" in header:
        variant, file_col, folder_col = "filename", header.index("filename"), header.index("path")
    elif header[-1] == "" and header.index("path") == len(header) - 2:
        variant, file_col, folder_col = "shifted", len(header) - 2, len(header) - 1
    else:
        raise ValueError(f"{path}: cannot tell the file name column from the folder column (header {table[0]})")
    rows = []
    for n, values in enumerate(table[1:], 2):
        if not any(v.strip() for v in values):
            continue
        values = values + [""] * (len(header) - len(values))
        row = {c: values[header.index(c)].strip() for c in ("source", "target1", "method", "category", "type")}
        row.update(filename=values[file_col].strip(), folder=values[folder_col].strip(), line=str(n))
        rows.append(row)
    return rows, variant


def _folder(folder: str) -> str:
    """The row's folder relative to the root: from its type folder on (``FakeAVCeleb/`` is the archive's name)."""
    parts = folder.replace("\\", "/").strip("/").split("/")
    for i, p in enumerate(parts):
        if p in TYPES:
            return "/".join(parts[i:])
    return "/".join(parts)


def _check_row(row: dict[str, str]) -> str | None:
    """Why a row cannot be used, or None."""
    cat = row["category"].upper()
    if cat not in CATEGORIES:
        return f"unknown category {row['category']!r} (expected A, B, C or D)"
    if row["type"] != CATEGORIES[cat][0]:
        return f"category {cat} is {CATEGORIES[cat][0]}, but type says {row['type']!r}"
    if not row["filename"] or not _folder(row["folder"]).startswith(row["type"] + "/"):
        return f"folder {row['folder']!r} / file {row['filename']!r} do not lie in the {row['type']}/ folder"
    return None


def _add_rows(draft: IndexDraft, rows: list[dict[str, str]], fake_audio_reals: bool) -> tuple[dict, Counter]:
    """Add the usable rows; returns (video_id -> category, videos left out per category)."""
    category_of: dict[str, str] = {}
    left_out: Counter = Counter()
    for row in rows:
        rel = f"{_folder(row['folder'])}/{row['filename']}"
        problem = _check_row(row)
        if problem:
            draft.fail(draft.root / rel, f"{METADATA} line {row['line']}: {problem}")
            continue
        cat = row["category"].upper()
        label = CATEGORIES[cat][1]
        if label is None and not fake_audio_reals:
            left_out[cat] += 1
            continue
        f = draft.root / rel
        vid = rel.rsplit(".", 1)[0]
        if vid in category_of:
            draft.fail(f, f"{METADATA} line {row['line']}: listed twice: skipped")
            continue
        if not f.is_file():
            draft.fail(f, f"listed in {METADATA} (line {row['line']}) but absent")
            continue
        keys = [k for k in (row["source"], row["target1"]) if _ID.match(k)] or [vid]
        method = "original" if cat == "A" else row["method"] or "fake"
        draft.add(f, vid, 0 if label is None else label, method, keys=keys)
        category_of[vid] = cat
    return category_of, left_out


def _fail_unlisted(draft: IndexDraft, rows: list[dict[str, str]]) -> None:
    """Videos in the type folders that ``meta_data.csv`` does not list are failures (their method is unknown)."""
    listed = {draft.root / _folder(r["folder"]) / r["filename"] for r in rows}
    for folder in TYPES:
        if (draft.root / folder).is_dir():
            for f in iter_videos(draft.root / folder):
                if f not in listed:
                    draft.fail(f, f"not listed in {METADATA}: skipped")


def index_fakeavceleb(
    root: str | os.PathLike,
    ratios: Mapping[str, float] | None = None,
    seed: int = 0,
    fake_audio_reals: bool = False,
) -> IndexResult:
    """Index FakeAVCeleb's video track from ``ROOT/meta_data.csv``: real video = A, fake video = C and D.

    ``video_id`` is the path below the root without extension
    (``FakeVideo-FakeAudio/African/men/id00076/00109_10_id00476_wavtolip``); ``method`` is ``original`` for A and the
    metadata's method for fakes (``faceswap``, ``fsgan``, ``wav2lip``, ``faceswap-wav2lip``, ``fsgan-wav2lip``); the
    extra ``category`` column holds A-D. Category B (real video, cloned voice: an audio fake) is left out and counted
    in one failure row, or indexed as real (``method`` ``rtvc``) with `fake_audio_reals`.

    Groups: identities (union-find) of ``source`` (the person filmed) and ``target1`` (the face or voice put in) when
    they are ``idNNNNN``. Splits: no official split; without `ratios` every video is ``test``, with `ratios` whole
    groups go to one split (seeded).

    Args:
        root: the folder holding ``meta_data.csv`` and the four type folders (``FakeAVCeleb_v1.2/``).
        ratios: shares of a seeded group split; None = everything in test.
        seed: its seed.
        fake_audio_reals: index category B videos as real.

    Returns:
        IndexResult (columns `COLUMNS` + ``category``); ``videos.attrs["layout"]`` names the header variant. Failures
        name bad rows (by line), listed videos that are absent, videos not listed and the category B videos left out.

    Raises:
        LayoutError: no ``meta_data.csv`` in the root.
        ValueError: ``meta_data.csv`` lacks a column or its header is unknown (naming the file).
    """
    root = Path(root)
    meta_file = root / METADATA
    if not meta_file.is_file():
        raise LayoutError(f"{root}: not a FakeAVCeleb root (expected {METADATA} beside RealVideo-RealAudio/ ...)")
    rows, variant = read_metadata(meta_file)
    draft = IndexDraft(root, "fakeavceleb")
    category_of, left_out = _add_rows(draft, rows, fake_audio_reals)
    _fail_unlisted(draft, rows)
    for cat, n in sorted(left_out.items()):
        folder = CATEGORIES[cat][0]
        draft.fail(root / folder, f"{n} category {cat} videos left out: real video with a cloned voice (audio track)")
    groups = assign_groups(draft)
    result = finalise_index(draft, groups, ratios=ratios or {"test": 1.0}, seed=seed)
    result.videos["category"] = result.videos["video_id"].map(category_of)
    result.videos.attrs["layout"] = _HEADERS[variant]
    return result
