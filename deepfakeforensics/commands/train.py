"""``dff train``: train a registered model on a faces manifest; every `TrainConfig` field is an option.

Examples:
    dff train --model mesonet4 --faces labels/ffpp_faces.csv --run meso_ffpp --epochs 20
    dff train --model mesonet4_lstm --faces labels/ffpp_faces.csv --run meso_lstm --window 8 --stride 4 \\
        --init checkpoints/meso_ffpp/best.pt
    dff train --model mesonet4 --faces labels/ffpp_faces.csv --run meso_ffpp --epochs 30 --resume
    torchrun --nproc_per_node 4 -m deepfakeforensics.cli train --model efficientnet_b0 ...   # DDP
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

HELP = "Train a detector on a faces manifest (frame models on face crops, temporal models on windows of a track)."

# TrainConfig fields the command sets through its own options
_OWN = {"run"}


def _field_comments(cls: type) -> dict[str, str]:
    """The ``# comment`` after each field in the dataclass's source: the options' help text (one source)."""
    import inspect
    import re

    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    return {m[1]: m[2].strip() for m in re.finditer(r"^\s+(\w+): [^=]+=[^#\n]*#(.*)$", source, re.M)}


def _add_dataclass_options(parser: argparse.ArgumentParser, cls: type, prefix: str = "", skip: set[str] = _OWN) -> None:
    """One option per dataclass field (one source of truth for names, types and defaults)."""
    import typing

    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = f"--{prefix}{f.name.replace('_', '-')}"
        dest = f"{prefix.replace('-', '_')}{f.name}"
        hint = hints[f.name]
        if hint is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=f.default,
                                help=comments.get(f.name))  # fmt: skip
        elif typing.get_origin(hint) is tuple:
            inner = typing.get_args(hint)[0]
            parser.add_argument(flag, dest=dest, type=inner, nargs=2, default=f.default, metavar=("LOW", "HIGH"),
                                help=comments.get(f.name))  # fmt: skip
        else:
            base = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
            parser.add_argument(flag, dest=dest, type=base[0], default=f.default, help=comments.get(f.name))


def _from_args(cls: type, args: argparse.Namespace, prefix: str = "", **given: Any) -> Any:
    values = {f.name: getattr(args, f"{prefix.replace('-', '_')}{f.name}") for f in dataclasses.fields(cls)
              if f.name not in given}  # fmt: skip
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**values, **given)


def _model_kwargs(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--model-arg expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deepfakeforensics.training.config import TrainConfig
    from deepfakeforensics.transforms import AugmentConfig

    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--model", required=True, help="registered model name (see deepfakeforensics.list_models())")
    parser.add_argument("--faces", required=True, help="faces manifest, e.g. labels/ffpp_faces.csv")
    parser.add_argument("--run", required=True, help="run name: files go to <checkpoints-dir>/<run>/")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="model keyword argument (JSON value), e.g. hidden_size=256; repeatable")  # fmt: skip
    parser.add_argument("--weights", default=None, help="start from this checkpoint's weights (whole model)")
    parser.add_argument("--pretrained", default=None, help="backbone ImageNet weights: 'true' (download) or a path")
    parser.add_argument("--train-split", default="train", help="split of the manifest to train on")
    parser.add_argument("--val-split", default="val", help="split to validate on (never 'test')")
    parser.add_argument("--window", type=int, default=8, help="temporal models: frames per window")
    parser.add_argument("--stride", type=int, default=None, help="temporal models: rows between window starts")
    parser.add_argument("--short", choices=["pad", "drop"], default="pad", help="tracks shorter than the window")
    parser.add_argument("--pad-mode", choices=["repeat", "loop"], default="repeat", help="how short tracks are padded")
    parser.add_argument("--missing", choices=["error", "skip"], default="error", help="crops missing on disk")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True, help="training augmentation")
    _add_dataclass_options(parser.add_argument_group("training (TrainConfig)"), TrainConfig)
    _add_dataclass_options(parser.add_argument_group("augmentation (AugmentConfig)"), AugmentConfig, prefix="aug-",
                           skip=set())  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import logging

    from deepfakeforensics.training import TrainConfig, setup_distributed
    from deepfakeforensics.training.distributed import cleanup_distributed
    from deepfakeforensics.training.run import train_model
    from deepfakeforensics.transforms import AugmentConfig

    if args.val_split == "test":
        raise SystemExit("--val-split test: checkpoints are chosen on validation, never on the test split")
    config = _from_args(TrainConfig, args, run=args.run)
    augment = _from_args(AugmentConfig, args, prefix="aug-") if args.augment else False
    info = setup_distributed(config.device)
    logging.basicConfig(level=logging.INFO if info.is_main else logging.WARNING, format="%(message)s")
    pretrained: bool | str = False
    if args.pretrained is not None:
        pretrained = True if args.pretrained.lower() in ("1", "true", "yes") else args.pretrained
    extra = {"command": {k: v for k, v in vars(args).items() if not k.startswith("_")}}
    try:
        _, history = train_model(
            args.model, args.faces, config, model_kwargs=_model_kwargs(args.model_arg), weights=args.weights,
            pretrained=pretrained, augment=augment, train_split=args.train_split, val_split=args.val_split,
            window=args.window, stride=args.stride, short=args.short, pad_mode=args.pad_mode, missing=args.missing,
            extra_config=extra,
        )  # fmt: skip
    finally:
        cleanup_distributed()
    if info.is_main and len(history):
        best = history.sort_values(["val_auc", "val_loss"], ascending=[False, True], na_position="last").iloc[0]
        print(f"{config.checkpoints_dir}/{config.run}: {len(history)} epochs; best val AUC {best['val_auc']:.4f} "
              f"at epoch {int(best['epoch'])}")  # fmt: skip
    return 0
