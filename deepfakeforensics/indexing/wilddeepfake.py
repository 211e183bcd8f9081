"""WildDeepfake (Zi et al., ACM MM 2020): internet face sequences as frame folders, official train/test folders.

Layout, from the dataset's README (github.com/OpenTAI/wild-deepfake, formerly deepfakeinthewild/deepfake-in-the-wild,
"File Structure"): ``deepfake_in_the_wild/{real train,real test,fake train,fake test}/<N>.tar.gz``; "in each tar.gz
file, there will be several folders containing face images, and the images in each folder represent a face sequence.
The image name in the folder represents the frame number it appears in the original video". 7,314 face sequences from
707 videos, no method (they were collected from the internet) and no validation split.

Variants found in the wild, all accepted (the indexer reads the extracted tree; `FOLDERS` are matched with a space,
an underscore or a hyphen, any case):

- the archives extracted in place: ``real_train/<N>/<sequence>/<n>.png`` (the mirrors' names use ``real_train``);
- with the ``real``/``fake`` folder the archives hold: ``real_train/<N>/real/<sequence>/<n>.png``;
- under an ``extracted/`` folder, as a public flattening script expects
  (``real_train/extracted/<N>/<...>/<sequence>/<n>.png``).

``videos.attrs["layout"]`` lists the variants the tree matched (`layout_of`), with their counts (``dff index``
prints it). A "video" here is one face sequence: every folder holding frames directly (`find_frame_folders`), read as a video by
`deepfakeforensics.data.frame_folders` (frames ordered by the number in their names). Its ``video_id`` is the split
folder's canonical name and the path below it without the ``extracted`` level (``fake_test/12/fake/3``); ``method`` is
``wilddeepfake`` for fakes, ``original`` for reals. The frames are face crops already: see the README note on
``dff extract --frames-are-crops``.

Groups: the sequences of one archive ``<N>`` of one split folder share a group (``fake_train/12``): an archive holds
the face sequences of one source video, so they show the same people. Splits: the ``test`` folders are the official
test set; the ``train`` folders are divided into train and val by a seeded split of those groups (the release has no
validation set), so no archive spans train and val.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from deepfakeforensics.data.frame_folders import find_frame_folders
from deepfakeforensics.indexing._common import IndexResult, LayoutError
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index

#: Canonical split folders -> (label, official split); on disk also with a space or hyphen, any case.
FOLDERS = {"real_train": (0, "train"), "fake_train": (1, "train"), "real_test": (0, "test"), "fake_test": (1, "test")}

#: Default shares of the seeded split of the train folders' archives.
TRAIN_VAL = {"train": 0.85, "val": 0.15}

_ARCHIVE = re.compile(r"\.(tar\.gz|tgz|tar)$", re.IGNORECASE)


def _canonical(name: str) -> str | None:
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return key if key in FOLDERS else None


def _split_folders(root: Path) -> dict[str, Path]:
    """Canonical name -> folder for each of the four split folders present under `root`."""
    if not root.is_dir():
        raise LayoutError(f"{root}: not a folder")
    found = {c: d for d in sorted(root.iterdir()) if d.is_dir() and (c := _canonical(d.name))}
    if not found:
        raise LayoutError(
            f"{root}: not a WildDeepfake root (expected folders real_train, fake_train, real_test, fake_test, "
            "their archives extracted inside)"
        )
    return found


def _unextracted(draft: IndexDraft, folder: Path) -> None:
    """Record the archives in `folder` that have no extracted folder beside them."""
    for f in sorted(folder.iterdir()):
        if f.is_file() and _ARCHIVE.search(f.name) and not (folder / _ARCHIVE.sub("", f.name)).is_dir():
            draft.fail(f, f"archive not extracted: extract it in place (tar -xzf {f.name} -C {folder})")


def _add_sequences(draft: IndexDraft, canonical: str, folder: Path) -> None:
    label = FOLDERS[canonical][0]
    _unextracted(draft, folder)
    sequences = find_frame_folders(folder)
    if not sequences:
        draft.fail(folder, "no face sequences (no folder of frames inside)")
    for seq in sequences:
        parts = seq.relative_to(folder).parts
        if parts[:1] == ("extracted",):
            parts = parts[1:]
        if not parts:
            draft.fail(seq, "frames directly in the split folder: expected one folder per face sequence")
            continue
        video_id = "/".join((canonical, *parts))
        draft.add(seq, video_id, label, "wilddeepfake" if label else "original", keys=[f"{canonical}/{parts[0]}"])


def layout_of(path: str) -> str:
    """The shape of a sequence's path (``real_train/<archive>/real/<sequence>``): which variant of the tree it is."""
    folder, *rest = path.split("/")
    if rest[:1] == ["extracted"]:
        folder, rest = f"{folder}/extracted", rest[1:]
    middle = [p if p in ("real", "fake") else "<dir>" for p in rest[1:-1]]
    return "/".join([folder, "<archive>", *middle, "<sequence>"])


def index_wilddeepfake(
    root: str | os.PathLike, ratios: Mapping[str, float] | None = None, seed: int = 0
) -> IndexResult:
    """Index an extracted WildDeepfake tree (see the module docstring for the layouts and rules).

    Args:
        root: the folder holding ``real_train``, ``fake_train``, ``real_test``, ``fake_test`` (any present).
        ratios: train/val shares of the train folders' archives (default 0.85/0.15; a test share is ignored: the
            test set is the official one).
        seed: seed of that split.

    Returns:
        IndexResult; failures name archives not extracted, split folders without sequences and stray frames.

    Raises:
        LayoutError: `root` holds none of the four split folders.
    """
    root = Path(root)
    draft = IndexDraft(root, "wilddeepfake")
    for canonical, folder in _split_folders(root).items():
        _add_sequences(draft, canonical, folder)
    groups = assign_groups(draft)
    official = {r["video_id"]: "test" for r in draft.rows if FOLDERS[r["video_id"].split("/", 1)[0]][1] == "test"}
    shares = {k: v for k, v in (ratios or TRAIN_VAL).items() if k != "test"}
    result = finalise_index(draft, groups, official, ratios=shares, seed=seed, source="WildDeepfake's test folders")
    shapes = Counter(layout_of(p) for p in result.videos["path"])
    result.videos.attrs["layout"] = "; ".join(f"{shape} ({n} sequences)" for shape, n in sorted(shapes.items()))
    return result
