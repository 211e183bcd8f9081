"""``dff extract labels/NAME.csv --out extracted/``: face crops and a faces manifest for every video of an index."""

from __future__ import annotations

import argparse

HELP = "Detect, track and crop the faces of every video in an index (resumable, shardable)."


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> (i, N) with 0 <= i < N."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected i/N, e.g. 0/4") from exc
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 0 <= i < N")
    return i, n


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("index", help="video index CSV written by `dff index` (labels/NAME.csv)")
    p.add_argument("--out", default="extracted", help="folder for the crops (default: extracted)")
    p.add_argument("--faces-out", help="faces manifest (default: beside the index, labels/NAME_faces.csv)")
    p.add_argument("--failures-out", help="failures CSV (default: labels/NAME_faces_failures.csv)")
    p.add_argument("--sampling", default="uniform", choices=["uniform", "every_k", "all", "scene"])
    p.add_argument("--n-frames", type=int, default=32, help="uniform: frames per video; scene: per scene")
    p.add_argument("--every-k", type=int, default=10, help="every_k: take every k-th frame")
    p.add_argument("--detect-size", type=int, default=800, help="long side of frames given to MTCNN (0: full)")
    p.add_argument("--detect-every", type=int, help="detect on every k-th sampled frame (default: auto)")
    p.add_argument("--batch-size", type=int, default=16, help="frames per MTCNN call")
    p.add_argument("--margin", type=float, default=1.3, help="crop side = margin * max(box w, h)")
    p.add_argument("--crop-size", type=int, default=256, help="crop side in pixels")
    p.add_argument("--min-face-size", type=int, default=40, help="smallest face kept (pixels, full resolution)")
    p.add_argument("--min-face-fraction", type=float, default=1 / 16, help="smallest face: share of short side")
    p.add_argument("--min-prob", type=float, default=0.95, help="smallest face probability kept")
    p.add_argument("--jpeg-quality", type=int, default=95)
    p.add_argument(
        "--mtcnn",
        default="batched",
        choices=["batched", "facenet"],
        help="MTCNN engine: our batched stages (default, faster on CPU) or facenet-pytorch's MTCNN.detect",
    )
    p.add_argument("--device", help="torch device (default: GPU when there is one)")
    p.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="i/N", help="process shard i of N")
    p.add_argument("--merge-only", action="store_true", help="only merge finished shards' results into the manifest")
    p.add_argument("--retry-failed", action="store_true", help="redo videos that failed in an earlier run")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.faces import ExtractionConfig, extract_faces, faces_csv_for, merge_parts
    from deepfakeforensics.video import SamplingConfig

    faces_csv = args.faces_out or faces_csv_for(args.index)
    if args.merge_only:
        faces = merge_parts(faces_csv, args.out, args.failures_out)
        print(f"merged {len(faces)} crops of {faces['video_id'].nunique() if len(faces) else 0} videos -> {faces_csv}")
        return 0
    config = ExtractionConfig(
        sampling=SamplingConfig(strategy=args.sampling, n_frames=args.n_frames, every_k=args.every_k),
        detect_size=args.detect_size or None,
        detect_every=args.detect_every,
        batch_size=args.batch_size,
        margin=args.margin,
        crop_size=args.crop_size,
        min_face_size=args.min_face_size,
        min_face_fraction=args.min_face_fraction,
        min_prob=args.min_prob,
        jpeg_quality=args.jpeg_quality,
        device=args.device,
        mtcnn_engine=args.mtcnn,
    )
    faces = extract_faces(
        args.index,
        args.out,
        config,
        shard=args.shard,
        failures_csv=args.failures_out,
        faces_csv=faces_csv,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
    )
    n_videos = faces["video_id"].nunique() if len(faces) else 0
    print(f"{len(faces)} crops of {n_videos} videos -> {faces_csv} (crops under {args.out})")
    return 0
