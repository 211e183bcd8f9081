"""Reading face crops strictly, and finding the ones that cannot be read, naming each file and the reason.

A crop that cannot be read is never served under another item's name: the datasets (`deepfakeforensics.data.datasets`)
refuse or drop it by these rules, and `check_crop_files` reports every problem of a run's crops at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from deepfakeforensics.data.manifest import PathEscapeError, resolve_inside
from deepfakeforensics.errors import DFFError
from deepfakeforensics.faces.crop import jpeg_header_problem, read_jpeg_strict

PROBLEM_COLUMNS = ["path", "reason"]
#: Files named in the message of a `CropReadError` that lists several (all are in its ``problems`` table).
SHOWN_PROBLEMS = 20


class CropReadError(DFFError, OSError):
    """Face crops listed in the manifest that are missing or cannot be decoded; the message names the files.

    Attributes:
        path: the (first) file, when known.
        reason: why it cannot be read, when known.
        problems: every bad file (columns path, reason), for an error about several (`verify_crops`).
    """

    def __init__(
        self, message: str, path: str | None = None, reason: str | None = None, problems: pd.DataFrame | None = None
    ) -> None:
        super().__init__(message)
        self.path, self.reason = path, reason
        self.problems = problems if problems is not None else pd.DataFrame(columns=PROBLEM_COLUMNS)

    def __reduce__(self) -> tuple:  # picklable across DataLoader workers, attributes included
        return type(self), (str(self), self.path, self.reason, self.problems)


def read_crop(path: str | os.PathLike) -> np.ndarray:
    """Decode a face crop to an RGB ``uint8`` array (H, W, 3); raises `CropReadError` naming the file.

    Corrupt JPEG data counts as unreadable, even where a lenient decoder would return broken pixels.
    """
    try:
        return read_jpeg_strict(path)
    except ValueError as e:
        reason = str(e).removeprefix(f"{path}: image ")
        raise CropReadError(f"face crop {e}", path=str(path), reason=reason) from None


def crop_problem(path: str | os.PathLike, decode: bool = False) -> str | None:
    """Why the crop at `path` cannot be read (missing, empty, bad header, truncated; corrupt data with `decode`).

    None when it looks sound. Without `decode` only the header is parsed (a few hundredths of a millisecond).
    """
    reason = jpeg_header_problem(path)
    if reason is not None or not decode:
        return reason
    try:
        read_crop(path)
    except CropReadError as e:
        return e.reason
    return None


def screen_crops(root: Path, rels: Sequence[str], decode: bool) -> tuple[list[str | None], list[tuple[str, str]]]:
    """Resolve every crop inside `root` and stat it (and, with `decode`, decode it).

    Returns:
        ``(paths, problems)``: the absolute path of each row (None for a bad one), and ``(path, reason)`` of the bad
        ones: escaping the root (named as listed, never opened), missing, empty, or (with `decode`) undecodable.
    """
    paths: list[str | None] = []
    problems = []
    for rel in rels:
        try:
            path = str(resolve_inside(root, rel))
        except PathEscapeError as e:
            paths.append(None)
            problems.append((str(rel), f"refused: {e}"))
            continue
        try:
            size = os.stat(path).st_size
            reason = "empty (0 bytes)" if size == 0 else (crop_problem(path, decode=True) if decode else None)
        except OSError:
            reason = "missing"
        paths.append(None if reason else path)
        if reason:
            problems.append((path, reason))
    return paths, problems


def check_crop_files(
    paths: Iterable[str], progress: bool = True, decode: bool = False, raise_errors: bool = True
) -> pd.DataFrame:
    """Check each distinct crop of `paths` once (header and end marker; with `decode`, a full strict decode).

    Returns:
        The problems (columns path, reason), empty when every crop is sound.

    Raises:
        CropReadError: with `raise_errors`, naming the first `SHOWN_PROBLEMS` bad files and how many there are;
            its ``problems`` attribute holds them all.
    """
    paths = list(dict.fromkeys(paths))
    problems = []
    for path in tqdm(paths, desc="checking crops", unit="crop", disable=not progress, leave=False):
        reason = crop_problem(path, decode=decode)
        if reason is not None:
            problems.append((path, reason))
    table = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
    if problems and raise_errors:
        shown = "\n  ".join(f"{p}: {r}" for p, r in problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        raise CropReadError(
            f"{len(problems)} of {len(paths)} face crop(s) cannot be read:\n  {shown}{more}",
            problems[0][0],
            problems[0][1],
            table,
        )
    return table
