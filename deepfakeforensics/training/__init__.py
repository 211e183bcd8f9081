"""Training: ``train(model, train_ds, val_ds, TrainConfig(...))``, callbacks for logging, DDP under torchrun."""

from deepfakeforensics.training.callbacks import Callback, ConsoleLogger, TqdmProgress, TrainState, default_callbacks
from deepfakeforensics.training.config import TrainConfig
from deepfakeforensics.training.distributed import DistInfo, setup_distributed
from deepfakeforensics.training.loop import HISTORY_COLUMNS, WarmupCosine, binary_metrics, pass_epoch, train

__all__ = [
    "HISTORY_COLUMNS",
    "Callback",
    "ConsoleLogger",
    "DistInfo",
    "TqdmProgress",
    "TrainConfig",
    "TrainState",
    "WarmupCosine",
    "binary_metrics",
    "default_callbacks",
    "pass_epoch",
    "setup_distributed",
    "train",
]
