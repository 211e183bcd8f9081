"""Scoring a dataset: one row per readable item (frame or window) with its logit and P(fake), and its identity."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from deepfakeforensics._io import FAILURE_COLUMNS
from deepfakeforensics.data.collate import ReadableBatch, collate_readable


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


def _identified(dataset: Dataset) -> Dataset:
    """`dataset` returning each item's ids (a shallow copy of a face dataset with ``return_meta``), else itself."""
    if getattr(dataset, "return_meta", None) is False:
        dataset = copy.copy(dataset)
        dataset.return_meta = True
    return dataset


def _batch_rows(batch: ReadableBatch, position: int) -> np.ndarray:
    """Rows of the dataset's meta that the batch's readable items are (from the ids carried in the batch)."""
    if batch.ids is not None:
        return np.asarray(batch.ids["index"], dtype=np.int64)
    if batch.failures:
        raise RuntimeError("items were dropped from a batch that carries no ids: scores cannot be matched to items")
    return np.arange(position, position + len(batch.x))


def _check_ids(rows: pd.DataFrame, ids: dict[str, list]) -> None:
    """The meta rows picked by the carried indices must be the items whose ids the batches carried (a guard)."""
    for column, values in ids.items():
        if column in rows and list(rows[column].astype(str)) != [str(v) for v in values]:
            raise RuntimeError(f"scores do not match their items on column {column!r}")


@torch.inference_mode()
def _score_batches(
    model: nn.Module, loader: DataLoader, device: torch.device, progress: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, list], list[tuple[str, str]]]:
    """Logits, meta rows and carried ids of the readable items, and the ``(path, reason)`` of the unreadable ones."""
    channels_last = bool(getattr(getattr(model, "default_cfg", None), "channels_last", False))
    model.eval().to(device)
    logits, rows, failures, ids, position = [], [], [], {}, 0
    for batch in tqdm(loader, total=len(loader), desc="scoring", disable=not progress, leave=False):
        failures.extend(batch.failures)
        if len(batch.x) == 0:
            continue
        rows.append(_batch_rows(batch, position))
        position += len(batch.x) + len(batch.failures)
        for column, values in (batch.ids or {}).items():
            if column != "index":
                ids.setdefault(column, []).extend(values.tolist() if torch.is_tensor(values) else values)
        logits.append(model(_to_device(batch.x, device, channels_last)).float().reshape(-1).cpu().numpy())
    if not logits:
        return np.zeros(0), np.zeros(0, dtype=np.int64), ids, failures
    return np.concatenate(logits).astype(np.float64), np.concatenate(rows), ids, failures


def predict_scores(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every readable item of a `FrameDataset` or `WindowDataset`.

    Each row is the item whose pixels produced its score: rows are matched to items by the ids each batch carries
    (`collate_readable`), never by position, and an item whose crop cannot be read (an evaluation dataset built with
    ``missing="skip"``) is left out, never replaced by another.

    Args:
        model: a detector returning one fake logit per item.
        dataset: a face dataset, or any dataset of ``(tensor, label)`` items with a ``.meta`` DataFrame (one row per
            item, in item order: ``video_id, track, frame`` or ``start_frame``, ``label``, ``method``...).
        batch_size: items per forward pass.
        device: where to run the model.
        num_workers: DataLoader worker processes (decoding JPEGs in parallel).
        progress: show a progress bar.

    Returns:
        The dataset's meta rows of the scored items (in item order) with ``logit`` and ``score`` (= sigmoid(logit)
        = P(fake)) columns added. ``attrs["failures"]`` is a tuple of ``(path, reason)`` for every item left out as
        unreadable (empty when none was); `failures_table` turns it into a DataFrame (columns path, reason). A
        tuple, not a DataFrame, because pandas compares ``attrs`` when it concatenates tables (a DataFrame there
        makes ``pd.concat`` of two score tables raise).
    """
    meta = getattr(dataset, "meta", None)
    if meta is None:
        raise TypeError(f"{type(dataset).__name__} has no .meta table; predict_scores needs the identity of each item")
    if len(meta) != len(dataset):
        raise ValueError(f"dataset has {len(dataset)} items but its meta has {len(meta)} rows")
    loader = DataLoader(
        _identified(dataset), batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate_readable
    )
    logits, rows, ids, failures = _score_batches(model, loader, torch.device(device), progress)
    out = meta.iloc[rows].reset_index(drop=True).copy()
    _check_ids(out, ids)
    out["logit"] = logits
    out["score"] = torch.sigmoid(torch.from_numpy(logits)).numpy()
    out.attrs = {**meta.attrs, "failures": tuple(failures)}
    return out


def failures_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The items `predict_scores` left out as unreadable, as a DataFrame with columns path, reason."""
    return pd.DataFrame(list(scores.attrs.get("failures", ())), columns=FAILURE_COLUMNS)
