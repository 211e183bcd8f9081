"""``dff extract labels/NAME.csv --out extracted/``: face crops and a faces manifest for every video of an index."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepfakeforensics.commands.options import add_dataclass_arguments, dataclass_from_args
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.faces.claims import STALE_AFTER_S
from deepfakeforensics.faces.config import ExtractionConfig


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
    p.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="i/N", help="process shard i of N")
    p.add_argument(
        "--merge-only",
        action="store_true",
        help="only merge finished runs' results into the manifest, with the extraction settings they recorded "
        "(refused when they cut crops of different margin, size or alignment)",
    )
    p.add_argument("--retry-failed", action="store_true", help="redo videos that failed in an earlier run")
    p.add_argument(
        "--frames-are-crops",
        action="store_true",
        help="frame-folder videos whose frames are face crops already (WildDeepfake, DF40): list the frames themselves "
        "as the crops (--n-frames spread over each video, or every frame with --strategy all), no detection",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--stale-after",
        type=float,
        default=STALE_AFTER_S,
        help="seconds after which a claim on a video by a run on another host that stopped touching it is taken over",
    )
    sampling = p.add_argument_group("frame sampling")
    add_dataclass_arguments(sampling, SamplingConfig)
    extraction = p.add_argument_group("face detection, tracking and crops")
    add_dataclass_arguments(extraction, ExtractionConfig, skip=["sampling"])


def config_from_args(args: argparse.Namespace) -> ExtractionConfig:
    """The `ExtractionConfig` the options describe."""
    return dataclass_from_args(ExtractionConfig, args, sampling=dataclass_from_args(SamplingConfig, args))


def print_summary(faces, faces_csv, out: str) -> None:
    """One line: crops, videos, failures and where they are listed; one more when other runs still hold videos."""
    n_videos = faces["video_id"].nunique() if len(faces) else 0
    print(
        f"{len(faces)} crops of {n_videos} videos -> {faces_csv} (crops under {out}); "
        f"{faces.attrs.get('n_failed', 0)} videos failed (listed in {faces.attrs.get('failures_csv')})"
    )
    counts = faces.attrs.get("run_counts")
    if counts is not None:
        print(f"this run: {counts.get('done', 0)} videos extracted, {counts.get('failed', 0)} failed")
    if faces.attrs.get("n_busy"):
        owners = ", ".join(faces.attrs.get("busy_owners", []))
        print(
            f"{faces.attrs['n_busy']} videos were being extracted by another run ({owners}): the run that ends last "
            "writes the full manifest (or rerun with --merge-only once they have ended)"
        )


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.faces import extract_faces, faces_csv_for, merge_parts

    faces_csv = args.faces_out or faces_csv_for(args.index)
    if args.frames_are_crops:
        from deepfakeforensics._io import append_failures, load_table
        from deepfakeforensics.data.frame_folders import frames_as_crops
        from deepfakeforensics.data.manifest import write_manifest

        sampling = config_from_args(args).sampling
        if sampling.strategy not in ("uniform", "all"):
            print("dff extract: --frames-are-crops takes --strategy uniform (with --n-frames) or all")
            return 2
        faces, failures = frames_as_crops(
            load_table(args.index), sampling.n_frames if sampling.strategy == "uniform" else None
        )
        settings = {
            "frames_are_crops": True,
            "sampling": {"strategy": sampling.strategy, "n_frames": sampling.n_frames},
        }
        write_manifest(faces, faces_csv, faces.attrs["root"], extraction=settings)
        failures_csv = Path(args.failures_out or str(faces_csv)[: -len(".csv")] + "_failures.csv")
        failures_csv.unlink(missing_ok=True)
        append_failures(failures_csv, failures)
        print(
            f"{len(faces)} frames of {faces['video_id'].nunique()} videos listed as crops -> {faces_csv}; "
            f"{len(failures)} folders failed (listed in {failures_csv})"
        )
        return 0
    if args.merge_only:
        faces = merge_parts(faces_csv, args.out, args.failures_out)
    else:
        faces = extract_faces(
            args.index,
            args.out,
            config_from_args(args),
            shard=args.shard,
            failures_csv=args.failures_out,
            faces_csv=faces_csv,
            retry_failed=args.retry_failed,
            progress=not args.no_progress,
            stale_after=args.stale_after,
        )
    print_summary(faces, faces_csv, args.out)
    return 0
