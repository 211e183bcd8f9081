"""Published numbers shipped with the library, to draw beside (never among) the project's own results.

``baselines.csv`` (next to this module) holds one row per published figure: detector, training data, test data,
metric, level, value, source (paper or repository and table) and the protocol it was measured under. A figure is only
drawn for a run evaluated under the same protocol (`matching_baselines`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

BASELINES_CSV = Path(__file__).with_name("baselines.csv")
BASELINE_COLUMNS = ["detector", "training_data", "test_data", "metric", "level", "value", "source", "protocol"]

# Evaluation level names of the project -> the level names used in the table.
_LEVELS = {"file": "video", "video": "video", "frame": "frame"}


def load_baselines(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The published-baselines table (the shipped one by default), checked for its columns."""
    table = pd.read_csv(path or BASELINES_CSV)
    missing = [c for c in BASELINE_COLUMNS if c not in table]
    if missing:
        raise ValueError(f"{path or BASELINES_CSV}: missing columns {missing}")
    return table[BASELINE_COLUMNS]


def dataset_key(name: str) -> str:
    """A coarse dataset key shared by our manifest names and the table's names ("celebdf_faces" ~ "Celeb-DF v2")."""
    s = re.sub(r"[^a-z0-9+]", "", name.lower())
    for key, patterns in (
        ("celebdf", ("celeb",)),
        ("dfdcp", ("dfdcp", "preview")),
        ("dfdc", ("dfdc",)),
        ("deeperforensics", ("deeper", "dfo")),
        ("ffpp", ("ffpp", "ff++", "faceforensics")),
    ):
        if any(p in s for p in patterns):
            return key
    return s


def matching_baselines(
    baselines: pd.DataFrame, protocol: str, level: str | None = None, dataset: str | None = None
) -> pd.DataFrame:
    """The published rows measured under `protocol` (and at `level`, on `dataset`, when given)."""
    rows = baselines[baselines["protocol"] == protocol]
    if level is not None:
        rows = rows[rows["level"] == _LEVELS.get(level, level)]
    if dataset is not None:
        rows = rows[rows["test_data"].map(dataset_key) == dataset_key(dataset)]
    return rows.reset_index(drop=True)
