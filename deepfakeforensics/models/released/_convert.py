"""Helpers that turn an authors' weights file into this project's state dict: containers, prefixes, 2-class heads.

Every function raises `WeightsError` naming the file when the layout is not the one expected, so a converter that
does not recognise a file says why (`identify_released` tries every converter and keeps those that fit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from deepfakeforensics.models._weights import WeightsError
from deepfakeforensics.models._weights import read_torch_file as read_raw  # noqa: F401 (converters' one reader)


def is_state_dict(obj: Any) -> bool:
    """Whether `obj` is a non-empty mapping of names to tensors."""
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap(raw: Any, path: Path, containers: Iterable[str] = ()) -> dict[str, torch.Tensor]:
    """The state dict in `raw`: `raw` itself, or ``raw[key]`` for the first of `containers` it holds.

    Raises:
        WeightsError: neither `raw` nor any listed entry is a state dict (naming the keys the file has).
    """
    containers = tuple(containers)
    if isinstance(raw, Mapping):
        for key in containers:
            if key in raw and is_state_dict(raw[key]):
                return dict(raw[key])
    if is_state_dict(raw):
        return dict(raw)
    have = sorted(map(str, raw))[:8] if isinstance(raw, Mapping) else type(raw).__name__
    want = " or ".join(repr(k) for k in containers) or "tensors"
    raise WeightsError(f"{path}: no state dict in the file (expected {want} or a plain state dict; found {have})")


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str, path: Path) -> dict[str, torch.Tensor]:
    """`state` with `prefix` removed from every key; a key without it raises naming the file and the key."""
    if not prefix:
        return dict(state)
    out = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            raise WeightsError(f"{path}: key {key!r} lacks the prefix {prefix!r} of this layout")
        out[key[len(prefix) :]] = value
    return out


def drop_prefix_if_all(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """`state` with `prefix` removed when every key has it (``module.`` of DataParallel), else unchanged."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def fold_two_class(
    state: dict[str, torch.Tensor], weight: str, bias: str | None, path: Path
) -> dict[str, torch.Tensor]:
    """Replace a 2-class softmax head (fake = class 1) by one logit, exactly.

    ``softmax(z)[1] = sigmoid(z1 - z0)``, so the one-logit head is ``w1 - w0`` and ``b1 - b0``.
    """
    w = state.get(weight)
    if w is None or w.ndim < 1 or w.shape[0] != 2:
        shape = None if w is None else tuple(w.shape)
        raise WeightsError(f"{path}: {weight!r} is not a 2-class head (shape {shape})")
    state = dict(state)
    state[weight] = (w[1] - w[0]).unsqueeze(0)
    if bias is not None:
        b = state.get(bias)
        if b is None or tuple(b.shape) != (2,):
            raise WeightsError(f"{path}: {bias!r} is not a 2-class bias")
        state[bias] = (b[1] - b[0]).reshape(1)
    return state


def layout_mismatch(state: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]]) -> dict[str, list]:
    """Missing, unexpected and wrongly shaped keys of `state` against `expected` (key -> shape)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k]))
    return {"missing": missing, "unexpected": unexpected, "wrong_shape": wrong}
