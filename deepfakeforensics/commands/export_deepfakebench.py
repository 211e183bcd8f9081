"""``dff export-deepfakebench labels/NAME_faces.csv --out NAME.json --dataset NAME``: a faces manifest's crops as a
DeepfakeBench dataset JSON, so a run here can be compared inside DeepfakeBench. The rules are
`deepfakeforensics.interop.deepfakebench.export_deepfakebench`'s.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("faces", help="faces manifest (dff extract or dff import-deepfakebench)")
    p.add_argument(
        "--out", required=True, help="JSON to write (DeepfakeBench reads preprocessing/dataset_json/NAME.json)"
    )
    p.add_argument(
        "--dataset", required=True, help="dataset name: the JSON's top key and its file name in DeepfakeBench"
    )
    p.add_argument(
        "--frames-dir",
        help="folder for numbered links to crops not named by a number (dff extract's <track>_<frame>.jpg)",
    )
    p.add_argument("--prefix", default="datasets/rgb", help="folder the paths start with (DeepfakeBench's rgb_dir)")
    p.add_argument("--split", choices=["train", "val", "test"], help="export only this split (default all)")


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.data.manifest import read_manifest
    from deepfakeforensics.interop.deepfakebench import KNOWN_LABELS, export_deepfakebench

    faces = read_manifest(args.faces)
    if args.split is not None and "split" in faces.columns:
        faces = faces[faces["split"] == args.split]
    names = export_deepfakebench(faces, args.out, args.dataset, args.frames_dir, args.prefix)
    n = faces.groupby(["video_id", "track"]).ngroups if len(faces) else 0
    print(f"{args.faces} -> {args.out}: {n} videos, {len(faces)} frames, labels {sorted(names)}")
    print(f"paths start with ./{args.prefix}/: place {faces.attrs['root']} (or --frames-dir) there in DeepfakeBench")
    missing = {k: v for k, v in names.items() if k not in KNOWN_LABELS}
    if missing:
        print("add to label_dict in DeepfakeBench's training/config/test_config.yaml:")
        for name, value in sorted(missing.items()):
            print(f"  {name}: {value}")
    return 0
