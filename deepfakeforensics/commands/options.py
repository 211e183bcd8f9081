"""Dataclass configs as command-line options: one source for every option's name, type, default and help.

Each field of a config dataclass becomes ``--field-name`` (with an optional prefix); its help comes from
``field(metadata={"help": ...})``, its choices from a ``Literal`` type, its default from the dataclass. Commands call
`add_dataclass_arguments` when building their parser and `dataclass_from_args` to get the config back, so the
command line, the notebooks and the saved config.json cannot disagree.

Example:
    >>> import argparse
    >>> from dataclasses import dataclass, field
    >>> @dataclass(frozen=True)
    ... class Cfg:
    ...     n_frames: int = field(default=32, metadata={"help": "frames per video"})
    >>> parser = argparse.ArgumentParser()
    >>> add_dataclass_arguments(parser, Cfg)
    >>> dataclass_from_args(Cfg, parser.parse_args(["--n-frames", "8"]))
    Cfg(n_frames=8)
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Iterable
from typing import Any, Literal

_NONE = type(None)


def _option_kwargs(hint: Any, default: Any) -> dict[str, Any]:
    """argparse keyword arguments for one field type."""
    args = [a for a in typing.get_args(hint) if a is not _NONE]
    origin = typing.get_origin(hint)
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is Literal:
        return {"choices": list(typing.get_args(hint)), "type": type(typing.get_args(hint)[0])}
    if origin is tuple:
        inner = args[0] if args else str
        n = len(args) if Ellipsis not in args else "+"
        return {"type": inner, "nargs": n if n != 1 else "+"}
    if args and origin is not None:  # Optional[X] / X | None, possibly of a Literal
        return _option_kwargs(args[0], default) if len(args) == 1 else {"type": str}
    return {"type": hint if callable(hint) else str}


def option_name(field_name: str, prefix: str = "") -> str:
    """``--prefix-field-name`` for a dataclass field."""
    return f"--{prefix}{field_name.replace('_', '-')}"


def add_dataclass_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    prefix: str = "",
    skip: Iterable[str] = (),
    defaults: dict[str, Any] | None = None,
) -> None:
    """Add one option per field of dataclass `cls` to `parser`.

    Args:
        parser: a parser or an argument group.
        cls: the config dataclass; fields may carry ``metadata={"help": ...}`` and ``"aliases"`` (more option names
            for the same field, listed once in ``--help``, e.g. ``("--sampling",)`` beside ``--strategy``).
        prefix: prepended to every option (``"aug-"`` gives ``--aug-p-flip``) and, with ``-`` as ``_``, to its dest.
        skip: field names the command sets through options of its own.
        defaults: defaults that differ from the dataclass's (the command's own, stated in its help).
    """
    hints = typing.get_type_hints(cls)
    skip, defaults = set(skip), defaults or {}
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        default = defaults.get(f.name, f.default)
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        kwargs = _option_kwargs(hints[f.name], default)
        if kwargs.get("nargs") and isinstance(default, tuple):
            kwargs["metavar"] = tuple(f.name.upper() for _ in default) if kwargs["nargs"] == len(default) else None
            if kwargs["metavar"] is None:
                del kwargs["metavar"]
        parser.add_argument(
            option_name(f.name, prefix),
            *(f"--{prefix}{alias.lstrip('-')}" for alias in f.metadata.get("aliases", ())),
            dest=f"{prefix.replace('-', '_')}{f.name}",
            default=default,
            help=f.metadata.get("help"),
            **kwargs,
        )


def dataclass_from_args(cls: type, args: argparse.Namespace, prefix: str = "", **given: Any) -> Any:
    """Build `cls` from the options `add_dataclass_arguments` added (lists become tuples); `given` wins."""
    dest = prefix.replace("-", "_")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in given or not f.init or not hasattr(args, dest + f.name):
            continue
        value = getattr(args, dest + f.name)
        values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values, **given)


def dataclass_defaults(cls: type) -> dict[str, Any]:
    """Field name -> default of a dataclass (what a parser built by `add_dataclass_arguments` must give)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out
