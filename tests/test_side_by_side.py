"""`frames_seen` says which frames a manifest holds; `side_by_side` puts evaluations on different frames in one table."""

from __future__ import annotations

import pandas as pd
import pytest

from deepfakeforensics._io import save_table
from deepfakeforensics.evaluation.side_by_side import frames_seen, side_by_side


def _manifest(frames: dict[str, list[int]], sampling: dict | None, clips: dict[str, list[int]] | None = None, name=""):
    """A faces manifest of one face track per video (per clip, with `clips`: the clip of each frame), read from
    ``labels/<name>_faces.csv`` (evaluate calls it `name`)."""
    rows = []
    for video, numbers in frames.items():
        for i, frame in enumerate(numbers):
            row = {"video_id": video, "track": 0, "frame": frame, "path": f"{video}/0_{frame}.jpg", "label": 0}
            if clips is not None:
                row["clip"] = row["track"] = clips[video][i]
            rows.append(row)
    table = pd.DataFrame(rows)
    if sampling is not None:
        table.attrs["extraction"] = {"sampling": sampling}
    if name:
        table.attrs["source"] = f"labels/{name}_faces.csv"
    return table


UNIFORM = _manifest(
    {"a": list(range(0, 48, 3)), "b": list(range(0, 96, 6))}, {"strategy": "uniform", "n_frames": 16}, name="demo"
)
CLIPS = _manifest(
    {"a": [0, 1, 2, 3, 20, 21, 22, 23], "b": [5, 6, 7, 8, 40, 41, 42, 43]},
    {"strategy": "clips", "clip_length": 4, "clips": 2, "clip_stride": 1},
    clips={"a": [0, 0, 0, 0, 1, 1, 1, 1], "b": [0, 0, 0, 0, 1, 1, 1, 1]},
    name="demo_clips",
)


def _metrics(runs: dict[str, list[str]], dataset: str, protocol: str = "own") -> pd.DataFrame:
    rows = [
        {"run": run, "model": run, "dataset": dataset, "level": level, "protocol": protocol, "auc": 0.5 + i / 10}
        for run, levels in runs.items()
        for i, level in enumerate(levels)
    ]
    return pd.DataFrame(rows)


def test_frames_seen_counts_the_frames_and_steps_of_the_manifest_itself() -> None:
    # Both videos hold 16 frames; their steps are 3 and 6: the median step over all tracks is 4.5.
    assert frames_seen(UNIFORM) == "16 frames spread over each video (step 4.5)"
    assert frames_seen(CLIPS) == "2 clips of 4 consecutive frames"
    every_other = CLIPS.assign(frame=CLIPS["frame"] * 2)  # clips of every second frame
    assert frames_seen(every_other) == "2 clips of 4 frames 2 apart"
    every_k = _manifest({"a": [0, 10, 20]}, {"strategy": "every_k", "every_k": 10})
    assert frames_seen(every_k) == "every 10th frame (3 per video)"
    assert frames_seen(every_k.iloc[[0, 2]]) == "2 frames per video (step 20)"  # not every 10th frame any more
    unrecorded = _manifest({"a": [0, 5, 10, 15]}, None)  # no recorded settings: only what the rows say
    assert frames_seen(unrecorded) == "4 frames per video (step 5)"


def test_frames_seen_reads_a_manifest_file_and_its_recorded_settings(tmp_path) -> None:
    path = tmp_path / "demo_faces.csv"
    save_table(UNIFORM, path, root=tmp_path, extraction=UNIFORM.attrs["extraction"])
    assert frames_seen(path) == "16 frames spread over each video (step 4.5)"
    UNIFORM.to_csv(tmp_path / "plain_faces.csv", index=False)  # no settings recorded: only the rows speak
    assert frames_seen(tmp_path / "plain_faces.csv") == "16 frames per video (step 4.5)"


def test_side_by_side_names_levels_as_papers_do_and_says_the_frames_of_each_run() -> None:
    frame_runs = _metrics({"meso": ["frame", "file"], "meso_lstm": ["window", "file"]}, "demo")
    video_runs = _metrics({"ftcn": ["window", "file"]}, "demo_clips")
    table = side_by_side([(frame_runs, UNIFORM), (video_runs, CLIPS)])
    assert table["run"].tolist() == ["meso", "meso", "meso_lstm", "meso_lstm", "ftcn", "ftcn"]
    # A window of sampled frames stays a window; a window of a clip is a clip; the file level is the video level.
    assert table["level"].tolist() == ["frame", "video", "window", "video", "clip", "video"]
    assert table["item_level"].tolist() == frame_runs["level"].tolist() + video_runs["level"].tolist()
    assert table["frames"].tolist() == [frames_seen(UNIFORM)] * 4 + ["2 clips of 4 consecutive frames"] * 2
    assert list(table.columns[:4]) == ["run", "model", "dataset", "frames"]
    assert table["auc"].tolist() == frame_runs["auc"].tolist() + video_runs["auc"].tolist()


def test_side_by_side_describes_the_frames_a_protocol_kept() -> None:
    every = _manifest({"a": list(range(64))}, {"strategy": "all"}, name="big")
    assert frames_seen(every) == "every frame (64)"
    (own,) = set(side_by_side([(_metrics({"m": ["frame", "file"]}, "big"), every)])["frames"])
    assert own == "every frame (64)"
    (cut,) = set(side_by_side([(_metrics({"m": ["frame", "file"]}, "big", "deepfakebench"), every)])["frames"])
    assert cut == "32 frames per video (step 2)"  # DeepfakeBench's protocol scores 32 frames spread over each video


def test_side_by_side_refuses_tables_it_cannot_place() -> None:
    with pytest.raises(ValueError, match="no \\['protocol'\\] column"):
        side_by_side([(_metrics({"m": ["frame"]}, "demo").drop(columns="protocol"), UNIFORM)])
    with pytest.raises(ValueError, match="unknown level"):
        side_by_side([(_metrics({"m": ["track"]}, "demo"), UNIFORM)])
    with pytest.raises(ValueError, match="dataset\\(s\\) \\['celebdf'\\]"):
        side_by_side([(_metrics({"m": ["frame"]}, "celebdf"), UNIFORM)])
