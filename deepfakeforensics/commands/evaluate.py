"""``dff evaluate``: compare trained runs on one split (metrics table, per-method table, score CSVs and plots)."""

from __future__ import annotations

import argparse

HELP = "Evaluate and compare trained runs: metrics at frame/window and file level, thresholds from validation, plots."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", nargs="+", required=True, help="run folders (checkpoints/RUN with best.pt) or .pt files")
    p.add_argument("--faces", required=True, help="faces manifest, e.g. labels/ffpp_faces.csv")
    p.add_argument("--split", default="test", help="split to report on (default: test)")
    p.add_argument("--val-split", default="val", help="split thresholds/temperature are fitted on ('none': skip)")
    p.add_argument("--out", required=True, help="output folder for metrics.csv, per_method.csv, scores/ and plots")
    p.add_argument("--aggregation", default="mean", choices=["mean", "track_max", "median", "vote"],
                   help="file-level rule (default: mean of frame/window probabilities)")  # fmt: skip
    p.add_argument("--threshold-rule", default="eer", choices=["eer", "f1", "fpr", "fixed"],
                   help="threshold chosen on validation (default: eer); fixed = 0.5")  # fmt: skip
    p.add_argument("--target-fpr", type=float, default=0.01, help="FPR for --threshold-rule fpr (default 0.01)")
    p.add_argument("--calibrate", action="store_true", help="temperature scaling fitted on validation logits")
    p.add_argument("--robustness", action="store_true",
                   help="sweep JPEG quality, blur, downscale and noise on the split (one scoring pass per strength)")  # fmt: skip
    p.add_argument("--gradcam", type=int, default=4, help="crops per class in Grad-CAM grids (0: none; default 4)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers decoding crops")
    p.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.evaluation.compare import evaluate
    from deepfakeforensics.evaluation.robustness import RobustnessConfig

    res = evaluate(
        args.runs,
        args.faces,
        split=args.split,
        out_dir=args.out,
        val_split=None if args.val_split.lower() == "none" else args.val_split,
        aggregation=args.aggregation,
        threshold_rule=args.threshold_rule,
        target_fpr=args.target_fpr,
        calibrate=args.calibrate,
        robustness=RobustnessConfig(batch_size=args.batch_size) if args.robustness else None,
        gradcam=args.gradcam,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.num_workers,
    )
    cols = [c for c in ["run", "level", "auc", "ap", "eer", "balanced_accuracy", "tpr_at_fpr_5", "threshold"]
            if c in res.metrics]  # fmt: skip
    print(res.metrics[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {res.out_dir / 'metrics.csv'} and {len(res.plots)} plots to {res.out_dir}")
    return 0
