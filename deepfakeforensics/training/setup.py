"""Setting a training run up, away from the loop: `build_run` (device and process group, checks, seeds, the model on
its device, loaders, objective, optimiser, schedule, `TrainState`, phases, the DDP wrapper), `restore_run` (last.pt
back into it) and `run_summary` (its config.json)."""

from __future__ import annotations

import gc
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from deepfakeforensics.data.datasets import FrameDataset, WindowDataset, verify_crops
from deepfakeforensics.models import init_backbone, load_checkpoint
from deepfakeforensics.models._weights import unwrap
from deepfakeforensics.training.callbacks import Callback, EarlyStopping, TqdmProgress, default_callbacks
from deepfakeforensics.training.config import DataConfig, TrainConfig, data_config_from_summaries
from deepfakeforensics.training.distributed import DistInfo, setup_distributed, trainable_names, wrap_ddp
from deepfakeforensics.training.loaders import make_loaders
from deepfakeforensics.training.objectives import Objective, TrainNet, method_targets, needs_train_net
from deepfakeforensics.training.optim import (
    amp_dtype,
    make_optimizer,
    make_scheduler,
    replan_scheduler,
    schedule_plan,
)
from deepfakeforensics.training.phases import Phase, check_phases, parse_phases
from deepfakeforensics.training.sampling import EpochSampler, SourceBatchSampler
from deepfakeforensics.training.state import TrainState

log = logging.getLogger("deepfakeforensics.training")

# TrainConfig fields a resumed run may change without a warning
_RESUMABLE_CHANGES = ("resume", "epochs", "init", "num_workers", "device")


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
    sampler, train_loader, val_loader = make_loaders(train_ds, val_ds, config, dist, device, pair_sources)
    steps_per_epoch = -(-len(train_loader) // config.accumulate)
    trainer, objective = make_objective(base, train_ds, config)
    trainer.to(device)
    dtype = amp_dtype(config, device)
    state = _new_state(base, trainer, config, dist, dtype, steps_per_epoch, len(train_loader), run_dir)
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


def _new_state(
    base: nn.Module,
    trainer: nn.Module,
    config: TrainConfig,
    dist: DistInfo,
    dtype: torch.dtype | None,
    steps_per_epoch: int,
    batches: int,
    run_dir: Path,
) -> TrainState:
    """The run's fresh `TrainState`: the optimiser over what `trainer` optimises, its schedule, the float16 scaler."""
    optimizer = make_optimizer(trainer, config)
    return TrainState(
        model=base,
        aux=getattr(trainer, "projection", None),
        optimizer=optimizer,
        scheduler=make_scheduler(optimizer, config, steps_per_epoch),
        scaler=torch.amp.GradScaler(torch.device(dist.device).type) if dtype == torch.float16 else None,
        dist=dist,
        epochs=config.epochs,
        batches=batches,
        run_dir=str(run_dir),
    )


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
