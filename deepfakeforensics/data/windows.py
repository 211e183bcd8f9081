"""Windows of a face track: the one rule, shared by `WindowDataset` (training, evaluation) and prediction.

A track of ``n`` sampled frames is cut into windows of `window` consecutive frames starting every `stride` frames.
A track shorter than a window is padded (repeat its last frame, or loop over the track) or dropped.

Example:
    >>> idx, n_real = make_windows(5, WindowConfig(window=4, stride=2))
    >>> idx.tolist(), n_real.tolist()
    ([[0, 1, 2, 3]], [4])
    >>> make_windows(3, WindowConfig(window=4, pad_mode="loop"))[0].tolist()
    [[0, 1, 2, 0]]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class WindowConfig:
    """How a temporal model's input windows are cut from a face track (saved in a run's config.json)."""

    window: int = field(default=8, metadata={"help": "frames per window (T) of a temporal model"})
    stride: int | None = field(
        default=None, metadata={"help": "frames between the starts of two windows of a track (default: window)"}
    )
    short: Literal["pad", "drop"] = field(
        default="pad", metadata={"help": "a track shorter than a window: pad it or drop it"}
    )
    pad_mode: Literal["repeat", "loop"] = field(
        default="repeat", metadata={"help": "padding of a short track: repeat its last frame or loop over it"}
    )

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, not {self.window}")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1, not {self.stride}")
        if self.short not in ("pad", "drop"):
            raise ValueError(f"short must be 'pad' or 'drop', not {self.short!r}")
        if self.pad_mode not in ("repeat", "loop"):
            raise ValueError(f"pad_mode must be 'repeat' or 'loop', not {self.pad_mode!r}")

    @property
    def step(self) -> int:
        """The effective stride (`stride`, or `window` when unset)."""
        return self.window if self.stride is None else int(self.stride)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowConfig:
        """Build from a saved dict, ignoring keys this version does not know."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


def is_window_start(position: int, n_seen: int, cfg: WindowConfig) -> bool:
    """Whether a full window starts at `position` of a track of which `n_seen` frames are known (streaming use)."""
    return position % cfg.step == 0 and position + cfg.window <= n_seen


def make_windows(n_frames: int, cfg: WindowConfig) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a track of `n_frames` frames.

    Returns:
        ``(indices, n_real)``: indices (n_windows, window) into the track's frames in order, and the number of real
        (not padding) frames of each window. A short track gives one padded window, or none with ``short="drop"``.
    """
    n, t = int(n_frames), cfg.window
    if n <= 0 or (n < t and cfg.short == "drop"):
        return np.zeros((0, t), dtype=np.int64), np.zeros(0, dtype=np.int64)
    if n < t:
        rows = np.arange(n)
        padded = np.concatenate([rows, np.repeat(rows[-1:], t - n)]) if cfg.pad_mode == "repeat" else np.resize(rows, t)
        return padded[None].astype(np.int64), np.array([n], dtype=np.int64)
    starts = np.arange(0, n - t + 1, cfg.step)
    return (starts[:, None] + np.arange(t)[None]).astype(np.int64), np.full(len(starts), t, dtype=np.int64)
