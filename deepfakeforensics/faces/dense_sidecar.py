"""The dense landmarks sidecar of a faces manifest: ``labels/NAME_faces.csv`` -> ``labels/NAME_faces_landmarks68.npz``.

``dff landmarks labels/NAME_faces.csv`` (or `write_dense_landmarks`) fits dlib's 68 points (``dense``) on every crop of
a manifest and writes them beside it (resumable, atomic); `read_dense_landmarks` gives them back row by row, checking
that the file belongs to that manifest.

Belonging is checked twice: by each row's identity (video_id, track, frame, crop path), and by the five MTCNN points
the row had when it was fitted, stored in the sidecar. A re-extraction with other settings (another margin, ``--align``)
keeps the identities but moves the face inside the crop, and so the five points: a row whose points moved by more than
`STALE_TOLERANCE_PX` is stale (`read_dense_landmarks` raises, `write_dense_landmarks` refits it). Sidecars written
before the points were stored cannot be checked that way (a warning says so once per file).
Example:
    >>> run = write_dense_landmarks("labels/ffpp_faces.csv")  # doctest: +SKIP
    >>> points = read_dense_landmarks(read_manifest("labels/ffpp_faces.csv"))  # (n, 68, 2), NaN where absent
"""

from __future__ import annotations

import logging
import os
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from deepfakeforensics._io import atomic_path
from deepfakeforensics.data.manifest import PathEscapeError, read_manifest, resolve_inside
from deepfakeforensics.errors import DFFError, output_errors
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, read_jpeg_strict
from deepfakeforensics.faces.dense import N_DENSE, DenseLandmarker, face_box_in_crop

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = "_landmarks68.npz"
#: New faces between two atomic saves of the sidecar, so that an interrupted run keeps its work.
CHECKPOINT_EVERY = 2000
PENDING, DONE, UNREADABLE = 0, 1, 2
KEY_COLUMNS = ["video_id", "track", "frame", "path"]
#: A row whose five MTCNN points moved by more than this (crop pixels, either axis) since it was fitted is stale.
STALE_TOLERANCE_PX = 1.0
_warned_unchecked: set[str] = set()  # sidecars without stored five points, warned about once per process


class StaleLandmarksError(DFFError, ValueError):
    """A dense landmarks file that does not belong to the faces manifest it is read with (it names the file)."""


def dense_landmarks_path(faces_csv: str | os.PathLike) -> Path:
    """The sidecar of a faces manifest: ``labels/NAME_faces.csv`` -> ``labels/NAME_faces_landmarks68.npz``."""
    faces_csv = Path(faces_csv)
    return faces_csv.with_name(faces_csv.stem + SIDECAR_SUFFIX)


def _keys(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The identity of each row, stored with its points: video_id, track, frame and crop path."""
    return {
        "video_id": df["video_id"].astype(str).to_numpy(dtype=str),
        "track": df["track"].to_numpy(np.int64),
        "frame": df["frame"].to_numpy(np.int64),
        "path": df["path"].astype(str).to_numpy(dtype=str),
    }


def _five_points(df: pd.DataFrame) -> np.ndarray | None:
    """Each row's five MTCNN points (n, 5, 2) float32 in crop pixels (NaN where absent); None without the columns."""
    if not set(LANDMARK_COLUMNS) <= set(df.columns):
        return None
    return df[LANDMARK_COLUMNS].to_numpy(np.float32).reshape(-1, 5, 2)


def _moved(stored: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Per row, whether the five points differ by more than `STALE_TOLERANCE_PX` (NaN only matches NaN)."""
    both_nan = np.isnan(stored) & np.isnan(current)
    close = np.abs(stored.astype(np.float64) - current) <= STALE_TOLERANCE_PX  # False where either is NaN
    return ~(close | both_nan).all(axis=(1, 2))


def _stale_rows(path: Path, arrays: dict[str, np.ndarray], rows: np.ndarray, df: pd.DataFrame) -> np.ndarray:
    """Per row of `df` (its sidecar row `rows`, -1 for none), whether its five points moved since it was fitted.

    A sidecar without stored points (written by an older version), or a table without the five-point columns, cannot
    be checked: all False, with a warning once per sidecar.
    """
    current = _five_points(df)
    if "five" not in arrays or current is None:
        if str(path) not in _warned_unchecked:
            _warned_unchecked.add(str(path))
            why = "written by an older version" if "five" not in arrays else "the faces table has no five-point columns"
            log.warning(
                "%s: cannot check that its points were fitted on the current crops (%s); delete it and rerun "
                "`dff landmarks` to be sure",
                path,
                why,
            )
        return np.zeros(len(df), bool)
    found = rows >= 0
    stale = np.zeros(len(df), bool)
    stale[found] = _moved(arrays["five"][rows[found]], current[found])
    return stale


def _load_sidecar(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a sidecar file, checked; a file that is not one raises `StaleLandmarksError` naming it.

    Truncated, empty or corrupt (bad CRC) files, arrays of the wrong shape or dtype, unknown statuses and fitted
    points that are not finite or lie further than `POINT_LIMIT_PX` outside any crop are refused.
    """
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a bare .npy array
            raise ValueError("a single array, not an .npz archive")
        with data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise StaleLandmarksError(
            f"{path}: unreadable dense landmarks file ({type(e).__name__}: {e}); delete it and rerun dff landmarks"
        ) from e
    missing = [k for k in (*KEY_COLUMNS, "points", "status") if k not in arrays]
    if missing:
        raise StaleLandmarksError(f"{path}: not a dense landmarks file (no {missing}); rerun dff landmarks")
    _check_sidecar(path, arrays)
    return arrays


#: Fitted points further than this from a crop's origin (crop pixels, either axis) are not landmarks of that crop.
POINT_LIMIT_PX = 10_000.0


def _check_sidecar(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Shapes, dtypes and ranges of a sidecar's arrays (`StaleLandmarksError` naming the file and the array)."""

    def fail(what: str) -> None:
        raise StaleLandmarksError(f"{path}: damaged dense landmarks file ({what}); delete it and rerun dff landmarks")

    points, status = arrays["points"], arrays["status"]
    n = len(status) if status.ndim == 1 else -1
    if n < 0 or not np.issubdtype(status.dtype, np.integer):
        fail(f"'status' is {status.dtype} of shape {status.shape}, expected integers of shape (n,)")
    if not np.isin(status, (PENDING, DONE, UNREADABLE)).all():
        fail(f"'status' holds values other than {PENDING}, {DONE}, {UNREADABLE}")
    expected = {"points": (n, N_DENSE, 2), "five": (n, 5, 2), "track": (n,), "frame": (n,)}
    for key, shape in expected.items():
        if key in arrays and arrays[key].shape != shape:
            fail(f"{key!r} has shape {arrays[key].shape}, expected {shape}")
    for key in ("points", "five"):
        if key in arrays and not np.issubdtype(arrays[key].dtype, np.floating):
            fail(f"{key!r} is {arrays[key].dtype}, expected floats")
    for key in ("track", "frame"):
        if not np.issubdtype(arrays[key].dtype, np.integer):
            fail(f"{key!r} is {arrays[key].dtype}, expected integers")
    for key in ("video_id", "path"):
        if arrays[key].shape != (n,) or arrays[key].dtype.kind not in "US":
            fail(f"{key!r} is {arrays[key].dtype} of shape {arrays[key].shape}, expected strings of shape ({n},)")
    fitted = points[status == DONE].astype(np.float64)
    bad = ~np.isfinite(fitted) | (np.abs(fitted) > POINT_LIMIT_PX)
    if bad.any():
        row = int(np.flatnonzero(status == DONE)[int(np.flatnonzero(bad.any(axis=(1, 2)))[0])])
        fail(
            f"{int(bad.any(axis=(1, 2)).sum())} fitted rows hold points that are not finite or beyond "
            f"{POINT_LIMIT_PX:g} px, e.g. row {row}: {float(fitted[bad][0])!r}"
        )


def _save_sidecar(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the sidecar atomically (readers never see half a file)."""
    with output_errors(path, "write the dense landmarks", "rerun dff landmarks: it resumes"), atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, **arrays)


def _match_rows(df: pd.DataFrame, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """For each row of `df`, the sidecar row with the same video_id, track, frame and path; -1 where none."""
    stored = pd.DataFrame({k: arrays[k] for k in KEY_COLUMNS})
    stored["_row"] = np.arange(len(stored))
    stored = stored.drop_duplicates(KEY_COLUMNS[:3], keep=False)
    wanted = pd.DataFrame(_keys(df))
    merged = wanted.merge(stored, on=KEY_COLUMNS, how="left", sort=False)
    return merged["_row"].fillna(-1).to_numpy(np.int64)


@dataclass(frozen=True)
class DenseLandmarksRun:
    """What `write_dense_landmarks` did: the file, faces listed / done in all / fitted now / unreadable, time taken."""

    path: Path
    n_faces: int
    n_done: int
    n_new: int
    n_unreadable: int
    seconds: float

    @property
    def ms_per_face(self) -> float:
        """Wall time per face fitted by this run (reading the crop included), in milliseconds."""
        return 1000 * self.seconds / max(self.n_new, 1)


def _fit_row(landmarker: DenseLandmarker, root: Path, row: pd.Series, margin: float) -> np.ndarray | None:
    """The 68 points of one manifest row, or None (logged) when its crop is refused or unreadable."""
    try:
        image = read_jpeg_strict(resolve_inside(root, row["path"]))
    except PathEscapeError as e:
        log.warning("dense landmarks: refused %s", e)
        return None
    except (OSError, ValueError) as e:
        log.warning("dense landmarks: unreadable crop %s (%s): points left NaN", row["path"], e)
        return None
    five = row[LANDMARK_COLUMNS].to_numpy(np.float64).reshape(5, 2) if LANDMARK_COLUMNS[0] in row.index else None
    return landmarker(image, face_box_in_crop(five, image.shape[0], margin))


def _start_arrays(df: pd.DataFrame, path: Path) -> dict[str, np.ndarray]:
    """The sidecar's arrays for `df`: rows fitted by an earlier run on the same crops (same key and path, five points
    within `STALE_TOLERANCE_PX`) kept, others pending; each row's current five points stored."""
    five = _five_points(df)
    arrays = {**_keys(df), "points": np.full((len(df), N_DENSE, 2), np.nan, np.float32)}
    arrays["status"] = np.zeros(len(df), np.int8)
    arrays["five"] = np.full((len(df), 5, 2), np.nan, np.float32) if five is None else five
    if path.is_file():
        old = _load_sidecar(path)
        rows = _match_rows(df, old)
        stale = _stale_rows(path, old, rows, df)
        kept = (rows >= 0) & ~stale
        arrays["points"][kept] = old["points"][rows[kept]]
        arrays["status"][kept] = old["status"][rows[kept]]
        if ((~kept).any() and kept.any()) or stale.any():
            log.info(
                "%s: %d rows kept, %d new or changed (%d re-extracted: five points moved)",
                path,
                int(kept.sum()),
                int((~kept).sum()),
                int(stale.sum()),
            )
    return arrays


def write_dense_landmarks(
    faces_csv: str | os.PathLike,
    landmarker: DenseLandmarker | None = None,
    model_file: str | os.PathLike | None = None,
    limit: int | None = None,
    progress: bool = False,
) -> DenseLandmarksRun:
    """Fit 68 landmarks on every crop of a faces manifest and store them in its sidecar (resumable, atomic).

    Rows fitted by an earlier run on the same crop (same video_id, track, frame and path, and five MTCNN points
    within `STALE_TOLERANCE_PX` of those stored when it was fitted) are kept; rows of a re-extraction whose points
    moved are refitted. A crop refused by `resolve_inside` or unreadable keeps NaN points (logged) and is not
    retried (unless it is re-extracted). The sidecar stores each row's five points for those checks.

    Args:
        faces_csv: the faces manifest (``labels/NAME_faces.csv``).
        landmarker: a loaded predictor (default: ``DenseLandmarker(model_file)``).
        model_file: the model file, when no `landmarker` is given.
        limit: fit at most this many new faces (the rest stay pending for the next run).
        progress: show a progress bar.
    """
    df = read_manifest(faces_csv, kind="faces")
    path = dense_landmarks_path(faces_csv)
    landmarker = landmarker or DenseLandmarker(model_file)
    arrays = _start_arrays(df, path)
    arrays["model"] = np.array(landmarker.model_file.name)
    todo = np.flatnonzero(arrays["status"] == PENDING)[: None if limit is None else max(int(limit), 0)]
    root, margin = Path(df.attrs["root"]), float(df.attrs.get("extraction", {}).get("margin", 1.3))
    start = time.perf_counter()
    for n, i in enumerate(tqdm(todo, desc="dense landmarks", unit="face", disable=not progress), 1):
        points = _fit_row(landmarker, root, df.iloc[i], margin)
        arrays["status"][i] = UNREADABLE if points is None else DONE
        if points is not None:
            arrays["points"][i] = points
        if n % CHECKPOINT_EVERY == 0:
            _save_sidecar(path, arrays)
    seconds = time.perf_counter() - start
    _save_sidecar(path, arrays)
    status = arrays["status"]
    return DenseLandmarksRun(
        path, len(df), int((status == DONE).sum()), len(todo), int((status == UNREADABLE).sum()), seconds
    )


def read_dense_landmarks(
    faces: pd.DataFrame | str | os.PathLike, source: str | os.PathLike | None = None
) -> np.ndarray | None:
    """The 68 points of each row of a faces manifest (any subset, any order), or None when it has no sidecar.

    Args:
        faces: the manifest (a DataFrame from `read_manifest`, which records its file in ``attrs["source"]``), or
            its path.
        source: the manifest's file, when ``faces`` is a DataFrame whose ``attrs`` lost it.

    Returns:
        (n, 68, 2) float32 in crop pixels, rows in `faces`' order; NaN where not fitted (yet) or unreadable.

    Raises:
        StaleLandmarksError: the sidecar lacks a row of `faces` (same video_id, track, frame and path), or a row's
            five MTCNN points moved by more than `STALE_TOLERANCE_PX` since it was fitted (the faces were
            re-extracted, e.g. with another margin or ``--align``): it was written for other crops. The message names
            the file and how many rows changed, and says to rerun ``dff landmarks``.
    """
    if not isinstance(faces, pd.DataFrame):
        source, faces = faces, read_manifest(faces, kind="faces")
    source = source or faces.attrs.get("source")
    if source is None or not dense_landmarks_path(source).is_file():
        return None
    path = dense_landmarks_path(source)
    arrays = _load_sidecar(path)
    rows = _match_rows(faces, arrays)
    if (rows < 0).any():
        first = faces.iloc[int(np.flatnonzero(rows < 0)[0])]
        raise StaleLandmarksError(
            f"{path}: written for another extraction: {int((rows < 0).sum())} of {len(faces)} rows of {source} are "
            f"not in it (e.g. {first['video_id']} track {first['track']} frame {first['frame']} at {first['path']}); "
            "rerun `dff landmarks` on the manifest"
        )
    stale = _stale_rows(path, arrays, rows, faces)
    if stale.any():
        first = faces.iloc[int(np.flatnonzero(stale)[0])]
        raise StaleLandmarksError(
            f"{path}: fitted on other crops: the five-point landmarks of {int(stale.sum())} of {len(faces)} rows of "
            f"{source} moved since (e.g. {first['video_id']} track {first['track']} frame {first['frame']}): the "
            "faces were re-extracted (another margin or --align?); rerun `dff landmarks` on the manifest"
        )
    points = arrays["points"][rows].astype(np.float32)
    points[arrays["status"][rows] != DONE] = np.nan
    return points
