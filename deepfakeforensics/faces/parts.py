"""The layout of an extraction's work in progress, and the plan of a run: which videos of an index (or of one shard
of it) are still to do.

For a manifest ``labels/NAME_faces.csv``, each finished video has a part file ``labels/NAME_faces.parts/<key>.csv``
(its manifest rows) with the settings that cut its crops beside it (``<key>.settings.json``); a failed video has
``<key>.failed.csv``; a video being worked on has a claim file (`deepfakeforensics.faces.claims`).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from deepfakeforensics.data.manifest import read_manifest
from deepfakeforensics.faces.claims import CLAIM_SUFFIX

# copied from the index where it has them (scenario: Celeb-DF++; category: FakeAVCeleb), for per-method tables
CARRIED_COLUMNS = ["label", "split", "group", "method", "dataset", "compression", "scenario", "category"]
FAILED_SUFFIX = ".failed.csv"
SETTINGS_SUFFIX = ".settings.json"  # beside a done part: the `ExtractionConfig.to_dict()` that cut its crops
RESUME_HINT = (
    "Free space, fix the quota or permissions (or choose another --out), then rerun the same command: "
    "every video finished so far is kept."
)


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


def settings_part_for(done_part: Path) -> Path:
    """The settings record beside a video's part file: ``<key>.csv`` -> ``<key>.settings.json``."""
    return done_part.with_name(done_part.name.removesuffix(".csv") + SETTINGS_SUFFIX)


def video_key(dataset: str, video_id: str) -> str:
    """Identity of a video across datasets: ``dataset/video_id``."""
    return f"{dataset}/{video_id}"


def shard_of(key: str, n_shards: int) -> int:
    """The shard (0 .. n_shards-1) a video belongs to: a hash stable across processes, machines and index order."""
    return zlib.crc32(key.encode("utf-8")) % n_shards


@dataclass(frozen=True)
class VideoJob:
    """One video to extract: where it is, where its crops and part files go, what its manifest rows carry."""

    key: str  # dataset/video_id
    video_path: Path
    rel_dir: str  # crops folder relative to the crops root: <dataset>/<video_id>
    meta: dict  # video_id and the carried index columns
    parts_dir: Path

    @property
    def _stem(self) -> Path:
        return self.parts_dir / quote(self.key, safe="")

    @property
    def done_part(self) -> Path:
        return self._stem.with_name(self._stem.name + ".csv")

    @property
    def failed_part(self) -> Path:
        return self._stem.with_name(self._stem.name + FAILED_SUFFIX)

    @property
    def settings_part(self) -> Path:
        return settings_part_for(self.done_part)

    @property
    def claim_path(self) -> Path:
        return self._stem.with_name(self._stem.name + CLAIM_SUFFIX)

    def finished(self, out_dir: Path) -> bool:
        """Done (part file and crops folder) or failed in an earlier run."""
        return (self.done_part.exists() and (out_dir / self.rel_dir).is_dir()) or self.failed_part.exists()


def load_index(
    index: str | os.PathLike | pd.DataFrame, faces_csv: str | os.PathLike | None
) -> tuple[pd.DataFrame, Path]:
    """The video index and the manifest path (default beside the index)."""
    if isinstance(index, pd.DataFrame):
        if faces_csv is None:
            raise ValueError("faces_csv is required when the index is a DataFrame")
        return index, Path(faces_csv)
    return read_manifest(index, kind="videos"), Path(faces_csv or faces_csv_for(index))


def plan_videos(
    videos: pd.DataFrame, out_dir: Path, parts_dir: Path, shard: tuple[int, int], retry_failed: bool
) -> list[VideoJob]:
    """The videos of `shard` that are neither done nor (unless `retry_failed`) failed, in index order.

    Raises:
        ValueError: a bad shard, or two videos of the index with the same dataset and video_id.
    """
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"shard {i}/{n}: need 0 <= i < n")
    root = Path(videos.attrs.get("root", "."))
    datasets = videos["dataset"].astype(str) if "dataset" in videos.columns else pd.Series("videos", videos.index)
    keys = pd.Series([video_key(d, v) for d, v in zip(datasets, videos["video_id"].astype(str), strict=True)])
    duplicated = keys[keys.duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"index has duplicate dataset/video_id: {duplicated[:5]}")
    carried = [c for c in CARRIED_COLUMNS if c in videos.columns]
    jobs = []
    for row, key, dataset in zip(videos.itertuples(index=False), keys, datasets, strict=True):
        if shard_of(key, n) != i:
            continue
        meta = {"video_id": str(row.video_id), **{c: getattr(row, c) for c in carried}}
        job = VideoJob(key, root / str(row.path), f"{dataset}/{row.video_id}", meta, parts_dir)
        if retry_failed:
            job.failed_part.unlink(missing_ok=True)
        if not job.finished(out_dir):
            jobs.append(job)
    return jobs


def done_parts(parts_dir: Path) -> list[Path]:
    """The part files of finished videos, sorted (failed videos' part files excluded)."""
    return sorted(p for p in parts_dir.glob("*.csv") if not p.name.endswith(FAILED_SUFFIX))
