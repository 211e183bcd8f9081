"""Scoring a dataset: one row per item (frame or window) with its logit and P(fake), aligned with the dataset's meta."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    device: str | torch.device = "cpu",
    total: int | None = None,
    progress: bool = False,
    desc: str = "scoring",
) -> np.ndarray:
    """Fake logits of `model` over an iterable of input batches, concatenated (float64)."""
    device = torch.device(device)
    cfg = getattr(model, "default_cfg", None)
    channels_last = bool(getattr(cfg, "channels_last", False))
    model.eval().to(device)
    out = []
    for x in tqdm(batches, total=total, desc=desc, disable=not progress, leave=False):
        out.append(model(_to_device(x, device, channels_last)).float().reshape(-1).cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def predict_scores(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every item of a `FrameDataset` or `WindowDataset` (in order).

    Args:
        model: a detector returning one fake logit per item.
        dataset: yields ``(tensor, label)``; its ``.meta`` DataFrame (one row per item, in item order) gives the
            identity columns (``video_id, track, frame`` or ``start_frame``, ``label``, ``method``...).
        batch_size: items per forward pass.
        device: where to run the model.
        num_workers: DataLoader worker processes (decoding JPEGs in parallel).
        progress: show a progress bar.

    Returns:
        The dataset's meta with ``logit`` and ``score`` (= sigmoid(logit) = P(fake)) columns added.
    """
    meta = getattr(dataset, "meta", None)
    if meta is None:
        raise TypeError(f"{type(dataset).__name__} has no .meta table; predict_scores needs the identity of each item")
    if len(meta) != len(dataset):
        raise ValueError(f"dataset has {len(dataset)} items but its meta has {len(meta)} rows")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    batches = (batch[0] for batch in loader)
    logits = predict_logits(model, batches, device=device, total=len(loader), progress=progress)
    out = meta.reset_index(drop=True).copy()
    out["logit"] = logits
    out["score"] = torch.sigmoid(torch.from_numpy(logits)).numpy()
    return out
