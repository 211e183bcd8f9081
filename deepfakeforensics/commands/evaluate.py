"""``dff evaluate``: compare trained runs on one split of one or several datasets (metrics with bootstrap intervals,
paired tests, per-method and cross-dataset tables, score CSVs and plots).

Every option but the inputs (``--runs``, ``--faces``) and the output folder (``--out``) is a field of
`EvaluateConfig`, with its default and help: the command line and ``evaluate()`` cannot disagree.
"""

from __future__ import annotations

import argparse

from deepfakeforensics.commands.options import add_dataclass_arguments, dataclass_from_args
from deepfakeforensics.evaluation.compare import evaluate
from deepfakeforensics.evaluation.config import EvaluateConfig

_SHOWN = [
    "run",
    "dataset",
    "level",
    "auc",
    "auc_lo",
    "auc_hi",
    "ap",
    "eer",
    "eer_lo",
    "eer_hi",
    "accuracy",
    "threshold",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    p.add_argument(
        "--runs",
        "--weights",
        nargs="+",
        required=True,
        help="run folders (checkpoints/RUN with best.pt), .pt files, or released detectors' files (recognised from "
        "their layout: scored on crops extracted with their --profile)",
    )
    p.add_argument(
        "--faces",
        nargs="+",
        required=True,
        help="faces manifest(s), e.g. labels/ffpp_faces.csv labels/celebdf_faces.csv: each run on each one's split, "
        "thresholds from the validation split of the manifest the run was trained on",
    )
    p.add_argument("--out", required=True, help="output folder for metrics.csv, per_method.csv, scores/ and plots")
    add_dataclass_arguments(p.add_argument_group("evaluation (EvaluateConfig)"), EvaluateConfig)


def run(args: argparse.Namespace) -> int:
    faces = args.faces[0] if len(args.faces) == 1 else args.faces
    config = dataclass_from_args(EvaluateConfig, args)
    res = evaluate(args.runs, faces, args.out, config)
    cols = [c for c in _SHOWN if c in res.metrics]
    boot = f"{config.bootstrap} resamples of videos, seed {config.seed}" if config.bootstrap else "none"
    print(f"protocol: {res.protocol}; 95 % intervals: {boot}")
    print(res.metrics[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if not res.paired.empty:
        shown = [
            c for c in ("run_a", "run_b", "dataset", "level", "diff", "p_bootstrap", "p_delong") if c in res.paired
        ]
        print(res.paired[shown].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if not res.published.empty:
        print("released detectors beside their authors' figures (published.csv):")
        shown = ["run", "dataset", "level", "auc", "auc_lo", "auc_hi", "published_auc", "published_training_data"]
        print(res.published[shown].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        for source in dict.fromkeys(res.published["source"]):
            print(f"  source: {source}")
    print(f"wrote {res.out_dir / 'metrics.csv'} and {len(res.plots)} plots to {res.out_dir}")
    if len(res.failures):
        print(f"{len(res.failures)} face crops could not be read: {res.out_dir / 'failures.csv'}")
    return 0
