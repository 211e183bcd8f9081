"""`TrainState`: everything a run is at the end of an epoch, able to save and restore itself.

``state.state_dict()`` holds the model's weights, the optimiser, the learning-rate schedule, the AMP scaler, every
rank's RNG states, the progress (epoch, optimiser step), the best epoch so far and the early-stopping counters, and the
history: tensors and plain data only, so ``last.pt`` loads with ``torch.load(weights_only=True)``.
``state.load_state_dict(...)`` puts all of it back, which is why a resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from deepfakeforensics.training.distributed import DistInfo, all_gather_objects


def is_better(score: float, loss: float, best_score: float, best_loss: float) -> bool:
    """Whether an epoch beats the best so far: higher validation score (AUC); on a tie, lower validation loss.

    AUC saturates at 1.0 on easy validation sets long before the model is calibrated, so ties are common.
    """
    return score > best_score or (score == best_score and loss < best_loss)


def rng_state() -> dict[str, Any]:
    """This process's RNG states (torch, CUDA, NumPy's legacy global, Python) as tensors and plain data."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


@dataclass
class TrainState:
    """A run's state: what callbacks read, and what ``last.pt`` saves and a resume restores.

    Callbacks read it (only the early-stopping callback changes it). Under DDP `state_dict` is a collective call: every
    rank must call it, since it gathers every rank's RNG state.
    """

    model: nn.Module | None = field(default=None, repr=False)  # the model being trained (unwrapped from DDP)
    aux: nn.Module | None = field(default=None, repr=False)  # training-only heads (a projection), saved for resuming
    optimizer: torch.optim.Optimizer | None = field(default=None, repr=False)
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = field(default=None, repr=False)
    scaler: torch.amp.GradScaler | None = field(default=None, repr=False)  # fp16 only
    dist: DistInfo = field(default_factory=DistInfo, repr=False)  # where this process sits in the job
    epoch: int = 0  # current epoch (1-based once training starts)
    epochs: int = 0  # planned number of epochs
    step: int = 0  # optimiser steps so far
    batches: int = 0  # micro-batches per epoch on this process
    run_dir: str = ""  # folder of this run's files
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per finished epoch
    best_epoch: int = 0  # epoch of best.pt
    best_score: float = -math.inf  # the selection score of best.pt (val AUC, or -val loss when AUC is undefined)
    best_loss: float = math.inf  # validation loss of best.pt: breaks ties of the score (AUC saturates at 1.0)
    bad_epochs: int = 0  # epochs since the best one (early stopping)
    stopped_early: bool = False

    def record(self, row: dict[str, Any]) -> bool:
        """Append an epoch's metrics to the history; returns whether it is the best epoch so far (for best.pt)."""
        self.history.append(row)
        auc, loss = row["val_auc"], row["val_loss"]
        score = auc if math.isfinite(auc) else -loss  # single-class validation: lower loss is better
        if not is_better(score, loss, self.best_score, self.best_loss):
            return False
        self.best_score, self.best_loss, self.best_epoch = score, loss, row["epoch"]
        return True

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, as tensors and plain data (``"state_dict"`` holds the model's weights)."""
        return {
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()},
            "aux": {k: v.detach().cpu() for k, v in self.aux.state_dict().items()} if self.aux is not None else {},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "rng": all_gather_objects(rng_state(), self.dist),  # one entry per rank
            "progress": {"epoch": self.epoch, "step": self.step},
            "early_stopping": {
                "best_epoch": self.best_epoch,
                "best_score": self.best_score,
                "best_loss": self.best_loss,
                "bad_epochs": self.bad_epochs,
                "stopped_early": self.stopped_early,
            },
            "history": [dict(r) for r in self.history],
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (this rank takes its own RNG states, or rank 0's on a new layout)."""
        self.model.load_state_dict(saved["state_dict"])
        if self.aux is not None and saved.get("aux"):
            self.aux.load_state_dict(saved["aux"])
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.scaler is not None and saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        rngs = saved["rng"]
        set_rng_state(rngs[self.dist.rank] if self.dist.rank < len(rngs) else rngs[0])
        self.epoch, self.step = int(saved["progress"]["epoch"]), int(saved["progress"]["step"])
        for key, value in saved["early_stopping"].items():
            setattr(self, key, value)
        self.history = [dict(r) for r in saved["history"]]
        self.scheduler.load_state_dict(saved["scheduler"])
