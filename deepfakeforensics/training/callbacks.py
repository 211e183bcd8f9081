"""Training callbacks: logging is a callback, so a notebook can add its own (a plot, a stopper) without the loop.

A callback overrides any of the hooks below; each receives the `TrainState` (read it, do not modify it). Raising
from a hook stops training (files already written stay valid: ``last.pt`` is written before ``on_epoch_end``).
Under DDP only rank 0 calls the callbacks given to `train`.

`EarlyStopping` is the one callback that changes the state: `train` adds it from ``TrainConfig.patience``, calls it
on every rank (all ranks see the same metrics, so they stop together) and before ``last.pt`` is written, so its
counters are saved and a resumed run stops where an uninterrupted one would.
"""

from __future__ import annotations

import logging
from typing import Any

from tqdm.auto import tqdm

from deepfakeforensics.models import trainable_summary
from deepfakeforensics.training.state import TrainState

log = logging.getLogger("deepfakeforensics.training")


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
        self.emit(f"training {state.epochs} epochs into {state.run_dir}{start}; {trainable_summary(state.model)}")

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


class EarlyStopping(Callback):
    """Stop when `patience` epochs in a row did not beat the best one (``patience=0``: never stop early).

    Counts in ``state.bad_epochs``; sets ``state.stopped_early``, which ends the loop after this epoch. The last
    planned epoch is never counted as an early stop.
    """

    def __init__(self, patience: int) -> None:
        self.patience = int(patience)

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        state.bad_epochs = 0 if state.best_epoch == row["epoch"] else state.bad_epochs + 1
        if 0 < self.patience <= state.bad_epochs and row["epoch"] < state.epochs:
            state.stopped_early = True


def default_callbacks() -> list[Callback]:
    """What `train` reports through when given no callbacks: a line per epoch and a progress bar."""
    return [ConsoleLogger(), TqdmProgress()]
