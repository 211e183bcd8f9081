"""The training loop: `pass_epoch` (one pass, training or evaluation) and `train` (build the run, restore it, loop).

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
import gc
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, Dataset

from deepfakeforensics._io import write_csv_atomic, write_json_atomic
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset, verify_crops
from deepfakeforensics.models import init_backbone, load_checkpoint, save_checkpoint
from deepfakeforensics.models._weights import unwrap
from deepfakeforensics.scoring.thresholds import validation_thresholds, write_thresholds
from deepfakeforensics.training.callbacks import Callback, EarlyStopping, TqdmProgress, default_callbacks
from deepfakeforensics.training.config import DataConfig, TrainConfig, data_config_from_summaries
from deepfakeforensics.training.distributed import (
    DistInfo,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    setup_distributed,
    trainable_names,
    wrap_ddp,
)
from deepfakeforensics.training.objectives import Objective, TrainNet, method_targets, needs_train_net
from deepfakeforensics.training.optim import (
    amp_dtype,
    bce_loss,  # noqa: F401  (re-exported: pass_epoch callers import it from here)
    make_optimizer,
    make_scheduler,
    replan_scheduler,
    schedule_plan,
)
from deepfakeforensics.training.phases import Phase, check_phases, enter_phase, parse_phases, phase_at
from deepfakeforensics.training.sampling import (
    EpochSampler,
    SourceBatchSampler,
    pseudo_fake_pairs,
    source_units,
    worker_init,
)
from deepfakeforensics.training.state import TrainState

log = logging.getLogger("deepfakeforensics.training")

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_auc", "val_acc", "lr", "seconds"]

# TrainConfig fields a resumed run may change without a warning
_RESUMABLE_CHANGES = ("resume", "epochs", "init", "num_workers", "device")


def _optimizer_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    scaler: torch.amp.GradScaler | None,
    grad_clip: float,
    lr_scale: float = 1.0,
) -> float:
    """Unscale, clip, step (the schedule's lr times `lr_scale`: a phase's), zero the gradients, advance the schedule.

    Returns the learning rate just used.
    """
    if scaler is not None:
        scaler.unscale_(optimizer)
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] *= lr_scale
    lr = optimizer.param_groups[0]["lr"]
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    for group, value in zip(optimizer.param_groups, scheduled, strict=True):
        group["lr"] = value
    optimizer.zero_grad(set_to_none=True)
    if scheduler is not None:
        scheduler.step()
    return lr


def pass_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    grad_clip: float = 0.0,
    accumulate: int = 1,
    on_batch: Callable[[int, float], None] | None = None,
    lr_scale: float = 1.0,
) -> dict[str, Any]:
    """One pass over `loader`: trains when `optimizer` is given, otherwise evaluates (no gradients).

    `model` returns fake logits, or a dict with ``"logit"`` (`objectives.TrainNet`); a `loss_fn` with
    ``takes_outputs`` (`objectives.Objective`) receives the outputs, labels and the batch's item ids, any other
    ``loss_fn(logits, labels)``. `lr_scale` multiplies the scheduled learning rate at each step (phased fine-tuning).

    Returns ``{"loss_sum", "n", "lr"}`` and, when evaluating, ``"scores"`` (P(fake)) and ``"labels"`` arrays.
    """
    device, training = torch.device(device), optimizer is not None
    model.train(training)
    n_batches, is_ddp = len(loader), hasattr(model, "no_sync")
    res: dict[str, Any] = {"loss_sum": 0.0, "n": 0, "lr": float("nan")}
    scores, labels = [], []
    autocast = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with torch.set_grad_enabled(training):
        for i, batch in enumerate(loader):
            x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True).float()
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            step_now = (i + 1) % accumulate == 0 or i + 1 == n_batches
            no_sync = training and is_ddp and not step_now  # DDP: all-reduce gradients on the stepping batch only
            with model.no_sync() if no_sync else contextlib.nullcontext():
                with autocast:
                    out = model(x)
                logits = out["logit"] if isinstance(out, dict) else out
                if getattr(loss_fn, "takes_outputs", False):
                    loss = loss_fn(out, y, batch[2] if len(batch) > 2 else None)
                else:
                    loss = loss_fn(logits.float(), y)
                if training:
                    (scaler.scale(loss / accumulate) if scaler is not None else loss / accumulate).backward()
            if training and step_now:
                res["lr"] = _optimizer_step(model, optimizer, scheduler, scaler, grad_clip, lr_scale)
            if not training:
                scores.append(torch.sigmoid(logits.float()).cpu().numpy())
                labels.append(y.cpu().numpy())
            batch_loss = float(loss.detach())
            res["loss_sum"] += batch_loss * len(y)
            res["n"] += len(y)
            if on_batch is not None:
                on_batch(i, batch_loss)
    if not training:
        res["scores"] = np.concatenate(scores) if scores else np.zeros(0, np.float32)
        res["labels"] = np.concatenate(labels) if labels else np.zeros(0, np.float32)
    return res


def binary_metrics(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(AUC, accuracy at 0.5). AUC is NaN when `labels` hold a single class."""
    labels = labels.astype(int)
    acc = float(((scores >= 0.5).astype(int) == labels).mean()) if len(labels) else float("nan")
    auc = float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan")
    return auc, acc


@dataclass
class Run:
    """A training run, built and ready to loop: everything the loop needs besides its `TrainState`."""

    config: TrainConfig
    dist: DistInfo
    device: torch.device
    run_dir: Path
    net: nn.Module  # the model as trained: DistributedDataParallel-wrapped under torchrun (see `sync_ddp`)
    train_ds: Dataset
    val_ds: Dataset
    train_sampler: EpochSampler | SourceBatchSampler
    train_loader: DataLoader
    val_loader: DataLoader
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    autocast: torch.dtype | None
    channels_last: bool
    steps_per_epoch: int
    state: TrainState
    stoppers: list[Callback]  # change the state: every rank, before last.pt is written
    callbacks: list[Callback]  # report: rank 0 only, after the epoch's files
    phases: list[Phase] = field(default_factory=list)  # phased fine-tuning (empty: all parameters throughout)
    trainable: set[str] = field(default_factory=set)  # the model's parameters trainable before the run
    lr_scale: float = 1.0  # the current phase's lr / config.lr
    reduced: frozenset[str] | None = None  # under DDP: the parameters whose gradients `net` all-reduces
    thresholds: dict[str, Any] | None = None  # the last validation's thresholds.json record (rank 0)


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


def sync_ddp(run: Run) -> None:
    """Under DDP, (re)build ``run.net`` when the parameters that require grad are not those it reduces; else no-op.

    DDP registers its all-reduce hooks (and lays out its buckets) for the parameters that require grad when it is
    built, and ignores later changes of ``requires_grad``. A wrapper kept across a phase change fails either way:
    built over all parameters, the head phase leaves the frozen backbone without gradients and DDP raises "Expected
    to have finished reduction"; built over the head, the unfrozen backbone trains on each rank's own gradients and
    the ranks silently drift apart (tests/test_ddp_phases.py fails in both cases). One wrapper over every parameter with
    the frozen ones' gradients zeroed is no answer either: it all-reduces the whole backbone for nothing, needs
    ``find_unused_parameters`` (a graph walk per step), and AdamW's weight decay would move the frozen backbone (a zero
    gradient is not a missing one). So a new wrapper is built whenever the set changes (at a phase change, and at the
    first epoch of a run or a resumed run): it reduces exactly what trains, and it broadcasts rank 0's parameters and
    buffers, equal on every rank already (each rank restores the same last.pt), so ranks stay identical and a resumed
    run continues exactly. Nothing but ``run.net`` holds the wrapper (the optimiser holds the parameters themselves).
    """
    if not run.dist.distributed:
        return
    module, trainable = unwrap(run.net), trainable_names(unwrap(run.net))
    if trainable == run.reduced:
        return
    replacing = run.reduced is not None
    run.net, run.reduced = wrap_ddp(module, run.device), trainable
    if replacing:  # the old wrapper sits in a reference cycle: free its reducer (gradient-sized buckets) now
        gc.collect()


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


def build_run(
    model: nn.Module,
    train_ds: Dataset,
    val_ds: Dataset,
    config: TrainConfig,
    callbacks: Sequence[Callback] | None = None,
    pair_sources: bool = False,
) -> Run:
    """Set a run up: device and process group, seeds, the model on its device, loaders, optimiser, schedule, state.

    `pair_sources`: training batches of source units (a real, its pseudo-fake, its fakes) instead of single items.
    """
    dist = setup_distributed(config.device)
    device = torch.device(dist.device)
    run_dir = Path(config.checkpoints_dir) / config.run
    _check_run(config, train_ds, val_ds, run_dir)
    reporters = (default_callbacks() if callbacks is None else list(callbacks)) if dist.is_main else []
    check_crops([train_ds, val_ds], progress=any(isinstance(cb, TqdmProgress) for cb in reporters))
    _seed_everything(config.seed + dist.rank)
    base, use_cl = _place_model(model, config, device)
    sampler, train_loader, val_loader = _make_loaders(train_ds, val_ds, config, dist, device, pair_sources)
    steps_per_epoch = -(-len(train_loader) // config.accumulate)
    trainer, objective = make_objective(base, train_ds, config)
    trainer.to(device)
    optimizer = make_optimizer(trainer, config)
    dtype = amp_dtype(config, device)
    state = TrainState(
        model=base,
        aux=getattr(trainer, "projection", None),
        optimizer=optimizer,
        scheduler=make_scheduler(optimizer, config, steps_per_epoch),
        scaler=torch.amp.GradScaler(device.type) if dtype == torch.float16 else None,
        dist=dist,
        epochs=config.epochs,
        batches=len(train_loader),
        run_dir=str(run_dir),
    )
    phases = parse_phases(config.phases)
    trainable = {n for n, p in base.named_parameters() if p.requires_grad}
    check_phases(base, phases, trainable)
    run = Run(
        config,
        dist,
        device,
        run_dir,
        trainer,
        train_ds,
        val_ds,
        sampler,
        train_loader,
        val_loader,
        objective,
        dtype,
        use_cl,
        steps_per_epoch,
        state,
        stoppers=[EarlyStopping(config.patience)],
        callbacks=reporters,
        phases=phases,
        trainable=trainable,
    )
    sync_ddp(run)
    return run


def make_objective(model: nn.Module, train_ds: Dataset, config: TrainConfig) -> tuple[nn.Module, Objective]:
    """The module the run optimises (`model`, or a `TrainNet` around it for extra terms) and the loss.

    Raises:
        ValueError: ``method_column`` without a model method head, or a training set that returns no item ids;
            ``boundary_weight`` without a boundary head, or a training set without boundary targets.
    """
    if config.boundary_weight > 0:
        _check_boundary(model, train_ds)
    targets = None
    if config.method_column:
        if not hasattr(model, "methods"):
            raise ValueError("method_column needs a model with a method head: create_model(..., methods=[...])")
        if not getattr(train_ds, "return_meta", False):
            raise ValueError("method_column needs a training set built with return_meta=True (item ids)")
        targets = method_targets(train_ds.meta, config.method_column, model.methods)
    objective = Objective(config, targets)
    if not needs_train_net(config, model):
        return model, objective
    projection = config.supcon_dim if config.supcon_weight > 0 else 0
    return TrainNet(model, projection, boundary=config.boundary_weight > 0), objective


def _check_boundary(model: nn.Module, train_ds: Dataset) -> None:
    """Refuse ``boundary_weight > 0`` without a boundary head or without boundary targets in the training items."""
    if not hasattr(model, "boundary_logits"):
        raise ValueError(
            "boundary_weight > 0 needs a frame model with a boundary head: create_model(..., boundary=True) "
            "(temporal models have none)"
        )
    if not getattr(train_ds, "boundary", 0):
        raise ValueError("boundary_weight > 0 needs a training set built with boundary=<grid side> (its targets)")


def _check_run(config: TrainConfig, train_ds: Dataset, val_ds: Dataset, run_dir: Path) -> None:
    """Refuse a run that cannot work, or that would overwrite (or resume) a run that is not there."""
    if config.accumulate < 1 or config.batch_size < 1:
        raise ValueError("batch_size and accumulate must be >= 1")
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError(f"empty dataset: {len(train_ds)} training and {len(val_ds)} validation items")
    last = run_dir / "last.pt"
    if config.resume and not last.is_file():
        raise FileNotFoundError(f"{last}: nothing to resume (no last.pt in the run folder)")
    if not config.resume and last.is_file():
        raise FileExistsError(f"{run_dir} already holds a run: pass resume=True (--resume) or choose another run name")


def check_crops(datasets: Sequence[Dataset], progress: bool = True) -> None:
    """Check every crop the run will read (exists, not empty, sound JPEG header) before the first training step.

    Datasets built with ``missing="error"`` raise `CropReadError` listing every bad file at once (not one epoch in);
    with ``missing="skip"`` the bad files are logged and the datasets skip them while reading.
    """
    ours = [ds for ds in datasets if isinstance(ds, (FrameDataset, WindowDataset))]
    if not ours:
        return
    strict = any(ds.missing == "error" for ds in ours)
    problems = verify_crops(ours, progress=progress, raise_errors=strict)
    if len(problems):
        log.warning("%d face crop(s) cannot be read and will be skipped, e.g. %s", len(problems), problems.iloc[0, 0])


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _place_model(model: nn.Module, config: TrainConfig, device: torch.device) -> tuple[nn.Module, bool]:
    """The unwrapped model on `device` (channels_last when it asks for it), its backbone initialised if asked."""
    base = unwrap(model)
    use_cl = bool(config.channels_last and getattr(getattr(base, "default_cfg", None), "channels_last", False))
    base.to(device)
    if use_cl:
        base.to(memory_format=torch.channels_last)
    if config.init and not config.resume:
        init_backbone(base, config.init)
    return base, use_cl


def _make_loaders(
    train_ds: Dataset,
    val_ds: Dataset,
    config: TrainConfig,
    dist: DistInfo,
    device: torch.device,
    pair_sources: bool = False,
) -> tuple[EpochSampler | SourceBatchSampler, DataLoader, DataLoader]:
    """Loaders whose every epoch's order is a function of (seed, epoch); each rank takes its shard.

    With `pair_sources` the training loader's batches come whole from a `SourceBatchSampler`.
    """
    val_sampler = EpochSampler(val_ds.labels, shuffle=False, num_replicas=dist.world_size, rank=dist.rank, pad=False)
    val_loader = _loader(
        val_ds, config, device, batch_size=config.val_batch_size or 2 * config.batch_size, sampler=val_sampler
    )
    if pair_sources or _pairs_pseudo_fakes(train_ds, config):
        batches = _source_sampler(train_ds, config, dist, pseudo_fakes_only=not pair_sources)
        return batches, _loader(train_ds, config, device, batch_sampler=batches), val_loader
    train_sampler = EpochSampler(
        train_ds.labels,
        shuffle=True,
        balanced=config.balanced,
        seed=config.seed,
        num_replicas=dist.world_size,
        rank=dist.rank,
        pad=True,
    )
    drop_last = len(train_sampler) > config.batch_size  # avoid a tiny last batch (BatchNorm), unless it is all
    train_loader = _loader(
        train_ds, config, device, batch_size=config.batch_size, sampler=train_sampler, drop_last=drop_last
    )
    return train_sampler, train_loader, val_loader


def _pairs_pseudo_fakes(train_ds: Dataset, config: TrainConfig) -> bool:
    """Whether the training batches keep each real with its pseudo-fake: the published SBI recipe (``"sbi"``) made
    them as a pair; a class-balanced sampler draws items one by one instead."""
    return (
        isinstance(train_ds, (FrameDataset, WindowDataset)) and train_ds.pseudo_fakes == "sbi" and not config.balanced
    )


def _source_sampler(
    train_ds: Dataset, config: TrainConfig, dist: DistInfo, pseudo_fakes_only: bool = False
) -> SourceBatchSampler:
    """The `SourceBatchSampler` of a training set (`FrameDataset`/`WindowDataset`: it needs their item tables):
    source units (`source_units`), or with `pseudo_fakes_only` each real with its pseudo-fake (`pseudo_fake_pairs`)."""
    if config.balanced:
        raise ValueError("pair_sources and balanced exclude each other (source units pair reals with fakes already)")
    if not isinstance(train_ds, (FrameDataset, WindowDataset)):
        raise ValueError("pair_sources needs a FrameDataset or WindowDataset (it reads their sources and frames)")
    if pseudo_fakes_only:
        units = pseudo_fake_pairs(train_ds.pseudo_fake_index)
    else:
        units = source_units(train_ds.meta, train_ds.blended_from, train_ds.pseudo_fake_index)
    return SourceBatchSampler(units, config.batch_size, config.seed, num_replicas=dist.world_size, rank=dist.rank)


def _loader(ds: Dataset, config: TrainConfig, device: torch.device, **sampling: Any) -> DataLoader:
    """A DataLoader of `ds` with the run's workers; `sampling`: batch_size, sampler, drop_last or batch_sampler."""
    return DataLoader(
        ds,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=worker_init,
        generator=torch.Generator().manual_seed(config.seed),  # workers draw their seeds from it
        persistent_workers=False,  # fresh workers each epoch see the dataset's current epoch
        **sampling,
    )


def restore_run(run: Run) -> None:
    """Put the state saved in ``last.pt`` back into `run` (on a changed number of epochs, re-plan the schedule)."""
    saved = load_checkpoint(run.run_dir / "last.pt")
    state = run.state
    same_plan = schedule_plan(saved["scheduler"]) == schedule_plan(state.scheduler.state_dict())
    if not same_plan:
        saved = {**saved, "scheduler": state.scheduler.state_dict()}
    state.load_state_dict(saved)
    if not same_plan:
        state.scheduler = replan_scheduler(state.optimizer, run.config, run.steps_per_epoch, state.step)
    changed = {
        k: (v, getattr(run.config, k))
        for k, v in saved["config"].items()
        if k not in _RESUMABLE_CHANGES and getattr(run.config, k, v) != v
    }
    if changed and run.dist.is_main:
        log.warning("resuming %s with a changed config (saved, now): %s", run.run_dir, changed)


def run_summary(run: Run, data: DataConfig | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    """The run's config.json: its TrainConfig, DataConfig, model, datasets and environment, as plain data."""
    train_data = run.train_ds.describe() if hasattr(run.train_ds, "describe") else {"items": len(run.train_ds)}
    val_data = run.val_ds.describe() if hasattr(run.val_ds, "describe") else {"items": len(run.val_ds)}
    model = run.state.model
    cfg = getattr(model, "default_cfg", None)
    return {
        "train": run.config.to_dict(),
        "data": (data or _data_config(run, train_data, val_data)).to_dict(),
        "model": {
            "name": getattr(model, "name", type(model).__name__),
            "kwargs": dict(getattr(model, "init_kwargs", {})),
            "default_cfg": cfg.to_dict() if cfg is not None else None,
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        "train_data": train_data,
        "val_data": val_data,
        "world_size": run.dist.world_size,
        "device": str(run.device),
        "amp": str(run.autocast) if run.autocast is not None else None,
        "channels_last": run.channels_last,
        "torch": torch.__version__,
        **(extra or {}),
    }


def _data_config(run: Run, train_data: dict[str, Any], val_data: dict[str, Any]) -> DataConfig:
    """The DataConfig of datasets given to `train` directly, from their summaries and missing-crop policy."""
    return data_config_from_summaries(train_data, val_data, {"missing": getattr(run.train_ds, "missing", "error")})


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
