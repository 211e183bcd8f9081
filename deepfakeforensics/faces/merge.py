"""Merging the part files of every run and shard of an extraction into its faces manifest and failures table."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from deepfakeforensics import _io
from deepfakeforensics.errors import output_errors
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS
from deepfakeforensics.faces.extraction_settings import read_part_settings, settings_for_manifest
from deepfakeforensics.faces.parts import FAILED_SUFFIX, RESUME_HINT, done_parts, failures_csv_for, parts_dir_for

try:
    import fcntl
except ImportError:  # not POSIX: merges are not serialised
    fcntl = None

MANIFEST_COLUMNS = ["video_id", "track", "frame", "path", "x0", "y0", "x1", "y1", "prob", "detected", *LANDMARK_COLUMNS]


def _read_parts(paths: Iterable[Path]) -> list[pd.DataFrame]:
    return [pd.read_csv(p, dtype={"video_id": str, "group": str, "path": str, "dataset": str}) for p in paths]


@contextlib.contextmanager
def _merge_lock(parts_dir: Path) -> Iterator[None]:
    """Serialise merges of concurrent runs, so the manifest written last was also read last (holds all parts)."""
    if fcntl is None:
        yield
        return
    with open(parts_dir / ".merge.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _merged_table(paths: list[Path], columns: list[str], order: list[str]) -> pd.DataFrame:
    frames = _read_parts(paths)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    if "aligned" in table.columns:  # parts of a plain extraction resumed with --align: their crops are plain
        table["aligned"] = table["aligned"].fillna(0).astype(int)
    return table.sort_values([c for c in order if c in table.columns], kind="stable").reset_index(drop=True)


def merge_parts(
    faces_csv: str | os.PathLike,
    out_dir: str | os.PathLike,
    failures_csv: str | os.PathLike | None = None,
    extraction: dict | None = None,
    **meta: object,
) -> pd.DataFrame:
    """Merge every finished video's part file (from all runs and shards) into the manifest and the failures CSV.

    Args:
        faces_csv: the manifest to write; its part files are in `parts_dir_for` (`faces_csv`).
        out_dir: the crops folder (the manifest's root).
        failures_csv: default ``labels/NAME_faces_failures.csv``.
        extraction: settings to record when no finished video has its settings recorded (parts of older versions).
        meta: more entries for the manifest's sidecar.

    Returns:
        The manifest, sorted by video and then track and frame, also saved to `faces_csv` with root `out_dir`.
        ``attrs`` holds ``extraction`` (the settings recorded beside the videos' part files, see
        `settings_for_manifest`; ``extraction_varies`` lists non-crop settings that differ between videos, when
        any), ``failures_csv`` (its path) and ``n_failed`` (videos listed there); the sidecar keeps the first two.

    Raises:
        MixedExtractionError: the videos were cut with different crop settings (margin, crop size, alignment,
            profile).
        OutputError: the manifest or the failures table cannot be written (the message names the file).
    """
    faces_csv = Path(faces_csv)
    failures_csv = Path(failures_csv or failures_csv_for(faces_csv))
    parts_dir = parts_dir_for(faces_csv)
    with output_errors(parts_dir, "create the folder of part files", RESUME_HINT, any_os_error=True):
        parts_dir.mkdir(parents=True, exist_ok=True)
    with _merge_lock(parts_dir):
        failed = sorted(parts_dir.glob(f"*{FAILED_SUFFIX}"))
        done = done_parts(parts_dir)
        settings, varies = settings_for_manifest(read_part_settings(done), parts_dir, extraction)
        if settings is not None:
            meta["extraction"] = settings
        if varies:
            meta["extraction_varies"] = varies
        faces = _merged_table(done, MANIFEST_COLUMNS, ["dataset", *MANIFEST_COLUMNS[:3]])
        failures = _merged_table(failed, _io.FAILURE_COLUMNS, ["path"])
        with output_errors(faces_csv, "write the faces manifest", RESUME_HINT, any_os_error=True):
            _io.save_table(faces, faces_csv, root=out_dir, **meta)
        with output_errors(failures_csv, "write the failures table", RESUME_HINT, any_os_error=True):
            _io.write_csv_atomic(failures, failures_csv)
    faces.attrs.update(meta)
    faces.attrs["root"] = str(Path(out_dir).resolve())  # as `_io.load_table` would return it
    faces.attrs.update(failures_csv=str(failures_csv), n_failed=len(failures))
    return faces
