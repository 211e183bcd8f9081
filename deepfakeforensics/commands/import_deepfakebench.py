"""``dff import-deepfakebench JSON --root DATA_ROOT --out labels/NAME_faces.csv [--split test]``: DeepfakeBench's
preprocessed frames as a faces manifest (its frames are the crops: nothing is extracted), ready for ``dff evaluate
--protocol deepfakebench``. The rules are `deepfakeforensics.interop.deepfakebench`'s.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def parse_label(text: str) -> tuple[str, int]:
    """``NAME=0`` or ``NAME=1`` -> (NAME, value)."""
    name, sep, value = text.rpartition("=")
    if not sep or not name or value not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"--label {text!r}: expected NAME=0 (real) or NAME=1 (fake)")
    return name, int(value)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("json", help="DeepfakeBench dataset JSON (preprocessing/dataset_json/NAME.json)")
    p.add_argument("--root", required=True, help="folder its frames live under now (e.g. DeepfakeBench/datasets/rgb)")
    p.add_argument("--out", required=True, help="faces manifest to write, e.g. labels/celebdf_dfb_faces.csv")
    p.add_argument(
        "--split",
        default="test",
        choices=["train", "val", "test", "all"],
        help="split to import (default test); all: every split, each video in the first of test, val, train",
    )
    p.add_argument("--compression", help="FF++ family: compression level to import (default c23 or the only one)")
    p.add_argument(
        "--label",
        type=parse_label,
        action="append",
        default=[],
        metavar="NAME=0|1",
        help="map a label name DeepfakeBench's label_dict lacks (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics._io import append_failures
    from deepfakeforensics.data.manifest import write_manifest
    from deepfakeforensics.interop.deepfakebench import import_deepfakebench

    split = None if args.split == "all" else args.split
    result = import_deepfakebench(args.json, args.root, split, args.compression, dict(args.label))
    faces = result.faces
    write_manifest(faces, args.out, faces.attrs["root"], **{k: v for k, v in faces.attrs.items() if k != "root"})
    failures_csv = args.out[: -len(".csv")] + "_failures.csv" if args.out.endswith(".csv") else args.out + ".failures"
    Path(failures_csv).unlink(missing_ok=True)  # a rerun replaces the previous run's list
    append_failures(failures_csv, result.failures)
    n_videos = faces["video_id"].nunique() if len(faces) else 0
    print(f"{args.json} -> {args.out}: {len(faces)} frames of {n_videos} videos (root {faces.attrs['root']})")
    if len(faces):
        print(faces.groupby(["split", "method", "label"])["video_id"].nunique().rename("videos").to_string())
    print(
        f"{result.dropped_listings} listings of these videos in other splits dropped (a video is in one split only); "
        f"{result.dropped_leaks} videos dropped because their group is in a split listed first (test, val, train)"
    )
    for note in result.notes:
        print(f"note: {note}")
    if result.failures:
        print(f"{len(result.failures)} frames not found under the root (listed in {failures_csv}), e.g.:")
        for path, reason in result.failures[:3]:
            print(f"  {path}: {reason}")
    return 0
