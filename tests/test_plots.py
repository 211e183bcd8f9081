"""Every plot is written as a non-empty PNG from small hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from deepfakeforensics.evaluation import plots


def _scores(seed: int, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"label": y, "score": np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)})


def _assert_png(path):
    assert path.is_file() and path.stat().st_size > 5000
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.01  # something was drawn


@pytest.fixture(scope="module")
def runs() -> dict[str, pd.DataFrame]:
    return {"mesonet4": _scores(0), "efficientnet_b0": _scores(1)}


def test_roc_curves(tmp_path, runs):
    _assert_png(plots.plot_roc_curves(runs, tmp_path / "roc.png", title="file-level ROC"))


def test_score_distributions(tmp_path, runs):
    _assert_png(plots.plot_score_distributions(runs, tmp_path / "dist.png", threshold={"mesonet4": 0.4}))


def test_training_curves(tmp_path):
    h = pd.DataFrame(
        {"epoch": [1, 2, 3], "train_loss": [0.7, 0.5, 0.4], "val_loss": [0.69, 0.6, 0.62], "val_auc": [0.6, 0.7, 0.72]}
    )
    _assert_png(plots.plot_training_curves({"a": h, "b": h.assign(val_auc=h["val_auc"] - 0.1)}, tmp_path / "t.png"))


def test_metric_bars_and_heatmap(tmp_path):
    metrics = pd.DataFrame(
        {
            "run": ["a", "a", "b", "b"],
            "level": ["frame", "file", "frame", "file"],
            "auc": [0.8, 0.9, 0.7, 0.75],
            "ap": [0.8, 0.85, 0.7, 0.72],
            "balanced_accuracy": [0.7, 0.8, 0.6, 0.7],
            "f1": [0.7, 0.8, 0.6, 0.65],
            "tpr_at_fpr_5": [0.3, 0.4, 0.2, 0.25],
        }
    )
    _assert_png(plots.plot_metric_bars(metrics, tmp_path / "bars.png"))
    per_method = pd.DataFrame(
        {
            "run": ["a", "a", "b", "b"],
            "level": ["file"] * 4,
            "method": ["Deepfakes", "FaceSwap"] * 2,
            "auc": [0.95, 0.8, 0.7, 0.65],
        }
    )
    _assert_png(plots.plot_method_heatmap(per_method, tmp_path / "heat.png"))


def test_robustness(tmp_path):
    rows = [{"run": r, "perturbation": "none", "strength": 0, "auc": 0.9} for r in "ab"]
    for r in "ab":
        for kind, strengths in {"jpeg": [90, 50, 20], "blur": [1, 2, 3], "noise": [5, 10]}.items():
            rows += [
                {"run": r, "perturbation": kind, "strength": s, "auc": 0.9 - 0.05 * i} for i, s in enumerate(strengths)
            ]
    _assert_png(plots.plot_robustness(pd.DataFrame(rows), tmp_path / "robust.png"))


def test_auc_intervals_with_reference_marks_and_cross_dataset_heatmap(tmp_path):
    from deepfakeforensics.evaluation.baselines import load_baselines, matching_baselines

    rows = [
        {
            "run": r,
            "dataset": d,
            "level": lv,
            "protocol": "deepfakebench",
            "auc": a,
            "auc_lo": a - 0.05,
            "auc_hi": a + 0.03,
        }
        for r, a in (("meso", 0.7), ("effb4", 0.9))
        for d in ("ffpp", "celebdf")
        for lv in ("frame", "file")
    ]
    m = pd.DataFrame(rows)
    published = matching_baselines(load_baselines(), "deepfakebench")
    _assert_png(plots.plot_auc_intervals(m, tmp_path / "ci.png", baselines=published))
    _assert_png(plots.plot_auc_intervals(m.drop(columns="dataset"), tmp_path / "ci_plain.png"))
    _assert_png(plots.plot_cross_dataset_heatmap(m, tmp_path / "cross.png"))
