"""Sampling for training: a deterministic, resumable (and class-balanced, distributed) sampler and worker set-up."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """Deterministic, resumable sampler: each epoch's order is a function of ``(seed, epoch)`` only.

    Also the class-balanced and the distributed sampler: with `balanced`, every class is oversampled to the size of
    the largest (each item of a small class is drawn about equally often); with ``num_replicas > 1`` each rank takes
    every ``num_replicas``-th index of the same order, padded (training) so all ranks do the same number of steps.

    Args:
        labels: label of each item (for `balanced`).
        shuffle: shuffle each epoch; otherwise the dataset order (validation).
        balanced: oversample the minority classes.
        seed: seed of the orders.
        num_replicas, rank: distributed sharding (defaults: one process).
        pad: pad the order to a multiple of `num_replicas` (training); without it ranks may get one item less.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        shuffle: bool = True,
        balanced: bool = False,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        pad: bool = True,
    ) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.shuffle, self.balanced, self.seed = shuffle, balanced, int(seed)
        self.num_replicas, self.rank, self.pad = int(num_replicas), int(rank), pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """The full (all-rank) order of this epoch."""
        n = len(self.labels)
        rng = np.random.default_rng((self.seed, self.epoch, 7))
        if self.balanced and n:
            classes, counts = np.unique(self.labels, return_counts=True)
            target = int(counts.max())
            parts = []
            for c in classes:
                members = np.flatnonzero(self.labels == c)
                reps = math.ceil(target / len(members))
                draws = np.concatenate([rng.permutation(members) for _ in range(reps)])[:target]
                parts.append(draws)
            idx = np.concatenate(parts)
            idx = rng.permutation(idx) if self.shuffle else np.sort(idx, kind="stable")
        else:
            idx = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.pad and self.num_replicas > 1 and len(idx) % self.num_replicas:
            extra = self.num_replicas - len(idx) % self.num_replicas
            idx = np.concatenate([idx, idx[:extra]])
        return idx

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        n = len(self.labels)
        if self.balanced and n:
            n = int(np.unique(self.labels, return_counts=True)[1].max()) * len(np.unique(self.labels))
        if self.pad and self.num_replicas > 1:
            n = math.ceil(n / self.num_replicas) * self.num_replicas
            return n // self.num_replicas
        return len(range(self.rank, n, self.num_replicas))


def worker_init(_: int) -> None:
    """DataLoader ``worker_init_fn``: one torch thread per worker (the workers are the parallelism).

    OpenCV's thread count is deliberately left alone: ``cv2.setNumThreads`` in a forked worker deadlocks when the
    parent process had used OpenCV's thread pool (it waits on the parent's pool threads, which do not exist there).
    """
    torch.set_num_threads(1)
