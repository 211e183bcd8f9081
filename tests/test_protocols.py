"""Protocol presets (which frames and faces are scored) and the published-baselines table."""

from __future__ import annotations

import pandas as pd
import pytest

from deepfakeforensics.evaluation.baselines import dataset_key, load_baselines, matching_baselines
from deepfakeforensics.evaluation.protocols import apply_protocol, protocol_extraction_config, spread_frames


def _faces(n_frames: int, tracks: int = 1) -> pd.DataFrame:
    rows = [
        {"video_id": "v", "track": t, "frame": f * 3, "x0": 0, "y0": 0, "x1": 10 + 20 * t, "y1": 10 + 20 * t}
        for f in range(n_frames)
        for t in range(tracks)
    ]
    return pd.DataFrame(rows)


def test_spread_frames_keeps_32_over_the_whole_video():
    kept = spread_frames(_faces(100), 32)
    assert len(kept) == 32 and kept["frame"].min() == 0 and kept["frame"].max() == 99 * 3
    gaps = kept["frame"].diff().dropna()
    assert gaps.min() >= 6 and gaps.max() <= 12  # evenly spread, not the first 32
    assert len(spread_frames(_faces(10), 32)) == 10  # a short video keeps all it has


def test_deepfakebench_keeps_the_largest_face_and_checks_the_margin():
    faces = _faces(40, tracks=2)
    faces.attrs["extraction"] = {"margin": 1.3, "sampling": {"strategy": "uniform", "n_frames": 40}}
    out, notes = apply_protocol(faces, "deepfakebench")
    assert len(out) == 32 and (out["track"] == 1).all() and notes == []  # track 1 has the larger box
    faces.attrs["extraction"] = {"margin": 1.0}
    assert "margin 1.0" in apply_protocol(faces, "deepfakebench")[1][0]
    assert "not recorded" in apply_protocol(_faces(3), "deepfakebench")[1][0]
    assert len(apply_protocol(faces, "own")[0]) == len(faces)
    cfg = protocol_extraction_config("deepfakebench")
    assert cfg.margin == 1.3 and cfg.sampling.n_frames == 32 and cfg.sampling.strategy == "uniform"
    with pytest.raises(ValueError, match="unknown protocol"):
        apply_protocol(faces, "mine")


def test_baselines_table_has_sources_and_matches_by_protocol():
    b = load_baselines()
    assert b["source"].str.len().min() > 20 and b["value"].between(0, 1).all()
    dfb = matching_baselines(b, "deepfakebench", level="frame", dataset="ffpp_faces")
    assert dict(zip(dfb["detector"], dfb["value"], strict=True)) == {
        "Meso4": 0.608,
        "MesoIncep": 0.758,
        "EfficientB4": 0.957,
        "Xception": 0.964,
    }
    cdf = matching_baselines(b, "deepfakebench", level="frame", dataset="celebdf")
    assert sorted(cdf["value"]) == [0.609, 0.697, 0.737, 0.749]
    assert matching_baselines(b, "own").empty  # nothing published under the project's own protocol
    assert matching_baselines(b, "sbi", level="file", dataset="Celeb-DF-v2")["value"].tolist() == [0.929]
    assert dataset_key("Celeb-DF v2") == dataset_key("celebdf_faces") and dataset_key("FF++ c23") == "ffpp"
