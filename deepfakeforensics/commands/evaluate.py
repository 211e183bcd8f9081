"""``dff evaluate``: compare trained runs on one split (metrics table, per-method table, score CSVs and plots).

Every option but the inputs (``--runs``, ``--faces``) and the output folder (``--out``) is a field of
`EvaluateConfig`, with its default and help: the command line and ``evaluate()`` cannot disagree.
"""

from __future__ import annotations

import argparse

from deepfakeforensics.evaluation.compare import EvaluateConfig, evaluate
from deepfakeforensics.options import add_dataclass_arguments, dataclass_from_args

_SHOWN = ["run", "level", "auc", "ap", "eer", "balanced_accuracy", "tpr_at_fpr_5", "threshold"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    p.add_argument("--runs", nargs="+", required=True, help="run folders (checkpoints/RUN with best.pt) or .pt files")
    p.add_argument("--faces", required=True, help="faces manifest, e.g. labels/ffpp_faces.csv")
    p.add_argument("--out", required=True, help="output folder for metrics.csv, per_method.csv, scores/ and plots")
    add_dataclass_arguments(p.add_argument_group("evaluation (EvaluateConfig)"), EvaluateConfig)


def run(args: argparse.Namespace) -> int:
    res = evaluate(args.runs, args.faces, args.out, dataclass_from_args(EvaluateConfig, args))
    cols = [c for c in _SHOWN if c in res.metrics]
    print(res.metrics[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {res.out_dir / 'metrics.csv'} and {len(res.plots)} plots to {res.out_dir}")
    if len(res.failures):
        print(f"{len(res.failures)} face crops could not be read: {res.out_dir / 'failures.csv'}")
    return 0
