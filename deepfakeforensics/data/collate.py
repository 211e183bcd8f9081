"""Batches that survive unreadable crops: an evaluation item that cannot be read is dropped from its batch and
reported with it (`collate_readable`), never replaced by another item's pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch.utils.data import default_collate


@dataclass(frozen=True)
class UnreadableItem:
    """What an evaluation dataset (``train=False, missing="skip"``) returns for an item whose crop cannot be read.

    `collate_readable` drops it from the batch and reports ``(path, reason)``; `shape` is an item's tensor shape, so
    a batch of nothing but unreadable items still has a well-formed (empty) input tensor.
    """

    index: int
    path: str
    reason: str
    shape: tuple[int, ...]


class ReadableBatch(NamedTuple):
    """A batch from `collate_readable`: ``batch[0]`` and ``batch[1]`` are the inputs and labels as usual.

    Attributes:
        x: inputs of the readable items (first dimension 0 when none was readable).
        y: their labels.
        ids: their identities (``video_id``, ``track``, ``frame`` or ``start_frame``/``end_frame``, and ``index``,
            the item's row in the dataset's ``meta``) when the dataset returns them (``return_meta``), else None.
        failures: ``(path, reason)`` of every item of the batch that was dropped as unreadable.
    """

    x: torch.Tensor
    y: torch.Tensor
    ids: dict[str, Any] | None
    failures: list[tuple[str, str]]


def collate_readable(items: Sequence[tuple | UnreadableItem]) -> ReadableBatch:
    """DataLoader ``collate_fn`` that drops unreadable items and carries their failures with the batch.

    It runs where the batch is built (a worker process, with ``num_workers > 0``), so the failures reach the main
    process inside the batch, never through the dataset object.

    Example:
        >>> loader = DataLoader(ds, batch_size=32, collate_fn=collate_readable)  # doctest: +SKIP
        >>> for x, y, ids, failures in loader: ...  # doctest: +SKIP
    """
    good = [it for it in items if not isinstance(it, UnreadableItem)]
    failures = [(it.path, it.reason) for it in items if isinstance(it, UnreadableItem)]
    if not good:
        return ReadableBatch(torch.zeros((0, *items[0].shape)), torch.zeros(0), None, failures)
    fields = default_collate(good)
    return ReadableBatch(fields[0], fields[1], fields[2] if len(fields) > 2 else None, failures)
