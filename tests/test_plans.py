"""What a planned model trains on: a video plan takes the clips of consecutive frames where there are some."""

from __future__ import annotations

import pandas as pd

from deepfakeforensics.models import create_model
from deepfakeforensics.training import COMPARISON_PLANS, VIDEO_PLANS, plan_faces


def test_video_plans_train_on_clips_where_given_and_frame_plans_never_do() -> None:
    faces = pd.DataFrame({"video_id": ["a"], "track": [0], "frame": [0]})
    clips = pd.DataFrame({"video_id": ["a"], "track": [0], "frame": [0], "clip": [0]})
    assert VIDEO_PLANS and all(p.clips for p in VIDEO_PLANS)
    assert all(create_model(p.model).default_cfg.temporal for p in VIDEO_PLANS)  # they take windows (B, T, C, H, W)
    for plan in VIDEO_PLANS:
        assert plan_faces(plan, faces, clips) is clips
        assert plan_faces(plan, faces, None) is faces  # no clips extracted: the sampled frames
    for plan in COMPARISON_PLANS:
        assert not plan.clips and plan_faces(plan, faces, clips).equals(faces)


def test_plan_faces_keeps_at_most_the_plans_crops_per_track_spread_over_it() -> None:
    faces = pd.DataFrame({"video_id": ["a"] * 16 + ["b"] * 4, "track": 0, "frame": [*range(0, 48, 3), *range(4)]})
    (slow,) = [p for p in COMPARISON_PLANS if p.frames_per_video == 8][:1]
    kept = plan_faces(slow, faces)
    assert kept[kept["video_id"] == "a"]["frame"].tolist() == list(range(0, 48, 6))  # every other one of 16
    assert kept[kept["video_id"] == "b"]["frame"].tolist() == [0, 1, 2, 3]  # a shorter track is kept whole
