"""``dff demo-data --out demo/``: build the small FaceForensics++-shaped demo dataset."""

from __future__ import annotations

import argparse


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 384x288, got {text!r}") from None
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deepfakeforensics.demo.build import DemoConfig

    d = DemoConfig()
    parser.add_argument("--out", default="demo", help="destination folder (default: demo)")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default: {d.seed})")
    parser.add_argument("--identities", type=int, default=d.n_identities, help="number of people / real videos")
    parser.add_argument("--frames", type=int, default=d.n_frames, help="frames per video")
    parser.add_argument("--size", type=_size, default=d.size, help="frame size WIDTHxHEIGHT (default: 384x288)")
    parser.add_argument(
        "--face-range",
        type=int,
        nargs=2,
        default=d.face_range,
        metavar=("MIN", "MAX"),
        help=f"face box height range in pixels (default: {d.face_range[0]} {d.face_range[1]})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import time

    from deepfakeforensics.demo import build_demo_dataset, is_complete
    from deepfakeforensics.demo.build import DemoConfig

    try:
        config = DemoConfig(
            seed=args.seed,
            n_identities=args.identities,
            n_frames=args.frames,
            size=tuple(args.size),
            face_range=tuple(args.face_range),
        )
    except ValueError as err:
        print(f"error: {err}")
        return 2
    if is_complete(args.out, config):
        print(f"{args.out}: demo dataset already built with this config; nothing to do")
        return 0
    start = time.perf_counter()
    try:
        root = build_demo_dataset(args.out, config, progress=not args.quiet)
    except (FileExistsError, ValueError) as err:
        print(f"error: {err}")
        return 2
    print(f"built demo dataset in {root} in {time.perf_counter() - start:.1f} s; index it with:")
    print(f"  dff index {root} --dataset ffpp")
    return 0
