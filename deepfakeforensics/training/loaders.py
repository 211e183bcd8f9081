"""The run's DataLoaders: every epoch's order a function of (seed, epoch), each rank its shard; training batches of
single items (`EpochSampler`, optionally class-balanced) or of source units (`SourceBatchSampler`)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from deepfakeforensics.data.datasets import FrameDataset, WindowDataset
from deepfakeforensics.training.config import TrainConfig
from deepfakeforensics.training.distributed import DistInfo
from deepfakeforensics.training.sampling import (
    EpochSampler,
    SourceBatchSampler,
    pseudo_fake_pairs,
    source_units,
    worker_init,
)


def make_loaders(
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
