"""Multi-GPU / multi-node training through PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

``torchrun --nproc_per_node 4 -m deepfakeforensics.cli train ...`` (or ``--nnodes``/``--rdzv-endpoint`` for several
machines) sets RANK, WORLD_SIZE and LOCAL_RANK; `setup_distributed` reads them and joins the process group (NCCL on
GPUs, gloo on CPU). Without them everything runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from deepfakeforensics.devices import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0  # global rank
    world_size: int = 1  # number of processes
    local_rank: int = 0  # rank on this machine (selects the GPU)
    device: str = "cpu"  # this process's device

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's environment variables (if any) and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if world > 1 and not (dist.is_available() and dist.is_initialized()):
        backend = "nccl" if dev.startswith("cuda") else "gloo"
        if dev.startswith("cuda"):
            torch.cuda.set_device(torch.device(dev))
        dist.init_process_group(backend=backend)
    if dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum floats over all ranks (float64 on CPU, or on the device for NCCL)."""
    if not info.distributed:
        return list(values)
    device = info.device if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.cpu().tolist()


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's `obj`, in rank order (on every rank)."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's `obj` on every rank."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def trainable_names(module: nn.Module) -> frozenset[str]:
    """Names of the parameters of `module` that require grad now (those a DDP wrapper built now would reduce)."""
    return frozenset(name for name, param in module.named_parameters() if param.requires_grad)


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.parallel.DistributedDataParallel:
    """`module` in DistributedDataParallel, reducing the gradients of the parameters that require grad now.

    Building it broadcasts rank 0's parameters and buffers to every rank.
    """
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
