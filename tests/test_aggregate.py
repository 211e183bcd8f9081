"""Each file-level aggregation rule on a hand-built frame table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepfakeforensics.scoring.aggregation import aggregate, track_scores


@pytest.fixture()
def frames() -> pd.DataFrame:
    # Video "a" (fake): track 0 looks real, track 1 is a fake face. Video "b" (real): one track, one outlier frame.
    return pd.DataFrame(
        {
            "video_id": ["a"] * 6 + ["b"] * 4,
            "track": [0, 0, 0, 1, 1, 1, 0, 0, 0, 0],
            "frame": [0, 5, 10, 0, 5, 10, 0, 3, 6, 9],
            "score": [0.1, 0.2, 0.3, 0.9, 0.8, 0.7, 0.1, 0.2, 0.9, 0.2],
            "label": [1] * 6 + [0] * 4,
            "method": ["Deepfakes"] * 6 + ["original"] * 4,
        }
    )


def test_mean(frames):
    out = aggregate(frames, "mean").set_index("video_id")
    assert out.loc["a", "score"] == pytest.approx(0.5)
    assert out.loc["b", "score"] == pytest.approx(0.35)
    assert out.loc["a", "label"] == 1 and out.loc["b", "label"] == 0
    assert out.loc["a", "n_rows"] == 6 and out.loc["a", "n_tracks"] == 2
    assert out.loc["a", "method"] == "Deepfakes"
    assert "frame" not in out and "track" not in out
    assert list(out.index) == ["a", "b"]


def test_track_max_one_fake_face_makes_video_fake(frames):
    out = aggregate(frames, "track_max").set_index("video_id")
    assert out.loc["a", "score"] == pytest.approx(0.8)  # max(mean(.1,.2,.3), mean(.9,.8,.7))
    assert out.loc["b", "score"] == pytest.approx(0.35)


def test_median(frames):
    out = aggregate(frames, "median").set_index("video_id")
    assert out.loc["a", "score"] == pytest.approx(0.5)  # median of .1 .2 .3 .7 .8 .9
    assert out.loc["b", "score"] == pytest.approx(0.2)


def test_vote_is_share_of_frames_above_threshold(frames):
    out = aggregate(frames, "vote").set_index("video_id")
    assert out.loc["a", "score"] == pytest.approx(0.5)
    assert out.loc["b", "score"] == pytest.approx(0.25)
    assert aggregate(frames, "vote", vote_threshold=0.75).set_index("video_id").loc["a", "score"] == pytest.approx(
        2 / 6
    )


def test_windows_and_missing_track_column(frames):
    windows = frames.rename(columns={"frame": "start_frame"}).drop(columns="track")
    out = aggregate(windows, "track_max").set_index("video_id")
    assert out.loc["a", "score"] == pytest.approx(0.5)  # no track column: one track
    assert out.loc["a", "n_tracks"] == 1


def test_errors(frames):
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(frames, "max_of_everything")
    bad = frames.copy()
    bad.loc[0, "label"] = 0
    with pytest.raises(ValueError, match="different labels"):
        aggregate(bad)


def test_track_scores(frames):
    t = track_scores(frames)
    assert t[["video_id", "track"]].values.tolist() == [["a", 0], ["a", 1], ["b", 0]]
    assert t["score"].tolist() == pytest.approx([0.2, 0.8, 0.35])


def test_released_video_rules_frame_max_and_confident():
    from deepfakeforensics.scoring.aggregation import confident_strategy

    # SBI: the most fake-looking face of each frame, then the mean over frames
    rows = [(0, 0, 0.1), (0, 1, 0.9), (1, 0, 0.2), (1, 1, 0.4), (2, 0, 0.3)]
    frames = pd.DataFrame([{"video_id": "v", "frame": f, "track": t, "score": s} for f, t, s in rows])
    assert aggregate(frames, "frame_max")["score"].iloc[0] == pytest.approx((0.9 + 0.4 + 0.3) / 3)
    # DFDC winner: 12 confident fakes among 20 (> 20 // 2.5 = 8 and > 11) -> their mean
    scores = np.array([0.9] * 12 + [0.5] * 8)
    assert confident_strategy(scores) == pytest.approx(0.9)
    # only 11 confident fakes: not enough -> mostly-real test: 0 of 19 below 0.2 -> mean of all
    scores = np.array([0.9] * 11 + [0.5] * 8)
    assert confident_strategy(scores) == pytest.approx(scores.mean())
    # 19 of 20 below 0.2 (> 90 %) -> the mean of those
    scores = np.array([0.1] * 19 + [0.7])
    assert confident_strategy(scores) == pytest.approx(0.1)
    table = pd.DataFrame({"video_id": "v", "score": np.array([0.1] * 19 + [0.7])})
    assert aggregate(table, "confident")["score"].iloc[0] == pytest.approx(0.1)
    # polimi: sigmoid of the mean logit (logits -2.1972 and +2.1972 of 0.1 and 0.9 cancel: 0.5; the mean would too)
    table = pd.DataFrame({"video_id": "v", "score": [0.1, 0.9, 0.99]})
    logits = np.log([0.1 / 0.9, 0.9 / 0.1, 0.99 / 0.01])
    assert aggregate(table, "logit_mean")["score"].iloc[0] == pytest.approx(1 / (1 + np.exp(-logits.mean())))
    assert aggregate(table, "logit_mean")["score"].iloc[0] != pytest.approx(table["score"].mean())
