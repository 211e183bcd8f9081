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

from deepfakeforensics.models.released import released_specs

BASELINES_CSV = Path(__file__).with_name("baselines.csv")
BASELINE_COLUMNS = ["detector", "training_data", "test_data", "metric", "level", "value", "source", "protocol"]

# Evaluation level names of the project -> the level names used in the table.
_LEVELS = {"file": "video", "video": "video", "frame": "frame"}


def load_baselines(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The published-baselines table (the shipped one by default), checked for its columns.

    The optional ``released`` column names the released detector (``dff models --released``) whose authors' file
    the figure belongs to, so a user evaluating that file sees it beside their own (``published.csv``).
    """
    table = pd.read_csv(path or BASELINES_CSV, keep_default_na=False, na_values={"value": [""]})
    missing = [c for c in BASELINE_COLUMNS if c not in table]
    if missing:
        raise ValueError(f"{path or BASELINES_CSV}: missing columns {missing}")
    if "released" not in table:
        table["released"] = ""
    return table[[*BASELINE_COLUMNS, "released"]]


def released_baselines() -> pd.DataFrame:
    """The figures each released detector's authors publish (``ReleasedSpec.published``), one row each, with the
    released name in a ``released`` column (the table of `load_baselines` plus that column)."""
    rows = [
        {
            "detector": spec.title,
            "training_data": p.training_data,
            "test_data": p.test_data,
            "metric": p.metric,
            "level": p.level,
            "value": p.value,
            "source": p.source,
            "protocol": p.protocol,
            "released": spec.name,
        }
        for spec in released_specs()
        for p in spec.published
    ]
    return pd.DataFrame(rows, columns=[*BASELINE_COLUMNS, "released"])


def beside_published(metrics: pd.DataFrame, released: dict[str, str]) -> pd.DataFrame:
    """Each released detector's measured AUC (with its interval) beside the figure its authors publish for the same
    test data and level: one row per (run, dataset, level) that has a published figure.

    Args:
        metrics: ``dff evaluate``'s metrics table (``run``, ``dataset``, ``level``, ``auc``, ``auc_lo``, ``auc_hi``).
        released: run name -> released detector name, for the runs that are released detectors.
    """
    published = released_baselines()
    published = published[published["metric"] == "auc"]
    rows = []
    for m in metrics.to_dict("records"):
        name = released.get(str(m.get("run")))
        if name is None:
            continue
        level = _LEVELS.get(str(m.get("level")), str(m.get("level")))
        dataset = str(m.get("dataset") or "")
        match = published[(published["released"] == name) & (published["level"] == level)]
        match = match[match["test_data"].map(dataset_key) == dataset_key(dataset)] if dataset else match.iloc[:0]
        for p in match.to_dict("records"):
            rows.append(
                {
                    "run": m["run"],
                    "released": name,
                    "dataset": dataset,
                    "level": level,
                    "auc": m.get("auc"),
                    "auc_lo": m.get("auc_lo"),
                    "auc_hi": m.get("auc_hi"),
                    "published_auc": p["value"],
                    "published_training_data": p["training_data"],
                    "published_protocol": p["protocol"],
                    "source": p["source"],
                }
            )
    columns = ["run", "released", "dataset", "level", "auc", "auc_lo", "auc_hi", "published_auc"]
    return pd.DataFrame(rows, columns=[*columns, "published_training_data", "published_protocol", "source"])


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
