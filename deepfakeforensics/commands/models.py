"""``dff models [PATTERN]``: list the registered models with their parameter count and input size;
``dff models --released``: the released detectors whose authors' files load here, with provenance and figures."""

from __future__ import annotations

import argparse
import fnmatch
import textwrap


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style filter on model names (default: all)")
    parser.add_argument(
        "--released",
        action="store_true",
        help="list the released detectors (SBI, DeepfakeBench, DFDC winner, polimi...): repository, files, licences, "
        "crop profile, published figures",
    )


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.models import describe_models
    from deepfakeforensics.models.released import describe_released

    if args.released:
        return _released(args.pattern, describe_released())

    rows = describe_models(args.pattern)
    if not rows:
        print(f"no registered model matches {args.pattern!r}")
        return 1
    print(f"{'model':<24}{'params':>14}  {'input (C,H,W)':<16}{'kind':<10}normalisation")
    for r in rows:
        size = "x".join(str(s) for s in r["input_size"])
        kind = "temporal" if r["temporal"] else "frame"
        print(f"{r['name']:<24}{r['params']:>14,}  {size:<16}{kind:<10}{r['normalisation']}")
    return 0


def _released(pattern: str, described: list[dict]) -> int:
    rows = [r for r in described if fnmatch.fnmatchcase(r["name"], pattern)]
    if not rows:
        print(f"no released detector matches {pattern!r}")
        return 1
    for r in rows:
        print(f"{r['name']}: {r['title']}")
        for key in ("repo", "files", "code_licence", "weights_licence", "profile", "input", "output", "video_rule"):
            print(textwrap.fill(f"{key}: {r[key]}", 118, initial_indent="  ", subsequent_indent="      "))
        for figure in r["published"]:
            print(textwrap.fill(f"published: {figure}", 118, initial_indent="  ", subsequent_indent="      "))
    print("use: dff predict VIDEOS --weights FILE (the detector is recognised from the file's layout)")
    return 0
