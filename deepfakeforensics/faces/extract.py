"""Face extraction over a video index: crops on disk, a faces manifest, resumable and shardable.

Layout, for an index ``labels/NAME.csv`` and crops folder ``extracted/``:

- crops: ``extracted/<dataset>/<video_id>/<track>_<frame>.jpg`` (RGB colours of the source frame);
- manifest: ``labels/NAME_faces.csv`` (one row per crop, paths relative to ``extracted/``, root in the sidecar);
- failures: ``labels/NAME_faces_failures.csv`` (path, reason);
- work in progress: ``labels/NAME_faces.parts/`` (one small CSV per finished video, from any shard).

A video's crops are written into a hidden temporary folder that is renamed into place when complete; only then is
its part file written (atomically). A rerun skips videos whose part file and folder exist and redoes the rest, so a
run killed at any moment loses nothing finished and leaves no half-written crop folder or manifest behind. Shards
(``shard=(i, n)``) take the videos whose stable hash is i modulo n; every run merges all part files it finds into the
manifest, and `merge_parts` does it on its own once every shard has finished.
"""

from __future__ import annotations

import os
import shutil
import zlib
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from deepfakeforensics import _io
from deepfakeforensics.faces.crop import write_jpeg
from deepfakeforensics.faces.finder import FaceFinder
from deepfakeforensics.faces.stream import ExtractionConfig, iter_face_crops
from deepfakeforensics.video import VideoError

MANIFEST_COLUMNS = ["video_id", "track", "frame", "path", "x0", "y0", "x1", "y1", "prob", "detected"]
CARRIED_COLUMNS = ["label", "split", "group", "method", "dataset", "compression"]  # copied from the index
FAILED_SUFFIX = ".failed.csv"


def faces_csv_for(index_csv: str | os.PathLike) -> Path:
    """Default manifest path beside an index: ``labels/NAME.csv`` -> ``labels/NAME_faces.csv``."""
    index_csv = Path(index_csv)
    return index_csv.with_name(index_csv.stem + "_faces.csv")


def failures_csv_for(faces_csv: str | os.PathLike) -> Path:
    """``labels/NAME_faces.csv`` -> ``labels/NAME_faces_failures.csv``."""
    faces_csv = Path(faces_csv)
    return faces_csv.with_name(faces_csv.stem + "_failures.csv")


def parts_dir_for(faces_csv: str | os.PathLike) -> Path:
    """``labels/NAME_faces.csv`` -> ``labels/NAME_faces.parts/`` (per-video results before merging)."""
    faces_csv = Path(faces_csv)
    return faces_csv.with_name(faces_csv.stem + ".parts")


def video_key(dataset: str, video_id: str) -> str:
    """Identity of a video across datasets: ``dataset/video_id``."""
    return f"{dataset}/{video_id}"


def shard_of(key: str, n_shards: int) -> int:
    """The shard (0 .. n_shards-1) a video belongs to: a hash stable across processes, machines and index order."""
    return zlib.crc32(key.encode("utf-8")) % n_shards


def _part_paths(parts_dir: Path, key: str) -> tuple[Path, Path]:
    stem = quote(key, safe="")
    return parts_dir / f"{stem}.csv", parts_dir / f"{stem}{FAILED_SUFFIX}"


def _extract_video(
    video_path: Path, out_dir: Path, rel_dir: str, meta: dict, config: ExtractionConfig, finder: FaceFinder
) -> list[dict]:
    """Write one video's crops into a temporary folder, rename it into place, return the manifest rows."""
    final = out_dir / rel_dir
    tmp = final.parent / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rows = []
    try:
        for crop in iter_face_crops(video_path, config, finder):
            name = f"{crop.track}_{crop.frame}.jpg"
            write_jpeg(tmp / name, crop.image, config.jpeg_quality)
            x0, y0, x1, y1 = crop.box
            rows.append(
                {
                    "video_id": meta["video_id"],
                    "track": crop.track,
                    "frame": crop.frame,
                    "path": f"{rel_dir}/{name}",
                    "x0": x0,
                    "y0": y0,
                    "x1": x1,
                    "y1": y1,
                    "prob": crop.prob,
                    "detected": crop.detected,
                    **{k: v for k, v in meta.items() if k != "video_id"},
                }
            )
        if not rows:
            raise VideoError(video_path, "no face found")
        if final.exists():  # left by a run killed between the rename and its part file
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rows


def _read_parts(paths: Iterable[Path]) -> list[pd.DataFrame]:
    return [pd.read_csv(p, dtype={"video_id": str, "group": str, "path": str, "dataset": str}) for p in paths]


def merge_parts(
    faces_csv: str | os.PathLike,
    out_dir: str | os.PathLike,
    failures_csv: str | os.PathLike | None = None,
    **meta: object,
) -> pd.DataFrame:
    """Merge every finished video's part file (from all shards) into the manifest and the failures CSV.

    Returns:
        The manifest, sorted by video and then track and frame, also saved to `faces_csv` with root `out_dir`.
    """
    faces_csv = Path(faces_csv)
    parts_dir = parts_dir_for(faces_csv)
    files = sorted(parts_dir.glob("*.csv")) if parts_dir.is_dir() else []
    done = [p for p in files if not p.name.endswith(FAILED_SUFFIX)]
    failed = [p for p in files if p.name.endswith(FAILED_SUFFIX)]
    frames = _read_parts(done)
    faces = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MANIFEST_COLUMNS)
    order = [c for c in ("dataset", "video_id", "track", "frame") if c in faces.columns]
    faces = faces.sort_values(order, kind="stable").reset_index(drop=True)
    _io.save_table(faces, faces_csv, root=out_dir, **meta)
    faces.attrs.update(meta)
    faces.attrs["root"] = str(Path(out_dir).resolve())  # as `_io.load_table` would return it
    failures = (
        pd.concat(_read_parts(failed), ignore_index=True) if failed else pd.DataFrame(columns=_io.FAILURE_COLUMNS)
    )
    _io.write_csv_atomic(
        failures.sort_values("path").reset_index(drop=True), failures_csv or failures_csv_for(faces_csv)
    )
    return faces


def extract_faces(
    index: str | os.PathLike | pd.DataFrame,
    out_dir: str | os.PathLike,
    config: ExtractionConfig | None = None,
    shard: tuple[int, int] = (0, 1),
    failures_csv: str | os.PathLike | None = None,
    faces_csv: str | os.PathLike | None = None,
    finder: FaceFinder | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Extract the faces of every video of an index (or of one shard of it), resumably.

    Args:
        index: the video index CSV (columns video_id, path, label, dataset, method, compression, group, split; paths
            relative to its recorded root), or such a DataFrame with ``attrs["root"]`` (then `faces_csv` is required).
        out_dir: crops go to ``out_dir/<dataset>/<video_id>/<track>_<frame>.jpg``.
        config: extraction settings (default `ExtractionConfig()`).
        shard: (i, n): process only the videos of shard i of n; all shards share the part files and manifest.
        failures_csv: where (path, reason) rows go; default ``labels/NAME_faces_failures.csv``.
        faces_csv: the manifest; default beside the index, ``labels/NAME_faces.csv``.
        finder: a finder to reuse (default: built from `config` when there is work).
        retry_failed: also redo videos that failed in an earlier run (by default they are reported, not retried).
        progress: show a progress bar over videos.

    Returns:
        The merged manifest (all part files found, from every shard): video_id, track, frame, path, x0, y0, x1, y1,
        prob, detected, label, split, group, method (+ dataset, compression when the index has them).
    """
    from tqdm.auto import tqdm

    config = config or ExtractionConfig()
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"shard {i}/{n}: need 0 <= i < n")
    if isinstance(index, pd.DataFrame):
        if faces_csv is None:
            raise ValueError("faces_csv is required when the index is a DataFrame")
        videos = index
    else:
        videos = _io.load_table(index)
        faces_csv = faces_csv or faces_csv_for(index)
    faces_csv = Path(faces_csv)
    out_dir = Path(out_dir)
    parts_dir = parts_dir_for(faces_csv)
    parts_dir.mkdir(parents=True, exist_ok=True)
    root = Path(videos.attrs.get("root", "."))
    datasets = videos["dataset"].astype(str) if "dataset" in videos.columns else pd.Series("videos", videos.index)
    keys = [video_key(d, v) for d, v in zip(datasets, videos["video_id"].astype(str), strict=True)]
    duplicated = pd.Series(keys)[pd.Series(keys).duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"index has duplicate dataset/video_id: {duplicated[:5]}")

    todo = []
    for row, key, dataset in zip(videos.itertuples(index=False), keys, datasets, strict=True):
        if shard_of(key, n) != i:
            continue
        done_part, failed_part = _part_paths(parts_dir, key)
        rel_dir = f"{dataset}/{row.video_id}"
        if failed_part.exists() and retry_failed:
            failed_part.unlink()
        if (done_part.exists() and (out_dir / rel_dir).is_dir()) or failed_part.exists():
            continue
        todo.append((row, key, rel_dir))

    n_faces = n_failed = 0
    bar = tqdm(todo, desc=f"extract faces{f' [shard {i}/{n}]' if n > 1 else ''}", unit="video", disable=not progress)
    for row, key, rel_dir in bar:
        done_part, failed_part = _part_paths(parts_dir, key)
        video_path = root / str(row.path)
        meta = {"video_id": str(row.video_id)}
        meta.update({c: getattr(row, c) for c in CARRIED_COLUMNS if c in videos.columns})
        try:
            finder = finder or config.make_finder()
            rows = _extract_video(video_path, out_dir, rel_dir, meta, config, finder)
        except Exception as exc:  # one bad file never stops the run
            reason = exc.reason if isinstance(exc, VideoError) else f"{type(exc).__name__}: {exc}"
            _io.write_csv_atomic(pd.DataFrame([(str(video_path), reason)], columns=_io.FAILURE_COLUMNS), failed_part)
            n_failed += 1
        else:
            _io.write_csv_atomic(pd.DataFrame(rows, columns=list(rows[0])), done_part)
            n_faces += len(rows)
        bar.set_postfix(faces=n_faces, failed=n_failed)
    return merge_parts(faces_csv, out_dir, failures_csv, extraction=config.to_dict())
