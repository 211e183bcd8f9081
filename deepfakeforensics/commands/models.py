"""``dff models [PATTERN]``: list the registered models with their parameter count and input size."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style filter on model names (default: all)")


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.models import describe_models

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
