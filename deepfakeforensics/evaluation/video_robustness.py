"""Robustness under the DeeperForensics-1.0 protocol: perturb each test VIDEO, run the normal face extraction on the
perturbed copy, score the faces found, and report AUC per distortion and level beside the faces the detector lost.

This is the whole pipeline as a user's video would meet it (the quick alternative, `robustness_sweep`, perturbs the
already extracted crops). A video in which the detector finds no face cannot be scored by the model: it is counted
as UNDECIDED, with score 0.5, in ``auc`` (every test video counts), and left out of ``auc_found`` (videos with a face
only); ``videos_without_face`` says how many there were.

A video that cannot be used (undecodable, or its perturbation failed) is counted per video, the same way in every row
(the clean one included): at `UNDECIDED` in ``auc``, out of ``auc_found``, in ``videos_failed`` (not in
``videos_without_face``) and named with its reason in ``note``. Only a distortion that cannot run at all here (VC
without ffmpeg) marks its whole row ``skipped``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepfakeforensics._io import write_csv_atomic
from deepfakeforensics.data.datasets import build_dataset
from deepfakeforensics.data.manifest import read_manifest
from deepfakeforensics.data.video import VideoError, probe_video
from deepfakeforensics.evaluation.metrics import compute_metrics
from deepfakeforensics.evaluation.perturbations import (
    DISTORTIONS,
    LEVELS,
    Perturbation,
    PerturbationError,
    ffmpeg_binary,
    perturb_video,
    random_mix,
    single_perturbations,
)
from deepfakeforensics.evaluation.scores import predict_scores
from deepfakeforensics.faces.config import ExtractionConfig
from deepfakeforensics.faces.extract import extract_faces
from deepfakeforensics.models import Detector
from deepfakeforensics.scoring.aggregation import aggregate

log = logging.getLogger(__name__)

UNDECIDED = 0.5  # the score of a video in which no face was found


@dataclass(frozen=True)
class VideoRobustnessConfig:
    """Which perturbations to apply to the test videos (each one re-extracts every video: slow)."""

    kinds: tuple[str, ...] = field(default=DISTORTIONS, metadata={"help": "distortions (CS CC BW GNC GB JPEG VC)"})
    levels: tuple[int, ...] = field(default=LEVELS, metadata={"help": "levels 1-5"})
    mixes: int = field(default=0, metadata={"help": "random mixes of 2-4 distortions added to the grid"})
    seed: int = field(default=0, metadata={"help": "seed of the noise, block positions and mixes"})
    split: str = field(default="test", metadata={"help": "split of the video index to perturb"})
    aggregation: str = field(default="mean", metadata={"help": "file-level rule"})
    batch_size: int = field(default=32, metadata={"help": "items per forward pass"})

    def perturbations(self) -> list[Perturbation]:
        """The clean reference, the grid of single distortions, then the random mixes."""
        rng = np.random.default_rng(self.seed)
        mixes = [random_mix(rng) for _ in range(self.mixes)]
        return [Perturbation(()), *single_perturbations(self.kinds, self.levels), *mixes]


def perturbed_faces(
    videos: pd.DataFrame,
    perturbation: Perturbation,
    work_dir: Path,
    extraction: ExtractionConfig,
    seed: int = 0,
    finder=None,
    failures: list[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Perturb each video (a temporary copy), extract its faces with the normal extraction, delete the copy.

    A video whose perturbation fails (`PerturbationError`) is left out and added to `failures` as
    ``(video_id, reason)``; the others go on.

    Args:
        videos: a video index (``attrs["root"]`` locates the files).
        perturbation: what to apply (``Perturbation(())``: the original videos).
        work_dir: where the copies, crops and manifest go (``<work_dir>/<perturbation name>/``).
        extraction: the extraction settings (those the runs' faces were extracted with).
        seed: seed of the video's random draws (plus its position).
        finder: a `FaceFinder` to reuse.

    Returns:
        The faces manifest of the perturbed videos (root: its crops folder).
    """
    name = perturbation.name.replace(":", "_").replace("+", "_")
    base, root = work_dir / name, Path(videos.attrs.get("root", "."))
    faces = pd.DataFrame()
    for i, row in enumerate(videos.itertuples(index=False)):
        src = root / str(row.path)
        try:
            copy = perturb_video(src, base / "videos", perturbation, seed + i) if perturbation.steps else src
        except PerturbationError as e:
            log.warning("%s: %s: %s", perturbation.name, row.video_id, e)
            if failures is not None:
                failures.append((str(row.video_id), str(e).replace(f"{src}: ", "")))
            continue
        one = pd.DataFrame([row._asdict()]).assign(path=copy.name)
        one.attrs["root"] = str(copy.parent)
        faces = extract_faces(
            one, base / "crops", extraction, faces_csv=base / "faces.csv", finder=finder, progress=False
        )
        if copy != src:
            copy.unlink(missing_ok=True)
    return faces


def _video_scores(model: Detector, faces: pd.DataFrame, split: str, config: VideoRobustnessConfig) -> pd.DataFrame:
    """File-level scores of the videos with faces in `faces` (empty when none)."""
    if faces.empty or not (faces["split"] == split).any():
        return pd.DataFrame(columns=["video_id", "score", "n_rows"])
    dataset = build_dataset(faces, split, model, train=False, missing="skip")
    scores = predict_scores(model, dataset, batch_size=config.batch_size, progress=False)
    return aggregate(scores, config.aggregation)[["video_id", "score", "n_rows"]]


def robustness_row(
    videos: pd.DataFrame, files: pd.DataFrame, clean_crops: int | None, failed: Sequence[str] = ()
) -> dict[str, float]:
    """AUC over every test video (face-less and `failed` ones at `UNDECIDED`), AUC over videos with a face, faces
    lost; `failed`: the ids of videos that could not be used (counted in ``videos_failed``)."""
    table = videos[["video_id", "label"]].merge(files, on="video_id", how="left")
    is_failed = table["video_id"].astype(str).isin({str(v) for v in failed})
    table.loc[is_failed, ["score", "n_rows"]] = np.nan
    found = table["score"].notna()
    crops = int(table["n_rows"].fillna(0).sum())
    all_videos = compute_metrics(table["label"], table["score"].fillna(UNDECIDED))
    with_face = compute_metrics(table.loc[found, "label"], table.loc[found, "score"])
    return {
        "n_videos": len(table),
        "videos_without_face": int((~found & ~is_failed).sum()),
        "videos_failed": int(is_failed.sum()),
        "crops": crops,
        "faces_lost": float("nan") if not clean_crops else 1.0 - crops / clean_crops,
        "auc": all_videos["auc"],
        "auc_found": with_face["auc"],
        "ap": all_videos["ap"],
    }


def video_robustness(
    models: dict[str, Detector],
    index: str | os.PathLike | pd.DataFrame,
    config: VideoRobustnessConfig | None = None,
    extraction: ExtractionConfig | None = None,
    work_dir: str | os.PathLike | None = None,
    out_csv: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """AUC per run, distortion and level on perturbed copies of the split's videos (DeeperForensics-1.0 protocol).

    Returns:
        One row per (run, perturbation): ``run, perturbation, distortion, level, n_videos, videos_without_face,
        videos_failed, crops, faces_lost, auc, auc_found, ap, seconds, note`` (``seconds``: perturbation +
        extraction time of the split; ``note``: the failed videos and why); distortion ``none`` is the clean
        reference; VC rows say ``skipped`` in ``note`` when there is no ffmpeg.
    """
    config = config or VideoRobustnessConfig()
    videos = read_manifest(index, kind="videos") if not isinstance(index, pd.DataFrame) else index
    videos = videos[videos["split"] == config.split].copy()
    videos.attrs = dict(videos.attrs)
    extraction = extraction or ExtractionConfig(device="cpu")
    finder = extraction.make_finder()
    unusable = _undecodable(videos)  # failed in every row, the clean one included
    usable = videos[~videos["video_id"].astype(str).isin(unusable)]
    usable.attrs = dict(videos.attrs)
    rows, clean_crops = [], {}
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for p in config.perturbations():
            if p.crf is not None and ffmpeg_binary() is None:  # the distortion cannot run here at all
                reason = "video compression (VC) needs an ffmpeg binary with libx264 (pip install imageio-ffmpeg)"
                rows += [_skipped(run, p, reason) for run in models]
                continue
            t0 = time.perf_counter()
            failures: list[tuple[str, str]] = []
            faces = perturbed_faces(usable, p, Path(tmp), extraction, config.seed, finder, failures)
            failed = {**unusable, **dict(failures)}
            note = "; ".join(f"{vid}: {why}" for vid, why in failed.items())
            note = f"{len(failed)} videos failed ({note})" if failed else ""
            seconds = time.perf_counter() - t0
            for run, model in models.items():
                scores = _video_scores(model, faces, config.split, config)
                row = robustness_row(videos, scores, clean_crops.get(run), list(failed))
                if not p.steps:  # the clean reference: what the other levels lose faces against
                    clean_crops[run], row["faces_lost"] = row["crops"], 0.0
                rows.append({"run": run, **_describe(p), **row, "seconds": seconds, "note": note})
            if out_csv is not None:
                write_csv_atomic(pd.DataFrame(rows), out_csv)
    return pd.DataFrame(rows)


def _undecodable(videos: pd.DataFrame) -> dict[str, str]:
    """``video_id -> reason`` of the videos that cannot be decoded (missing, empty, unreadable, no frames)."""
    root, bad = Path(videos.attrs.get("root", ".")), {}
    for vid, rel in zip(videos["video_id"].astype(str), videos["path"].astype(str), strict=True):
        try:
            probe_video(root / rel)
        except VideoError as e:
            log.warning("video robustness: %s (%s) is left out of every row: %s", vid, rel, e.reason)
            bad[vid] = e.reason
    return bad


def _describe(p: Perturbation) -> dict[str, object]:
    if not p.steps:
        return {"perturbation": "none", "distortion": "none", "level": 0}
    if len(p.steps) == 1:
        return {"perturbation": p.name, "distortion": p.steps[0][0], "level": p.steps[0][1]}
    return {"perturbation": p.name, "distortion": "mix", "level": len(p.steps)}


def _skipped(run: str, p: Perturbation, reason: str) -> dict[str, object]:
    return {"run": run, **_describe(p), "note": f"skipped: {reason}"}


def distortion_runs(table: pd.DataFrame) -> Sequence[str]:
    """The distortions present in a `video_robustness` table (each gets its own curve plot)."""
    return [d for d in dict.fromkeys(table["distortion"]) if d not in ("none", "mix")]
