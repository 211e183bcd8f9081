"""Manifests are data, not instructions: reading, validating and writing the CSV tables of videos and face crops.

A manifest is a CSV whose ``path`` column is relative to a root recorded beside it (``NAME.meta.json``), so data can
move. Loading one validates it (`read_manifest`): a wrong type, a text label or a duplicate row is one
`ManifestError` naming the file, the column and the first bad rows, instead of a failure deep inside training. Every
path is resolved inside its root by `resolve_inside`: a row that points elsewhere (``../../etc/passwd``, an absolute
path, a symlink leading out) is refused and never opened. The datasets, evaluation and the server share this rule.

Example:
    >>> faces = read_manifest("labels/ffpp_faces.csv")  # doctest: +SKIP
    >>> faces.attrs["root"], len(faces)  # doctest: +SKIP
    >>> write_manifest(faces[faces["split"] == "test"], "labels/ffpp_test_faces.csv", faces.attrs["root"])  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal

import pandas as pd

from deepfakeforensics._io import load_table, save_table
from deepfakeforensics.errors import DFFError

#: Rows shown in a validation error, per problem.
SHOWN_ROWS = 5


class ManifestError(DFFError, ValueError):
    """A manifest that does not hold what its kind requires; the message names the file, the column and the rows.

    Attributes:
        source: the file (or a description of the table).
        problems: one line per problem found (every column is checked before raising).
    """

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: invalid manifest: " + "; ".join(self.problems))


class PathEscapeError(DFFError, ValueError):
    """A path listed in a manifest that leads outside its root (the message names both)."""


@dataclass(frozen=True)
class _Kind:
    required: tuple[str, ...]
    integers: tuple[str, ...]
    key: tuple[str, ...]


_KINDS = {
    "faces": _Kind(("video_id", "track", "frame", "path", "label"), ("track", "frame"), ("video_id", "track", "frame")),
    "videos": _Kind(("video_id", "path", "label"), (), ("video_id",)),
}


def resolve_inside(root: str | os.PathLike, rel: str | os.PathLike) -> Path:
    """The absolute, symlink-free path of `rel` under `root`; raises `PathEscapeError` if it leads outside `root`.

    Refused: absolute paths, ``..`` that climbs out, and any symlink (of a folder or of the file) whose target is
    outside `root`. The file need not exist. `root` itself may be a symlink: it is resolved first.
    """
    rel_path = PurePath(rel)
    if str(rel).strip() == "" or rel_path.is_absolute() or rel_path.drive:
        raise PathEscapeError(f"{rel!s}: not a relative path under the root {root!s}")
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / rel_path))
    if not target.is_relative_to(real_root):
        raise PathEscapeError(f"{rel!s}: leads outside the root {real_root} (to {target})")
    return target


def _rows_label(df: pd.DataFrame, mask: pd.Series, csv_lines: bool) -> str:
    index = df.index[mask.to_numpy()]
    shown = [f"{i + 2}" if csv_lines else f"{i}" for i in index[:SHOWN_ROWS]]
    more = f" (+{len(index) - SHOWN_ROWS} more)" if len(index) > SHOWN_ROWS else ""
    noun = ("line" if csv_lines else "row") + ("s" if len(index) > 1 else "")
    return f"{noun} {', '.join(shown)}{more}"


def _values(series: pd.Series, mask: pd.Series) -> str:
    return ", ".join(repr(v) for v in series[mask.to_numpy()].head(SHOWN_ROWS).tolist())


def _column_problems(df: pd.DataFrame, kind: _Kind, csv_lines: bool) -> list[str]:
    """One line per column holding a value of the wrong type or range."""
    problems = []
    for col in ("video_id", "path"):
        bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if bad.any():
            problems.append(f"column {col!r}: empty at {_rows_label(df, bad, csv_lines)}")
    for col in kind.integers:
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | (num % 1 != 0) | (num < 0)
        if bad.any():
            problems.append(
                f"column {col!r} needs integers >= 0, got {_values(df[col], bad)} at {_rows_label(df, bad, csv_lines)}"
            )
    label = pd.to_numeric(df["label"], errors="coerce")
    bad = ~label.isin([0, 1])
    if bad.any():
        problems.append(
            f"column 'label' needs 0 (real) or 1 (fake), got {_values(df['label'], bad)} at "
            f"{_rows_label(df, bad, csv_lines)}"
        )
    return problems


def validate_manifest(
    df: pd.DataFrame, kind: Literal["faces", "videos"] = "faces", source: str | None = None, csv_lines: bool = False
) -> pd.DataFrame:
    """Check a manifest's columns, types, labels and keys; return it with clean dtypes, or raise `ManifestError`.

    Args:
        df: the table (``attrs`` are kept).
        kind: ``"faces"`` (a face crop per row, key ``video_id, track, frame``) or ``"videos"`` (a video per row).
        source: the file named in the error (default ``df.attrs["source"]``).
        csv_lines: name bad rows by their line in the CSV (header = line 1) instead of their index.

    Returns:
        A copy with ``video_id`` and ``path`` as str, ``label`` (and ``track``, ``frame``) as int64.
    """
    spec = _KINDS[kind]
    source = source or str(df.attrs.get("source", f"{kind} table"))
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        raise ManifestError(source, [f"missing column(s) {missing} (has {list(df.columns)})"])
    problems = _column_problems(df, spec, csv_lines)
    if not problems:
        dup = df.duplicated(list(spec.key), keep="first")
        if dup.any():
            problems.append(f"duplicate ({', '.join(spec.key)}) at {_rows_label(df, dup, csv_lines)}")
    if problems:
        raise ManifestError(source, problems)
    out = df.copy()
    out.attrs = dict(df.attrs)
    out["video_id"] = out["video_id"].astype(str)
    out["path"] = out["path"].astype(str)
    for col in ("label", *spec.integers):
        out[col] = pd.to_numeric(out[col]).astype("int64")
    return out


def read_manifest(
    path: str | os.PathLike, root: str | os.PathLike | None = None, kind: Literal["faces", "videos"] = "faces"
) -> pd.DataFrame:
    """Load and validate a manifest written by `write_manifest` (or by ``dff index`` / ``dff extract``).

    Args:
        path: the CSV file.
        root: overrides the recorded root (the data moved on its own).
        kind: ``"faces"`` (``labels/NAME_faces.csv``) or ``"videos"`` (``labels/NAME.csv``).

    Returns:
        The table; ``attrs["root"]`` is the absolute root its paths are relative to, ``attrs["source"]`` the file.

    Raises:
        FileNotFoundError: no such file.
        ManifestError: wrong columns, types, labels or duplicate keys (every problem, with CSV line numbers).
    """
    df = load_table(path, root=root)
    df.attrs["source"] = str(path)
    return validate_manifest(df, kind, str(path), csv_lines=isinstance(df.index, pd.RangeIndex))


def write_manifest(df: pd.DataFrame, path: str | os.PathLike, root: str | os.PathLike, **meta: object) -> None:
    """Write a table whose ``path`` column is relative to `root` (atomically), and record `root` beside it.

    `meta` (plain data) is stored with the root and comes back in ``attrs`` from `read_manifest`.
    """
    save_table(df, path, root, **meta)
