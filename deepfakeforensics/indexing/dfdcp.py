"""DFDCP (the DFDC preview release): ``dataset.json`` labels and sets, two fake methods, identity groups.

Sources of the rules below:

- ``dataset.json`` maps a path relative to the root to ``{"label": "real"|"fake", "set": "train"|"test", ...}``:
  DeepfakeBench's ``preprocessing/rearrange.py`` (its DFDCP branch reads ``label`` and ``set`` and takes the method
  from the key's first folder) and SBI's ``src/inference/datasets.py`` (``init_dfdcp`` keeps ``set == "test"``,
  fake = ``label == "fake"``).
- Folders: ``original_videos/<id>/<id>_<X>_<NNN>.mp4`` (``original_videos/643049/643049_A_001.mp4``) and
  ``method_{A,B}/<target id>/<target id>_<X>/<source id>_<target id>_<X>_<NNN>.mp4``
  (``method_A/1003254/1003254_A/1255229_1003254_A_001.mp4``): paths quoted in public issues and code (polimi-ispl
  icpr2020dfdc issue 29, DeepfakeBench's and SBI's globs). The fake ``1255229_1003254_A_001`` re-renders the original
  clip ``1003254_A_001`` with the face of person 1255229.
- Two copies circulate: the release's own tree (the keys of ``dataset.json`` are the paths) and SBI's
  ``data/datasets.md`` layout with a ``videos/`` folder under each top folder (``method_A/videos/643049/...``); both
  are accepted, and ``videos.attrs["layout"]`` says which one the tree matched.
- The preview has no validation set (DeepfakeBench copies its test set into val, choosing on test): here the train set
  is split into train/val by group, and test is the ``set == "test"`` videos.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from deepfakeforensics.indexing._common import IndexResult, LayoutError, iter_videos
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index

#: Default shares of the seeded split of the ``train`` set (the test set comes from ``dataset.json``).
DFDCP_RATIOS: Mapping[str, float] = {"train": 0.85, "val": 0.15}

#: Name of the metadata file in the root.
METADATA = "dataset.json"

#: Top folder of the real videos; fakes are under ``method_*`` folders (``method`` = the folder name).
REAL_FOLDER = "original_videos"

_LABELS = {"real": 0, "fake": 1}
_SETS = {"train", "val", "test"}
_FAKE_NAME = re.compile(r"^(\d+)_(\d+)_")  # 1255229_1003254_A_001: source 1255229, target 1003254
_LAYOUTS = {"as listed": "dataset.json paths as listed", "videos/": "a videos/ folder under each top folder (SBI)"}

Leak = Literal["drop", "test", "error"]


def read_dataset_json(path: Path) -> dict[str, dict]:
    """The ``dataset.json`` object: relative path -> entry.

    Raises:
        ValueError: the file is not JSON or not an object of objects (naming the file).
    """
    try:
        meta = json.loads(Path(path).read_text())
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict) or not all(isinstance(v, dict) for v in meta.values()):
        raise ValueError(f'{path}: expected a JSON object {{"<folder>/.../x.mp4": {{"label": ..., "set": ...}}, ...}}')
    return meta


def _method(top: str) -> tuple[str, int] | None:
    """(method, label) of a top folder, or None when it is neither ``original_videos`` nor ``method_*``."""
    if top == REAL_FOLDER:
        return "original", 0
    return (top, 1) if top.startswith("method_") else None


def _keys(parts: tuple[str, ...], label: int) -> list[str]:
    """Person keys: the id folder under the top folder (the target of a fake) and a fake's source id."""
    ids = [p for p in parts[1:-1] if p.isdigit()][:1]
    m = _FAKE_NAME.match(Path(parts[-1]).stem) if label else None
    if m is not None:
        ids += [m.group(1), m.group(2)]
    return sorted({f"p{i}" for i in ids})


def _resolve(root: Path, key: str) -> tuple[Path, str] | None:
    """The file a ``dataset.json`` key names and the layout variant it matched, or None when absent."""
    listed = root / key
    if listed.is_file():
        return listed, "as listed"
    top, _, rest = key.partition("/")
    nested = root / top / "videos" / rest
    return (nested, "videos/") if rest and nested.is_file() else None


def _check_entry(info: dict, folder_label: int) -> tuple[str | None, str | None]:
    """(set, problem): the entry's set, or a reason it cannot be used; a label the folder contradicts is a problem
    reported beside the video, not a reason to drop it (the folder's label is kept)."""
    label = _LABELS.get(str(info.get("label", "")).strip().lower())
    split = str(info.get("set", "")).strip().lower()
    if label is None:
        return None, f"unknown label {info.get('label')!r} in {METADATA} (expected 'real' or 'fake')"
    if split not in _SETS:
        return None, f"unknown set {info.get('set')!r} in {METADATA} (expected 'train' or 'test')"
    if label != folder_label:
        return split, f"{METADATA} says {'fake' if label else 'real'}, folder says otherwise: kept the folder's label"
    return split, None


def _add_listed(draft: IndexDraft, meta: dict[str, dict]) -> tuple[dict[str, str], Counter]:
    """Add every usable video ``dataset.json`` lists; returns (video_id -> ``"test"``, layout variants matched)."""
    official: dict[str, str] = {}
    layouts: Counter = Counter()
    for key, info in sorted(meta.items()):
        key = key.replace("\\", "/").lstrip("/")
        parts = tuple(key.split("/"))
        kind = _method(parts[0])
        if kind is None or len(parts) < 2:
            draft.fail(
                draft.root / key, f"unknown folder {parts[0]!r} in {METADATA} (expected original_videos/ or method_*/)"
            )
            continue
        method, label = kind
        split, problem = _check_entry(info, label)
        if split is None:
            draft.fail(draft.root / key, problem)
            continue
        found = _resolve(draft.root, key)
        if found is None:
            draft.fail(draft.root / key, f"listed in {METADATA} but absent")
            continue
        if problem:
            draft.fail(found[0], problem)
        layouts[found[1]] += 1
        vid = key.rsplit(".", 1)[0]
        draft.add(found[0], vid, label, method, keys=_keys(parts, label) or [vid])
        if split == "test":
            official[vid] = "test"
    return official, layouts


def _fail_unlisted(draft: IndexDraft, meta: dict[str, dict]) -> None:
    """Videos under the top folders that ``dataset.json`` does not list are failures (their label is unknown)."""
    listed = {k.replace("\\", "/").lstrip("/") for k in meta}
    for top in sorted(p for p in draft.root.iterdir() if p.is_dir() and _method(p.name)):
        for f in iter_videos(top):
            rel = f.relative_to(draft.root).parts
            flat = "/".join(rel[:1] + rel[2:]) if len(rel) > 2 and rel[1] == "videos" else "/".join(rel)
            if flat not in listed and "/".join(rel) not in listed:
                draft.fail(f, f"not listed in {METADATA}: skipped (label and set unknown)")


def index_dfdcp(
    root: str | os.PathLike,
    ratios: Mapping[str, float] = DFDCP_RATIOS,
    seed: int = 0,
    leak: Leak = "drop",
) -> IndexResult:
    """Index the DFDC preview (DFDCP): the videos ``ROOT/dataset.json`` lists, with their label and set.

    ``video_id`` is the ``dataset.json`` key without its extension (``method_A/1003254/1003254_A/1255229_1003254_A_001``);
    ``method`` is ``original`` for reals and the fake's top folder (``method_A``, ``method_B``) for fakes, so
    per-method tables compare the two. A label that contradicts the folder is reported and the folder's label kept.

    Groups: persons (union-find): a real joins its id folder (``p643049``), a fake joins its target (the id folder,
    whose clip it re-renders) and its source face (the first number of its name). Names that fit no pattern keep the
    id folder only.

    Splits: ``set == "test"`` is test; the ``train`` set is split into train/val by group with `ratios` (the preview
    has no validation set; a ``val`` entry, which the release does not use, counts as train). A train video whose group has test videos follows `leak`: ``"drop"`` (default) removes it
    and reports it, ``"test"`` moves it into test, ``"error"`` raises naming the group.

    Args:
        root: the DFDCP root (``dfdc_preview_set/``, holding ``dataset.json``).
        ratios: shares of the seeded split of the train set.
        seed: its seed.
        leak: see above.

    Returns:
        IndexResult; ``videos.attrs["layout"]`` names the layout variant matched. Failures name entries with unknown
        labels, sets or folders, listed videos that are absent, label disagreements and videos not listed.

    Raises:
        LayoutError: no ``dataset.json`` in the root.
        ValueError: ``dataset.json`` is not a JSON object of entries (naming the file).
    """
    root = Path(root)
    if leak not in ("drop", "test", "error"):
        raise ValueError(f"leak must be 'drop', 'test' or 'error', got {leak!r}")
    meta_file = root / METADATA
    if not meta_file.is_file():
        raise LayoutError(
            f"{root}: not a DFDCP root (expected {METADATA} beside original_videos/, method_A/, method_B/)"
        )
    draft = IndexDraft(root, "dfdcp")
    meta = read_dataset_json(meta_file)
    official, layouts = _add_listed(draft, meta)
    _fail_unlisted(draft, meta)
    groups = assign_groups(draft)
    unlisted = {"drop": "drop", "test": "inherit", "error": "error"}[leak]
    shares = {k: v for k, v in ratios.items() if k != "test"}
    result = finalise_index(
        draft, groups, official, ratios=shares, seed=seed, unlisted=unlisted, source=f"test set of {METADATA}"
    )
    result.videos.attrs["layout"] = " + ".join(_LAYOUTS[k] for k in sorted(layouts)) or "no listed video found"
    return result
