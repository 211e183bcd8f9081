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

The parts: `deepfakeforensics.faces.parts` (the layout above and the plan of a run), `deepfakeforensics.faces.claims`
(who works on a video), `deepfakeforensics.faces.extraction_settings` (the recorded settings and their checks),
`deepfakeforensics.faces.merge` (part files -> manifest); this module runs the videos.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepfakeforensics import _io
from deepfakeforensics.data.video import VideoError
from deepfakeforensics.errors import OutputError, output_errors
from deepfakeforensics.faces.assembler import FaceCrop
from deepfakeforensics.faces.claims import STALE_AFTER_S, ClaimOwner, VideoClaim, try_claim
from deepfakeforensics.faces.config import ExtractionConfig
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, write_jpeg
from deepfakeforensics.faces.extraction_settings import check_run_settings
from deepfakeforensics.faces.finder import FaceFinder
from deepfakeforensics.faces.merge import merge_parts
from deepfakeforensics.faces.parts import RESUME_HINT, VideoJob, load_index, parts_dir_for, plan_videos
from deepfakeforensics.faces.stream import iter_face_crops


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
