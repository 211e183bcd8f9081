"""One pass over a loader (`pass_epoch`: training when given an optimiser, evaluation otherwise), the optimiser step
it takes (gradient accumulation, AMP scaling, clipping, a phase's lr scale), and `binary_metrics` of its scores."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader


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
