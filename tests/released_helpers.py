"""The released-detector tests' shared helpers: the committed layout fixtures and tensors of those layouts.

``tests/fixtures/released/<name>.json`` (written by ``benchmarks/released_checks/*.py`` from the authors' own classes)
records a released file's keys and shapes (and its container keys, or a Hugging Face config); the tests build files of
that layout from it without the authors' code.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

FIXTURES = Path(__file__).parent / "fixtures" / "released"


@functools.cache
def _read(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


def read_fixture(name: str) -> dict:
    """The layout fixture of released detector `name` (a fresh dict: safe to modify)."""
    return json.loads(_read(name))


@functools.cache
def random_state(name: str, seed: int = 0, scale: float = 0.1) -> dict[str, torch.Tensor]:
    """A state dict with the authors' keys and shapes (cached: do not modify it): weights ``N(0, scale^2)``, BatchNorm
    variances in [0.5, 1.5) so that a forward stays finite, ``num_batches_tracked`` 7."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in read_fixture(name)["state"].items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * scale
    return state


def meta_state(name: str) -> dict[str, torch.Tensor]:
    """The full-size layout of `name` as tensors on the meta device (shapes only, no memory)."""
    return {k: torch.empty(shape, device="meta") for k, shape in read_fixture(name)["state"].items()}
