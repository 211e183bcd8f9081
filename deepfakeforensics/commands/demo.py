"""``dff demo``: the whole workflow on built-in demo data, from an empty folder, in one command."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_run", help="folder for everything the demo writes (default: demo_run)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the demo data, splits and training")
    parser.add_argument("--quick", action="store_true", help="a much smaller run (about a minute): smoke test only")
    parser.add_argument(
        "--video-model",
        action="store_true",
        help="also train and compare a video-level detector (ftcn_lite: temporal convolutions over a face track's windows)",
    )


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.demo.workflow import DemoRunConfig, run_demo

    config = DemoRunConfig.quick(seed=args.seed) if args.quick else DemoRunConfig(seed=args.seed)
    if args.video_model:
        config = config.with_video_model()
    result = run_demo(args.out, config)
    cols = ["run", "level", "auc", "ap", "eer", "balanced_accuracy", "log_loss"]
    print("\nTest-split metrics (thresholds chosen on validation):")
    print(result.metrics[[c for c in cols if c in result.metrics.columns]].to_string(index=False, float_format="%.3f"))
    m = result.new_video_metrics
    print(f"\nNew videos ({m['n']}: {m['n_real']} real, {m['n_fake']} fake): file AUC {m['auc']:.3f}, "
          f"accuracy {m['accuracy']:.3f} at the run's validation threshold {m['threshold']:.3g}")  # fmt: skip
    print(f"\nvideos:       {result.data_root}\nindex:        {result.index_csv}\nfaces:        {result.faces_csv}")
    for run_name, run_dir in result.runs.items():
        print(f"run:          {run_dir}  ({run_name})")
    print(f"evaluation:   {result.evaluation_dir}/metrics.csv, per_method.csv")
    print(f"predictions:  {result.predictions_csv}")
    for name, path in result.plots.items():
        print(f"plot:         {path}  ({name})")
    return 0
