"""The configuration of a training run: `TrainConfig` (how to train), `DataConfig` (on what), `read_run_config`.

Both are frozen dataclasses whose fields carry their help text (``field(metadata={"help": ...})``): ``dff train``
builds its options from them, notebooks use their defaults, and each run saves them in its ``config.json`` (under
``"train"`` and ``"data"``), from which `read_run_config` gives them back typed.
"""

from __future__ import annotations

import json
import math
import os
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

from deepfakeforensics.data.transforms import AugmentConfig
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.errors import DFFError


@dataclass(frozen=True)
class TrainConfig:
    """Everything `train` needs besides the model and the datasets; ``dff train`` exposes each field as an option.

    Example:
        >>> cfg = TrainConfig(run="meso_ffpp", epochs=20, lr=1e-3)
        >>> cfg.replace(epochs=30).epochs
        30
    """

    run: str = field(default="run", metadata={"help": "run name: files go to <checkpoints_dir>/<run>/"})
    checkpoints_dir: str = field(default="checkpoints", metadata={"help": "parent folder of the runs"})
    epochs: int = field(default=10, metadata={"help": "passes over the training set"})
    batch_size: int = field(default=32, metadata={"help": "items per optimiser micro-batch (per process under DDP)"})
    val_batch_size: int = field(default=0, metadata={"help": "items per validation batch; 0 = 2 x batch_size"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate of AdamW (reached after warm-up)"})
    weight_decay: float = field(
        default=0.01, metadata={"help": "AdamW decoupled weight decay (not applied to biases and norm layers)"}
    )
    warmup_epochs: float = field(
        default=1.0, metadata={"help": "linear warm-up length, in epochs (fractions allowed; 0 = none)"}
    )
    min_lr_ratio: float = field(default=0.01, metadata={"help": "the cosine schedule ends at lr * min_lr_ratio"})
    grad_clip: float = field(default=1.0, metadata={"help": "clip the global gradient norm to this; 0 = no clipping"})
    accumulate: int = field(default=1, metadata={"help": "micro-batches per optimiser step (gradient accumulation)"})
    label_smoothing: float = field(default=0.0, metadata={"help": "BCE targets become y * (1 - s) + s / 2"})
    balanced: bool = field(
        default=False, metadata={"help": "class-balanced sampling: oversample the minority class each epoch"}
    )
    patience: int = field(
        default=5,
        metadata={"help": "stop after this many epochs without a better validation score; 0 = never stop early"},
    )
    amp: Literal["auto", "off", "bf16", "fp16"] = field(
        default="auto", metadata={"help": "mixed precision: auto (bf16/fp16 on CUDA, off on CPU), off, bf16, fp16"}
    )
    channels_last: bool = field(
        default=True, metadata={"help": "use channels_last memory when the model's default_cfg asks for it"}
    )
    num_workers: int = field(default=2, metadata={"help": "DataLoader worker processes (0 = load in the main process)"})
    seed: int = field(
        default=0, metadata={"help": "seeds the model init order, sampling orders, augmentations and dropout"}
    )
    deterministic: bool = field(
        default=True,
        metadata={"help": "CUDA: deterministic kernels (warn-only), no cuDNN autotuning; CPU is already"},
    )
    device: str = field(
        default="auto", metadata={"help": "auto (CUDA if present, per LOCAL_RANK under torchrun), cpu, cuda, cuda:1"}
    )
    resume: bool = field(
        default=False,
        metadata={"help": "continue the run from <run>/last.pt (model, optimiser, schedule, RNG, early stopping)"},
    )
    init: str | None = field(
        default=None,
        metadata={"help": "a trained frame model's checkpoint to start a temporal model's backbone from"},
    )
    keep_epochs: bool = field(
        default=True, metadata={"help": "keep epoch_NNN.pt of every epoch (weights and metrics only)"}
    )
    loss: Literal["bce", "focal"] = field(
        default="bce", metadata={"help": "loss of the fake logit: bce, or focal (Lin et al. 2017)"}
    )
    focal_gamma: float = field(default=2.0, metadata={"help": "focusing exponent of the focal loss"})
    supcon_weight: float = field(
        default=0.0,
        metadata={"help": "weight of a supervised contrastive loss on a training-only projection head; 0 = off"},
    )
    supcon_temperature: float = field(default=0.1, metadata={"help": "temperature of the supervised contrastive loss"})
    supcon_dim: int = field(default=128, metadata={"help": "output width of the training-only projection head"})
    method_column: str | None = field(
        default=None,
        metadata={"help": "manifest column of the manipulation method: adds a method softmax head (multi-task)"},
    )
    method_weight: float = field(default=0.1, metadata={"help": "weight of the method head's cross-entropy"})
    boundary_weight: float = field(
        default=0.0,
        metadata={
            "help": "weight of a blending-boundary head's masked BCE (Face X-ray style; targets from --pseudo-fakes "
            "sbi, the manifest's fakes masked out); adds the head (model option boundary=true); 0 = off"
        },
    )
    phases: str = field(
        default="",
        metadata={
            "help": "phased fine-tuning, PART:EPOCHS:LR,... with PART head (backbone frozen), last (its last stage "
            "too) or all, e.g. head:2:1e-3,last:2:3e-4,all:0:1e-4 (0 = the remaining epochs); empty = all from the "
            "start at --lr"
        },
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a saved config.json), ignoring keys that are not fields."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class DataConfig:
    """The data of a run: which crops it trained and validated on, cut and augmented how.

    Example:
        >>> data = DataConfig(faces="labels/ffpp_faces.csv", window=WindowConfig(window=8, stride=4))
        >>> DataConfig.from_dict(data.to_dict()) == data
        True
    """

    faces: str | None = field(
        default=None, metadata={"help": "faces manifest, e.g. labels/ffpp_faces.csv (None: a DataFrame was given)"}
    )
    train_split: str = field(default="train", metadata={"help": "split of the manifest to train on"})
    val_split: str = field(default="val", metadata={"help": "split to validate on (never 'test')"})
    missing: Literal["error", "skip"] = field(
        default="error", metadata={"help": "crops listed but missing or unreadable on disk: stop, or skip them"}
    )
    window: WindowConfig | None = field(
        default=None, metadata={"help": "how a temporal model's windows are cut (None for frame models)"}
    )
    augment: AugmentConfig | None = field(
        default=None, metadata={"help": "training augmentations (None: training crops are not augmented)"}
    )
    pseudo_fakes: Literal["none", "sbi", "sbi-lite"] = field(
        default="none",
        metadata={
            "help": "sbi: add one self-blended pseudo-fake (label 1) per real crop with landmarks, new each epoch in "
            "training, fixed in validation, by the published recipe (Shiohara and Yamasaki: real and fake made as a "
            "pair, one augmentation draw, one batch); sbi-lite: this toolkit's first, weaker recipe; trains on real "
            "videos only, or mixes with the manifest's fakes"
        },
    )

    pair_sources: bool = field(
        default=False,
        metadata={
            "help": "batches of source units: each real crop with its pseudo-fake and the manifest's fakes of the "
            "same source (source column, else group) at the nearest frame, kept in one batch; units shuffled per epoch"
        },
    )

    def __post_init__(self) -> None:
        if self.val_split == "test":
            raise ValueError("val_split='test': checkpoints are chosen on validation, never on the test split")
        if self.missing not in ("error", "skip"):
            raise ValueError(f"missing must be 'error' or 'skip', not {self.missing!r}")
        if self.pseudo_fakes not in ("none", "sbi", "sbi-lite"):
            raise ValueError(f"pseudo_fakes must be 'none', 'sbi' or 'sbi-lite', not {self.pseudo_fakes!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataConfig:
        """Build from a saved dict (nested window and augment dicts included), ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        if values.get("window") is not None:
            values["window"] = WindowConfig.from_dict(values["window"])
        if values.get("augment") is not None:
            values["augment"] = AugmentConfig.from_dict(values["augment"])
        return cls(**values)


WINDOW_KEYS = ("window", "stride", "short", "pad_mode")  # a legacy dataset summary's window fields


class RunConfigError(DFFError, ValueError):
    """A run's ``config.json`` that is damaged: truncated, not UTF-8, or a field of the wrong type or value."""


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a config field's type (ints for floats are fine; bools are not numbers)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (tuple, list):
        args = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            return False
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):  # list[X], tuple[X, ...]
            return not args or all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args, strict=True))
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and is_dataclass(hint):
        return isinstance(value, dict)
    return True  # a type this check does not know: left to the dataclass


def _check_fields(cls: type, values: Any, path: Path, where: str) -> None:
    """Raise `RunConfigError` naming `path` and the field when a saved value does not fit `cls`'s field types."""
    if not isinstance(values, dict):
        raise RunConfigError(f"{path}: field {where!r} is {values!r}; expected an object")
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name not in values:
            continue
        value, name = values[f.name], f"{where}.{f.name}"
        if not _matches(value, hints[f.name]):
            hint = hints[f.name]
            expected = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
            expected = expected.replace("deepfakeforensics.data.windows.", "").replace(
                "deepfakeforensics.data.transforms.", ""
            )
            raise RunConfigError(f"{path}: field {name!r} is {value!r}; expected {expected}")
        nested = [
            a for a in (hints[f.name], *typing.get_args(hints[f.name])) if isinstance(a, type) and is_dataclass(a)
        ]
        if nested and isinstance(value, dict):
            _check_fields(nested[0], value, path, name)


def _read_saved(run_dir: str | os.PathLike) -> tuple[Path, Any]:
    """``<run_dir>/config.json`` and its parsed JSON; `RunConfigError` naming the file when it is not UTF-8 JSON."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (is {run_dir} a training run folder?)")
    try:
        return path, json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RunConfigError(f"{path}: not UTF-8 text (byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise RunConfigError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); truncated?") from e


def read_run_config(run_dir: str | os.PathLike) -> tuple[TrainConfig, DataConfig]:
    """The `TrainConfig` and `DataConfig` a run saved in ``<run_dir>/config.json``.

    Runs saved before the ``"data"`` section existed get a `DataConfig` rebuilt from their dataset summaries.

    Raises:
        FileNotFoundError: the run folder has no config.json.
        RunConfigError: config.json is damaged: truncated, not UTF-8 JSON, or a field of the wrong type or value
            (the message names the file and the field).
        ValueError: config.json is not a run's configuration (no ``"train"`` section).
    """
    path, saved = _read_saved(run_dir)
    if not isinstance(saved, dict) or not isinstance(saved.get("train"), dict):
        raise ValueError(f"{path}: not a training run's config.json (no 'train' section)")
    _check_fields(TrainConfig, saved["train"], path, "train")
    for section in ("train_data", "val_data"):
        if saved.get(section) is not None and not isinstance(saved[section], dict):
            raise RunConfigError(f"{path}: field {section!r} is {saved[section]!r}; expected an object")
        summary = saved.get(section) or {}
        _check_fields(WindowConfig, {k: summary[k] for k in WINDOW_KEYS if k in summary}, path, section)
    if saved.get("data"):
        _check_fields(DataConfig, saved["data"], path, "data")
    try:
        train = TrainConfig.from_dict(saved["train"])
        if saved.get("data"):
            return train, DataConfig.from_dict(saved["data"])
        return train, data_config_from_summaries(saved.get("train_data") or {}, saved.get("val_data") or {}, saved)
    except (TypeError, ValueError) as e:  # a value of the right type the dataclasses refuse (window 0, ...)
        raise RunConfigError(f"{path}: {e}") from e


def recorded_crops(run_dir: str | os.PathLike) -> tuple[str, bool] | None:
    """The crop profile and alignment a run recorded in its ``config.json`` (``"crops"``); None for runs before it.

    Training records them from its faces manifest (`training.run.manifest_records`), so a run trained on a DataFrame
    (the notebooks' comparison plans) still says how its faces were cut.

    Raises:
        FileNotFoundError: the run folder has no config.json.
        RunConfigError: config.json is damaged, or its ``"crops"`` is not ``{"profile": str, "aligned": bool}``.
    """
    path, saved = _read_saved(run_dir)
    crops = saved.get("crops") if isinstance(saved, dict) else None
    if crops is None:
        return None
    if (
        not isinstance(crops, dict)
        or not isinstance(crops.get("profile"), str)
        or not isinstance(crops.get("aligned"), bool)
    ):
        raise RunConfigError(f"{path}: field 'crops' is {crops!r}; expected {{'profile': str, 'aligned': bool}}")
    return crops["profile"], crops["aligned"]


def recorded_sampling(run_dir: str | os.PathLike) -> SamplingConfig | None:
    """The frame sampling of the faces manifest a run trained on (``"sampling"`` in its ``config.json``, recorded
    from the manifest's extraction settings); None for runs before that record or manifests without settings.

    A run trained on clips of consecutive frames is scored on such clips (`runs.RunInfo.sampling`).

    Raises:
        FileNotFoundError: the run folder has no config.json.
        RunConfigError: config.json is damaged, or its ``"sampling"`` is not a valid `SamplingConfig`.
    """
    path, saved = _read_saved(run_dir)
    sampling = saved.get("sampling") if isinstance(saved, dict) else None
    if sampling is None:
        return None
    _check_fields(SamplingConfig, sampling, path, "sampling")
    known = {f.name for f in fields(SamplingConfig)}
    try:
        return SamplingConfig(**{k: v for k, v in sampling.items() if k in known})
    except (TypeError, ValueError) as e:
        raise RunConfigError(f"{path}: field 'sampling': {e}") from e


def data_config_from_summaries(
    train: dict[str, Any], val: dict[str, Any], saved: dict[str, Any] | None = None
) -> DataConfig:
    """A `DataConfig` rebuilt from the datasets' ``describe()`` summaries (and a config.json's top-level keys).

    For `train` called without a `DataConfig`, and for runs saved before config.json had its ``"data"`` section.
    """
    saved = saved or {}
    window = None
    if "window" in val:
        window = WindowConfig.from_dict({k: val[k] for k in WINDOW_KEYS if k in val})
    augment = train.get("augment")
    return DataConfig(
        faces=saved.get("faces", val.get("faces")),
        train_split=str(train.get("split", "train")),
        val_split=str(val.get("split", "val")),
        window=window,
        missing=saved.get("missing", train.get("missing", "error")),
        augment=AugmentConfig.from_dict(augment) if augment else None,
    )
