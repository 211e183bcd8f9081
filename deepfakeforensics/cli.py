"""The ``dff`` command line. Each subcommand lives in ``deepfakeforensics/commands/<name>.py`` and exposes

``add_arguments(parser)`` and ``run(args) -> int``; ``commands.COMMANDS`` holds each one's help line. Only the module of
the command being run is imported, so ``dff --help`` and each command start without loading the others.

Errors: an expected error of the library (`deepfakeforensics.errors.is_expected`: a bad input file, a full disk, a
bad option value) prints one or two lines naming the file, exit status 1; Ctrl-C prints one line, exit status 130;
anything else is a bug: its traceback is printed with a request to report it. ``--debug`` (or ``DFF_DEBUG=1``) shows
the traceback of every error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from deepfakeforensics.commands import COMMANDS, module_name
from deepfakeforensics.errors import is_expected

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
DEBUG_ENV = "DFF_DEBUG"
ISSUES_URL = "please report it as an issue in the repository you installed deepfakeforensics from"


def _debug_parent(top_level: bool) -> argparse.ArgumentParser:
    """The ``--debug`` option, accepted before and after the subcommand (a subcommand never resets it)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help=f"show the full traceback of any error (also: {DEBUG_ENV}=1)",
    )
    return parent


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``dff`` parser. Only `command`'s module is imported and given its options; None: every command's ("": none,
    enough for ``dff --help``)."""
    parser = argparse.ArgumentParser(
        prog="dff",
        description="deepfakeforensics: index datasets, extract faces, train, evaluate and predict deepfake detectors.",
        parents=[_debug_parent(top_level=True)],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub_parent = _debug_parent(top_level=False)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[sub_parent])
        if command is None or name == command:
            module = importlib.import_module(module_name(name))
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def requested_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (the first argument that is one), or None."""
    return next((a for a in argv if a in COMMANDS), None)


def debug_requested(args: argparse.Namespace | None = None) -> bool:
    """True when ``--debug`` was given or ``DFF_DEBUG`` is set to anything but empty/0/false/no."""
    env = os.environ.get(DEBUG_ENV, "").strip().lower()
    return bool(getattr(args, "debug", False)) or env not in ("", "0", "false", "no")


def report_error(exc: BaseException, debug: bool) -> int:
    """Print `exc` for a person (one or two lines, or the traceback of a bug) and return the exit status."""
    if isinstance(exc, KeyboardInterrupt):
        if debug:
            traceback.print_exception(exc)
        print("dff: interrupted (Ctrl-C); rerun the same command to resume where it stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    if is_expected(exc):
        if debug:
            traceback.print_exception(exc)
        message = str(exc) or type(exc).__name__
        print(f"dff: error: {message}", file=sys.stderr)
        if not debug:
            print(f"(--debug or {DEBUG_ENV}=1 shows the traceback)", file=sys.stderr)
        return EXIT_ERROR
    traceback.print_exception(exc)
    print(
        f"dff: unexpected {type(exc).__name__}: this is a bug in deepfakeforensics; please report it with the "
        f"traceback above and the command you ran ({ISSUES_URL})",
        file=sys.stderr,
    )
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dff`` with `argv` (default: ``sys.argv[1:]``) and return its exit status; errors are reported, not raised.

    Argument errors still exit through argparse (status 2, its usage line).
    """
    args = None
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(requested_command(argv) or "")
        args = parser.parse_args(argv)
        if getattr(args, "_run", None) is None:
            parser.print_help()
            return 0
        return int(args._run(args) or 0)
    except (Exception, KeyboardInterrupt) as exc:
        return report_error(exc, debug_requested(args))


if __name__ == "__main__":
    sys.exit(main())
