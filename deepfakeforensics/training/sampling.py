"""Sampling for training: a deterministic, resumable (and class-balanced, distributed) sampler and worker set-up.

`EpochSampler` orders items; `SourceBatchSampler` composes whole batches of *source units* (`source_units`): a real
crop, its self-blended pseudo-fake and the manifest's fakes made from the same source at the nearest frame, always in
one batch, so the detector sees each fake beside the real it was made from (the pairing recent work finds essential
for generalisation). Both are functions of ``(seed, epoch)`` only and shard disjointly over DDP ranks.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
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


def _source_keys(meta: pd.DataFrame) -> np.ndarray:
    """Each item's source: the ``source`` column where given (a fake's real video), else ``group``, else the video."""
    video = meta["video_id"].astype(str).to_numpy()
    for column in ("source", "group"):
        if column in meta.columns:
            keys = meta[column].to_numpy(dtype=object)
            missing = pd.isna(keys)
            return np.where(missing, video, keys.astype(str))
    return video


def _assign_fakes(real_frames: np.ndarray, fake_frames: np.ndarray) -> np.ndarray:
    """For each fake (in the given order), the position of the real with the nearest frame; ties go to the real
    with the fewest fakes so far (a group's two directions of a face swap, or two tracks, share them out)."""
    assigned = np.zeros(len(real_frames), dtype=np.int64)
    out = np.empty(len(fake_frames), dtype=np.int64)
    for k, frame in enumerate(fake_frames):
        distance = np.abs(real_frames - frame)
        candidates = np.flatnonzero(distance == distance.min())
        j = int(candidates[np.argmin(assigned[candidates])])
        assigned[j] += 1
        out[k] = j
    return out


def source_units(meta: pd.DataFrame, blended_from: np.ndarray, pseudo_fake_index: np.ndarray) -> list[np.ndarray]:
    """The items of a training set cut into source units, each to be kept in one batch.

    A unit is a real item, then its pseudo-fake (if any), then the manifest's fakes of the same source assigned to
    it: the fakes whose frame (``frame``, or ``start_frame`` for windows) is nearest its own, so frame f of a fake
    goes with frame f of the real it was made from where both were sampled. The source is the ``source`` column when
    the manifest has one, else ``group`` (the split groups: FaceForensics++ ``target_source`` fakes share a group with
    both originals; DFDC fakes with their original), else the video. Fakes whose source has no real item form
    units of their own.

    Args:
        meta: the dataset's per-item table (``label``, ``video_id``, ``frame`` or ``start_frame``, ``group``...).
        blended_from: per item, the real item a pseudo-fake is blended from, -1 for manifest items.
        pseudo_fake_index: per item, its pseudo-fake's index, -1 if none.

    Returns:
        Arrays of item indices, in a deterministic order; every item is in exactly one unit.
    """
    manifest = np.flatnonzero(np.asarray(blended_from) < 0)
    keys = _source_keys(meta)[manifest]
    frames = meta["frame" if "frame" in meta.columns else "start_frame"].to_numpy(dtype=np.int64)[manifest]
    labels = meta["label"].to_numpy()[manifest]
    partner = np.asarray(pseudo_fake_index)
    units: list[np.ndarray] = []
    for rows in pd.Series(keys).groupby(keys, sort=True).indices.values():
        reals = rows[labels[rows] == 0]
        fakes = rows[labels[rows] == 1]
        reals = reals[np.lexsort((manifest[reals], frames[reals]))]
        fakes = fakes[np.lexsort((manifest[fakes], frames[fakes]))]
        if not len(reals):
            units.extend(manifest[fakes][:, None])
            continue
        owner = _assign_fakes(frames[reals], frames[fakes])
        for j, r in enumerate(reals):
            item = manifest[r]
            pseudo = [partner[item]] if partner[item] >= 0 else []
            units.append(np.array([item, *pseudo, *manifest[fakes[owner == j]]], dtype=np.int64))
    return units


def pseudo_fake_pairs(pseudo_fake_index: np.ndarray) -> list[np.ndarray]:
    """Every item as a unit of its own, except a real item and its pseudo-fake, which form one unit of two (a real
    and its self-blended fake share a batch, as the published SBI recipe trains; `source_units` adds the manifest's
    fakes of the same source to such units).

    Args:
        pseudo_fake_index: per item, its pseudo-fake's index, -1 if none.
    """
    partner = np.asarray(pseudo_fake_index, dtype=np.int64)
    paired = set(partner[partner >= 0].tolist())
    return [
        np.array([i, partner[i]] if partner[i] >= 0 else [i], dtype=np.int64)
        for i in range(len(partner))
        if i not in paired
    ]


class SourceBatchSampler(Sampler[list[int]]):
    """Batches made of whole source units (`source_units`), shuffled each epoch; a DataLoader ``batch_sampler``.

    The units (cut into chunks of at most `batch_size`, the first chunk keeping the real and its pseudo-fake) are
    shuffled with ``(seed, epoch)`` and dealt, in that order, each to the batch holding the fewest items so far. The
    number of batches is fixed (``ceil(items / (batch_size - largest unit + 1))``, at most one per unit), so no batch
    exceeds `batch_size` and every epoch has as many steps. Under DDP the batches of the epoch (padded by repeating
    the first ones to a multiple of `num_replicas`) go to the ranks in turn: disjoint shares covering every item.

    Args:
        units: arrays of item indices (`source_units`).
        batch_size: most items in a batch.
        seed: seed of the orders.
        num_replicas, rank: distributed sharding (defaults: one process).
    """

    def __init__(
        self, units: Sequence[np.ndarray], batch_size: int, seed: int = 0, num_replicas: int = 1, rank: int = 0
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.num_replicas, self.rank, self.epoch = int(num_replicas), int(rank), 0
        self.units = [np.asarray(c, dtype=np.int64) for u in units for c in _chunks(u, self.batch_size)]
        n_items = sum(len(u) for u in self.units)
        largest = max((len(u) for u in self.units), default=1)
        per_batch = max(1, self.batch_size - largest + 1)
        self.n_batches = min(math.ceil(n_items / per_batch), len(self.units))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self) -> list[list[int]]:
        """Every batch of this epoch (all ranks), before sharding and padding."""
        if not self.n_batches:
            return []
        rng = np.random.default_rng((self.seed, self.epoch, 11))
        members: list[list[int]] = [[] for _ in range(self.n_batches)]
        heap = [(0, b) for b in range(self.n_batches)]
        for u in rng.permutation(len(self.units)):
            load, b = heapq.heappop(heap)
            members[b].extend(self.units[u].tolist())
            heapq.heappush(heap, (load + len(self.units[u]), b))
        return [members[b] for b in rng.permutation(self.n_batches)]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches()
        if batches and len(batches) % self.num_replicas:
            extra = self.num_replicas - len(batches) % self.num_replicas
            batches += [batches[i % len(batches)] for i in range(extra)]
        return iter(batches[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        return math.ceil(self.n_batches / self.num_replicas)


def _chunks(unit: np.ndarray, size: int) -> list[np.ndarray]:
    return [unit[i : i + size] for i in range(0, len(unit), size)]
