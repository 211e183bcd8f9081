"""The training configuration: one frozen dataclass, its defaults commented next to them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """Everything `train` needs besides the model and the datasets; ``dff train`` exposes each field as an option.

    Example:
        >>> cfg = TrainConfig(run="meso_ffpp", epochs=20, lr=1e-3)
        >>> cfg.replace(epochs=30).epochs
        30
    """

    run: str = "run"  # run name: files go to <checkpoints_dir>/<run>/
    checkpoints_dir: str = "checkpoints"  # parent folder of the runs
    epochs: int = 10  # passes over the training set
    batch_size: int = 32  # items per optimiser micro-batch (per process under DDP)
    val_batch_size: int = 0  # items per validation batch; 0 = 2 x batch_size
    lr: float = 1e-3  # peak learning rate of AdamW (reached after warm-up)
    weight_decay: float = 0.01  # AdamW decoupled weight decay (not applied to biases and norm layers)
    warmup_epochs: float = 1.0  # linear warm-up length, in epochs (fractions allowed)
    min_lr_ratio: float = 0.01  # the cosine schedule ends at lr * min_lr_ratio
    grad_clip: float = 1.0  # clip the global gradient norm to this; 0 = no clipping
    accumulate: int = 1  # micro-batches per optimiser step (gradient accumulation)
    label_smoothing: float = 0.0  # BCE targets become y * (1 - s) + s / 2
    balanced: bool = False  # class-balanced sampling: oversample the minority class each epoch
    patience: int = 5  # stop after this many epochs without a better validation score; 0 = never stop early
    amp: str = "auto"  # mixed precision: auto (bf16/fp16 on CUDA, off on CPU), off, bf16, fp16
    channels_last: bool = True  # use channels_last memory when the model's default_cfg asks for it
    num_workers: int = 2  # DataLoader worker processes (0 = load in the main process)
    seed: int = 0  # seeds the model init order, sampling orders, augmentations and dropout
    deterministic: bool = True  # CUDA: deterministic kernels (warn-only), no cuDNN autotuning; CPU is already
    device: str = "auto"  # auto (CUDA if present, per LOCAL_RANK under torchrun), cpu, cuda, cuda:1, ...
    resume: bool = False  # continue the run from <run>/last.pt (model, optimiser, schedule, RNG, early stopping)
    init: str | None = None  # a trained frame model's checkpoint to start a temporal model's backbone from
    keep_epochs: bool = True  # keep epoch_NNN.pt of every epoch (weights and metrics only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        from dataclasses import replace

        return replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a saved config.json), ignoring keys that are not fields."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
