"""``dff predict``: score every video and image under a folder; one row per file, failures listed beside.

The scoring options are the fields of `PredictConfig`; the window options of a temporal model default to the run's
(read from the checkpoint's ``config.json``) and override it field by field when given. Without ``--threshold``, a
run's best.pt is judged with the file-level threshold its training chose on validation (``thresholds.json``, for the
``mean`` aggregation), else 0.5; the command says which.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from deepfakeforensics._io import write_csv_atomic
from deepfakeforensics.evaluation.compare import run_window_config
from deepfakeforensics.faces import ExtractionConfig
from deepfakeforensics.models import Detector, create_model, load_model
from deepfakeforensics.options import add_dataclass_arguments, dataclass_from_args
from deepfakeforensics.predict import PredictConfig, PredictionResult, follow_training_alignment, predict_folder
from deepfakeforensics.report import collect_folder_details, write_report
from deepfakeforensics.thresholds import recorded_threshold
from deepfakeforensics.video import SamplingConfig
from deepfakeforensics.windows import WindowConfig

_KERAS_SUFFIXES = {".h5", ".hdf5", ".keras"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    p.add_argument("folder", help="folder to walk recursively (mp4, avi, mov, mkv, webm... and jpg, png...)")
    p.add_argument(
        "--model", default=None, help="registered model name (e.g. mesonet4); may be omitted with a project checkpoint"
    )
    p.add_argument("--weights", required=True, help="a project checkpoint (.pt) or the MesoNet authors' .h5 file")
    p.add_argument("--out", default="predictions.csv", help="output CSV (failures go to <out>_failures.csv)")
    p.add_argument("--frames", type=int, default=32, help="frames sampled uniformly per video")
    p.add_argument("--every-k", type=int, default=None, help="sample every k-th frame instead of --frames")
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
        defaults={"threshold": None},  # None: the run's validation threshold (thresholds.json), else 0.5
    )
    windows = p.add_argument_group("windows of a temporal model (WindowConfig; default: the run's config.json)")
    add_dataclass_arguments(windows, WindowConfig, defaults={f.name: None for f in dataclasses.fields(WindowConfig)})


def load_detector_model(name: str | None, weights: str) -> Detector:
    """A model from ``--model``/``--weights``: rebuilt from a project checkpoint, or ``create_model(name, weights)``."""
    if Path(weights).suffix.lower() in _KERAS_SUFFIXES:
        if name is None:
            raise SystemExit(f"{weights}: a Keras .h5 file does not say its architecture; pass --model (e.g. mesonet4)")
        return create_model(name, weights=weights)
    model = load_model(weights)  # the checkpoint records its architecture and kwargs (e.g. an LSTM's hidden size)
    if name is not None and model.name != name:
        raise SystemExit(f"{weights}: checkpoint is of model {model.name!r}, not --model {name!r}")
    return model


def threshold_from_args(args: argparse.Namespace) -> tuple[float, str]:
    """The decision threshold and where it came from: ``--threshold``, else the run's validation one, else 0.5."""
    if args.threshold is not None:
        return float(args.threshold), "given (--threshold)"
    recorded = recorded_threshold(args.weights, args.aggregation)
    return recorded or (0.5, f"0.5 (no validation threshold recorded for aggregation {args.aggregation!r})")


def windows_from_args(args: argparse.Namespace, model: Detector) -> WindowConfig:
    """A temporal model's windows: its run's (config.json beside a project checkpoint), overridden by those given."""
    weights = Path(args.weights)
    from_run = model.default_cfg.temporal and weights.suffix.lower() not in _KERAS_SUFFIXES
    recorded = run_window_config(weights.parent) if from_run else WindowConfig()
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(WindowConfig)}
    return dataclasses.replace(recorded, **{k: v for k, v in given.items() if v is not None})


def extraction_from_args(args: argparse.Namespace) -> ExtractionConfig:
    """Face sampling as asked (``--frames`` uniformly, or ``--every-k``), detection as in extraction, crops cut (plain
    or aligned) as the checkpoint's run trained on."""
    if args.every_k:
        sampling = SamplingConfig(strategy="every_k", every_k=args.every_k)
    else:
        sampling = SamplingConfig(strategy="uniform", n_frames=args.frames)
    config = ExtractionConfig(sampling=sampling)
    if args.detect_size is not None:
        config = dataclasses.replace(config, detect_size=args.detect_size or None)
    if Path(args.weights).suffix.lower() not in _KERAS_SUFFIXES:
        config = follow_training_alignment(config, args.weights)
    return config


def _report(result: PredictionResult, out: Path, failures_csv: Path) -> None:
    preds, failures = result
    n_fake = int((preds["label"] == 1).sum())
    print(
        f"{len(preds)} files: {n_fake} predicted fake, {len(preds) - len(failures) - n_fake} real, "
        f"{len(failures)} failed -> {out}" + (f" (failures: {failures_csv})" if failures else "")
    )
    for path, reason in failures[:20]:
        print(f"  failed: {path}: {reason}")


def run(args: argparse.Namespace) -> int:
    model = load_detector_model(args.model, args.weights)
    threshold, source = threshold_from_args(args)
    print(f"threshold {threshold:.4g}: {source}")
    config = dataclass_from_args(PredictConfig, args, windows=windows_from_args(args, model), threshold=threshold)
    out = Path(args.out)
    if args.restart:
        out.unlink(missing_ok=True)
    result = predict_folder(args.folder, model, config, extraction_config=extraction_from_args(args), out_csv=out)
    write_csv_atomic(result.predictions, out)
    failures_csv = out.with_name(out.stem + "_failures.csv")
    write_csv_atomic(pd.DataFrame(result.failures, columns=["path", "reason"]), failures_csv)
    _report(result, out, failures_csv)
    if args.report:
        write_html_report(result, args, model, config)
    return 0


def write_html_report(
    result: PredictionResult, args: argparse.Namespace, model: Detector, config: PredictConfig
) -> None:
    """The ``--report`` HTML file: every file, with details for the ``--report-details`` most suspicious ones."""
    extraction = extraction_from_args(args)
    details = collect_folder_details(result.predictions, args.folder, model, config, extraction, args.report_details)
    path = write_report(result.predictions, args.report, details, threshold=config.threshold)
    print(f"report: {path}")
