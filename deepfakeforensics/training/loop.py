"""The training loop: `pass_epoch` (one pass, training or evaluation) and `train` (epochs, validation, files).

Files of a run, in ``<checkpoints_dir>/<run>/``: ``epoch_001.pt`` ... (weights and metrics of each epoch), ``best.pt``
(best validation AUC; on equal AUC the lower validation loss; when the validation set holds a single class, AUC is undefined and
the lowest validation loss selects instead), ``last.pt`` (everything needed to resume: model, optimiser, schedule,
scaler, RNG states, early-stopping state, history), ``history.csv`` and ``config.json``. All are written atomically by
rank 0, at the end of each epoch, in that order; every ``.pt`` loads with ``torch.load(weights_only=True)`` and
``models.load_model``. The test split is never read: `train` only sees the datasets it is given.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from deepfakeforensics._io import write_csv_atomic, write_json_atomic
from deepfakeforensics.models._weights import load_checkpoint, save_checkpoint, unwrap
from deepfakeforensics.training.callbacks import Callback, TrainState, default_callbacks
from deepfakeforensics.training.config import TrainConfig
from deepfakeforensics.training.distributed import (
    all_gather_objects,
    all_reduce_sum,
    barrier,
    setup_distributed,
)
from deepfakeforensics.training.sampling import EpochSampler, worker_init

log = logging.getLogger("deepfakeforensics.training")

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_auc", "val_acc", "lr", "seconds"]


class WarmupCosine:
    """Learning-rate factor at optimiser step `s`: linear warm-up to 1, then cosine down to `min_ratio`."""

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float) -> None:
        self.warmup_steps, self.total_steps, self.min_ratio = int(warmup_steps), int(total_steps), float(min_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def bce_loss(label_smoothing: float = 0.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """BCE-with-logits on fake logits; targets smoothed to ``y * (1 - s) + s / 2``."""

    def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = labels * (1 - label_smoothing) + 0.5 * label_smoothing
        return nn.functional.binary_cross_entropy_with_logits(logits.float(), target.float())

    return loss_fn


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weights only (not on biases and normalisation parameters)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: on CUDA bf16 where supported (else fp16); off on CPU unless asked (slow here)."""
    if config.amp == "off" or (config.amp == "auto" and device.type != "cuda"):
        return None
    if config.amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if config.amp not in ("bf16", "fp16"):
        raise ValueError(f"amp must be auto, off, bf16 or fp16, not {config.amp!r}")
    return torch.bfloat16 if config.amp == "bf16" else torch.float16


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
) -> dict[str, Any]:
    """One pass over `loader`: trains when `optimizer` is given, otherwise evaluates (no gradients).

    Returns ``{"loss_sum", "n", "lr"}`` and, when evaluating, ``"scores"`` (P(fake)) and ``"labels"`` arrays.
    """
    device = torch.device(device)
    training = optimizer is not None
    model.train(training)
    is_ddp = hasattr(model, "no_sync")
    n_batches = len(loader)
    loss_sum, n, lr = 0.0, 0, float("nan")
    scores: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    autocast = (
        torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else contextlib.nullcontext()
    )
    with torch.set_grad_enabled(training):
        for i, batch in enumerate(loader):
            x = batch[0].to(device, non_blocking=True)
            y = batch[1].to(device, non_blocking=True).float()
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            step_now = (i + 1) % accumulate == 0 or i + 1 == n_batches
            sync = model.no_sync() if training and is_ddp and not step_now else contextlib.nullcontext()
            with sync:
                with autocast:
                    logits = model(x)
                loss = loss_fn(logits.float(), y)
                if training:
                    scaled = loss / accumulate
                    (scaler.scale(scaled) if scaler is not None else scaled).backward()
            if training and step_now:
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                lr = optimizer.param_groups[0]["lr"]
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if scheduler is not None:
                    scheduler.step()
            if not training:
                scores.append(torch.sigmoid(logits.float()).cpu().numpy())
                labels.append(y.cpu().numpy())
            batch_loss = float(loss.detach())
            loss_sum += batch_loss * len(y)
            n += len(y)
            if on_batch is not None:
                on_batch(i, batch_loss)
    out: dict[str, Any] = {"loss_sum": loss_sum, "n": n, "lr": lr}
    if not training:
        out["scores"] = np.concatenate(scores) if scores else np.zeros(0, np.float32)
        out["labels"] = np.concatenate(labels) if labels else np.zeros(0, np.float32)
    return out


def binary_metrics(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(AUC, accuracy at 0.5). AUC is NaN when `labels` hold a single class."""
    from sklearn.metrics import roc_auc_score

    labels = labels.astype(int)
    acc = float(((scores >= 0.5).astype(int) == labels).mean()) if len(labels) else float("nan")
    auc = float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan")
    return auc, acc


def _rng_state() -> dict[str, Any]:
    """RNG states as tensors and plain data (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def _loader(ds: Dataset, batch_size: int, sampler: EpochSampler, config: TrainConfig, device: torch.device,
            drop_last: bool) -> DataLoader:  # fmt: skip
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=drop_last,
        pin_memory=device.type == "cuda",
        worker_init_fn=worker_init,
        generator=torch.Generator().manual_seed(config.seed),  # workers draw their seeds from it, not the global RNG
        persistent_workers=False,  # fresh workers each epoch see the dataset's current epoch
    )


def _model_summary(model: nn.Module) -> dict[str, Any]:
    m = unwrap(model)
    cfg = getattr(m, "default_cfg", None)
    return {
        "name": getattr(m, "name", type(m).__name__),
        "kwargs": dict(getattr(m, "init_kwargs", {})),
        "default_cfg": cfg.to_dict() if cfg is not None else None,
        "parameters": sum(p.numel() for p in m.parameters()),
    }


def is_better(score: float, loss: float, best_score: float, best_loss: float) -> bool:
    """Whether an epoch beats the best so far: higher validation score (AUC); on a tie, lower validation loss.

    AUC saturates at 1.0 on easy validation sets long before the model is calibrated, so ties are common.
    """
    return score > best_score or (score == best_score and loss < best_loss)


def train(
    model: nn.Module,
    train_ds: Dataset,
    val_ds: Dataset,
    config: TrainConfig,
    callbacks: Sequence[Callback] | None = None,
    extra_config: dict[str, Any] | None = None,
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
        extra_config: plain data recorded in ``config.json`` (e.g. the command line's dataset options).

    Example:
        >>> model = create_model("mesonet4")  # doctest: +SKIP
        >>> history = train(model, build_dataset(faces, "train", model, train=True), build_dataset(faces, "val", model),
        ...                 TrainConfig(run="meso", epochs=20))
    """
    info = setup_distributed(config.device)
    device = torch.device(info.device)
    run_dir = Path(config.checkpoints_dir) / config.run
    last_path = run_dir / "last.pt"
    callbacks = (default_callbacks() if callbacks is None else list(callbacks)) if info.is_main else []
    if config.accumulate < 1 or config.batch_size < 1:
        raise ValueError("batch_size and accumulate must be >= 1")
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError(f"empty dataset: {len(train_ds)} training and {len(val_ds)} validation items")
    if config.resume and not last_path.is_file():
        raise FileNotFoundError(f"{last_path}: nothing to resume (no last.pt in the run folder)")
    if not config.resume and last_path.is_file():
        raise FileExistsError(f"{run_dir} already holds a run: pass resume=True (--resume) or choose another run name")

    # CPU kernels used here are deterministic already (and the switch costs a 5 s import of torch._inductor);
    # on CUDA it selects deterministic kernels (warn-only) and turns cuDNN autotuning off.
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    set_deterministic = config.deterministic and device.type == "cuda" and not was_deterministic
    if set_deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    torch.manual_seed(config.seed + info.rank)
    np.random.seed(config.seed + info.rank)
    random.seed(config.seed + info.rank)

    base = unwrap(model)
    use_cl = bool(config.channels_last and getattr(getattr(base, "default_cfg", None), "channels_last", False))
    base.to(device)
    if use_cl:
        base.to(memory_format=torch.channels_last)
    if config.init and not config.resume:
        from deepfakeforensics.models import init_backbone

        init_backbone(base, config.init)

    # Samplers: every epoch's order is a function of (seed, epoch); each rank takes its shard.
    train_sampler = EpochSampler(train_ds.labels, shuffle=True, balanced=config.balanced, seed=config.seed,
                                 num_replicas=info.world_size, rank=info.rank, pad=True)  # fmt: skip
    val_sampler = EpochSampler(val_ds.labels, shuffle=False, num_replicas=info.world_size, rank=info.rank, pad=False)
    drop_last = len(train_sampler) > config.batch_size  # avoid a tiny last batch (BatchNorm), unless it is all
    train_loader = _loader(train_ds, config.batch_size, train_sampler, config, device, drop_last)
    val_loader = _loader(val_ds, config.val_batch_size or 2 * config.batch_size, val_sampler, config, device, False)
    batches = len(train_loader)
    steps_per_epoch = math.ceil(batches / config.accumulate)
    optimizer = make_optimizer(base, config)
    schedule = WarmupCosine(round(config.warmup_epochs * steps_per_epoch), config.epochs * steps_per_epoch,
                            config.min_lr_ratio)  # fmt: skip
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    dtype = amp_dtype(config, device)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    loss_fn = bce_loss(config.label_smoothing)
    state = TrainState(epochs=config.epochs, batches=batches, run_dir=str(run_dir))

    if config.resume:
        ckpt = load_checkpoint(last_path)
        base.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        rngs = ckpt["rng"]
        _set_rng_state(rngs[info.rank] if info.rank < len(rngs) else rngs[0])
        for key in ("epoch", "step", "best_epoch", "best_score", "best_loss", "bad_epochs", "stopped_early"):
            part = ckpt["early_stopping" if key.startswith(("best", "bad", "stopped")) else "progress"]
            setattr(state, key, part.get(key, getattr(state, key)))
        state.history = [dict(r) for r in ckpt["history"]]
        changed = {k: (v, getattr(config, k)) for k, v in ckpt["config"].items()
                   if k not in ("resume", "epochs", "init", "num_workers", "device") and getattr(config, k, v) != v}  # fmt: skip
        if changed and info.is_main:
            log.warning("resuming %s with a changed config (saved, now): %s", run_dir, changed)
    summary = {
        "train": config.to_dict(),
        "model": _model_summary(base),
        "train_data": train_ds.describe() if hasattr(train_ds, "describe") else {"items": len(train_ds)},
        "val_data": val_ds.describe() if hasattr(val_ds, "describe") else {"items": len(val_ds)},
        "world_size": info.world_size,
        "device": str(device),
        "amp": str(dtype) if dtype is not None else None,
        "channels_last": use_cl,
        "torch": torch.__version__,
        **(extra_config or {}),
    }
    if info.is_main:
        write_json_atomic(run_dir / "config.json", summary)

    net: nn.Module = base
    if info.distributed:
        net = nn.parallel.DistributedDataParallel(base, device_ids=[device.index] if device.type == "cuda" else None)

    for cb in callbacks:
        cb.on_train_start(state)
    try:
        while state.epoch < config.epochs and not state.stopped_early:
            state.epoch += 1
            epoch = state.epoch
            t0 = time.perf_counter()
            for obj in (train_sampler, train_ds, val_ds):
                obj.set_epoch(epoch)
            for cb in callbacks:
                cb.on_epoch_start(state)

            def on_batch(i: int, loss: float) -> None:
                for cb in callbacks:
                    cb.on_batch_end(state, i, loss)

            tr = pass_epoch(net, train_loader, loss_fn, optimizer, scheduler, scaler, device, dtype, use_cl,
                            config.grad_clip, config.accumulate, on_batch)  # fmt: skip
            state.step += steps_per_epoch
            if info.distributed:  # BatchNorm running stats drift per rank: validate and save rank 0's everywhere
                for buf in base.buffers():
                    torch.distributed.broadcast(buf.data, src=0)
            va = pass_epoch(base, val_loader, loss_fn, device=device, autocast_dtype=dtype, channels_last=use_cl)
            tr_sum, tr_n, va_sum, va_n = all_reduce_sum([tr["loss_sum"], tr["n"], va["loss_sum"], va["n"]], info)
            parts = all_gather_objects((va["scores"], va["labels"]), info)
            auc, acc = binary_metrics(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
            val_loss = va_sum / max(va_n, 1)
            row = {
                "epoch": epoch,
                "train_loss": tr_sum / max(tr_n, 1),
                "val_loss": val_loss,
                "val_auc": auc,
                "val_acc": acc,
                "lr": tr["lr"],
                "seconds": time.perf_counter() - t0,
            }
            state.history.append(row)
            score = auc if math.isfinite(auc) else -val_loss  # single-class validation: lower loss is better
            improved = is_better(score, val_loss, state.best_score, state.best_loss)
            if improved:
                state.best_score, state.best_loss, state.best_epoch, state.bad_epochs = score, val_loss, epoch, 0
            else:
                state.bad_epochs += 1
            if config.patience > 0 and state.bad_epochs >= config.patience and epoch < config.epochs:
                state.stopped_early = True
            rngs = all_gather_objects(_rng_state(), info)
            if info.is_main:
                _write_epoch(run_dir, base, config, state, row, improved, rngs, optimizer, scheduler, scaler)
            barrier(info)
            for cb in callbacks:
                cb.on_epoch_end(state, row)
    finally:
        for cb in callbacks:
            cb.on_train_end(state)
        if set_deterministic:
            torch.use_deterministic_algorithms(False)
    return pd.DataFrame(state.history, columns=HISTORY_COLUMNS)


def _write_epoch(run_dir: Path, model: nn.Module, config: TrainConfig, state: TrainState, row: dict[str, Any],
                 improved: bool, rngs: list[dict[str, Any]], optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler | None) -> None:  # fmt: skip
    """Write the epoch's files: epoch_NNN.pt, best.pt (if improved), history.csv, then last.pt."""
    common = {"epoch": row["epoch"], "metrics": dict(row), "config": config.to_dict()}
    if config.keep_epochs:
        save_checkpoint(run_dir / f"epoch_{row['epoch']:03d}.pt", model, **common)
    if improved:
        save_checkpoint(run_dir / "best.pt", model, **common)
    write_csv_atomic(pd.DataFrame(state.history, columns=HISTORY_COLUMNS), run_dir / "history.csv")
    save_checkpoint(
        run_dir / "last.pt",
        model,
        **common,
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        scaler=scaler.state_dict() if scaler is not None else {},
        rng=rngs,
        sampler={"seed": config.seed, "epoch": row["epoch"], "balanced": config.balanced},
        progress={"epoch": state.epoch, "step": state.step},
        early_stopping={
            "best_epoch": state.best_epoch,
            "best_score": state.best_score,
            "best_loss": state.best_loss,
            "bad_epochs": state.bad_epochs,
            "stopped_early": state.stopped_early,
        },
        history=[dict(r) for r in state.history],
    )
