"""Several test sets at once: naming datasets, the training validation split of a run, and the tables that compare
runs across datasets (AUC, AP, EER with intervals, accuracy at the training-validation threshold) and against each
other (paired tests on the same videos).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from deepfakeforensics._io import load_table
from deepfakeforensics.evaluation.bootstrap import paired_bootstrap, paired_delong
from deepfakeforensics.training.config import read_run_config

log = logging.getLogger(__name__)

FacesInput = str | os.PathLike | pd.DataFrame

CROSS_COLUMNS = [
    "run",
    "dataset",
    "level",
    "protocol",
    "n",
    "auc",
    "auc_lo",
    "auc_hi",
    "ap",
    "eer",
    "eer_lo",
    "eer_hi",
    "accuracy",
    "threshold",
    "threshold_on",
    "n_boot",
    "boot_seed",
]


def dataset_name(faces: FacesInput, position: int = 0) -> str:
    """A short name for a faces manifest: ``labels/celebdf_faces.csv`` -> ``celebdf`` (a DataFrame: its source)."""
    source = faces.attrs.get("source") if isinstance(faces, pd.DataFrame) else faces
    if source is None:
        return f"dataset{position}" if position else "faces"
    stem = Path(source).stem
    return stem[: -len("_faces")] if stem.endswith("_faces") and len(stem) > len("_faces") else stem


def load_faces(faces: FacesInput) -> pd.DataFrame:
    """A faces manifest from a path (``attrs["source"]`` records it) or a DataFrame as it is."""
    if isinstance(faces, pd.DataFrame):
        return faces
    table = load_table(faces)
    table.attrs["source"] = str(faces)
    return table


def load_datasets(faces: FacesInput | Sequence[FacesInput]) -> dict[str, pd.DataFrame]:
    """Name -> manifest for one manifest or several (names made unique by a suffix where two collide)."""
    items = [faces] if isinstance(faces, (str, os.PathLike, pd.DataFrame)) else list(faces)
    if not items:
        raise ValueError("no faces manifest given")
    out: dict[str, pd.DataFrame] = {}
    for i, item in enumerate(items):
        name = dataset_name(item, i)
        while name in out:
            name = f"{name}#{i}"
        out[name] = load_faces(item)
    return out


def training_validation(
    run_dir: Path, datasets: Mapping[str, pd.DataFrame], val_split: str
) -> tuple[str, pd.DataFrame, str]:
    """Where a run's thresholds come from in a cross-dataset evaluation: its own training manifest's validation split.

    The run's config.json records the manifest and split it was validated on (`read_run_config`). When it records
    none, or the file is not there, the first manifest given stands in for it (the note says so).

    Returns:
        ``(dataset name, manifest, split)``.
    """
    try:
        _, data = read_run_config(run_dir)
    except (FileNotFoundError, ValueError) as e:
        data, reason = None, str(e)
    if data is not None and data.faces and Path(data.faces).is_file():
        path = Path(data.faces).resolve()
        for name, faces in datasets.items():
            if faces.attrs.get("source") and Path(faces.attrs["source"]).resolve() == path:
                return name, faces, data.val_split
        faces = load_faces(data.faces)
        return dataset_name(faces), faces, data.val_split
    if data is not None:
        reason = f"{run_dir}: training manifest {data.faces!r} not found"
    first = next(iter(datasets))
    log.warning("%s; thresholds on %s:%s instead", reason, first, val_split)
    return first, datasets[first], val_split


def _common_videos(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables restricted to the videos both runs scored (a crop one run could not read drops nothing else)."""
    common = set(a["video_id"].astype(str)) & set(b["video_id"].astype(str))
    return a[a["video_id"].astype(str).isin(common)], b[b["video_id"].astype(str).isin(common)]


# The columns of `paired_tests`' table (written even when there is no pair: paired.csv stays a readable CSV).
PAIRED_COLUMNS = ["run_a", "run_b", "dataset", "level", "protocol", "auc_a", "auc_b", "diff", "se_delong", "z_delong"]
PAIRED_COLUMNS += ["p_delong", "n_videos"]


def paired_tests(
    scores: Mapping[tuple[str, str, str], pd.DataFrame], n_resamples: int, seed: int, protocol: str
) -> pd.DataFrame:
    """Every pair of runs on each dataset and level: paired bootstrap of the AUC difference, and DeLong's test at
    file (video) level.

    Args:
        scores: ``(run, dataset, level) -> score table``.
        n_resamples: bootstrap resamples (0: no paired bootstrap).
        seed: seed of the draws (the same draws for both runs of a pair).
        protocol: written in the ``protocol`` column.
    """
    rows = []
    keys = sorted({(d, lv) for _, d, lv in scores})
    runs = list(dict.fromkeys(r for r, _, _ in scores))
    for (dataset, level), (ra, rb) in itertools.product(keys, itertools.combinations(runs, 2)):
        if (ra, dataset, level) not in scores or (rb, dataset, level) not in scores:
            continue
        a, b = _common_videos(scores[(ra, dataset, level)], scores[(rb, dataset, level)])
        if a["label"].nunique() < 2:
            continue
        row = {"run_a": ra, "run_b": rb, "dataset": dataset, "level": level, "protocol": protocol}
        if n_resamples:
            row.update(paired_bootstrap(a, b, "auc", n_resamples, seed))
        if level == "file":
            d = paired_delong(a, b)
            row.update({"auc_a": d["auc_a"], "auc_b": d["auc_b"], "diff": d["diff"], "se_delong": d["se"]})
            row.update({"z_delong": d["z"], "p_delong": d["p_delong"], "n_videos": len(a)})
        rows.append(row)
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS) if not rows else pd.DataFrame(rows)


def cross_dataset_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The runs x datasets x levels table of a metrics table (the columns a cross-dataset paper reports)."""
    return metrics[[c for c in CROSS_COLUMNS if c in metrics]].reset_index(drop=True)
