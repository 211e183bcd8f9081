"""``dff report``: a self-contained HTML report of a ``dff predict`` CSV (with thumbnails, timelines and heatmaps of
the most suspicious files when the folder and the weights are given)."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepfakeforensics.faces import ExtractionConfig
from deepfakeforensics.inference.predict import PredictConfig
from deepfakeforensics.inference.report import collect_folder_details, read_predictions, write_report
from deepfakeforensics.runs import RunInfo, resolve_threshold


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    p.add_argument("predictions", help="the CSV dff predict wrote")
    p.add_argument("--out", default=None, help="the HTML file (default: the CSV's name with .html)")
    p.add_argument("--folder", default=None, help="the folder that was predicted (paths of the CSV are relative to it)")
    p.add_argument(
        "--weights", default=None, nargs="+", help="the weights that predicted it (with --folder: thumbnails...)"
    )
    p.add_argument("--model", default=None, help="registered model name (needed for a Keras .h5 file only)")
    p.add_argument("--details", type=int, default=20, help="most suspicious files given thumbnails, timeline, heatmaps")
    p.add_argument(
        "--frames",
        type=int,
        default=None,
        help="frames sampled uniformly per video for the details (default: the clips a run trained on, else 32)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="threshold drawn on the timelines (default: the detector's, else 0.5)",
    )


def run(args: argparse.Namespace) -> int:
    if args.threshold is not None:
        resolve_threshold("report", None, args.threshold)  # a probability in [0, 1], or a one-line error
    predictions = read_predictions(args.predictions)
    out = Path(args.out) if args.out else Path(args.predictions).with_suffix(".html")
    details, threshold = None, 0.5 if args.threshold is None else args.threshold
    if (args.folder is None) != (args.weights is None):
        raise SystemExit("dff report: --folder and --weights go together (both are needed for thumbnails)")
    if args.folder is not None:
        weights = args.weights if len(args.weights) > 1 else args.weights[0]
        info = RunInfo.load(weights, args.model, threshold=args.threshold)
        threshold = info.threshold.value
        config = PredictConfig(threshold=threshold, aggregation=info.aggregation, windows=info.windows)
        sampling = info.prediction_sampling(frames=args.frames)[0]
        extraction = info.extraction_config(ExtractionConfig(sampling=sampling))
        details = collect_folder_details(predictions, args.folder, info.model, config, extraction, args.details)
    path = write_report(predictions, out, details, threshold=threshold)
    print(f"{len(predictions)} files -> {path}" + (f" ({len(details)} with details)" if details else ""))
    return 0
