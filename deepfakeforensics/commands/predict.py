"""``dff predict``: score every video and image under a folder; one row per file, failures listed beside.

The scoring options are the fields of `PredictConfig`. What the detector needs is `runs.RunInfo.load`'s answer, as for
``dff serve`` and the report: the window options of a temporal model default to the run's and override it field by
field when given; the threshold is ``--threshold``, else ``--metrics-csv``'s, else the one its training chose on
validation (``thresholds.json``, for the aggregation), else 0.5; crops follow a released detector's profile or the
run's alignment. The command says which.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from deepfakeforensics._io import write_csv_atomic
from deepfakeforensics.commands.options import add_dataclass_arguments, dataclass_from_args
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.faces import ExtractionConfig
from deepfakeforensics.inference.predict import PredictConfig, PredictionResult, predict_folder
from deepfakeforensics.inference.report import collect_folder_details, write_report
from deepfakeforensics.runs import RunInfo


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    p.add_argument("folder", help="folder to walk recursively (mp4, avi, mov, mkv, webm... and jpg, png...)")
    p.add_argument(
        "--model",
        default=None,
        help="registered model name (e.g. mesonet4); a Keras .h5 file needs it, a checkpoint or a released file says it",
    )
    p.add_argument(
        "--weights",
        required=True,
        nargs="+",
        help="a run folder (its best.pt), a project checkpoint, the MesoNet authors' .h5, a released detector's file "
        "(SBI, DeepfakeBench, the DFDC winner, polimi: recognised from its layout), or several files (the mean of "
        "their probabilities)",
    )
    p.add_argument(
        "--metrics-csv",
        default=None,
        help="metrics.csv of dff evaluate: its file-level threshold chosen on validation is used",
    )
    p.add_argument("--out", default="predictions.csv", help="output CSV (failures go to <out>_failures.csv)")
    sampling = p.add_argument_group(
        "frame sampling (default: the clips a run trained on, as it trained; else 32 frames uniformly)"
    )
    sampling.add_argument("--frames", type=int, default=None, help="frames sampled uniformly per video")
    sampling.add_argument("--every-k", type=int, default=None, help="sample every k-th frame instead of --frames")
    sampling.add_argument(
        "--clips", type=int, default=None, help="score clips of consecutive frames: this many per video"
    )
    sampling.add_argument("--clip-length", type=int, default=None, help="clips: frames per clip (default: the run's)")
    sampling.add_argument(
        "--clip-stride", type=int, default=None, help="clips: decoded frames between two frames of a clip"
    )
    p.add_argument(
        "--detect-size",
        type=int,
        default=None,
        help="long side of frames given to MTCNN (default: as in extraction; 0: full resolution)",
    )
    p.add_argument("--restart", action="store_true", help="ignore an existing --out file instead of resuming it")
    p.add_argument("--report", default=None, help="also write this self-contained HTML report (e.g. report.html)")
    p.add_argument(
        "--report-details",
        type=int,
        default=20,
        help="files of the report (the most suspicious) with thumbnails, score timeline and heatmaps (re-scored)",
    )
    add_dataclass_arguments(
        p.add_argument_group("prediction (PredictConfig)"),
        PredictConfig,
        skip=["windows"],
        defaults={"threshold": None, "aggregation": None},  # None: resolved by RunInfo.load
    )
    windows = p.add_argument_group("windows of a temporal model (WindowConfig; default: the run's config.json)")
    add_dataclass_arguments(windows, WindowConfig, defaults={f.name: None for f in dataclasses.fields(WindowConfig)})


def load_run(args: argparse.Namespace) -> RunInfo:
    """The detector of ``--weights`` (run folder, checkpoint, Keras file, released file or several) with its threshold
    (``--threshold``, ``--metrics-csv``, the run's validation threshold, else 0.5), windows and crops."""
    weights = args.weights if len(args.weights) > 1 else args.weights[0]
    windows = {f.name: getattr(args, f.name) for f in dataclasses.fields(WindowConfig)}
    return RunInfo.load(
        weights,
        args.model,
        threshold=args.threshold,
        aggregation=args.aggregation,
        metrics_csv=args.metrics_csv,
        windows=windows,
    )


def sampling_from_args(args: argparse.Namespace, info: RunInfo) -> tuple[SamplingConfig, str]:
    """The frames each video is scored on, and why (`RunInfo.prediction_sampling`): ``--every-k``, ``--frames``
    uniformly, clips (``--clips``, ``--clip-length``, ``--clip-stride``), else the clips the run trained on, else 32
    frames uniformly."""
    asked = {k: getattr(args, k) for k in ("frames", "every_k", "clips", "clip_length", "clip_stride")}
    return info.prediction_sampling(**asked)  # a ValueError (clips and frames asked together) is printed by dff


def extraction_from_args(args: argparse.Namespace, info: RunInfo) -> ExtractionConfig:
    """Face sampling as `sampling_from_args` says, detection as in extraction, crops cut as the detector expects (a
    released detector's profile, or the alignment its run trained on)."""
    config = ExtractionConfig(sampling=sampling_from_args(args, info)[0])
    if args.detect_size is not None:
        config = dataclasses.replace(config, detect_size=args.detect_size or None)
    return info.extraction_config(config)


def _report(result: PredictionResult, out: Path, failures_csv: Path) -> None:
    preds, failures = result
    n_fake, n_failed = int((preds["label"] == 1).sum()), int((preds["error"] != "").sum())
    n_skipped = len(failures) - n_failed  # entries skipped by the folder walk (FIFO, symlink loop, ...): no row
    print(
        f"{len(preds)} files: {n_fake} predicted fake, {len(preds) - n_failed - n_fake} real, "
        f"{n_failed} failed"
        + (f", {n_skipped} skipped" if n_skipped else "")
        + f" -> {out}"
        + (f" (failures: {failures_csv})" if failures else "")
    )
    for path, reason in failures[:20]:
        print(f"  failed: {path}: {reason}")


def run(args: argparse.Namespace) -> int:
    info = load_run(args)
    print(describe_run(info, sampling_from_args(args, info)[1]))
    config = dataclass_from_args(
        PredictConfig, args, windows=info.windows, threshold=info.threshold.value, aggregation=info.aggregation
    )
    out = Path(args.out)
    if args.restart:
        out.unlink(missing_ok=True)
    extraction = extraction_from_args(args, info)
    result = predict_folder(args.folder, info.model, config, extraction_config=extraction, out_csv=out)
    write_csv_atomic(result.predictions, out)
    failures_csv = out.with_name(out.stem + "_failures.csv")
    write_csv_atomic(pd.DataFrame(result.failures, columns=["path", "reason"]), failures_csv)
    _report(result, out, failures_csv)
    if args.report:
        write_html_report(result, args, info, config)
    return 0


def describe_run(info: RunInfo, sampling: str) -> str:
    """What ``dff predict`` says about the detector before scoring: what it is, its crops, the frames it is given
    (`sampling`, as `sampling_from_args` describes them), threshold and rule."""
    facts = info.describe()
    lines = [f"detector: {facts['name']} ({facts['kind']}: {', '.join(facts['weights'])})"]
    if info.released is not None:
        lines[0] += f" -- released detector {info.released.title}, {info.released.repo}"
    if "ensemble" in facts:
        lines.append(f"ensemble: {facts['ensemble']}")
    lines.append(f"crops: {info.crops.source}")
    lines.append(f"frames: {sampling}")
    lines.append(f"threshold {info.threshold.value:.4g}: {info.threshold.source}; file score: {info.aggregation}")
    return "\n".join(lines)


def write_html_report(result: PredictionResult, args: argparse.Namespace, info: RunInfo, config: PredictConfig) -> None:
    """The ``--report`` HTML file: every file, with details for the ``--report-details`` most suspicious ones."""
    extraction = extraction_from_args(args, info)
    details = collect_folder_details(
        result.predictions, args.folder, info.model, config, extraction, args.report_details
    )
    path = write_report(result.predictions, args.report, details, threshold=config.threshold)
    print(f"report: {path}")
