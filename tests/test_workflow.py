"""Pieces of the demo workflow and the notebooks' helpers: frame subsampling, aggregation comparison, data plots."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.image import imread

from deepfakeforensics import _io
from deepfakeforensics.data.sbi import self_blend
from deepfakeforensics.demo.workflow import DemoRunConfig, demo_paths
from deepfakeforensics.evaluation import compute_metrics
from deepfakeforensics.evaluation.face_plots import (
    figure_face_samples,
    figure_faces_per_video,
    figure_pseudo_fakes,
    plot_face_samples,
    plot_faces_per_video,
    plot_pseudo_fakes,
)
from deepfakeforensics.evaluation.metrics import metrics_by_aggregation
from deepfakeforensics.evaluation.plots import figure_predictions, plot_predictions
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, read_rgb
from deepfakeforensics.scoring import aggregate
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


def _assert_png(path, expected) -> None:
    assert path == expected and path.is_file()
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def _texts(items) -> list[str]:
    return [t.get_text() for t in items]


def test_data_plots_draw_the_crops_counts_and_scores(tmp_path) -> None:
    rng = np.random.default_rng(1)
    rows = []
    (tmp_path / "crops").mkdir()
    for v in range(6):
        tracks = 2 if v == 1 else 1  # one fake video with two faces, and 6 crops where the others have 3
        for track in range(tracks):
            for f in range(3):
                rel = f"crops/v{v}_{track}_{f}.jpg"
                cv2.imwrite(str(tmp_path / rel), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
                method = "original" if v % 2 == 0 else "FaceSwap"
                rows.append(
                    {"video_id": f"v{v}", "track": track, "frame": f, "path": rel, "label": v % 2, "method": method}
                )
    _io.save_table(pd.DataFrame(rows), tmp_path / "faces.csv", root=tmp_path)
    faces = _io.load_table(tmp_path / "faces.csv")

    samples = figure_face_samples(faces, per_class=3).axes
    assert len(samples) == 6 and all(len(ax.images) == 1 for ax in samples)
    assert _texts(samples[0].texts) == ["real"] and _texts(samples[3].texts) == ["fake"]
    for ax, label in zip(samples, [0] * 3 + [1] * 3, strict=True):
        method, video = ax.get_title().split("\n")
        first = faces[faces["video_id"] == video].iloc[0]
        assert first["label"] == label and first["method"] == method  # real crops above, fakes below
        np.testing.assert_array_equal(ax.images[0].get_array(), read_rgb(tmp_path / first["path"]))
    assert len({ax.get_title() for ax in samples}) == 6  # six different videos

    crops_ax, tracks_ax = figure_faces_per_video(faces).axes
    assert crops_ax.get_xlabel() == "face crops per video" and tracks_ax.get_xlabel() == "face tracks per video"
    for ax in (crops_ax, tracks_ax):
        assert _texts(ax.get_legend().get_texts()) == ["real", "fake"]
    bars = [bar for bar in crops_ax.patches if bar.get_height()]
    drawn = {(round(bar.get_x() + bar.get_width() / 2), bar.get_height()) for bar in bars}  # dodged: centres +-0.25
    assert drawn == {(3, 3), (3, 2), (6, 1)}  # crops per video: 3 reals and 2 fakes with 3 crops, 1 fake with 6
    tracks = [[bar.get_height() for bar in container] for container in tracks_ax.containers]
    assert tracks == [[3], [2, 1]]  # videos with 1 (and 2) face tracks: the reals, then the fakes

    preds = pd.DataFrame({"path": ["d/c.mp4", "a.mp4", "b.mp4"], "score": [0.9, 0.2, None], "label": [1, 0, None]})
    ax = figure_predictions(preds, threshold=0.4).axes[0]
    assert _texts(ax.get_yticklabels()) == ["a.mp4", "c.mp4"]  # sorted by score, the failed file left out
    assert [bar.get_width() for bar in ax.patches] == [0.2, 0.9]
    assert [bar.get_facecolor() for bar in ax.patches] == [to_rgba("tab:blue"), to_rgba("tab:red")]
    assert [line.get_xdata()[0] for line in ax.lines] == [0.4]
    assert ax.get_xlabel() == "P(fake)" and "predicted label" in ax.get_title()
    truth = figure_predictions(preds.assign(truth=[0, 1, None])).axes[0]  # coloured by the true label when known
    assert "true label" in truth.get_title()
    assert [bar.get_facecolor() for bar in truth.patches] == [to_rgba("tab:red"), to_rgba("tab:blue")]

    for plot, name in ((plot_face_samples, "samples"), (plot_faces_per_video, "per_video")):
        _assert_png(plot(faces, tmp_path / f"{name}.png"), tmp_path / f"{name}.png")
    _assert_png(plot_predictions(preds, tmp_path / "preds.png"), tmp_path / "preds.png")


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

    axes = np.array(figure_pseudo_fakes(faces, n=3, seed=5).axes).reshape(4, -1)
    assert axes.shape == (4, 2)  # only two real videos: two columns, whatever n asks
    assert [_texts(ax.texts) for ax in axes[:, 0]] == [
        ["real + landmarks"],
        ["blend mask r*M"],
        ["pseudo-fake"],
        ["boundary 4M(1-M)"],
    ]
    assert sorted(ax.get_title() for ax in axes[0]) == ["v0", "v2"]  # the reals only
    for c, ax in enumerate(axes[0]):
        crop = read_rgb(tmp_path / f"crops/{ax.get_title()}.jpg")
        blend = self_blend(crop, points, seed=(5, 0, c))
        for row, expected in zip(axes[:, c], (crop, blend[2], blend[1], blend[3]), strict=True):
            np.testing.assert_array_equal(row.images[0].get_array(), expected)
        np.testing.assert_array_equal(ax.collections[0].get_offsets(), points)  # the landmarks drawn on the crop
    assert not np.array_equal(axes[2, 0].images[0].get_array(), axes[0, 0].images[0].get_array())
    _assert_png(plot_pseudo_fakes(faces, tmp_path / "sbi.png", n=3), tmp_path / "sbi.png")

    dense = np.zeros((len(faces), 68, 2), np.float32) + 128  # explicit points of another shape are used as given
    dense[1::2] = np.nan  # only the fakes lack them: the reals are still drawn
    dense += np.random.default_rng(0).normal(0, 30, dense.shape)
    axes = np.array(figure_pseudo_fakes(faces, n=2, points=dense).axes).reshape(4, -1)
    assert axes.shape == (4, 2)
    for ax in axes[0]:
        np.testing.assert_allclose(ax.collections[0].get_offsets(), dense[int(ax.get_title()[1:])])
    with pytest.raises(ValueError, match="no landmark columns"):
        figure_pseudo_fakes(faces.drop(columns=LANDMARK_COLUMNS))
    with pytest.raises(ValueError, match="no real crop with landmarks"):
        plot_pseudo_fakes(faces.assign(label=1), tmp_path / "x.png")


def test_quick_config_is_smaller_and_paths_follow_the_project_layout(tmp_path) -> None:
    quick, full = DemoRunConfig.quick(), DemoRunConfig()
    assert quick.n_identities < full.n_identities and all(p.epochs == 1 for p in quick.plans)
    assert [p.model for p in quick.plans] == [p.model for p in full.plans]
    paths = demo_paths(tmp_path)
    assert paths["faces"] == tmp_path / "labels" / "demo_faces.csv"
    assert paths["checkpoints"] == tmp_path / "checkpoints"


def test_dff_demo_video_model_adds_a_temporal_video_plan() -> None:
    from deepfakeforensics.cli import build_parser
    from deepfakeforensics.models import create_model

    quick = DemoRunConfig.quick().with_video_model()
    video = quick.plans[len(DemoRunConfig.quick().plans) :]
    assert [p.model for p in video] == ["ftcn_lite"] and all(p.epochs == 1 for p in video)
    assert create_model("ftcn_lite").default_cfg.temporal  # trained and scored on windows, as the LSTM variant
    assert DemoRunConfig().with_video_model().plans[-1].epochs == 3
    assert build_parser("demo").parse_args(["demo", "--video-model"]).video_model


def test_select_plans_picks_default_plans_by_model_and_sets_their_epochs() -> None:
    assert select_plans() == DEFAULT_PLANS
    chosen = select_plans(["efficientnet_b0", "mesonet4"], epochs=1)
    assert [p.model for p in chosen] == ["mesonet4", "efficientnet_b0"]  # the plans' order: frame model first
    assert all(p.epochs == 1 for p in chosen)
    defaults = {p.model: p for p in DEFAULT_PLANS}
    assert all(replace(p, epochs=defaults[p.model].epochs) == defaults[p.model] for p in chosen)  # nothing else changes
    with pytest.raises(ValueError, match="no demo plan for \\['resnet'\\]"):
        select_plans(["resnet"])
