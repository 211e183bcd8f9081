"""Training callbacks: logging is a callback, so a notebook can add its own (a plot, a stopper) without the loop.

A callback overrides any of the hooks below; each receives the `TrainState` (read it, do not modify it). Raising
from a hook stops training (files already written stay valid: ``last.pt`` is written before ``on_epoch_end``).
Under DDP only rank 0 calls the callbacks.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("deepfakeforensics.training")


@dataclass
class TrainState:
    """What the loop exposes to callbacks."""

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


class Callback:
    """Base class: every hook does nothing."""

    def on_train_start(self, state: TrainState) -> None: ...

    def on_epoch_start(self, state: TrainState) -> None: ...

    def on_batch_end(self, state: TrainState, batch: int, loss: float) -> None: ...

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...


class ConsoleLogger(Callback):
    """Logs one line per epoch (and the start and end of the run) through the ``logging`` module, or print."""

    def __init__(self, use_print: bool = False) -> None:
        self.emit = print if use_print else log.info

    def on_train_start(self, state: TrainState) -> None:
        start = f" (resumed after epoch {state.epoch})" if state.epoch else ""
        self.emit(f"training {state.epochs} epochs into {state.run_dir}{start}")

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        best = " *best*" if state.best_epoch == row["epoch"] else ""
        self.emit(
            f"epoch {row['epoch']:3d}/{state.epochs}  train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}"
            f"  val_auc {row['val_auc']:.4f}  val_acc {row['val_acc']:.4f}  lr {row['lr']:.2e}"
            f"  {row['seconds']:.1f}s{best}"
        )

    def on_train_end(self, state: TrainState) -> None:
        why = "early stop" if state.stopped_early else "done"
        self.emit(f"{why}: best epoch {state.best_epoch} (score {state.best_score:.4f}) in {state.run_dir}")


class TqdmProgress(Callback):
    """A tqdm bar over the batches of each epoch, showing the running loss."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self.kwargs = {"leave": False, "dynamic_ncols": True, **tqdm_kwargs}
        self.bar = None
        self.total = 0.0

    def on_epoch_start(self, state: TrainState) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.batches, desc=f"epoch {state.epoch}/{state.epochs}", **self.kwargs)
        self.total = 0.0

    def on_batch_end(self, state: TrainState, batch: int, loss: float) -> None:
        self.total += loss
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{self.total / (batch + 1):.4f}")

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        self._close()

    def on_train_end(self, state: TrainState) -> None:
        self._close()  # an interrupted epoch leaves its bar open

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def default_callbacks() -> list[Callback]:
    return [ConsoleLogger(), TqdmProgress()]
