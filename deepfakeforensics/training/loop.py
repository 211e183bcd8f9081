"""The training loop: `train` (set the run up with `setup.build_run`, restore it, loop) and `fit`, the loop itself
(an epoch of `epoch.pass_epoch`, validation, the epoch's files, callbacks), with what each epoch does.

Files of a run, in ``<checkpoints_dir>/<run>/``: ``epoch_001.pt`` ... (weights and metrics of each epoch), ``best.pt``
(best validation AUC; on equal AUC the lower validation loss; when the validation set holds a single class, AUC is
undefined and the lowest validation loss selects instead), ``last.pt`` (the whole `TrainState`: model, optimiser,
schedule, scaler, RNG states, early-stopping state, history), ``thresholds.json`` (the EER thresholds of best.pt's validation scores at frame or window level and at file
level with the ``mean`` aggregation: see `thresholds.validation_thresholds`), ``history.csv`` and ``config.json`` (the run's
`TrainConfig` under ``"train"``, its `DataConfig` under ``"data"``: see `read_run_config`). All are written atomically
by rank 0, at the end of each epoch, in that order; every ``.pt`` loads with ``torch.load(weights_only=True)`` and
``models.load_model``. The test split is never read: `train` only sees the datasets it is given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from deepfakeforensics._io import write_csv_atomic, write_json_atomic
from deepfakeforensics.data.datasets import WindowDataset
from deepfakeforensics.models import save_checkpoint
from deepfakeforensics.scoring.thresholds import validation_thresholds, write_thresholds
from deepfakeforensics.training.callbacks import Callback
from deepfakeforensics.training.config import DataConfig, TrainConfig
from deepfakeforensics.training.distributed import all_gather_objects, all_reduce_sum, barrier
from deepfakeforensics.training.epoch import binary_metrics, pass_epoch
from deepfakeforensics.training.phases import enter_phase, phase_at
from deepfakeforensics.training.setup import Run, build_run, restore_run, run_summary, sync_ddp

log = logging.getLogger("deepfakeforensics.training")

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_auc", "val_acc", "lr", "seconds"]


def train(
    model: nn.Module,
    train_ds: Dataset,
    val_ds: Dataset,
    config: TrainConfig,
    callbacks: Sequence[Callback] | None = None,
    extra_config: dict[str, Any] | None = None,
    data: DataConfig | None = None,
) -> pd.DataFrame:
    """Train `model` on `train_ds`, validating on `val_ds` after each epoch; returns the history (one row per epoch).

    Works unchanged under ``torchrun`` (DistributedDataParallel, sharded samplers, validation scores gathered over all
    ranks, only rank 0 writing files and calling callbacks). Seed the model's creation yourself (``dff train`` calls
    ``torch.manual_seed(config.seed)`` first); everything after is seeded from `config.seed`, and on CPU with
    ``deterministic=True`` two runs give identical weights, as does an interrupted run continued with ``resume=True``.

    Args:
        model: a `Detector` (frame models get a `FrameDataset`, temporal models a `WindowDataset`).
        train_ds, val_ds: datasets with ``labels`` and ``set_epoch`` (`FrameDataset`/`WindowDataset`).
        config: the `TrainConfig`.
        callbacks: default ``[ConsoleLogger(), TqdmProgress()]``; pass ``[]`` for silence or add your own.
            Early stopping (``config.patience``) is added by `train` itself.
        extra_config: plain data recorded in ``config.json`` (e.g. the command line's options).
        data: the run's `DataConfig`, saved in ``config.json``; by default rebuilt from the datasets' summaries.
            Its ``pair_sources`` makes the training batches of source units (`sampling.SourceBatchSampler`).

    Example:
        >>> model = create_model("mesonet4")  # doctest: +SKIP
        >>> history = train(model, build_dataset(faces, "train", model, train=True), build_dataset(faces, "val", model),
        ...                 TrainConfig(run="meso", epochs=20))
    """
    run = build_run(model, train_ds, val_ds, config, callbacks, pair_sources=bool(data and data.pair_sources))
    if config.resume:
        restore_run(run)
    if run.dist.is_main:
        write_json_atomic(run.run_dir / "config.json", run_summary(run, data, extra_config))
    with _deterministic_kernels(config, run.device):
        fit(run)
    return pd.DataFrame(run.state.history, columns=HISTORY_COLUMNS)


def fit(run: Run) -> None:
    """The loop: train an epoch, validate, record, let the stoppers decide, save, report; until done or stopped."""
    state, config = run.state, run.config
    _notify(run.callbacks, "on_train_start", state)
    try:
        while state.epoch < config.epochs and not state.stopped_early:
            state.epoch += 1
            started = time.perf_counter()
            for obj in (run.train_sampler, run.train_ds, run.val_ds):
                obj.set_epoch(state.epoch)
            start_phase(run)
            _notify(run.callbacks, "on_epoch_start", state)
            trained = train_epoch(run)
            state.step += run.steps_per_epoch
            row = validate(run, trained, started)
            improved = state.record(row)
            _notify(run.stoppers, "on_epoch_end", state, row)
            saved = state.state_dict()  # collective under DDP: every rank's RNG states
            if run.dist.is_main:
                write_epoch_files(run, row, improved, saved)
            barrier(run.dist)
            _notify(run.callbacks, "on_epoch_end", state, row)
    finally:
        _notify(run.callbacks, "on_train_end", state)


def train_epoch(run: Run) -> dict[str, Any]:
    """One epoch of training over the run's loader; the callbacks see every batch."""
    state, config = run.state, run.config
    return pass_epoch(
        run.net,
        run.train_loader,
        run.loss_fn,
        state.optimizer,
        state.scheduler,
        state.scaler,
        device=run.device,
        autocast_dtype=run.autocast,
        channels_last=run.channels_last,
        grad_clip=config.grad_clip,
        accumulate=config.accumulate,
        on_batch=lambda i, loss: _notify(run.callbacks, "on_batch_end", state, i, loss),
        lr_scale=run.lr_scale,
    )


def start_phase(run: Run) -> None:
    """Enter the phase of the current epoch: which parameters train, at which lr (no-op without phases)."""
    if not run.phases:
        return
    phase = phase_at(run.phases, run.state.epoch)
    enter_phase(run.state.model, phase, run.trainable)
    run.lr_scale = phase.lr / run.config.lr
    sync_ddp(run)


def _notify(callbacks: Sequence[Callback], hook: str, *args: Any) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args)


def validate(run: Run, trained: dict[str, Any], started: float) -> dict[str, Any]:
    """Validate the model after an epoch of training; returns the epoch's history row (metrics over all ranks)."""
    model = run.state.model
    if run.dist.distributed:  # BatchNorm running stats drift per rank: validate and save rank 0's everywhere
        for buf in model.buffers():
            torch.distributed.broadcast(buf.data, src=0)
    va = pass_epoch(
        model,
        run.val_loader,
        run.loss_fn,
        device=run.device,
        autocast_dtype=run.autocast,
        channels_last=run.channels_last,
    )
    tr_sum, tr_n, va_sum, va_n = all_reduce_sum([trained["loss_sum"], trained["n"], va["loss_sum"], va["n"]], run.dist)
    order = np.fromiter(iter(run.val_loader.sampler), dtype=np.int64)  # this rank's items, in the loader's order
    parts = all_gather_objects((va["scores"], va["labels"], order), run.dist)
    scores, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    auc, acc = binary_metrics(scores, labels)
    if run.dist.is_main:
        run.thresholds = epoch_thresholds(run, scores, labels, np.concatenate([p[2] for p in parts]))
    return {
        "epoch": run.state.epoch,
        "train_loss": tr_sum / max(tr_n, 1),
        "val_loss": va_sum / max(va_n, 1),
        "val_auc": auc,
        "val_acc": acc,
        "lr": trained["lr"],
        "seconds": time.perf_counter() - started,
    }


def epoch_thresholds(run: Run, scores: np.ndarray, labels: np.ndarray, items: np.ndarray) -> dict[str, Any]:
    """The epoch's validation thresholds (`thresholds.validation_thresholds`); `items` index the validation set."""
    meta = getattr(run.val_ds, "meta", None)
    ids = None
    if meta is not None and "video_id" in meta:
        # a video's self-blended pseudo-fakes (label 1) are another file than the real video they were made from
        ids = (meta["video_id"].astype(str) + "|" + meta["label"].astype(int).astype(str)).to_numpy()[items]
    tracks = meta["track"].to_numpy()[items] if ids is not None and "track" in meta else None
    level = "window" if isinstance(run.val_ds, WindowDataset) else "frame"
    return validation_thresholds(scores, labels, ids, run.state.epoch, level=level, tracks=tracks)


def write_epoch_files(run: Run, row: dict[str, Any], improved: bool, saved: dict[str, Any]) -> None:
    """Write the epoch's files: epoch_NNN.pt, best.pt and thresholds.json (if improved), history.csv, last.pt."""
    common = {"epoch": row["epoch"], "metrics": dict(row), "config": run.config.to_dict()}
    model = run.state.model
    if run.config.keep_epochs:
        save_checkpoint(run.run_dir / f"epoch_{row['epoch']:03d}.pt", model, **common)
    if improved:
        save_checkpoint(run.run_dir / "best.pt", model, **common)
        if run.thresholds is not None:
            write_thresholds(run.run_dir, run.thresholds)
    write_csv_atomic(pd.DataFrame(run.state.history, columns=HISTORY_COLUMNS), run.run_dir / "history.csv")
    state = {k: v for k, v in saved.items() if k != "state_dict"}  # save_checkpoint writes the weights itself
    sampler = {"seed": run.config.seed, "epoch": row["epoch"], "balanced": run.config.balanced}
    save_checkpoint(run.run_dir / "last.pt", model, **common, **state, sampler=sampler)


@contextlib.contextmanager
def _deterministic_kernels(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """On CUDA with ``deterministic``: deterministic kernels (warn-only) and no cuDNN autotuning, for the loop only.

    CPU kernels used here are deterministic already (and the switch costs a 5 s import of torch._inductor).
    """
    switch = config.deterministic and device.type == "cuda" and not torch.are_deterministic_algorithms_enabled()
    if switch:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        if switch:
            torch.use_deterministic_algorithms(False)
