"""``dff train``: train a registered model on a faces manifest.

Every field of `TrainConfig`, `DataConfig` (splits, missing crops), `WindowConfig` (temporal models' windows) and
`AugmentConfig` (``--aug-*``) is an option, generated from the dataclass with its default and help: one source.

Examples:
    dff train --model mesonet4 --faces labels/ffpp_faces.csv --run meso_ffpp --epochs 20
    dff train --model mesonet4_lstm --faces labels/ffpp_faces.csv --run meso_lstm --window 8 --stride 4 \\
        --init checkpoints/meso_ffpp/best.pt
    dff train --model mesonet4 --faces labels/ffpp_faces.csv --run meso_ffpp --epochs 30 --resume
    dff train --model efficientnet_b0 --faces labels/reals_faces.csv --run b0_sbi --pseudo-fakes sbi   # reals only
    dff train --model xception --pretrained true --faces labels/ffpp_faces.csv --run xc --phases head:1:1e-3,all:0:2e-4
    dff train --model convnext_tiny --model-arg frequency=fft --model-arg srm=true --faces ... --run cnx_fft
    dff train --model clip_vit_l14 --pretrained true --model-arg peft=lora --model-arg peft_r=8 --faces ... --run clip
    dff train --model efficientnet_b0 --faces ... --run b0_mt --method-column method --loss focal --supcon-weight 0.1
    torchrun --nproc_per_node 4 -m deepfakeforensics.cli train --model efficientnet_b0 ...   # DDP
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from deepfakeforensics.commands.options import add_dataclass_arguments, dataclass_from_args
from deepfakeforensics.data.transforms import AugmentConfig
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.training.config import DataConfig, TrainConfig

# DataConfig fields the command sets through its own options or from other dataclasses
_DATA_OWN = ("faces", "window", "augment")


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
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--model", required=True, help="registered model name (see deepfakeforensics.list_models())")
    parser.add_argument("--faces", required=True, help="faces manifest, e.g. labels/ffpp_faces.csv")
    parser.add_argument("--run", required=True, help="run name: files go to <checkpoints-dir>/<run>/")
    parser.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model keyword argument or option (JSON value), e.g. hidden_size=256, frequency=fft, srm=true, "
        "peft=lora, temporal=transformer; repeatable",
    )
    parser.add_argument("--weights", default=None, help="start from this checkpoint's weights (whole model)")
    parser.add_argument(
        "--pretrained", default=None, help="backbone's published weights: 'true' (cache or download) or a local file"
    )
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True, help="training augmentation")
    add_dataclass_arguments(parser.add_argument_group("data (DataConfig)"), DataConfig, skip=_DATA_OWN)
    add_dataclass_arguments(parser.add_argument_group("temporal models' windows (WindowConfig)"), WindowConfig)
    add_dataclass_arguments(parser.add_argument_group("training (TrainConfig)"), TrainConfig, skip=("run",))
    add_dataclass_arguments(parser.add_argument_group("augmentation (AugmentConfig)"), AugmentConfig, prefix="aug-")


def run(args: argparse.Namespace) -> int:
    import logging

    from deepfakeforensics.training import setup_distributed
    from deepfakeforensics.training.distributed import cleanup_distributed
    from deepfakeforensics.training.run import train_model

    config = dataclass_from_args(TrainConfig, args, run=args.run)
    augment = dataclass_from_args(AugmentConfig, args, prefix="aug-") if args.augment else None
    data = DataConfig(  # refuses --val-split test (checkpoints are chosen on validation, never on test)
        faces=args.faces,
        train_split=args.train_split,
        val_split=args.val_split,
        missing=args.missing,
        window=dataclass_from_args(WindowConfig, args),
        augment=augment,
        pseudo_fakes=args.pseudo_fakes,
        pair_sources=args.pair_sources,
    )
    info = setup_distributed(config.device)
    logging.basicConfig(level=logging.INFO if info.is_main else logging.WARNING, format="%(message)s")
    pretrained: bool | str = False
    if args.pretrained is not None:
        pretrained = True if args.pretrained.lower() in ("1", "true", "yes") else args.pretrained
    extra = {"command": {k: v for k, v in vars(args).items() if not k.startswith("_")}}
    try:
        _, history = train_model(
            args.model,
            data,
            config,
            model_kwargs=_model_kwargs(args.model_arg),
            weights=args.weights,
            pretrained=pretrained,
            extra_config=extra,
        )
    finally:
        cleanup_distributed()
    if info.is_main and len(history):
        best = history.sort_values(["val_auc", "val_loss"], ascending=[False, True], na_position="last").iloc[0]
        print(
            f"{config.checkpoints_dir}/{config.run}: {len(history)} epochs; best val AUC {best['val_auc']:.4f} "
            f"at epoch {int(best['epoch'])}"
        )
    return 0
