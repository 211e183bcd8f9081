"""Video indexes of deepfake datasets: one row per video with its label, group and leak-free split.

Every indexer returns an `IndexResult` (``videos`` DataFrame with columns `COLUMNS`, ``failures`` list of
``(path, reason)``); `index_dataset` picks one by name.

Every indexer runs the same steps (`_pipeline`): discover the videos of its layout into an ``IndexDraft`` (rows,
identity keys, failures), `assign_groups`, read the dataset's official split files, `finalise_index`; a dataset module
only knows its own layout and naming.

Shared rules: ``label`` 1 = fake; ``path`` is relative to the root (``videos.attrs["root"]``); ``video_id`` is unique
within an index; ``group`` joins every video that shares a person or a source clip (union-find, named by its smallest
member), and a group never spans two splits (checked in code, `SplitLeakError` names the group). Seeded splits assign
whole groups, largest first, after a seeded shuffle (`group_split`). Zero-byte video files are indexed like any other:
face extraction reports them as unreadable.

Example:
    >>> from deepfakeforensics.indexing import index_dataset  # doctest: +SKIP
    >>> result = index_dataset("/data/FaceForensics++", "ffpp", compressions=["c23"])  # doctest: +SKIP
    >>> result.videos.groupby("split").size()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable

from deepfakeforensics.indexing._common import COLUMNS, IndexResult, LayoutError, SplitLeakError
from deepfakeforensics.indexing.celebdf import index_celebdf
from deepfakeforensics.indexing.celebdfpp import index_celebdfpp
from deepfakeforensics.indexing.deeperforensics import index_deeperforensics
from deepfakeforensics.indexing.df40 import index_df40
from deepfakeforensics.indexing.dfd import index_dfd
from deepfakeforensics.indexing.dfdc import index_dfdc
from deepfakeforensics.indexing.dfdcp import index_dfdcp
from deepfakeforensics.indexing.fakeavceleb import index_fakeavceleb
from deepfakeforensics.indexing.ffiw import index_ffiw
from deepfakeforensics.indexing.ffpp import index_ffpp
from deepfakeforensics.indexing.folder import index_folder
from deepfakeforensics.indexing.splits import DEFAULT_RATIOS, check_group_splits, group_split, split_summary
from deepfakeforensics.indexing.wilddeepfake import index_wilddeepfake

#: Dataset name -> indexer; `index_dataset` and ``dff index --dataset`` accept these names.
INDEXERS: dict[str, Callable[..., IndexResult]] = {
    "ffpp": index_ffpp,
    "celebdf": index_celebdf,
    "deeperforensics": index_deeperforensics,
    "dfdc": index_dfdc,
    "folder": index_folder,
    "dfd": index_dfd,
    "dfdcp": index_dfdcp,
    "ffiw": index_ffiw,
    "celebdfpp": index_celebdfpp,
    "fakeavceleb": index_fakeavceleb,
    "wilddeepfake": index_wilddeepfake,
    "df40": index_df40,
}


def index_dataset(root: str | os.PathLike, dataset: str, **options: object) -> IndexResult:
    """Index the dataset at `root` with the indexer named `dataset` (a key of `INDEXERS`), passing `options` on."""
    try:
        indexer = INDEXERS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(INDEXERS)}") from None
    return indexer(root, **options)


__all__ = [
    "COLUMNS",
    "DEFAULT_RATIOS",
    "INDEXERS",
    "IndexResult",
    "LayoutError",
    "SplitLeakError",
    "check_group_splits",
    "group_split",
    "index_celebdf",
    "index_celebdfpp",
    "index_dataset",
    "index_deeperforensics",
    "index_dfd",
    "index_dfdc",
    "index_dfdcp",
    "index_fakeavceleb",
    "index_ffiw",
    "index_ffpp",
    "index_folder",
    "split_summary",
]
