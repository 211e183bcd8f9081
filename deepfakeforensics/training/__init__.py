"""Training: ``train(model, train_ds, val_ds, TrainConfig(...))``, callbacks for logging, DDP under torchrun."""

from deepfakeforensics.training.callbacks import Callback, ConsoleLogger, EarlyStopping, TqdmProgress, default_callbacks
from deepfakeforensics.training.config import DataConfig, TrainConfig, read_run_config
from deepfakeforensics.training.distributed import DistInfo, setup_distributed
from deepfakeforensics.training.loop import HISTORY_COLUMNS, binary_metrics, pass_epoch, train
from deepfakeforensics.training.optim import make_scheduler
from deepfakeforensics.training.state import TrainState

__all__ = [
    "HISTORY_COLUMNS",
    "Callback",
    "ConsoleLogger",
    "DataConfig",
    "DistInfo",
    "EarlyStopping",
    "TqdmProgress",
    "TrainConfig",
    "TrainState",
    "binary_metrics",
    "default_callbacks",
    "make_scheduler",
    "pass_epoch",
    "read_run_config",
    "setup_distributed",
    "train",
]
