"""Pieces of the demo workflow and the notebooks' helpers: frame subsampling, aggregation comparison, data plots."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from deepfakeforensics import _io
from deepfakeforensics.demo.workflow import DemoRunConfig, demo_paths
from deepfakeforensics.evaluation import aggregate, compute_metrics
from deepfakeforensics.evaluation.metrics import metrics_by_aggregation
from deepfakeforensics.evaluation.plots import (
    plot_face_samples,
    plot_faces_per_video,
    plot_predictions,
    plot_pseudo_fakes,
)
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS
from deepfakeforensics.training import DEFAULT_PLANS, select_plans
from deepfakeforensics.training.plans import subsample_frames


def _frames(n_videos: int = 4, frames: int = 10) -> pd.DataFrame:
    rows = []
    for v in range(n_videos):
        for track in range(1 + v % 2):
            for f in range(frames):
                rows.append({"video_id": f"v{v}", "track": track, "frame": 3 * f, "label": v % 2})
    return pd.DataFrame(rows)


def test_subsample_frames_spreads_over_each_track() -> None:
    faces = _frames()
    faces.attrs["root"] = "/data"
    out = subsample_frames(faces, 4)
    counts = out.groupby(["video_id", "track"]).size()
    assert (counts == 4).all() and len(counts) == faces.groupby(["video_id", "track"]).ngroups
    first = out[(out.video_id == "v0") & (out.track == 0)]["frame"].tolist()
    assert first == [0, 6, 15, 21]  # spread over frames 0..27, not the first four
    assert out.attrs["root"] == "/data"
    assert subsample_frames(faces, None) is faces
    assert len(subsample_frames(faces, 100)) == len(faces)


def test_metrics_by_aggregation_matches_each_rule() -> None:
    rng = np.random.default_rng(0)
    scores = _frames(8)
    scores["score"] = np.clip(0.35 * scores["label"] + rng.uniform(0, 0.65, len(scores)), 0, 1)
    table = metrics_by_aggregation(scores)
    assert table["aggregation"].tolist() == [
        "mean",
        "track_max",
        "median",
        "vote",
        "frame_max",
        "confident",
        "logit_mean",
    ]
    for how in table["aggregation"]:
        files = aggregate(scores, how=how)
        expected = compute_metrics(files["label"], files["score"])
        row = table.set_index("aggregation").loc[how]
        assert row["auc"] == pytest.approx(expected["auc"]) and row["accuracy"] == pytest.approx(expected["accuracy"])


def _assert_png(path) -> None:
    img = imread(path)
    assert path.stat().st_size > 3000 and img[..., :3].std() > 0.01


def test_data_plots_are_written(tmp_path) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for v in range(6):
        for f in range(3):
            rel = f"crops/v{v}_{f}.jpg"
            (tmp_path / "crops").mkdir(exist_ok=True)
            cv2.imwrite(str(tmp_path / rel), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
            method = "original" if v % 2 == 0 else "FaceSwap"
            rows.append({"video_id": f"v{v}", "track": 0, "frame": f, "path": rel, "label": v % 2, "method": method})
    _io.save_table(pd.DataFrame(rows), tmp_path / "faces.csv", root=tmp_path)
    faces = _io.load_table(tmp_path / "faces.csv")
    _assert_png(plot_face_samples(faces, tmp_path / "samples.png", per_class=3))
    _assert_png(plot_faces_per_video(faces, tmp_path / "per_video.png"))
    preds = pd.DataFrame({"path": ["a.mp4", "b.mp4", "c.mp4"], "score": [0.2, None, 0.9], "label": [0, None, 1]})
    _assert_png(plot_predictions(preds, tmp_path / "preds.png"))


def test_pseudo_fake_grid_needs_real_crops_with_landmarks(tmp_path) -> None:
    from synth_videos import face_photo

    (tmp_path / "crops").mkdir()
    points = np.array([[95, 110], [161, 110], [128, 145], [100, 180], [156, 180]], np.float32)
    rows = []
    for v in range(4):
        rel = f"crops/v{v}.jpg"
        cv2.imwrite(str(tmp_path / rel), cv2.cvtColor(cv2.resize(face_photo(128), (256, 256)), cv2.COLOR_RGB2BGR))
        row = {"video_id": f"v{v}", "track": 0, "frame": 0, "path": rel, "label": v % 2}
        rows.append(row | dict(zip(LANDMARK_COLUMNS, points.reshape(-1).tolist(), strict=True)))
    faces = pd.DataFrame(rows)
    faces.attrs["root"] = str(tmp_path)
    _assert_png(plot_pseudo_fakes(faces, tmp_path / "sbi.png", n=3))
    dense = np.zeros((len(faces), 68, 2), np.float32) + 128  # explicit points of another shape are used as given
    dense[1::2] = np.nan  # only the fakes lack them: the reals are still drawn
    _assert_png(
        plot_pseudo_fakes(
            faces, tmp_path / "sbi_dense.png", n=2, points=dense + np.random.default_rng(0).normal(0, 30, dense.shape)
        )
    )
    with pytest.raises(ValueError, match="no landmark columns"):
        plot_pseudo_fakes(faces.drop(columns=LANDMARK_COLUMNS), tmp_path / "x.png")
    with pytest.raises(ValueError, match="no real crop with landmarks"):
        plot_pseudo_fakes(faces.assign(label=1), tmp_path / "x.png")


def test_quick_config_is_smaller_and_paths_follow_the_project_layout(tmp_path) -> None:
    quick, full = DemoRunConfig.quick(), DemoRunConfig()
    assert quick.n_identities < full.n_identities and all(p.epochs == 1 for p in quick.plans)
    assert [p.model for p in quick.plans] == [p.model for p in full.plans]
    paths = demo_paths(tmp_path)
    assert paths["faces"] == tmp_path / "labels" / "demo_faces.csv"
    assert paths["checkpoints"] == tmp_path / "checkpoints"


def test_select_plans_picks_default_plans_by_model_and_sets_their_epochs() -> None:
    assert select_plans() == DEFAULT_PLANS
    chosen = select_plans(["efficientnet_b0", "mesonet4"], epochs=1)
    assert [p.model for p in chosen] == ["mesonet4", "efficientnet_b0"]  # the plans' order: frame model first
    assert all(p.epochs == 1 for p in chosen)
    defaults = {p.model: p for p in DEFAULT_PLANS}
    assert all(replace(p, epochs=defaults[p.model].epochs) == defaults[p.model] for p in chosen)  # nothing else changes
    with pytest.raises(ValueError, match="no demo plan for \\['resnet'\\]"):
        select_plans(["resnet"])
