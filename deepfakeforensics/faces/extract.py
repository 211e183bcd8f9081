"""Face extraction over a video index: crops on disk, a faces manifest, resumable, shardable, safe to run twice.

Layout, for an index ``labels/NAME.csv`` and crops folder ``extracted/``:

- crops: ``extracted/<dataset>/<video_id>/<track>_<frame>.jpg`` (RGB colours of the source frame);
- manifest: ``labels/NAME_faces.csv`` (one row per crop, paths relative to ``extracted/``, root in the sidecar);
- failures: ``labels/NAME_faces_failures.csv`` (path, reason);
- work in progress: ``labels/NAME_faces.parts/`` (per finished video, from any run or shard: a small CSV of its rows
  and a JSON of the extraction settings that cut its crops; one claim file per video being worked on).

A run claims a video (`deepfakeforensics.faces.claims`) before working on it, so two runs on one output, or the
shards of a job array, never work on the same video; a claim left by a killed run is taken over. A video's crops are
written into a hidden temporary folder of its own (``.<video_id>.<claim token>.tmp``) that is renamed into place when
complete; only then is its part file written (atomically). A rerun skips videos whose part file and folder exist and
redoes the rest, so a run killed at any moment loses nothing finished and leaves no half-written crop folder or
manifest behind. Shards (``shard=(i, n)``) take the videos whose stable hash is i modulo n; every run merges all part
files it finds into the manifest, and `merge_parts` does it on its own once every run has finished.

The manifest's sidecar records the settings the parts were cut with (``attrs["extraction"]``), read from the parts
themselves, so a ``--merge-only`` merge keeps them too. Parts cut with different crop geometry (`CROP_FIELDS`: margin,
crop size, alignment, crop profile) cannot share one manifest: the merge refuses with a `MixedExtractionError` naming
the settings, and a run asked for other crop settings than the videos already finished in its output refuses before
working. A record without a profile (written before profiles existed) counts as the "default" profile.

A fault of a video (unreadable, no face) is recorded as that video's failure and the run goes on; a fault of the
environment (disk full, quota, permission denied, read-only file system) stops the run with an `OutputError` naming
the path, and the rerun resumes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from deepfakeforensics import _io
from deepfakeforensics.data.manifest import read_manifest
from deepfakeforensics.data.video import VideoError
from deepfakeforensics.errors import DFFError, OutputError, output_errors
from deepfakeforensics.faces.claims import CLAIM_SUFFIX, STALE_AFTER_S, ClaimOwner, VideoClaim, try_claim
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, write_jpeg
from deepfakeforensics.faces.finder import FaceFinder
from deepfakeforensics.faces.stream import ExtractionConfig, FaceCrop, iter_face_crops

try:
    import fcntl
except ImportError:  # not POSIX: merges are not serialised
    fcntl = None

MANIFEST_COLUMNS = ["video_id", "track", "frame", "path", "x0", "y0", "x1", "y1", "prob", "detected", *LANDMARK_COLUMNS]
CARRIED_COLUMNS = ["label", "split", "group", "method", "dataset", "compression"]  # copied from the index
FAILED_SUFFIX = ".failed.csv"
SETTINGS_SUFFIX = ".settings.json"  # beside a done part: the `ExtractionConfig.to_dict()` that cut its crops
#: Settings that fix the crops' geometry: parts cut with different values cannot share one manifest.
CROP_FIELDS = ("margin", "crop_size", "align", "profile")
#: A recorded setting missing from records written before it existed: the value those versions used.
CROP_FIELD_DEFAULTS = {"profile": "default"}
#: Settings that change how fast extraction runs, not what it finds: never compared between parts.
RUNTIME_FIELDS = ("batch_size", "buffer_mb", "prefetch", "device", "channels_last", "mtcnn_engine")
RESUME_HINT = (
    "Free space, fix the quota or permissions (or choose another --out), then rerun the same command: "
    "every video finished so far is kept."
)

log = logging.getLogger(__name__)


class MixedExtractionError(DFFError, ValueError):
    """The finished videos of one output were, or would be, cut with different crop settings (`CROP_FIELDS`).

    The message names each differing setting with its values and how many videos have each.
    """


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


@dataclass(frozen=True)
class VideoOutcome:
    """What happened to one video in this run."""

    status: str  # done | failed | busy (another live run holds it) | skipped (finished meanwhile) | lost (taken over)
    n_crops: int = 0
    owner: str = ""  # busy: who holds it


@dataclass
class RunTally:
    """Counts of one extraction run, for its progress bar and summary."""

    crops: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    busy_owners: set[str] = field(default_factory=set)

    def add(self, outcome: VideoOutcome) -> None:
        self.crops += outcome.n_crops
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if outcome.owner:
            self.busy_owners.add(outcome.owner)

    def postfix(self) -> dict[str, int]:
        return {"faces": self.crops, "failed": self.counts.get("failed", 0), "busy": self.counts.get("busy", 0)}


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


def _manifest_row(job: VideoJob, crop: FaceCrop, name: str, align: bool) -> dict:
    x0, y0, x1, y1 = crop.box
    row = {"video_id": job.meta["video_id"], "track": crop.track, "frame": crop.frame, "path": f"{job.rel_dir}/{name}"}
    if crop.clip is not None:  # the clips sampling strategy: which clip of the video the crop belongs to
        row["clip"] = crop.clip
    row.update({"x0": x0, "y0": y0, "x1": x1, "y1": y1, "prob": crop.prob, "detected": crop.detected})
    points = np.full((5, 2), np.nan) if crop.landmarks is None else crop.landmarks
    row.update(zip(LANDMARK_COLUMNS, (round(float(v), 2) for v in points.reshape(-1)), strict=True))
    if align:  # only in aligned extractions: 0 for a face that had no landmarks and got the plain crop
        row["aligned"] = int(crop.aligned)
    row.update({k: v for k, v in job.meta.items() if k != "video_id"})
    return row


def _write_crops(job: VideoJob, tmp: Path, config: ExtractionConfig, finder: FaceFinder, claim: VideoClaim) -> list:
    """Write every crop of the video into `tmp`; return its manifest rows."""
    rows = []
    for crop in iter_face_crops(job.video_path, config, finder):
        name = f"{crop.track}_{crop.frame}.jpg"
        with output_errors(tmp / name, "write a face crop", RESUME_HINT):
            write_jpeg(tmp / name, crop.image, config.jpeg_quality)
        claim.heartbeat()
        rows.append(_manifest_row(job, crop, name, config.align or config.profile == "deepfakebench"))
    if not rows:
        raise VideoError(job.video_path, "no face found")
    return rows


def _commit(job: VideoJob, tmp: Path, final: Path, rows: list[dict], settings: dict) -> None:
    """Move the finished crops folder into place, then record the settings that cut them and write the part file.

    The part file comes last: a video counts as done only once its crops and settings are on disk.
    """
    with output_errors(final, "move the finished crops into place", RESUME_HINT):
        if final.exists():  # left by a run killed between the rename and its part file
            shutil.rmtree(final)
        os.replace(tmp, final)
    with output_errors(job.settings_part, "record the video's extraction settings", RESUME_HINT):
        _io.write_json_atomic(job.settings_part, settings)
    with output_errors(job.done_part, "write the video's part file", RESUME_HINT):
        _io.write_csv_atomic(pd.DataFrame(rows, columns=list(rows[0])), job.done_part)


def _record_failure(job: VideoJob, exc: Exception) -> None:
    reason = exc.reason if isinstance(exc, VideoError) else f"{type(exc).__name__}: {exc}"
    with output_errors(job.failed_part, "record the video's failure", RESUME_HINT):
        _io.write_csv_atomic(
            pd.DataFrame([(str(job.video_path), reason)], columns=_io.FAILURE_COLUMNS), job.failed_part
        )


def _clear_leftovers(final: Path, claim: VideoClaim) -> None:
    """Remove the temporary folder of a killed run on this video (named by its claim's token, or the old name)."""
    leftovers = [final.parent / f".{final.name}.tmp"]
    if claim.previous is not None and claim.previous.token:
        leftovers.append(final.parent / f".{final.name}.{claim.previous.token}.tmp")
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def _extract_claimed(
    job: VideoJob, out_dir: Path, config: ExtractionConfig, finder: FaceFinder, claim: VideoClaim
) -> VideoOutcome:
    """Extract a video this run has claimed; a fault of the video is recorded, one of the environment raised."""
    final = out_dir / job.rel_dir
    tmp = final.parent / f".{final.name}.{claim.token}.tmp"
    _clear_leftovers(final, claim)
    try:
        with output_errors(tmp, "create a folder for the crops", RESUME_HINT):
            tmp.mkdir(parents=True)
        rows = _write_crops(job, tmp, config, finder, claim)
        if not claim.held():  # judged stale and taken over by another run (e.g. this process was suspended)
            return VideoOutcome("lost")
        _commit(job, tmp, final, rows, config.to_dict())
        return VideoOutcome("done", n_crops=len(rows))
    except OutputError:
        raise
    except Exception as exc:  # a fault of this video: one bad file never stops the run
        if not claim.held():
            return VideoOutcome("lost")
        _record_failure(job, exc)
        return VideoOutcome("failed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_video(
    job: VideoJob, out_dir: Path, config: ExtractionConfig, finder: FaceFinder, stale_after: float = STALE_AFTER_S
) -> VideoOutcome:
    """Claim one video and extract it, unless another live run holds it or finished it meanwhile.

    Raises:
        OutputError: the environment stopped the writing (disk full, quota, permission, read-only file system).
    """
    with output_errors(job.claim_path, "claim the video", RESUME_HINT):
        claim = try_claim(job.claim_path, stale_after)
    if isinstance(claim, ClaimOwner):
        return VideoOutcome("busy", owner=claim.describe())
    try:
        if job.finished(out_dir):
            return VideoOutcome("skipped")
        return _extract_claimed(job, out_dir, config, finder, claim)
    finally:
        claim.release()


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


def _done_parts(parts_dir: Path) -> list[Path]:
    """The part files of finished videos, sorted (failed videos' part files excluded)."""
    return sorted(p for p in parts_dir.glob("*.csv") if not p.name.endswith(FAILED_SUFFIX))


def _json_value(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class PartSettings:
    """The extraction settings recorded beside an output's finished videos, grouped by value."""

    groups: dict[str, tuple[dict, list[str]]]  # settings as JSON -> (settings, keys of the videos cut with them)
    n_unknown: int  # finished videos with no record (their parts predate the records, or it is unreadable)


def read_part_settings(done: Iterable[Path]) -> PartSettings:
    """Group the finished videos (their part files `done`) by the extraction settings recorded beside them."""
    groups: dict[str, tuple[dict, list[str]]] = {}
    unknown = 0
    for part in done:
        record = settings_part_for(part)
        try:
            settings = json.loads(record.read_text())
        except FileNotFoundError:
            unknown += 1
            continue
        except (OSError, ValueError) as e:
            log.warning("%s: unreadable extraction settings (%s): this video's crops cannot be checked", record, e)
            unknown += 1
            continue
        key = unquote(part.name.removesuffix(".csv"))
        settings = {**CROP_FIELD_DEFAULTS, **settings} if isinstance(settings, dict) else settings
        groups.setdefault(_json_value(settings), (settings, []))[1].append(key)
    return PartSettings(groups, unknown)


def _flat(settings: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as ``{"sampling.n_frames": "5", ...}``, values as JSON (comparable, hashable)."""
    out: dict[str, str] = {}
    for name, value in settings.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = _json_value(value)
    return out


def _differences(groups: Iterable[tuple[dict, list[str]]]) -> dict[str, dict[str, list[str]]]:
    """The settings whose value differs between groups: setting -> {value as JSON: video keys}."""
    values: dict[str, dict[str, list[str]]] = {}
    for settings, keys in groups:
        for name, value in _flat(settings).items():
            values.setdefault(name, {}).setdefault(value, []).extend(keys)
    return {name: by_value for name, by_value in values.items() if len(by_value) > 1}


def _values(by_value: dict[str, list[str]]) -> str:
    """``1.3 (3 videos, e.g. synth/two) vs 1.5 (2 videos, e.g. synth/one)``, the most videos first."""

    def one(value: str, keys: list[str]) -> str:
        return f"{value} ({len(keys)} video{'s' if len(keys) != 1 else ''}, e.g. {keys[0]})"

    return " vs ".join(one(v, k) for v, k in sorted(by_value.items(), key=lambda item: -len(item[1])))


def _describe(differences: dict[str, dict[str, list[str]]]) -> str:
    """``margin 1.3 (3 videos, e.g. synth/two) vs 1.5 (2 videos, e.g. synth/one); crop_size ...``."""
    return "; ".join(f"{name} {_values(by_value)}" for name, by_value in differences.items())


def settings_for_manifest(
    found: PartSettings, parts_dir: Path, fallback: dict | None = None
) -> tuple[dict | None, dict[str, list]]:
    """The extraction settings a merged manifest records, from those recorded beside its finished videos.

    Returns:
        The settings most videos were cut with (`fallback` when no video has a record), and the settings other than
        `RUNTIME_FIELDS` that differ between videos (name -> values; logged), e.g. runs with another frame count.

    Raises:
        MixedExtractionError: videos were cut with different crop geometry (`CROP_FIELDS`); the message names them.
    """
    if found.n_unknown:
        log.warning(
            "%s: %d finished videos have no recorded extraction settings (extracted by an older version): "
            "assumed to match the others",
            parts_dir,
            found.n_unknown,
        )
    if not found.groups:
        return fallback, {}
    differences = _differences(found.groups.values())
    crop = {name: by_value for name, by_value in differences.items() if name in CROP_FIELDS}
    if crop:
        raise MixedExtractionError(
            f"{parts_dir}: the finished videos were cut with different crop settings: {_describe(crop)}. One manifest "
            "cannot mix crop geometries: keep one set, delete the other videos' part files (<video>.csv and "
            f"<video>{SETTINGS_SUFFIX}) and rerun `dff extract` with the kept settings, or extract into a fresh "
            "--out and --faces-out"
        )
    varies = {n: d for n, d in differences.items() if n.split(".")[0] not in RUNTIME_FIELDS}
    if varies:
        log.warning("%s: the finished videos were extracted with different settings: %s", parts_dir, _describe(varies))
    settings = max(found.groups.values(), key=lambda group: len(group[1]))[0]
    return settings, {name: [json.loads(v) for v in by_value] for name, by_value in varies.items()}


def check_run_settings(parts_dir: Path, config: ExtractionConfig) -> None:
    """Refuse to start a run whose crop settings differ from those of the videos already finished in its output.

    Raises:
        MixedExtractionError: naming each differing setting, the run's value and the finished videos' values.
    """
    mine = _flat(config.to_dict())
    groups = read_part_settings(_done_parts(parts_dir)).groups.values()
    clashes = []
    for name in CROP_FIELDS:
        others: dict[str, list[str]] = {}
        for settings, keys in groups:
            value = _flat(settings).get(name)
            if value is not None and value != mine[name]:
                others.setdefault(value, []).extend(keys)
        if others:
            clashes.append(f"{name} {mine[name]} in this run vs {_values(others)}")
    if clashes:
        raise MixedExtractionError(
            f"{parts_dir}: this run's crop settings differ from those of the videos already finished there: "
            f"{'; '.join(clashes)}. Rerun with the finished videos' settings, or extract into a fresh --out and "
            "--faces-out"
        )


def crops_aligned(faces: pd.DataFrame) -> bool:
    """Whether a faces manifest's crops were cut aligned (`ExtractionConfig.align`).

    Read from the extraction settings its sidecar records (``attrs["extraction"]``), or, when those are absent (a
    manifest merged from parts that predate the settings records), from its ``aligned`` column, which only aligned extractions write (1 per
    aligned crop, 0 for a face without landmarks, which got the plain crop).
    """
    recorded = (faces.attrs.get("extraction") or {}).get("align")
    if recorded is not None:
        return bool(recorded)
    return "aligned" in faces.columns and bool((faces["aligned"] == 1).any())


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
        done = _done_parts(parts_dir)
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
    stale_after: float = STALE_AFTER_S,
) -> pd.DataFrame:
    """Extract the faces of every video of an index (or of one shard of it), resumably; concurrent runs share it.

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
        stale_after: seconds after which another host's untouched claim on a video counts as abandoned.

    Returns:
        The merged manifest (all part files found, from every run and shard): video_id, track, frame, path, x0, y0,
        x1, y1, prob, detected, lm0_x .. lm4_y (landmarks in crop pixels), aligned (only with ``config.align`` or
        the deepfakebench profile: 1 per aligned crop, 0 for a face without landmarks, cut plain), label, split,
        group, method (+ dataset, compression when the index has them). The sidecar records the settings the crops
        were cut with (``attrs["extraction"]``: ``config`` for the videos of this run, recorded beside each video's
        part file).
        ``attrs``: ``failures_csv`` and ``n_failed`` (videos in the failures table), ``run_counts`` (this run's videos
        by outcome: done, failed, busy, skipped, lost), ``n_busy`` and ``busy_owners`` (videos left to other live
        runs: their crops are merged by whichever run ends last, or by `merge_parts`).

    Raises:
        MixedExtractionError: the videos already finished in this output were cut with other crop settings
            (margin, crop size, alignment, profile) than `config` (raised before any work), or the merge found
            such a mix.
        OutputError: the environment stopped the run (disk full, quota, permission, read-only file system); every
            video finished so far is kept, and the same call resumes.
    """
    from tqdm.auto import tqdm

    config = config or ExtractionConfig()
    videos, faces_csv = load_index(index, faces_csv)
    out_dir = Path(out_dir)
    parts_dir = parts_dir_for(faces_csv)
    with output_errors(parts_dir, "create the folder of part files", RESUME_HINT, any_os_error=True):
        parts_dir.mkdir(parents=True, exist_ok=True)
    todo = plan_videos(videos, out_dir, parts_dir, shard, retry_failed)
    if todo:
        check_run_settings(parts_dir, config)
    if todo and finder is None:
        finder = config.make_finder()
    tally = RunTally()
    i, n = shard
    bar = tqdm(todo, desc=f"extract faces{f' [shard {i}/{n}]' if n > 1 else ''}", unit="video", disable=not progress)
    for job in bar:
        tally.add(run_video(job, out_dir, config, finder, stale_after))
        bar.set_postfix(tally.postfix())
    faces = merge_parts(faces_csv, out_dir, failures_csv, extraction=config.to_dict())
    faces.attrs.update(run_counts=dict(tally.counts), n_busy=tally.counts.get("busy", 0))
    faces.attrs["busy_owners"] = sorted(tally.busy_owners)
    return faces
