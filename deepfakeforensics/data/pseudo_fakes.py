"""The pseudo-fake part of the face datasets: which real items get a self-blended twin, its blend, and the
blending-boundary targets (`deepfakeforensics.data.sbi` draws the blends themselves).

A dataset holds one `PseudoFakes` (or none): `plan` appends one pseudo-fake item (label 1, method ``"sbi"``) per real
item whose frames all have landmarks, `blend` turns an item's decoded frames into its pseudo-fake (or into the real
view of a published-recipe pair), and `boundary_target` gives the grid targets of a boundary head.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import pandas as pd
import torch

from deepfakeforensics.data.sbi import RECIPES, real_views, self_blend_frames
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS
from deepfakeforensics.faces.dense_sidecar import read_dense_landmarks

log = logging.getLogger(__name__)

PSEUDO_FAKES = RECIPES  # "sbi": the published recipe; "sbi-lite": this toolkit's first
#: `method` of a self-blended pseudo-fake item in `meta`
SBI_METHOD = "sbi"
#: The targets an item carries beside its ids with ``boundary > 0``
BOUNDARY_KEYS = ("boundary", "has_boundary")
#: Side of the blending-boundary grid `build_dataset` gives training items when asked (``boundary=True``)
BOUNDARY_GRID = 16


class Landmarks:
    """Each row's landmarks in crop pixels for self-blending: dlib's 68 points where the manifest's sidecar (``dff
    landmarks``) has them (masks from their hull), else MTCNN's five (a fitted ellipse); rows with neither get no
    pseudo-fake. A window uses the 68 points only when every frame has them, so its frames share one mask shape."""

    def __init__(self, df: pd.DataFrame, source: str | None = None) -> None:
        five = np.full((len(df), 5, 2), np.nan, np.float32)
        if set(LANDMARK_COLUMNS) <= set(df.columns):
            five = df[LANDMARK_COLUMNS].to_numpy(dtype=np.float32).reshape(-1, 5, 2)
        self.five, self.dense = five, read_dense_landmarks(df, source=source)
        self.known = np.isfinite(five).all(axis=(1, 2))
        if self.dense is not None:
            has_dense = np.isfinite(self.dense).all(axis=(1, 2))
            self.known |= has_dense
            if not has_dense.all():
                where = source or df.attrs.get("source", "faces")
                n = int((~has_dense).sum())
                log.warning(
                    "%s: %d of %d crops have no 68-point landmarks yet (dff landmarks not finished?): their pseudo-"
                    "fakes use the five-point ellipse",
                    where,
                    n,
                    len(df),
                )

    def of(self, rows: Sequence[int]) -> np.ndarray:
        """The points of these rows (one item's frames): (T, 68, 2) if they all have dense ones, else (T, 5, 2)."""
        if self.dense is not None and np.isfinite(self.dense[rows]).all():
            return self.dense[rows]
        return self.five[rows]


class PseudoFakes:
    """Self-blended pseudo-fakes of a dataset's real items (see `FrameDataset`'s ``pseudo_fakes``).

    Attributes (after `plan`):
        n_base: items of the manifest (pseudo-fakes are items ``n_base ..``).
        blend_of: (n,) the real item each pseudo-fake is blended from.
        pair_of: (n_base,) each manifest item's pseudo-fake, -1 if none.
    """

    def __init__(self, recipe: str | None, points: Landmarks, seed: int, vary: bool) -> None:
        self.recipe, self.points, self.seed, self.vary = recipe, points, int(seed), bool(vary)
        self.n_base = 0
        self.blend_of = np.zeros(0, dtype=np.int64)
        self.pair_of = np.zeros(0, dtype=np.int64)

    def plan(self, meta: pd.DataFrame, item_rows: Callable[[int], Sequence[int]], source: str | None) -> pd.DataFrame:
        """`meta` (one row per manifest item) followed by a row per pseudo-fake (label 1, method ``"sbi"``)."""
        self.n_base = len(meta)
        if self.recipe:
            real = meta["label"].to_numpy() == 0
            known = self.points.known
            blend = [i for i in range(len(meta)) if real[i] and known[list(item_rows(i))].all()]
            self.blend_of = np.array(blend, np.int64)
        self.pair_of = np.full(self.n_base, -1, dtype=np.int64)
        self.pair_of[self.blend_of] = np.arange(self.n_base, self.n_base + len(self.blend_of), dtype=np.int64)
        if len(self.blend_of):
            fakes = meta.iloc[self.blend_of].assign(label=1)
            if "method" in fakes.columns:
                fakes["method"] = SBI_METHOD
            return pd.concat([meta, fakes], ignore_index=True)
        if self.recipe:
            log.warning("%s: no real item with landmarks: no pseudo-fakes", source or "faces")
        return meta

    def base_of(self, index: int) -> int:
        """The manifest item an item is read from (itself, or the real item a pseudo-fake is blended from)."""
        return index if index < self.n_base else int(self.blend_of[index - self.n_base])

    def paired(self, base: int) -> bool:
        """Whether `base` is the real item of a published-recipe pair (one blend and one augmentation draw)."""
        return self.recipe == "sbi" and self.pair_of[base] >= 0

    def blend(
        self, frames: list[np.ndarray], rows: Sequence[int], index: int, base: int, epoch: int, maps: bool
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Item `index`'s frames: a pseudo-fake's blend (one draw for all its frames) with its boundary maps when
        `maps`, a pair's real view, or `frames` as they are."""
        paired = self.paired(base)
        blend_seed = (self.seed, epoch if self.vary else 0, base if paired else index, 2)
        if base != index:
            blended = self_blend_frames(frames, self.points.of(rows), blend_seed, self.recipe)
            return [pair.fake for pair in blended], ([pair.boundary for pair in blended] if maps else None)
        if paired:  # the real of a pair: altered where the draw alters the target
            return real_views(frames, blend_seed, self.recipe), None
        return frames, None


def boundary_target(maps: list[np.ndarray] | None, grid: int, real: bool, n_frames: int, window: bool) -> dict:
    """``boundary``: the blending boundary on a `grid` x `grid` grid (area-averaged), (T, g, g) for a window, zeros
    for manifest items; ``has_boundary``: 1 where the target is known (reals, pseudo-fakes), 0 for the manifest's
    fakes (where and whether they blend is unknown)."""
    g = grid
    if maps is None:
        cells = np.zeros((n_frames, g, g), dtype=np.float32)
    else:
        cells = np.stack([cv2.resize(m, (g, g), interpolation=cv2.INTER_AREA) for m in maps]).astype(np.float32)
    known = maps is not None or real
    target = torch.from_numpy(cells if window else cells[0])
    return {"boundary": target, "has_boundary": torch.tensor(float(known))}
