"""Which torch device a command runs on: one rule for training, evaluation, prediction and the server."""

from __future__ import annotations

import torch


def resolve_device(device: str, local_rank: int = 0) -> str:
    """A concrete torch device name from an option value.

    Args:
        device: ``"auto"`` (this process's GPU when there is one, else the CPU), ``"cuda"`` (this process's GPU), or
            any torch device name (``"cpu"``, ``"cuda:1"``...), returned as it is.
        local_rank: this process's GPU index under torchrun.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    if device == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and torch.cuda.is_available():
        return f"cuda:{local_rank}"
    return device
