"""The ``dff`` command line. Each subcommand lives in ``deepfakeforensics/commands/<name>.py`` and exposes

``NAME`` (the subcommand, defaults to the module name with ``_`` -> ``-``), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Heavy imports belong inside ``run`` so ``dff --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from deepfakeforensics import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dff",
        description="deepfakeforensics: index datasets, extract faces, train, evaluate and predict deepfake detectors.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        name = getattr(module, "NAME", info.name.replace("_", "-"))
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
