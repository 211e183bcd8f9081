"""The DeeperForensics-1.0 pipeline: perturb the video, extract faces normally, score; face-less videos counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from extract_data import CONFIG, write_dataset

from deepfakeforensics._io import load_table
from deepfakeforensics.evaluation import plots
from deepfakeforensics.evaluation.video_robustness import (
    UNDECIDED,
    VideoRobustnessConfig,
    robustness_row,
    video_robustness,
)
from deepfakeforensics.models import create_model


def test_faceless_videos_count_as_undecided_and_faces_lost_is_relative_to_clean():
    videos = pd.DataFrame({"video_id": list("abcd"), "label": [0, 0, 1, 1]})
    files = pd.DataFrame({"video_id": ["a", "c", "d"], "score": [0.1, 0.9, 0.8], "n_rows": [4, 4, 2]})
    row = robustness_row(videos, files, clean_crops=20)
    assert row["videos_without_face"] == 1 and row["crops"] == 10 and row["faces_lost"] == pytest.approx(0.5)
    assert row["auc_found"] == 1.0  # a, c, d ranked perfectly
    # b (real) at 0.5 sits below both fakes: still perfect; a fake without a face would not be
    assert row["auc"] == 1.0 and UNDECIDED == 0.5
    row = robustness_row(videos, files[files["video_id"] != "d"].assign(score=[0.1, 0.4]), clean_crops=None)
    assert row["auc"] == pytest.approx(0.5 * (1 + 0.5) / 2 + 0.5 * 1 / 2) and np.isnan(row["faces_lost"])


def test_config_grid_has_the_clean_reference_then_35_then_mixes():
    ps = VideoRobustnessConfig(mixes=3).perturbations()
    assert ps[0].name == "none" and len(ps) == 1 + 35 + 3 and ps[-1].name.startswith("mix:")


@pytest.mark.slow
def test_video_robustness_end_to_end_on_synthetic_videos(tmp_path):
    index = load_table(write_dataset(tmp_path))
    index = index[index["video_id"].isin(["two", "one", "one_b"])].assign(split="test")
    index.attrs["root"] = str(tmp_path)
    torch.manual_seed(0)
    cfg = VideoRobustnessConfig(kinds=("GB", "CC"), levels=(1, 5), batch_size=8)
    table = video_robustness({"meso": create_model("mesonet4").eval()}, index, cfg, CONFIG, out_csv=tmp_path / "r.csv")
    assert list(table["perturbation"]) == ["none", "GB-1", "GB-5", "CC-1", "CC-5"]
    clean = table.iloc[0]
    assert clean["videos_without_face"] == 0 and clean["faces_lost"] == 0 and clean["crops"] > 0
    assert (table["n_videos"] == 3).all() and (tmp_path / "r.csv").is_file()
    assert plots.plot_video_robustness(table, tmp_path / "v.png").stat().st_size > 5000
    panels = [ax for ax in plots.figure_video_robustness(table).axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["GB", "CC"]
    for ax, kind in zip(panels, ["GB", "CC"], strict=True):
        (line,) = ax.lines
        assert line.get_label() == "meso" and list(line.get_xdata()) == [0, 1, 5]  # clean, then the two levels
        expected = table.set_index("perturbation").loc[["none", f"{kind}-1", f"{kind}-5"], "auc"]
        np.testing.assert_allclose(line.get_ydata(), expected)
