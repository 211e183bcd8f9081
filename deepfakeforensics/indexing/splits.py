"""Leak-free splits: whole groups go to one split, official assignments are checked, the rest is a seeded split."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd

from deepfakeforensics.indexing._common import SPLITS, Failure, SplitLeakError

#: Default train/val/test ratios of a seeded group split.
DEFAULT_RATIOS: Mapping[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}

Unlisted = Literal["inherit", "drop", "error"]


def _check_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    unknown = set(ratios) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split names in ratios: {sorted(unknown)} (expected some of {list(SPLITS)})")
    if any(r < 0 for r in ratios.values()) or sum(ratios.values()) <= 0:
        raise ValueError(f"split ratios must be >= 0 with a positive sum, got {dict(ratios)}")
    total = sum(ratios.values())
    return {name: r / total for name, r in ratios.items() if r > 0}


def group_split(
    group_sizes: Mapping[str, int], ratios: Mapping[str, float] = DEFAULT_RATIOS, seed: int = 0
) -> dict[str, str]:
    """Assign whole groups to splits so that video counts approach `ratios`.

    The groups are shuffled with `seed` (from their sorted order, so the input order does not matter), then stably
    sorted by size, largest first; each in turn goes to the split furthest below its target video count. A group is
    never divided, even when there are fewer groups than splits (then some splits stay empty).

    Args:
        group_sizes: number of videos per group.
        ratios: split name -> share (normalised; splits with 0 get nothing).
        seed: the shuffle's seed; the same groups, ratios and seed always give the same assignment.

    Returns:
        group -> split name.

    Example:
        >>> group_split({"a": 3, "b": 1, "c": 1}, {"train": 0.6, "val": 0.4}, seed=0)["a"] in {"train", "val"}
        True
    """
    shares = _check_ratios(ratios)
    order = sorted(group_sizes)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: -group_sizes[g])  # largest first balances best; ties keep the shuffled order
    total = sum(group_sizes.values())
    counts = dict.fromkeys(shares, 0)
    names = list(shares)
    out = {}
    for g in order:
        best = max(names, key=lambda n: (shares[n] * total - counts[n], -names.index(n)))
        out[g] = best
        counts[best] += group_sizes[g]
    return out


def check_group_splits(videos: pd.DataFrame) -> None:
    """Raise `SplitLeakError` naming the first group (sorted) whose videos are in more than one split."""
    spans = videos.groupby("group")["split"].nunique()
    leaking = sorted(spans[spans > 1].index)
    if leaking:
        g = leaking[0]
        rows = videos[videos["group"] == g]
        where = {s: rows.loc[rows["split"] == s, "video_id"].iloc[0] for s in sorted(rows["split"].unique())}
        examples = ", ".join(f"{v} in {s}" for s, v in where.items())
        more = f" ({len(leaking) - 1} more groups leak)" if len(leaking) > 1 else ""
        raise SplitLeakError(f"group {g!r} spans splits {sorted(where)}: {examples}{more}")


def resolve_splits(
    videos: pd.DataFrame,
    official: Mapping[str, str],
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
    unlisted: Unlisted = "inherit",
    source: str = "official split",
) -> tuple[pd.DataFrame, list[Failure]]:
    """Fill the ``split`` column: official assignments first, then a seeded group split for groups with none.

    Args:
        videos: index rows with ``video_id``, ``path`` and ``group``.
        official: video_id -> split from the dataset's official files (may cover only part of the videos).
        ratios: shares of the seeded split of groups that no official assignment touches.
        seed: seed of that split.
        unlisted: what happens to a video without an official split whose group has one: ``"inherit"`` takes the
            group's split, ``"drop"`` removes it from the index (reported as a failure), ``"error"`` raises.
        source: how error messages name the official assignment (e.g. ``"splits/*.json"``).

    Returns:
        (videos with ``split`` set, failures for dropped videos).

    Raises:
        SplitLeakError: a group's official assignments disagree (naming the group), or ``unlisted="error"`` and an
            unlisted video shares a group with officially assigned ones.
    """
    bad = sorted(set(official.values()) - set(SPLITS))
    if bad:
        raise ValueError(f"{source}: unknown split names {bad}")
    videos = videos.copy()
    off = videos["video_id"].map(lambda v: official.get(v))
    group_official = _official_by_group(videos, off, source)
    unlisted_rows = videos["group"].isin(group_official) & off.isna()
    videos, failures = _apply_unlisted(videos, unlisted_rows, group_official, unlisted, source)
    free = videos.loc[~videos["group"].isin(group_official), "group"]
    assigned = group_split(Counter(free), ratios, seed) if len(free) else {}
    videos["split"] = videos["group"].map({**assigned, **group_official}).astype(str)
    videos = videos.reset_index(drop=True)
    check_group_splits(videos)
    return videos, failures


def _official_by_group(videos: pd.DataFrame, off: pd.Series, source: str) -> dict[str, str]:
    """group -> split of the groups with official assignments (`off`: each video's, or NaN).

    Raises:
        SplitLeakError: a group's official assignments disagree (naming the group and a video in each split).
    """
    group_official: dict[str, str] = {}
    for g, splits in off.groupby(videos["group"]):
        names = sorted(set(splits.dropna()))
        if len(names) > 1:
            rows = videos.loc[splits.index]
            examples = ", ".join(f"{rows.loc[splits[splits == s].index[0], 'video_id']} in {s}" for s in names)
            raise SplitLeakError(f"{source}: group {g!r} spans splits {names}: {examples}")
        if names:
            group_official[g] = names[0]
    return group_official


def _apply_unlisted(
    videos: pd.DataFrame, unlisted_rows: pd.Series, group_official: Mapping[str, str], unlisted: Unlisted, source: str
) -> tuple[pd.DataFrame, list[Failure]]:
    """Apply the `unlisted` policy to the videos without an official split whose group has one (`unlisted_rows`).

    Returns:
        (the videos kept, a failure for each one dropped).
    """
    if not unlisted_rows.any():
        return videos, []
    if unlisted == "error":
        first = videos[unlisted_rows].iloc[0]
        raise SplitLeakError(
            f"{source}: group {first['group']!r} has officially assigned videos ({group_official[first['group']]}) "
            f"and {int(unlisted_rows.sum())} unlisted ones in leaking groups, e.g. {first['video_id']}"
        )
    if unlisted == "inherit":
        return videos, []
    if unlisted != "drop":
        raise ValueError(f"unlisted must be 'inherit', 'drop' or 'error', got {unlisted!r}")
    root = videos.attrs.get("root")
    failures = [
        (
            str(Path(root) / row["path"]) if root else row["path"],
            f"dropped: its group {row['group']!r} has videos in the {group_official[row['group']]} set of "
            f"the {source}, and a group never spans two splits",
        )
        for _, row in videos[unlisted_rows].iterrows()
    ]
    return videos[~unlisted_rows], failures


def split_summary(videos: pd.DataFrame) -> pd.DataFrame:
    """Videos per split and label (columns real, fake, total), splits in train/val/test order."""
    table = pd.crosstab(videos["split"], videos["label"]).reindex(columns=[0, 1], fill_value=0)
    table.columns = ["real", "fake"]
    table["total"] = table.sum(axis=1)
    order = [s for s in SPLITS if s in table.index] + sorted(set(table.index) - set(SPLITS))
    return table.loc[order]
