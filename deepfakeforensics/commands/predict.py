"""``dff predict``: score every video and image under a folder; one row per file, failures listed beside."""

from __future__ import annotations

import argparse

HELP = "Predict P(fake) for every video and image under a folder (faces detected and tracked as in extraction)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="folder to walk recursively (mp4, avi, mov, mkv, webm... and jpg, png...)")
    p.add_argument("--model", default=None,
                   help="registered model name (e.g. mesonet4); may be omitted with a project checkpoint")  # fmt: skip
    p.add_argument("--weights", required=True, help="a project checkpoint (.pt) or the MesoNet authors' .h5 file")
    p.add_argument("--out", default="predictions.csv", help="output CSV (failures go to <out>_failures.csv)")
    p.add_argument("--threshold", type=float, default=0.5, help="label = score >= threshold (default 0.5)")
    p.add_argument("--aggregation", default="mean", choices=["mean", "track_max", "median", "vote"],
                   help="file score from face scores (default: mean; track_max: the most fake-looking face)")  # fmt: skip
    p.add_argument("--frames", type=int, default=32, help="frames sampled uniformly per video (default 32)")
    p.add_argument("--every-k", type=int, default=None, help="sample every k-th frame instead of --frames")
    p.add_argument("--detect-size", type=int, default=None,
                   help="long side of frames given to MTCNN (default: as in extraction; 0: full resolution)")  # fmt: skip
    p.add_argument("--window", type=int, default=None, help="temporal models: frames per window (default: the run's)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--restart", action="store_true", help="ignore an existing --out file instead of resuming it")


def load_detector_model(name: str | None, weights: str):
    """A model from ``--model``/``--weights``: rebuilt from a project checkpoint, or ``create_model(name, weights)``."""
    from pathlib import Path

    from deepfakeforensics.models import create_model, load_model

    if Path(weights).suffix.lower() in {".h5", ".hdf5", ".keras"}:
        if name is None:
            raise SystemExit(f"{weights}: a Keras .h5 file does not say its architecture; pass --model (e.g. mesonet4)")
        return create_model(name, weights=weights)
    model = load_model(weights)  # the checkpoint records its architecture and kwargs (e.g. an LSTM's hidden size)
    if name is not None and model.name != name:
        raise SystemExit(f"{weights}: checkpoint is of model {model.name!r}, not --model {name!r}")
    return model


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from deepfakeforensics._io import write_csv_atomic
    from deepfakeforensics.evaluation.compare import window_options
    from deepfakeforensics.faces import ExtractionConfig
    from deepfakeforensics.predict import predict_folder
    from deepfakeforensics.video import SamplingConfig

    model = load_detector_model(args.model, args.weights)
    window = args.window or int(window_options(Path(args.weights).parent).get("window", 8))
    sampling = (
        SamplingConfig(strategy="every_k", every_k=args.every_k)
        if args.every_k
        else SamplingConfig(strategy="uniform", n_frames=args.frames)
    )
    config = ExtractionConfig(sampling=sampling)
    if args.detect_size is not None:
        config = dataclasses.replace(config, detect_size=args.detect_size or None)
    out = Path(args.out)
    if args.restart:
        out.unlink(missing_ok=True)
    preds, failures = predict_folder(
        args.folder, model, threshold=args.threshold, extraction_config=config, aggregation=args.aggregation,
        batch_size=args.batch_size, window=window, device=args.device, out_csv=out,
    )  # fmt: skip
    write_csv_atomic(preds, out)
    failures_csv = out.with_name(out.stem + "_failures.csv")
    import pandas as pd

    write_csv_atomic(pd.DataFrame(failures, columns=["path", "reason"]), failures_csv)
    n_fake = int((preds["label"] == 1).sum())
    print(f"{len(preds)} files: {n_fake} predicted fake, {len(preds) - len(failures) - n_fake} real, "
          f"{len(failures)} failed -> {out}" + (f" (failures: {failures_csv})" if failures else ""))  # fmt: skip
    for path, reason in failures[:20]:
        print(f"  failed: {path}: {reason}")
    return 0
