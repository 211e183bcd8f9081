"""What a run optimises and how: the loss, AdamW, the learning-rate schedule (torch's own schedulers) and AMP."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR

from deepfakeforensics.training.config import TrainConfig

# The constants that define a schedule's plan (lengths, milestones), as opposed to its position.
_PLAN_KEYS = ("T_max", "eta_min", "total_iters", "start_factor", "end_factor", "_milestones")


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


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> LRScheduler:
    """Linear warm-up, then cosine decay: stepped once per optimiser step.

    The warm-up lasts ``round(warmup_epochs * steps_per_epoch)`` steps (fractional epochs allowed) and rises linearly
    from ``lr / warmup_steps`` to `lr`; the cosine then falls to ``lr * min_lr_ratio``, reached after the last step
    of the last epoch.
    """
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(max(0, round(config.warmup_epochs * steps_per_epoch)), total)
    cosine = CosineAnnealingLR(optimizer, T_max=max(1, total - warmup), eta_min=config.lr * config.min_lr_ratio)
    if warmup == 0:
        return SequentialLR(optimizer, [cosine], milestones=[])
    linear = LinearLR(optimizer, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup - 1)
    return SequentialLR(optimizer, [linear, cosine], milestones=[warmup])


def schedule_plan(state_dict: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan (lengths, milestones, end values) in a `SequentialLR` state dict, without its position."""
    parts = [state_dict, *state_dict.get("_schedulers", [])]
    return [{k: part[k] for k in _PLAN_KEYS if k in part} for part in parts]


def replan_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int, step: int
) -> LRScheduler:
    """A schedule planned by today's `config`, advanced to optimiser step `step`.

    For a run resumed with another number of epochs: its learning rate continues on the new plan, as if the run had
    been planned for that many epochs from the start.
    """
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"]
    scheduler = make_scheduler(optimizer, config, steps_per_epoch)
    with warnings.catch_warnings():  # stepping a schedule without optimiser steps is what we mean here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(step):
            scheduler.step()
    return scheduler


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: on CUDA bf16 where supported (else fp16); off on CPU unless asked (slow here)."""
    if config.amp == "off" or (config.amp == "auto" and device.type != "cuda"):
        return None
    if config.amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if config.amp not in ("bf16", "fp16"):
        raise ValueError(f"amp must be auto, off, bf16 or fp16, not {config.amp!r}")
    return torch.bfloat16 if config.amp == "bf16" else torch.float16
