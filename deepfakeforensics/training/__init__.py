"""Training: ``train_model(name, DataConfig(...), TrainConfig(...))`` (or ``train(model, train_ds, val_ds, config)``
on datasets of your own), callbacks for logging, DDP under torchrun, and the model comparisons (`train_plan`)."""

from deepfakeforensics.training.callbacks import Callback, ConsoleLogger, EarlyStopping, TqdmProgress, default_callbacks
from deepfakeforensics.training.config import DataConfig, TrainConfig, read_run_config
from deepfakeforensics.training.distributed import DistInfo, setup_distributed
from deepfakeforensics.training.epoch import binary_metrics, pass_epoch
from deepfakeforensics.training.loop import HISTORY_COLUMNS, train
from deepfakeforensics.training.optim import make_scheduler
from deepfakeforensics.training.plans import (
    COMPARISON_PLANS,
    DEFAULT_PLANS,
    VIDEO_PLANS,
    ModelPlan,
    plan_faces,
    select_plans,
    train_plan,
)
from deepfakeforensics.training.run import train_model
from deepfakeforensics.training.state import TrainState

__all__ = [
    "COMPARISON_PLANS",
    "DEFAULT_PLANS",
    "VIDEO_PLANS",
    "HISTORY_COLUMNS",
    "ModelPlan",
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
    "plan_faces",
    "read_run_config",
    "select_plans",
    "setup_distributed",
    "train",
    "train_model",
    "train_plan",
]
