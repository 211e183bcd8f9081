"""Bootstrap intervals over videos and paired tests between runs, against cases with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from deepfakeforensics.evaluation.bootstrap import (
    bootstrap_ci,
    delong_components,
    delong_test,
    delong_variance,
    draw_videos,
    paired_bootstrap,
    paired_delong,
    resampled_metric,
    video_labels,
)


def _frames(video_scores: np.ndarray, labels: np.ndarray, frames: int = 3, jitter: float = 0.0, seed: int = 0):
    """A frame table: `frames` rows per video around its score."""
    rng = np.random.default_rng(seed)
    rows = [
        {"video_id": f"v{i}", "label": int(y), "score": float(np.clip(s + jitter * rng.standard_normal(), 0, 1))}
        for i, (s, y) in enumerate(zip(video_scores, labels, strict=True))
        for _ in range(frames)
    ]
    return pd.DataFrame(rows)


def test_perfect_ranking_has_a_degenerate_interval():
    labels = np.array([0] * 10 + [1] * 10)
    t = _frames(np.linspace(0, 1, 20), labels)
    ci = bootstrap_ci(t, n_resamples=200, seed=3)
    assert ci["auc_lo"] == ci["auc_hi"] == 1.0
    assert ci["eer_lo"] == ci["eer_hi"] == 0.0
    assert ci["n_boot"] == 200 and ci["boot_seed"] == 3


def test_random_scores_interval_covers_one_half_and_is_wide():
    rng = np.random.default_rng(1)
    labels = np.array([0] * 40 + [1] * 40)
    t = _frames(rng.random(80), labels, frames=4, jitter=0.05)
    ci = bootstrap_ci(t, n_resamples=300)
    assert ci["auc_lo"] < 0.5 < ci["auc_hi"] and ci["auc_hi"] - ci["auc_lo"] > 0.1
    assert ci["eer_lo"] < 0.5 < ci["eer_hi"]


def test_resamples_draw_videos_not_frames_and_keep_the_classes():
    labels = pd.Series([0, 0, 0, 1, 1], index=list("abcde"))
    draws = draw_videos(labels, n_resamples=50, seed=0)
    assert (draws.counts[:, :3].sum(axis=1) == 3).all() and (draws.counts[:, 3:].sum(axis=1) == 2).all()
    t = _frames(np.array([0.1, 0.2, 0.3, 0.9, 0.8]), labels.to_numpy(), frames=4)
    t["video_id"] = t["video_id"].map(dict(zip([f"v{i}" for i in range(5)], "abcde", strict=True)))
    w = draws.row_weights(t["video_id"])
    # the four frames of a video always share their weight: a video is drawn as a whole
    assert (w.reshape(50, 5, 4) == w.reshape(50, 5, 4)[:, :, :1]).all()
    # one resample's weighted AUC equals the AUC of the table with the drawn videos duplicated
    b = 7
    dup = t.loc[np.repeat(np.arange(len(t)), w[b])]
    assert resampled_metric(t, "auc", draws)[b] == pytest.approx(skm.roc_auc_score(dup["label"], dup["score"]))


def test_frame_level_interval_is_wider_than_a_frame_bootstrap_would_claim():
    # 20 frames per video, frames of a video nearly identical: the evidence is 16 videos, not 320 frames
    rng = np.random.default_rng(0)
    labels = np.array([0] * 8 + [1] * 8)
    t = _frames(rng.random(16) * 0.6 + labels * 0.25, labels, frames=20, jitter=0.01)
    by_video = bootstrap_ci(t, n_resamples=300)
    t_frames = t.assign(video_id=[f"f{i}" for i in range(len(t))])  # pretend each frame is its own video
    by_frame = bootstrap_ci(t_frames, n_resamples=300)
    assert by_video["auc_hi"] - by_video["auc_lo"] > 2 * (by_frame["auc_hi"] - by_frame["auc_lo"])


def test_delong_variance_matches_the_hand_computed_example():
    # fakes 0.9, 0.8, 0.4; reals 0.7, 0.3. V10 = [1, 1, 0.5], V01 = [2/3, 1]; AUC = 5/6;
    # S10 = var([1, 1, .5]) = 1/12, S01 = var([2/3, 1]) = 1/18; var = S10/3 + S01/2 = 1/36 + 1/36 = 1/18.
    labels = np.array([1, 1, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.7, 0.3])
    auc, v10, v01 = delong_components(labels, scores)
    np.testing.assert_allclose(v10, [1, 1, 0.5])
    np.testing.assert_allclose(v01, [2 / 3, 1])
    auc, var = delong_variance(labels, scores)
    assert auc == pytest.approx(5 / 6) and var == pytest.approx(1 / 18)
    # ties count one half: a fake tied with a real
    _, v10_tie, _ = delong_components(np.array([1, 0]), np.array([0.5, 0.5]))
    assert v10_tie.tolist() == [0.5]


def test_delong_identical_runs_give_p_one_and_a_better_run_a_small_p():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 60 + [1] * 60)
    weak = rng.random(120) * 0.8 + labels * 0.2
    strong = rng.random(120) * 0.3 + labels * 0.7
    same = delong_test(labels, weak, weak)
    assert same["diff"] == 0 and same["p_delong"] == 1.0
    better = delong_test(labels, strong, weak)
    assert better["diff"] > 0.2 and better["p_delong"] < 1e-4
    # a monotone transform ranks alike: no difference
    assert delong_test(labels, weak, weak**3)["p_delong"] == 1.0
    # the variance of a difference between independent-looking runs: positive and finite
    assert 0 < better["se"] < 0.1


def test_paired_bootstrap_and_delong_agree_on_the_known_cases():
    rng = np.random.default_rng(2)
    labels = np.array([0] * 30 + [1] * 30)
    weak = _frames(rng.random(60) * 0.9 + labels * 0.1, labels, jitter=0.05, seed=1)
    strong = _frames(rng.random(60) * 0.3 + labels * 0.7, labels, jitter=0.05, seed=2)
    same = paired_bootstrap(weak, weak, n_resamples=200)
    assert same["diff"] == 0 and same["p_bootstrap"] == 1.0 and same["diff_lo"] == same["diff_hi"] == 0
    better = paired_bootstrap(strong, weak, n_resamples=200)
    assert better["diff"] > 0.2 and better["p_bootstrap"] <= 0.01 and better["diff_lo"] > 0
    files = [
        t.groupby("video_id", as_index=False).agg(label=("label", "first"), score=("score", "mean"))
        for t in (strong, weak)
    ]
    assert paired_delong(*files)["p_delong"] < 0.01
    with pytest.raises(ValueError, match="same videos"):
        paired_bootstrap(strong, weak[weak["video_id"] != "v0"], n_resamples=10)


def test_one_class_or_no_resample_gives_nan_bounds():
    t = pd.DataFrame({"video_id": ["a", "b"], "label": [1, 1], "score": [0.2, 0.9]})
    assert np.isnan(bootstrap_ci(t)["auc_lo"])
    two = pd.DataFrame({"video_id": ["a", "b"], "label": [0, 1], "score": [0.2, 0.9]})
    assert np.isnan(bootstrap_ci(two, n_resamples=0)["eer_hi"])
    assert video_labels(two).to_dict() == {"a": 0, "b": 1}
