"""What a planned model trains on: a video plan takes the clips of consecutive frames where there are some."""

from __future__ import annotations

import pandas as pd

from deepfakeforensics.models import create_model
from deepfakeforensics.training.plans import COMPARISON_PLANS, VIDEO_PLANS, plan_faces


def test_video_plans_train_on_clips_where_given_and_frame_plans_never_do() -> None:
    faces = pd.DataFrame({"video_id": ["a"], "frame": [0]})
    clips = pd.DataFrame({"video_id": ["a"], "frame": [0], "clip": [0]})
    assert VIDEO_PLANS and all(p.clips for p in VIDEO_PLANS)
    assert all(create_model(p.model).default_cfg.temporal for p in VIDEO_PLANS)  # they take windows (B, T, C, H, W)
    for plan in VIDEO_PLANS:
        assert plan_faces(plan, faces, clips) is clips
        assert plan_faces(plan, faces, None) is faces  # no clips extracted: the sampled frames
    for plan in COMPARISON_PLANS:
        assert not plan.clips and plan_faces(plan, faces, clips) is faces
